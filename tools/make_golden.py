"""make_golden.py -- writes the golden files the C++ tests compare against.

Run (needs Debian's python3-torch, importable only from /usr/bin/python3):

    /usr/bin/python3 tools/make_golden.py [--out-dir tests/golden]

In the style of llm.c's test_gpt2: for each config below the script builds
the PyTorch twin (tools/nexus_torch.py) in float32 with GPT-2 init from a
fixed seed, draws one random batch (x, y), then converts a copy of the model
to float64 and, in float64, computes
  * the logits, the loss and every parameter gradient of one forward+backward;
  * 10 AdamW training steps on the same (x, y) batch each step (nanoGPT cosine
    lr schedule, gradient clipping), recording the loss BEFORE each update,
    the global gradient norm before clipping, the lr, and the final weights.
Everything is stored in float32 (token ids in int32).

Configs / files:
  tests/golden/gpt_tiny.safetensors        block_size 16, vocab 67, n_layer 2,
      n_head 4, n_embd 32, bias True,  B=4, T=13 (T < block_size on purpose)
  tests/golden/gpt_tiny_nobias.safetensors block_size 16, vocab 50, n_layer 3,
      n_head 2, n_embd 24, bias False, B=4, T=16 (= block_size)

FILE FORMAT (safetensors, written by hand here):
  bytes [0, 8)        N = header length, unsigned 64-bit little-endian
  bytes [8, 8+N)      JSON header (UTF-8), padded with trailing spaces so that
                      N is a multiple of 8:
                        { "<tensor name>": {"dtype": "F32" | "I32",
                                            "shape": [d0, d1, ...],
                                            "data_offsets": [begin, end]},
                          ...,
                          "__metadata__": {"<key>": "<string value>", ...} }
  bytes [8+N, ...)    raw little-endian row-major (C-order) tensor data;
                      data_offsets are byte offsets relative to the start of
                      this data section (end exclusive); tensors are packed
                      back to back in header order, no gaps.

TENSORS in each file (V = vocab_size, P = each parameter's shape):
  <name>            F32 P        initial parameter, nanoGPT state_dict name, for
                                 every name in nexus_torch.param_names(config)
                                 (no lm_head.weight: it is tied to
                                 transformer.wte.weight)
  x                 I32 [B, T]   input token ids
  y                 I32 [B, T]   target token ids
  logits            F32 [B,T,V]  logits of the initial model on x
  loss              F32 [1]      mean cross-entropy over all B*T positions
  grad.<name>       F32 P        d loss / d parameter (wte's gradient includes
                                 the tied lm_head contribution)
  losses            F32 [10]     loss before update k (losses[0] == loss)
  grad_norms        F32 [10]     global L2 gradient norm before clipping, step k
  lrs               F32 [10]     learning rate used at step k (0-based it = k)
  after.<name>      F32 P        parameters after the 10 steps

METADATA (all values are strings):
  config     JSON: {"block_size","vocab_size","n_layer","n_head","n_embd",
                    "dropout","bias"}
  train      JSON: {"batch_size","block_size_used" (T),"steps","learning_rate",
                    "min_lr","warmup_iters","lr_decay_iters","decay_lr",
                    "beta1","beta2","weight_decay","grad_clip","eps",
                    "clipped_steps" (0-based steps where clipping triggered)}
  generator  "tools/make_golden.py"
  seed       the torch.manual_seed used
"""

import argparse
import copy
import json
import math
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)

try:
    import numpy as np
    import torch
except ImportError:
    sys.stderr.write("make_golden: needs torch and numpy; run it with /usr/bin/python3 "
                     "(Debian python3-torch, see scripts/setup.sh --peer).\n")
    raise SystemExit(2)

import nexus_torch as nt  # noqa: E402

STEPS = 10
TRAIN = dict(learning_rate=1e-3, min_lr=1e-4, warmup_iters=2, lr_decay_iters=8,
             decay_lr=True, beta1=0.9, beta2=0.95, weight_decay=0.1, grad_clip=1.0,
             eps=1e-8)

