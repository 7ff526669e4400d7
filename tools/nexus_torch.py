"""nexus_torch.py -- the PyTorch twin of the Nexus GPT model.

A self-contained GPT-2-family model whose math is identical to nanoGPT's
model.py, plus the pieces of nanoGPT's train.py that Nexus reproduces
(AdamW parameter groups, gradient clipping, learning-rate schedules).
It is used by tools/make_golden.py (golden files for the C++ tests) and by
bench/peer_pytorch.py (the training-speed peer).

Run with Debian's interpreter, the only one that has torch here:

    /usr/bin/python3 tools/nexus_torch.py      # quick self-test

Model (what the C++ side must match):
  * token embedding wte (V x C) + position embedding wpe (block_size x C);
  * n_layer pre-LN blocks:  x = x + attn(ln_1(x));  x = x + mlp(ln_2(x));
  * LayerNorm eps 1e-5, biased variance (divide by C), eps inside the sqrt;
    with bias=False the LayerNorm has no bias (and no Linear has a bias);
  * attention: c_attn (3C x C) -> q, k, v split in that order along the
    output dim; heads via view(B, T, H, hs).transpose(1, 2); scores scaled by
    1/sqrt(hs); causal mask (masked_fill -inf) then softmax; y = att @ v;
    heads re-joined with transpose(1, 2).view(B, T, C); c_proj (C x C);
  * MLP: c_fc (4C x C), GELU tanh approximation
        0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 * x^3))),
    c_proj (C x 4C);
  * final ln_f, lm_head tied to wte (logits = x @ wte^T, no bias);
  * loss = mean cross-entropy over all B*T positions.
Parameter names are exactly nanoGPT's state_dict keys (see param_names()).
"""

import math
import sys

try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError:  # pragma: no cover - depends on the machine
    sys.stderr.write(
        "nexus_torch: cannot import torch. Use Debian's /usr/bin/python3 with "
        "python3-torch installed (scripts/setup.sh --peer).\n")
    raise SystemExit(2)


class GPTConfig:
    """Model hyper-parameters; field names as in nanoGPT."""

    def __init__(self, block_size=1024, vocab_size=50304, n_layer=12, n_head=12,
                 n_embd=768, dropout=0.0, bias=True):
        self.block_size = int(block_size)
        self.vocab_size = int(vocab_size)
        self.n_layer = int(n_layer)
        self.n_head = int(n_head)
        self.n_embd = int(n_embd)
        self.dropout = float(dropout)
        self.bias = bool(bias)
        assert self.n_embd % self.n_head == 0, "n_embd must be divisible by n_head"

    def to_dict(self):
        return dict(block_size=self.block_size, vocab_size=self.vocab_size,
                    n_layer=self.n_layer, n_head=self.n_head, n_embd=self.n_embd,
                    dropout=self.dropout, bias=self.bias)


class LayerNorm(nn.Module):
    """LayerNorm with an optional bias (nanoGPT's LayerNorm)."""

    def __init__(self, ndim, bias):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(ndim))
        self.bias = nn.Parameter(torch.zeros(ndim)) if bias else None

    def forward(self, x):
        return F.layer_norm(x, self.weight.shape, self.weight, self.bias, 1e-5)


class CausalSelfAttention(nn.Module):
    def __init__(self, config):
        super().__init__()
        C = config.n_embd
        self.n_head = config.n_head
        self.n_embd = C
        self.c_attn = nn.Linear(C, 3 * C, bias=config.bias)
        self.c_proj = nn.Linear(C, C, bias=config.bias)
        self.attn_dropout = nn.Dropout(config.dropout)
        self.resid_dropout = nn.Dropout(config.dropout)
        mask = torch.tril(torch.ones(config.block_size, config.block_size, dtype=torch.bool))
        # buffer, not a parameter; not saved in state_dict
        self.register_buffer("mask", mask.view(1, 1, config.block_size, config.block_size),
                             persistent=False)

    def forward(self, x):
        B, T, C = x.size()
        H = self.n_head
        hs = C // H
        q, k, v = self.c_attn(x).split(C, dim=2)
        q = q.view(B, T, H, hs).transpose(1, 2)  # (B, H, T, hs)
        k = k.view(B, T, H, hs).transpose(1, 2)
        v = v.view(B, T, H, hs).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(hs))  # (B, H, T, T)
        att = att.masked_fill(~self.mask[:, :, :T, :T], float("-inf"))
        att = F.softmax(att, dim=-1)
        att = self.attn_dropout(att)
        y = att @ v  # (B, H, T, hs)
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return self.resid_dropout(self.c_proj(y))


