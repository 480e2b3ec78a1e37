#!/usr/bin/env python3
"""The PyTorch peer of `attnlab bench`: the same shapes, printed in the same line format
("<suite> <case> key=value ..."), so bench/peers/compare.py can join the two.

  python torch_peer.py attention --lengths 1024,2048,4096
  python torch_peer.py train --config tiny --steps 3
  python torch_peer.py decode --config tiny --contexts 256,1024,4096

attention: torch.nn.functional.scaled_dot_product_attention(is_causal=True) on q, k, v
  [B=1, H=12, T, D=64], forward (no grad) and forward+backward.
train: an eager GPT of the shape attnlab's bench trains (LayerNorm with bias, RoPE on
  half-split pairs, SDPA causal attention, bias-free projections, GELU(tanh) MLP of width
  4C, tied embeddings), cross-entropy, backward, clip_grad_norm_(1.0), AdamW.
decode: the same GPT, batch 1, prefill with a KV cache, then one token at a time.

Run with --threads as attnlab's --threads and --clock cpu for CPU seconds per thread
(time.process_time() / threads), which is steadier on a shared machine.
"""
import argparse
import math
import os
import resource
import sys
import time

import torch
import torch.nn.functional as F

CONFIGS = {
    "tiny": dict(layers=6, d=256, heads=8, T=256, B=16),
    "gpt2-small": dict(layers=12, d=768, heads=12, T=1024, B=4),
}

CLOCK = "wall"


def now():
    if CLOCK == "cpu":
        return time.process_time() / torch.get_num_threads()
    return time.perf_counter()


def timed(f):
    t0 = now()
    f()
    return now() - t0


def rss_mib():
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def max_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def header(what):
    cfg = torch.__config__.show().replace("\n", " ")
    blas = "MKL" if torch.backends.mkl.is_available() else "OpenBLAS?"
    print(f"# torch_peer {what} (clock: {CLOCK})")
    print(f"# torch {torch.__version__}, {torch.get_num_threads()} thread(s), "
          f"CPU capability {torch.backends.cpu.get_cpu_capability()}, BLAS {blas}, "
          f"LD_PRELOAD={os.environ.get('LD_PRELOAD', '')}, OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '')}")
    if "--verbose" in sys.argv:
        print("# " + cfg)
    sys.stdout.flush()


def sgemm_gflops(m, k, n, repeats=3):
    a, b = torch.randn(m, k), torch.randn(k, n)
    c = torch.empty(m, n)
    torch.mm(a, b, out=c)
    best = min(timed(lambda: torch.mm(a, b, out=c)) for _ in range(repeats))
    return 2.0 * m * k * n / best / 1e9


# ---------------------------------------------------------------- attention
def run_attention(args):
    header("attention")
    B, H, D = 1, args.heads, args.head_dim
    sg = sgemm_gflops(1024, 1024, 1024)
    print(f"# sgemm 1024^3 in this run: {sg:.1f} GFLOP/s")
    for T in args.lengths:
        g = torch.Generator().manual_seed(T)
        q, k, v, dout = (torch.randn(B, H, T, D, generator=g) for _ in range(4))
        fwd_flops = 2.0 * T * T * H * D * B

        def fwd():
            with torch.no_grad():
                F.scaled_dot_product_attention(q, k, v, is_causal=True)

        qg, kg, vg = (t.clone().requires_grad_(True) for t in (q, k, v))

        def both():
            for t in (qg, kg, vg):
                t.grad = None
            F.scaled_dot_product_attention(qg, kg, vg, is_causal=True).backward(dout)

        for name, f, flops in (("fwd", fwd, fwd_flops), ("fwd+bwd", both, 3.5 * fwd_flops)):
            base = rss_mib()
            peak0 = max_rss_mib()
            t = timed(f)
            extra = max(0.0, max_rss_mib() - max(base, peak0))
            if t < 2.0:
                t = min([t] + [timed(f) for _ in range(args.repeats)])
            gf = flops / t / 1e9
            print(f"attention {name} T={T} ms={t * 1e3:.2f} GFLOP/s={gf:.1f} of_sgemm={100 * gf / sg:.1f}% "
                  f"extra_MiB={extra:.1f}")
            sys.stdout.flush()