CASES = [
    dict(file="gpt_tiny.safetensors", seed=1337, B=4, T=13,
         config=dict(block_size=16, vocab_size=67, n_layer=2, n_head=4, n_embd=32,
                     dropout=0.0, bias=True)),
    # grad_clip 1.0 never triggers here (max norm ~0.975), so this case uses 0.9:
    # clipping then triggers at steps 0-2 only and steps 3-9 take the unclipped
    # path, so between the two files both paths are covered (gpt_tiny clips at
    # every step).
    dict(file="gpt_tiny_nobias.safetensors", seed=4242, B=4, T=16, grad_clip=0.9,
         config=dict(block_size=16, vocab_size=50, n_layer=3, n_head=2, n_embd=24,
                     dropout=0.0, bias=False)),
]

_DTYPES = {"F32": np.dtype("<f4"), "I32": np.dtype("<i4")}


def write_safetensors(path, tensors, metadata):
    """tensors: list of (name, np.ndarray float32/int32); metadata: dict str->str."""
    header = {}
    blobs = []
    offset = 0
    for name, arr in tensors:
        if arr.dtype == np.float32:
            dt = "F32"
        elif arr.dtype == np.int32:
            dt = "I32"
        else:
            raise TypeError("%s: unsupported dtype %s" % (name, arr.dtype))
        raw = np.ascontiguousarray(arr, dtype=_DTYPES[dt]).tobytes()
        header[name] = {"dtype": dt, "shape": list(arr.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    hj = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hj += b" " * ((-len(hj)) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hj)))
        f.write(hj)
        for raw in blobs:
            f.write(raw)