class MLP(nn.Module):
    def __init__(self, config):
        super().__init__()
        C = config.n_embd
        self.c_fc = nn.Linear(C, 4 * C, bias=config.bias)
        self.gelu = nn.GELU(approximate="tanh")
        self.c_proj = nn.Linear(4 * C, C, bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x):
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))


class Block(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.ln_1 = LayerNorm(config.n_embd, bias=config.bias)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = LayerNorm(config.n_embd, bias=config.bias)
        self.mlp = MLP(config)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        x = x + self.mlp(self.ln_2(x))
        return x


class GPT(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.config = config
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(config.vocab_size, config.n_embd),
            wpe=nn.Embedding(config.block_size, config.n_embd),
            drop=nn.Dropout(config.dropout),
            h=nn.ModuleList([Block(config) for _ in range(config.n_layer)]),
            ln_f=LayerNorm(config.n_embd, bias=config.bias),
        ))
        self.init_weights()

    @torch.no_grad()
    def init_weights(self):
        """GPT-2 init: N(0, 0.02) for Linear/Embedding weights, zero biases,
        LayerNorm weight 1 / bias 0, residual projections (c_proj.weight)
        N(0, 0.02 / sqrt(2 * n_layer)). Draw order: named_parameters() order."""
        std_proj = 0.02 / math.sqrt(2 * self.config.n_layer)
        for name, p in self.named_parameters():
            if ".ln_" in name or name.startswith("transformer.ln_f"):
                if name.endswith(".weight"):
                    p.fill_(1.0)
                else:
                    p.zero_()
            elif name.endswith(".bias"):
                p.zero_()
            elif name.endswith("c_proj.weight"):
                p.normal_(0.0, std_proj)
            else:  # Linear and Embedding weights
                p.normal_(0.0, 0.02)

    def num_params(self):
        return sum(p.numel() for p in self.parameters())

    def forward(self, idx, targets=None):
        """idx (B, T) int64 -> logits (B, T, V) for every position, and the
        mean cross-entropy loss over all B*T positions if targets is given."""
        B, T = idx.size()
        assert T <= self.config.block_size, "sequence longer than block_size"
        pos = torch.arange(0, T, dtype=torch.long, device=idx.device)
        x = self.transformer.wte(idx) + self.transformer.wpe(pos)
        x = self.transformer.drop(x)
        for block in self.transformer.h:
            x = block(x)
        x = self.transformer.ln_f(x)
        logits = x @ self.transformer.wte.weight.t()  # lm_head tied to wte
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.reshape(-1))
        return logits, loss


def param_names(config):
    """nanoGPT state_dict names in the model's parameter order (no lm_head:
    it is tied to transformer.wte.weight)."""
    names = ["transformer.wte.weight", "transformer.wpe.weight"]
    for i in range(config.n_layer):
        p = "transformer.h.%d." % i
        for mod in ("ln_1", "attn.c_attn", "attn.c_proj", "ln_2", "mlp.c_fc", "mlp.c_proj"):
            names.append(p + mod + ".weight")
            if config.bias:
                names.append(p + mod + ".bias")
    names.append("transformer.ln_f.weight")
    if config.bias:
        names.append("transformer.ln_f.bias")
    return names