# ---------------------------------------------------------------- the GPT
def rope(x, start):
    # x [B, H, T, D]; half-split pairs (i, i + D/2), base 10000, as attnlab's default.
    T, D = x.shape[-2], x.shape[-1]
    half = D // 2
    inv = 1.0 / (10000 ** (torch.arange(half, dtype=torch.float32) * 2 / D))
    ang = torch.arange(start, start + T, dtype=torch.float32)[:, None] * inv[None, :]
    cos, sin = ang.cos(), ang.sin()
    x1, x2 = x[..., :half], x[..., half:]
    return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)


class Block(torch.nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.norm1 = torch.nn.LayerNorm(d)
        self.wq = torch.nn.Linear(d, d, bias=False)
        self.wk = torch.nn.Linear(d, d, bias=False)
        self.wv = torch.nn.Linear(d, d, bias=False)
        self.wo = torch.nn.Linear(d, d, bias=False)
        self.norm2 = torch.nn.LayerNorm(d)
        self.up = torch.nn.Linear(d, 4 * d, bias=False)
        self.down = torch.nn.Linear(4 * d, d, bias=False)

    def forward(self, x, cache=None):
        B, T, C = x.shape
        h = self.norm1(x)
        split = lambda t: t.view(B, T, self.heads, C // self.heads).transpose(1, 2)
        start = 0 if cache is None or cache[0] is None else cache[0].shape[2]
        q, k, v = split(self.wq(h)), split(self.wk(h)), split(self.wv(h))
        q, k = rope(q, start), rope(k, start)
        if cache is not None:
            if cache[0] is not None:
                k = torch.cat([cache[0], k], dim=2)
                v = torch.cat([cache[1], v], dim=2)
            cache[0], cache[1] = k, v
        # One query against the whole cache needs no mask; a prefill from an empty cache is causal.
        o = F.scaled_dot_product_attention(q, k, v, is_causal=(T > 1 and start == 0))
        x = x + self.wo(o.transpose(1, 2).reshape(B, T, C))
        return x + self.down(F.gelu(self.up(self.norm2(x)), approximate="tanh"))


class GPT(torch.nn.Module):
    def __init__(self, vocab, layers, d, heads):
        super().__init__()
        self.embed = torch.nn.Embedding(vocab, d)
        self.blocks = torch.nn.ModuleList(Block(d, heads) for _ in range(layers))
        self.norm = torch.nn.LayerNorm(d)
        for p in self.parameters():
            if p.dim() == 2:
                torch.nn.init.normal_(p, std=0.02)

    def forward(self, ids, caches=None):
        x = self.embed(ids)
        for i, blk in enumerate(self.blocks):
            x = blk(x, None if caches is None else caches[i])
        return F.linear(self.norm(x), self.embed.weight)  # tied head


def config_from(args, name):
    c = dict(CONFIGS[name])
    for key, attr in (("layers", "layers"), ("B", "batch"), ("T", "seq_len")):
        if getattr(args, attr, None):
            c[key] = getattr(args, attr)
    return c


def run_train(args):
    header("train")
    print(f"# training step: forward + cross-entropy + backward + clip + AdamW, float32, random tokens, "
          f"vocab {args.vocab}; best of {args.steps} steps after 1 warm-up step; same FLOP count as attnlab")
    for name in args.config:
        c = config_from(args, name)
        torch.manual_seed(1)
        model = GPT(args.vocab, c["layers"], c["d"], c["heads"])
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.95), weight_decay=0.1)
        x = torch.randint(0, args.vocab, (c["B"], c["T"]))
        y = torch.randint(0, args.vocab, (c["B"], c["T"]))

        def step():
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(x).view(-1, args.vocab), y.view(-1))
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()

        sg = sgemm_gflops(c["B"] * c["T"], c["d"], 4 * c["d"])
        first = timed(step)
        times = [timed(step) for _ in range(args.steps)]
        best = min(times)
        tokens = c["B"] * c["T"]
        matmul_params = c["layers"] * 12 * c["d"] ** 2 + args.vocab * c["d"]
        flops = 3 * (2 * matmul_params + 2 * c["layers"] * c["T"] * c["d"]) * tokens
        gf = flops / best / 1e9
        print(f"train {name} layers={c['layers']} d={c['d']} heads={c['heads']} T={c['T']} B={c['B']} "
              f"tokens/s={tokens / best:.0f} mean_tokens/s={tokens * len(times) / sum(times):.0f} "
              f"ms/step={best * 1e3:.1f} first_step_ms={first * 1e3:.0f} model_GFLOP/s={gf:.1f} "
              f"sgemm_GFLOP/s={sg:.1f} mfu_sgemm={100 * gf / sg:.1f}% mfu_peak={100 * gf / args.peak:.1f}% "
              f"max_rss_MiB={max_rss_mib():.0f}")
        sys.stdout.flush()


