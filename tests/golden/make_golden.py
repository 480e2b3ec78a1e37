#!/usr/bin/env python3
"""Writes the golden parity fixtures (DESIGN.md convention 12) for attnlab's language model
with the softmax mixer, from an independent PyTorch implementation written from the maths.

    python tests/golden/make_golden.py [--out tests/golden/fixtures]

Needs torch, safetensors and numpy (pip install torch safetensors numpy). PyTorch is only
for this script: the C++ test (golden_test.cpp) reads the committed fixtures and never
needs it. The format is described in tests/golden/README.md; bump GOLDEN_VERSION when it
changes.

The model, in float64:
    x = E[tokens]                                             [B, T, C]
    per block:  x = x + attn(norm1(x));  x = x + mlp(norm2(x))
    logits = norm(x) W_head^T   (W_head = E when tied)        [B, T, V]
    loss = mean over targets != -100 of -log softmax(logits)[target]
norm: RMSNorm  x / sqrt(mean(x^2) + eps) * g, or LayerNorm (biased variance) * g + b.
mlp:  SwiGLU   down(silu(gate x) * up x), or GELU (tanh approximation) down(gelu(up x)); no biases.
attn: q = x Wq^T, k = x Wk^T, v = x Wv^T split into H (query) and Hkv (key/value) heads of D;
      query head h reads kv head h // (H / Hkv); scores q.k / sqrt(D), causal (and a sliding
      window of the last `window` keys when set); positions NoPE, RoPE or ALiBi; out = o Wo^T.
Linear weights are [out, in] as in torch.nn.Linear.
"""
import argparse
import math
import os

import torch
import torch.nn.functional as F
from safetensors.torch import save_file

GOLDEN_VERSION = "1"

# AdamW as attnlab's trainer runs it (train/adamw.h): decoupled decay on matrices only.
LR = 0.02
WEIGHT_DECAY = 0.5   # large, so a decay applied to the wrong parameters shows in the losses
BETAS = (0.9, 0.95)
EPS = 1e-8
ADAM_STEPS = 3

B, T, V, C = 2, 13, 37, 12

# One case per position scheme (ALiBi with 6 heads takes Press's rule for a head count that is
# not a power of two), LayerNorm + GELU + untied head, grouped-query and multi-query heads,
# a sliding window, and a two-layer model with ignored targets. Sizes are tiny so that the
# committed fixtures stay small; head_dim is set explicitly where RoPE needs several pairs.
CASES = [
    dict(name="nope_gqa_2layers", layers=2, heads=6, kv_heads=2, head_dim=0, position="nope",
         norm="rms", eps=1e-5, mlp="swiglu", d_ff=16, tied=True, ignore=3),
    dict(name="rope_half", layers=1, heads=6, kv_heads=3, head_dim=4, position="rope", rope_style="half",
         rope_base=100.0, norm="rms", eps=1e-5, mlp="swiglu", d_ff=16, tied=True),
    dict(name="rope_interleaved_mqa_window", layers=1, heads=6, kv_heads=1, head_dim=6, position="rope",
         rope_style="interleaved", rope_base=1000.0, window=5, norm="rms", eps=1e-6, mlp="swiglu", d_ff=16,
         tied=True),
    dict(name="alibi_6heads", layers=1, heads=6, kv_heads=3, head_dim=4, position="alibi",
         norm="rms", eps=1e-5, mlp="swiglu", d_ff=16, tied=True),
    dict(name="layernorm_gelu_untied_alibi_4heads", layers=1, heads=4, kv_heads=0, head_dim=0,
         position="alibi", norm="layer", eps=1e-3, mlp="gelu", d_ff=20, tied=False),
]


# ---------------------------------------------------------------- configuration text

def config_toml(c):
    """The case as an attnlab run config ([model], [model.mixer], [train])."""
    lines = [
        "[model]",
        f"vocab_size = {V}",
        f"d_model = {C}",
        f"n_layers = {c['layers']}",
        f"d_ff = {c['d_ff']}",
        f'norm = "{c["norm"]}"',
        f"norm_eps = {c['eps']!r}",
        f'mlp = "{c["mlp"]}"',
        f"tie_embeddings = {'true' if c['tied'] else 'false'}",
        "",
        "[model.mixer]",
        'name = "softmax"',
        f"heads = {c['heads']}",
        f"kv_heads = {c['kv_heads']}",
        f"head_dim = {c['head_dim']}",
        f'position = "{c["position"]}"',
    ]
    if c["position"] == "rope":
        lines += [f"rope_base = {c['rope_base']!r}", f'rope_style = "{c["rope_style"]}"']
    lines += [f"window = {c.get('window', 0)}", "",
              "[train]",
              f"seq_len = {T}",
              f"batch_size = {B}",
              f"steps = {ADAM_STEPS}",
              f"lr = {LR!r}",
              "lr_floor = 0.0",
              'schedule = "constant"',
              "warmup = 0",
              f"weight_decay = {WEIGHT_DECAY!r}",
              f"beta1 = {BETAS[0]!r}",
              f"beta2 = {BETAS[1]!r}",
              f"eps = {EPS!r}",
              "grad_clip = 0.0",
              ""]
    return "\n".join(lines)