def read_safetensors(path):
    """Returns (dict name -> np.ndarray, metadata dict)."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", {})
    body = data[8 + n:]
    out = {}
    end_max = 0
    for name, info in header.items():
        b, e = info["data_offsets"]
        dt = _DTYPES[info["dtype"]]
        shape = tuple(info["shape"])
        count = int(np.prod(shape)) if shape else 1
        assert e - b == count * dt.itemsize, name
        out[name] = np.frombuffer(body[b:e], dtype=dt).reshape(shape)
        end_max = max(end_max, e)
    assert end_max == len(body), "trailing bytes in data section"
    return out, meta


def f32(t):
    return t.detach().to(torch.float32).cpu().numpy().astype(np.float32)


def train_steps(model0, x, y, tr, grad_clip):
    """Runs STEPS AdamW steps in float64 on a deep copy of model0.
    Returns (model, losses, grad_norms, lrs)."""
    model = copy.deepcopy(model0)
    opt = nt.configure_optimizer(model, tr["learning_rate"], tr["weight_decay"],
                                 (tr["beta1"], tr["beta2"]), eps=tr["eps"])
    losses, norms, lrs = [], [], []
    for it in range(STEPS):
        lr = nt.get_lr(it, tr["learning_rate"], tr["min_lr"], tr["warmup_iters"],
                       tr["lr_decay_iters"], tr["decay_lr"])
        for g in opt.param_groups:
            g["lr"] = lr
        opt.zero_grad(set_to_none=True)
        _, loss = model(x, y)
        loss.backward()
        norm = nt.clip_gradients(model, grad_clip)
        opt.step()
        losses.append(loss.item())
        norms.append(norm)
        lrs.append(lr)
    return model, losses, norms, lrs


def make_case(case, out_dir):
    cfg = nt.GPTConfig(**case["config"])
    B, T = case["B"], case["T"]
    torch.manual_seed(case["seed"])
    model32 = nt.GPT(cfg)  # float32, GPT-2 init
    x = torch.randint(0, cfg.vocab_size, (B, T), dtype=torch.long)
    y = torch.randint(0, cfg.vocab_size, (B, T), dtype=torch.long)
    names = nt.param_names(cfg)
    assert [n for n, _ in model32.named_parameters()] == names
    init = {n: f32(p) for n, p in model32.named_parameters()}

    model64 = copy.deepcopy(model32).double()
    model64.zero_grad(set_to_none=True)
    logits, loss = model64(x, y)
    loss.backward()
    grads = {n: f32(p.grad) for n, p in model64.named_parameters()}
    model64.zero_grad(set_to_none=True)

    # Clipping must trigger at least once: lower grad_clip until it does.
    tr = dict(TRAIN)
    clip = case.get("grad_clip", tr["grad_clip"])
    while True:
        trained, losses, norms, lrs = train_steps(model64, x, y, tr, clip)
        clipped = [k for k, nrm in enumerate(norms) if nrm > clip]
        if clipped:
            break
        print("  grad_clip %g never triggered (max norm %.4f); halving" % (clip, max(norms)))
        clip /= 2.0
    tr["grad_clip"] = clip
    # A float32 C++ run must take the same clip/no-clip decisions: keep a margin.
    for k, nrm in enumerate(norms):
        assert abs(nrm - clip) > 0.01 * clip, "grad norm %g at step %d too close to clip" % (nrm, k)
    tr["clipped_steps"] = clipped
    assert losses[0] == loss.item(), (losses[0], loss.item())

    tensors = [(n, init[n]) for n in names]
    tensors += [("x", x.numpy().astype(np.int32)), ("y", y.numpy().astype(np.int32)),
                ("logits", f32(logits)), ("loss", np.array([loss.item()], dtype=np.float32))]
    tensors += [("grad." + n, grads[n]) for n in names]
    tensors += [("losses", np.array(losses, dtype=np.float32)),
                ("grad_norms", np.array(norms, dtype=np.float32)),
                ("lrs", np.array(lrs, dtype=np.float32))]
    after = {n: f32(p) for n, p in trained.named_parameters()}
    tensors += [("after." + n, after[n]) for n in names]

    train_meta = {"batch_size": B, "block_size_used": T, "steps": STEPS}
    train_meta.update(tr)
    meta = {"config": json.dumps(cfg.to_dict()), "train": json.dumps(train_meta),
            "generator": "tools/make_golden.py", "seed": str(case["seed"])}
    path = os.path.join(out_dir, case["file"])
    write_safetensors(path, tensors, meta)

    # Self-check: read back and compare bit-for-bit.
    back, bmeta = read_safetensors(path)
    assert list(back.keys()) == [n for n, _ in tensors]
    for n, arr in tensors:
        assert back[n].dtype == arr.dtype and back[n].shape == arr.shape, n
        assert np.array_equal(back[n], arr), n
    assert bmeta == meta
    assert json.loads(bmeta["config"]) == cfg.to_dict()

    # Sanity: a float32 run of the twin agrees with the float64 reference.
    l32, loss32 = model32(x, y)
    assert abs(loss32.item() - loss.item()) < 1e-4
    assert np.allclose(f32(l32), back["logits"], atol=1e-4)

    size = os.path.getsize(path)
    assert size < 1 << 20, "golden file too large"
    print("%s: %d params, %d tensors, %d bytes" % (path, model32.num_params(), len(tensors), size))
    print("  loss %.6f (ln V = %.6f)" % (loss.item(), math.log(cfg.vocab_size)))
    print("  grad_clip %g, clipping triggered at steps (0-based) %s" % (clip, clipped))
    for k in range(STEPS):
        print("  step %2d  lr %.6e  loss %.6f  grad_norm %.6f%s"
              % (k, lrs[k], losses[k], norms[k], "  (clipped)" if k in clipped else ""))
    return path


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out-dir", default=os.path.join(REPO, "tests", "golden"))
    args = ap.parse_args()
    os.makedirs(args.out_dir, exist_ok=True)
    torch.set_num_threads(1)  # deterministic reductions
    for case in CASES:
        make_case(case, args.out_dir)


if __name__ == "__main__":
    main()
