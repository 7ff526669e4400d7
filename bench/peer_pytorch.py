"""peer_pytorch.py -- the PyTorch peer for the training benchmark.

Trains the PyTorch twin (tools/nexus_torch.py) in float32, dropout 0, on
random token batches, and times whole training iterations:
    zero_grad(set_to_none=True); forward; loss.backward();
    clip_grad_norm_(1.0); AdamW step (nanoGPT param groups, lr 1e-3).

Run with Debian's interpreter (the only one with torch here), e.g.

    /usr/bin/python3 bench/peer_pytorch.py --n-layer 4 --n-head 4 --n-embd 128 \
        --block-size 64 --batch-size 12 --vocab-size 65 --iters 30 --threads 2

Progress goes to stderr; stdout gets exactly ONE JSON line:
    {"peer":"pytorch","torch":...,"threads":...,"config":{...},
     "ms_per_iter_median":...,"ms_per_iter_min":...,"iters":...,
     "max_rss_mb":...,"tok_per_s":...}
"""

import argparse
import json
import os
import sys
import time


def parse_args():
    ap = argparse.ArgumentParser(description="PyTorch training-speed peer for Nexus")
    ap.add_argument("--n-layer", type=int, default=4)
    ap.add_argument("--n-head", type=int, default=4)
    ap.add_argument("--n-embd", type=int, default=128)
    ap.add_argument("--block-size", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=12)
    ap.add_argument("--vocab-size", type=int, default=65)
    ap.add_argument("--bias", dest="bias", action="store_true", default=True,
                    help="Linear/LayerNorm biases (default)")
    ap.add_argument("--no-bias", dest="bias", action="store_false")
    ap.add_argument("--iters", type=int, default=10, help="timed iterations")
    ap.add_argument("--warmup", type=int, default=3, help="untimed iterations run first")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1337)
    return ap.parse_args()


def main():
    args = parse_args()
    if args.iters < 1:
        sys.exit("peer_pytorch: --iters must be >= 1")
    # Thread counts and the OpenBLAS core type must be set before torch loads.
    n = str(args.threads)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = n
    os.environ.setdefault("OPENBLAS_CORETYPE", "SkylakeX")

    try:
        import torch
    except ImportError:
        sys.stderr.write("peer_pytorch: cannot import torch. Run with /usr/bin/python3 "
                         "(Debian python3-torch; scripts/setup.sh --peer).\n")
        sys.exit(2)
    import resource
    import statistics

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
    import nexus_torch as nt

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    cfg = nt.GPTConfig(block_size=args.block_size, vocab_size=args.vocab_size,
                       n_layer=args.n_layer, n_head=args.n_head, n_embd=args.n_embd,
                       dropout=0.0, bias=args.bias)
    model = nt.GPT(cfg)
    model.train()
    opt = nt.configure_optimizer(model, learning_rate=1e-3, weight_decay=0.1,
                                 betas=(0.9, 0.95), eps=1e-8)
    B, T, V = args.batch_size, args.block_size, args.vocab_size
    sys.stderr.write("peer_pytorch: torch %s, %d threads, %.2fM params, B=%d T=%d\n"
                     % (torch.__version__, args.threads, model.num_params() / 1e6, B, T))

    times_ms = []
    total = args.warmup + args.iters
    for i in range(total):
        x = torch.randint(0, V, (B, T), dtype=torch.long)
        y = torch.randint(0, V, (B, T), dtype=torch.long)
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        _, loss = model(x, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        dt = (time.perf_counter() - t0) * 1000.0
        timed = i >= args.warmup
        if timed:
            times_ms.append(dt)
        sys.stderr.write("peer_pytorch: iter %d/%d%s loss %.4f %.1f ms\n"
                         % (i + 1, total, "" if timed else " (warmup)", loss.item(), dt))

    med = statistics.median(times_ms)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux
    out = {
        "peer": "pytorch",
        "torch": torch.__version__,
        "threads": args.threads,
        "config": {"n_layer": cfg.n_layer, "n_head": cfg.n_head, "n_embd": cfg.n_embd,
                   "block_size": cfg.block_size, "batch_size": B, "vocab_size": V,
                   "bias": cfg.bias, "dropout": 0.0},
        "ms_per_iter_median": round(med, 3),
        "ms_per_iter_min": round(min(times_ms), 3),
        "iters": len(times_ms),
        "max_rss_mb": round(rss_mb, 1),
        "tok_per_s": round(B * T / (med / 1000.0), 1),
    }
    sys.stdout.write(json.dumps(out) + "\n")


if __name__ == "__main__":
    main()