def dims(c):
    H = c["heads"]
    Hkv = c["kv_heads"] or H
    D = c["head_dim"] or C // H
    return H, Hkv, D


# ---------------------------------------------------------------- parameters

def make_params(c, gen):
    """name -> (float64 tensor, decayed?). Values are drawn in float32 so that the fixture
    stores them exactly as float32 while the model runs in float64."""
    H, Hkv, D = dims(c)
    Fd = c["d_ff"]

    def randn(*shape, std=1.0, mean=0.0):
        t = torch.randn(*shape, generator=gen, dtype=torch.float32) * std + mean
        return t.to(torch.float64)

    def linear(out_f, in_f, gain=1.0):
        return randn(out_f, in_f, std=gain / math.sqrt(in_f))

    p = {}
    # Norm gains and biases are not 1 and 0, so their gradients and their use are tested.
    def norm(prefix):
        p[prefix + ".weight"] = (randn(C, std=0.2, mean=1.0), False)
        if c["norm"] == "layer":
            p[prefix + ".bias"] = (randn(C, std=0.2), False)

    # With the head tied, logits are about 0.3 sqrt(C) in size: a loss near log V, where the
    # softmax is far from saturated and every gradient is informative.
    p["embed.weight"] = (randn(V, C, std=0.3), False)
    for i in range(c["layers"]):
        b = f"blocks.{i}."
        norm(b + "norm1")
        # Larger query/key gains make the attention far from uniform.
        p[b + "mixer.wq.weight"] = (linear(H * D, C, 2.0), True)
        p[b + "mixer.wk.weight"] = (linear(Hkv * D, C, 2.0), True)
        p[b + "mixer.wv.weight"] = (linear(Hkv * D, C), True)
        p[b + "mixer.wo.weight"] = (linear(C, H * D), True)
        norm(b + "norm2")
        if c["mlp"] == "swiglu":
            p[b + "mlp.gate.weight"] = (linear(Fd, C), True)
        p[b + "mlp.up.weight"] = (linear(Fd, C), True)
        p[b + "mlp.down.weight"] = (linear(C, Fd), True)
    norm("norm")
    if not c["tied"]:
        p["head.weight"] = (linear(V, C), True)
    return p


# ---------------------------------------------------------------- the model

def rms_norm(x, w, eps):
    return x * torch.rsqrt(x.pow(2).mean(dim=-1, keepdim=True) + eps) * w


def apply_norm(c, W, prefix, x):
    if c["norm"] == "layer":
        return F.layer_norm(x, (C,), W[prefix + ".weight"], W[prefix + ".bias"], c["eps"])
    return rms_norm(x, W[prefix + ".weight"], c["eps"])


def rope_angles(T_, D, base):
    inv_freq = base ** (-torch.arange(0, D, 2, dtype=torch.float64) / D)   # theta_i = base^(-2i/D)
    return torch.outer(torch.arange(T_, dtype=torch.float64), inv_freq)    # [T, D/2]