def configure_optimizer(model, learning_rate, weight_decay, betas, eps=1e-8):
    """nanoGPT's configure_optimizers: AdamW with two groups -- every parameter
    with dim >= 2 (matmul weights, embeddings) decays, the rest (biases,
    LayerNorm weights) does not.

    torch 1.13 AdamW (single-tensor path, used on CPU), per parameter, t = step (1-based):
        p   = p * (1 - lr * wd)                      # decoupled decay first
        m   = b1 * m + (1 - b1) * g
        v   = b2 * v + (1 - b2) * g * g
        p   = p - (lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
    """
    decay = [p for _, p in model.named_parameters() if p.requires_grad and p.dim() >= 2]
    nodecay = [p for _, p in model.named_parameters() if p.requires_grad and p.dim() < 2]
    groups = [
        {"params": decay, "weight_decay": weight_decay},
        {"params": nodecay, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=learning_rate, betas=tuple(betas), eps=eps)


def clip_gradients(model, grad_clip):
    """torch.nn.utils.clip_grad_norm_ when grad_clip > 0. Returns the global
    L2 norm of all gradients BEFORE clipping (as a float).
    torch 1.13: norm = ||(||g_i||_2)_i||_2; coef = min(1, grad_clip / (norm + 1e-6));
    every gradient is multiplied by coef (always, even when coef == 1)."""
    params = [p for p in model.parameters() if p.grad is not None]
    if grad_clip > 0.0:
        return float(torch.nn.utils.clip_grad_norm_(params, grad_clip))
    return float(torch.norm(torch.stack([torch.norm(p.grad.detach(), 2) for p in params]), 2))


def get_lr(it, learning_rate, min_lr, warmup_iters, lr_decay_iters,
           decay_lr=True, schedule="cosine"):
    """Learning rate for iteration `it` (0-based).

    schedule "cosine" (nanoGPT's get_lr):
        it <  warmup_iters:    learning_rate * (it + 1) / (warmup_iters + 1)
        it >  lr_decay_iters:  min_lr
        otherwise:             ratio = (it - warmup_iters) / (lr_decay_iters - warmup_iters)
                               coeff = 0.5 * (1 + cos(pi * ratio))
                               min_lr + coeff * (learning_rate - min_lr)
    schedule "inverse-sqrt":
        it <  warmup_iters:    learning_rate * (it + 1) / (warmup_iters + 1)   (same warmup)
        otherwise:             learning_rate * sqrt(w / max(it, w)),  w = max(warmup_iters, 1)
        (min_lr and lr_decay_iters are not used; w = max(warmup_iters, 1) only
        guards warmup_iters == 0, where it gives learning_rate / sqrt(max(it, 1)).)
    decay_lr False: learning_rate for every it.
    """
    if not decay_lr:
        return learning_rate
    if it < warmup_iters:
        return learning_rate * (it + 1) / (warmup_iters + 1)
    if schedule == "cosine":
        if it > lr_decay_iters:
            return min_lr
        ratio = (it - warmup_iters) / (lr_decay_iters - warmup_iters)
        assert 0.0 <= ratio <= 1.0
        coeff = 0.5 * (1.0 + math.cos(math.pi * ratio))
        return min_lr + coeff * (learning_rate - min_lr)
    if schedule == "inverse-sqrt":
        w = max(warmup_iters, 1)
        return learning_rate * math.sqrt(w / max(it, w))
    raise ValueError("unknown lr schedule: %r" % schedule)


def _selftest():
    torch.manual_seed(0)
    cfg = GPTConfig(block_size=8, vocab_size=11, n_layer=2, n_head=2, n_embd=8, bias=True)
    model = GPT(cfg)
    assert [n for n, _ in model.named_parameters()] == param_names(cfg)
    idx = torch.randint(0, cfg.vocab_size, (2, 8))
    logits, loss = model(idx, idx)
    assert logits.shape == (2, 8, cfg.vocab_size)
    loss.backward()
    # causality: changing the last token must not change earlier logits
    idx2 = idx.clone()
    idx2[:, -1] = (idx2[:, -1] + 1) % cfg.vocab_size
    with torch.no_grad():
        l2, _ = model(idx2)
    assert torch.allclose(logits[:, :-1].detach(), l2[:, :-1])
    cfg2 = GPTConfig(block_size=8, vocab_size=11, n_layer=1, n_head=2, n_embd=8, bias=False)
    assert [n for n, _ in GPT(cfg2).named_parameters()] == param_names(cfg2)
    print("nexus_torch self-test ok: %d params, loss %.4f (ln V = %.4f)"
          % (model.num_params(), loss.item(), math.log(cfg.vocab_size)))


if __name__ == "__main__":
    _selftest()