def run_decode(args):
    header("decode")
    c = CONFIGS[args.config]
    print(f"# decoding, batch 1, float32, config {args.config}, vocab {args.vocab}: median of {args.tokens} "
          f"single-token steps with a KV cache after a prefill to the context length")
    torch.manual_seed(1)
    model = GPT(args.vocab, c["layers"], c["d"], c["heads"])
    with torch.no_grad():
        caches = [[None, None] for _ in range(c["layers"])]
        length = 0
        for ctx in sorted(args.contexts):
            need = ctx - length
            t0 = now()
            while need > 0:  # prefill in chunks continuing the cache
                n = min(need, 2048)
                chunk = torch.randint(0, args.vocab, (1, n))
                if length == 0:
                    model(chunk, caches)
                else:  # a chunk that continues the cache: the mask is built by hand
                    model_chunk_with_cache(model, chunk, caches, length)
                length += n
                need -= n
            if now() - t0 > args.max_prefill:
                print(f"# ctx={ctx}: prefill took {now() - t0:.0f} s; longer contexts skipped")
            tok = torch.randint(0, args.vocab, (1, 1))
            times = []
            for _ in range(args.tokens):
                times.append(timed(lambda: model(tok, caches)))
                length += 1
            times.sort()
            med = times[len(times) // 2]
            state = sum(t.numel() * 4 for cc in caches for t in cc if t is not None)
            print(f"decode softmax ctx={ctx} ms/token={med * 1e3:.3f} tokens/s={1 / med:.1f} "
                  f"state_MiB={state / 2**20:.2f} state_bytes/token={state / length:.0f}")
            sys.stdout.flush()
            if now() - t0 > args.max_prefill:
                break


def model_chunk_with_cache(model, ids, caches, start):
    # A prefill chunk that continues a cache: causal inside the chunk, all of the cache
    # visible (an explicit boolean mask, since is_causal aligns the mask to the top left).
    x = model.embed(ids)
    T = ids.shape[1]
    mask = torch.ones(T, start + T, dtype=torch.bool).tril(diagonal=start)
    for blk, cache in zip(model.blocks, caches):
        B, _, C = x.shape
        h = blk.norm1(x)
        split = lambda t: t.view(B, T, blk.heads, C // blk.heads).transpose(1, 2)
        q, k, v = split(blk.wq(h)), split(blk.wk(h)), split(blk.wv(h))
        q, k = rope(q, start), rope(k, start)
        k = torch.cat([cache[0], k], dim=2)
        v = torch.cat([cache[1], v], dim=2)
        cache[0], cache[1] = k, v
        o = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        x = x + blk.wo(o.transpose(1, 2).reshape(B, T, C))
        x = x + blk.down(F.gelu(blk.up(blk.norm2(x)), approximate="tanh"))
    return F.linear(model.norm(x), model.embed.weight)


def main():
    global CLOCK
    ints = lambda s: [int(v) for v in s.split(",") if v]
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--clock", choices=["wall", "cpu"], default="wall")
    sub = p.add_subparsers(dest="what", required=True)
    a = sub.add_parser("attention")
    a.add_argument("--lengths", type=ints, default=[1024, 2048, 4096])
    a.add_argument("--heads", type=int, default=12)
    a.add_argument("--head-dim", type=int, default=64)
    a.add_argument("--repeats", type=int, default=2)
    t = sub.add_parser("train")
    t.add_argument("--config", type=lambda s: s.split(","), default=["tiny"])
    t.add_argument("--steps", type=int, default=3)
    t.add_argument("--vocab", type=int, default=50257)
    t.add_argument("--layers", type=int, default=0)
    t.add_argument("--batch", type=int, default=0)
    t.add_argument("--seq-len", type=int, default=0)
    t.add_argument("--peak", type=float, default=450.0)
    d = sub.add_parser("decode")
    d.add_argument("--config", default="tiny")
    d.add_argument("--contexts", type=ints, default=[256, 1024, 4096, 16384])
    d.add_argument("--tokens", type=int, default=32)
    d.add_argument("--vocab", type=int, default=50257)
    d.add_argument("--max-prefill", type=float, default=60.0)
    args = p.parse_args()
    CLOCK = args.clock
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    {"attention": run_attention, "train": run_train, "decode": run_decode}[args.what](args)


if __name__ == "__main__":
    main()