def rope_half(x, base):
    # GPT-NeoX / Hugging Face LLaMA: feature i pairs with i + D/2 ("rotate_half").
    D = x.shape[-1]
    ang = rope_angles(x.shape[-2], D, base)
    cos = torch.cat([ang.cos(), ang.cos()], dim=-1)
    sin = torch.cat([ang.sin(), ang.sin()], dim=-1)
    x1, x2 = x[..., : D // 2], x[..., D // 2:]
    return x * cos + torch.cat([-x2, x1], dim=-1) * sin


def rope_interleaved(x, base):
    # GPT-J / Meta LLaMA: features (2i, 2i+1) form a complex number rotated by e^{i p theta_i}.
    D = x.shape[-1]
    ang = rope_angles(x.shape[-2], D, base)
    xc = torch.view_as_complex(x.reshape(*x.shape[:-1], D // 2, 2).contiguous())
    rot = torch.polar(torch.ones_like(ang), ang)
    return torch.view_as_real(xc * rot).reshape(x.shape)


def alibi_slopes(n):
    # Press et al.'s reference code (ofirpress/attention_with_linear_biases).
    def power_of_2(n):
        start = 2 ** (-(2 ** -(math.log2(n) - 3)))
        return [start * start ** i for i in range(n)]
    if math.log2(n).is_integer():
        return power_of_2(n)
    closest = 2 ** math.floor(math.log2(n))
    return power_of_2(closest) + alibi_slopes(2 * closest)[0::2][: n - closest]


def attention(c, W, prefix, x):
    Bx, Tx, _ = x.shape
    H, Hkv, D = dims(c)
    q = F.linear(x, W[prefix + "wq.weight"]).view(Bx, Tx, H, D).transpose(1, 2)
    k = F.linear(x, W[prefix + "wk.weight"]).view(Bx, Tx, Hkv, D).transpose(1, 2)
    v = F.linear(x, W[prefix + "wv.weight"]).view(Bx, Tx, Hkv, D).transpose(1, 2)
    if c["position"] == "rope":
        rot = rope_half if c["rope_style"] == "half" else rope_interleaved
        q, k = rot(q, c["rope_base"]), rot(k, c["rope_base"])
    # Query head h reads kv head h // (H / Hkv): repeat each kv head H / Hkv times in a row.
    k = k.repeat_interleave(H // Hkv, dim=1)
    v = v.repeat_interleave(H // Hkv, dim=1)
    i = torch.arange(Tx).view(Tx, 1)
    j = torch.arange(Tx).view(1, Tx)
    allowed = j <= i
    if c.get("window", 0) > 0:
        allowed = allowed & (i - j < c["window"])
    bias = torch.zeros(H, Tx, Tx, dtype=torch.float64)
    if c["position"] == "alibi":
        m = torch.tensor(alibi_slopes(H), dtype=torch.float64).view(H, 1, 1)
        bias = bias - m * (i - j).to(torch.float64)
    bias = bias.masked_fill(~allowed, float("-inf"))
    o = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)   # scale 1/sqrt(D)
    o = o.transpose(1, 2).reshape(Bx, Tx, H * D)
    return F.linear(o, W[prefix + "wo.weight"])


def mlp(c, W, prefix, x):
    if c["mlp"] == "swiglu":
        return F.linear(F.silu(F.linear(x, W[prefix + "gate.weight"])) * F.linear(x, W[prefix + "up.weight"]),
                        W[prefix + "down.weight"])
    return F.linear(F.gelu(F.linear(x, W[prefix + "up.weight"]), approximate="tanh"), W[prefix + "down.weight"])


def forward(c, W, tokens):
    x = F.embedding(tokens, W["embed.weight"])
    for i in range(c["layers"]):
        b = f"blocks.{i}."
        x = x + attention(c, W, b + "mixer.", apply_norm(c, W, b + "norm1", x))
        x = x + mlp(c, W, b + "mlp.", apply_norm(c, W, b + "norm2", x))
    x = apply_norm(c, W, "norm", x)
    return F.linear(x, W["embed.weight"] if c["tied"] else W["head.weight"])


def loss_of(logits, targets):
    return F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1), ignore_index=-100)


# ---------------------------------------------------------------- one fixture

def make_case(index, c, out_dir):
    gen = torch.Generator().manual_seed(1000 + index)
    params = make_params(c, gen)
    tokens = torch.randint(0, V, (B, T), generator=gen, dtype=torch.int64)
    targets = torch.randint(0, V, (B, T), generator=gen, dtype=torch.int64)
    if c.get("ignore", 0):
        flat = targets.view(-1)
        flat[torch.randperm(B * T, generator=gen)[: c["ignore"]]] = -100

    W = {n: torch.nn.Parameter(v.clone()) for n, (v, _) in params.items()}
    logits = forward(c, W, tokens)
    loss = loss_of(logits, targets)
    loss.backward()
    grads = {n: W[n].grad.detach().clone() for n in W}

    # A few AdamW steps from the same weights, recording the loss before each step and
    # after the last one.
    W2 = {n: torch.nn.Parameter(v.clone()) for n, (v, _) in params.items()}
    groups = [dict(params=[W2[n] for n, (_, d) in params.items() if d], weight_decay=WEIGHT_DECAY),
              dict(params=[W2[n] for n, (_, d) in params.items() if not d], weight_decay=0.0)]
    opt = torch.optim.AdamW(groups, lr=LR, betas=BETAS, eps=EPS, foreach=False)
    losses = []
    for _ in range(ADAM_STEPS):
        opt.zero_grad()
        l = loss_of(forward(c, W2, tokens), targets)
        losses.append(l.item())
        l.backward()
        opt.step()
    with torch.no_grad():
        losses.append(loss_of(forward(c, W2, tokens), targets).item())

    tensors = {}
    for n, (v, _) in params.items():
        w32 = v.to(torch.float32)
        assert torch.equal(w32.to(torch.float64), v), n   # stored exactly
        tensors[n] = w32.contiguous()
    tensors["tokens"] = tokens.to(torch.int32)
    tensors["targets"] = targets.to(torch.int32)
    tensors["logits"] = logits.detach().contiguous()
    tensors["loss"] = loss.detach().reshape(1)
    for n, g in grads.items():
        tensors["grad." + n] = g.contiguous()
    tensors["adamw.losses"] = torch.tensor(losses, dtype=torch.float64)

    metadata = {
        "golden_version": GOLDEN_VERSION,
        "case": c["name"],
        "config": config_toml(c),
        "generator": "tests/golden/make_golden.py",
        "torch_version": torch.__version__.split("+")[0],
    }
    path = os.path.join(out_dir, f"{c['name']}.safetensors")
    save_file(tensors, path, metadata=metadata)
    n_params = sum(v.numel() for v, _ in params.values())
    print(f"{path}: {n_params} parameters, loss {loss.item():.6f}, "
          f"AdamW losses {', '.join(f'{x:.6f}' for x in losses)}, {os.path.getsize(path)} bytes")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures"))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.set_num_threads(1)
    for i, c in enumerate(CASES):
        make_case(i, c, args.out)


if __name__ == "__main__":
    main()
