#!/usr/bin/env python3
"""Tables and a figure for the issue-9 experiments (docs/RESULTS.md, "Training recipes").

  python3 scripts/recipes_report.py schedules RUNS   # RUNS/schedules.svg + a Markdown table
  python3 scripts/recipes_report.py emo RUNS         # perplexity and sampling proxies

Reads only what the trainer and `attnlab generate` wrote (metrics.jsonl, samples.txt);
the SVG is plain text (no plotting library).
"""
import json, math, os, sys


def metrics(run):
    rows = [json.loads(l) for l in open(os.path.join(run, "metrics.jsonl")) if l.strip()]
    return sorted(rows, key=lambda r: r["step"])


def val_curve(run):
    return [(r["tokens"], r["val_loss"]) for r in metrics(run) if "val_loss" in r]


def val_at(run, step):
    for r in metrics(run):
        if r["step"] == step and "val_loss" in r:
            return r["val_loss"]
    return float("nan")


PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2"]


def svg_lines(series, title, x_label, y_label, path, width=860, height=480):
    """series: [(name, [(x, y)], dashed)] -> a line chart with linear axes."""
    xs = [x for _, pts, _ in series for x, _ in pts]
    ys = [y for _, pts, _ in series for _, y in pts if math.isfinite(y)]
    x0, x1 = 0.0, max(xs)
    y0, y1 = min(ys), max(ys)
    pad = 0.05 * (y1 - y0 or 1)
    y0, y1 = y0 - pad, y1 + pad
    L, R, T, B = 70, 200, 40, 50
    pw, ph = width - L - R, height - T - B
    sx = lambda x: L + pw * (x - x0) / (x1 - x0)
    sy = lambda y: T + ph * (1 - (y - y0) / (y1 - y0))
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" '
           f'font-size="12"><rect width="100%" height="100%" fill="white"/>',
           f'<text x="{L}" y="22" font-size="15">{title}</text>',
           f'<rect x="{L}" y="{T}" width="{pw}" height="{ph}" fill="none" stroke="#444"/>']
    for i in range(6):
        x = x0 + (x1 - x0) * i / 5
        y = y0 + (y1 - y0) * i / 5
        out.append(f'<line x1="{sx(x):.1f}" y1="{T}" x2="{sx(x):.1f}" y2="{T + ph}" stroke="#ddd"/>')
        out.append(f'<text x="{sx(x):.1f}" y="{T + ph + 16}" text-anchor="middle">{x / 1e3:.0f}k</text>')
        out.append(f'<line x1="{L}" y1="{sy(y):.1f}" x2="{L + pw}" y2="{sy(y):.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{L - 6}" y="{sy(y) + 4:.1f}" text-anchor="end">{y:.2f}</text>')
    out.append(f'<text x="{L + pw / 2}" y="{height - 12}" text-anchor="middle">{x_label}</text>')
    out.append(f'<text x="16" y="{T + ph / 2}" text-anchor="middle" transform="rotate(-90 16 {T + ph / 2})">'
               f'{y_label}</text>')
    for k, (name, pts, dashed) in enumerate(series):
        colour = PALETTE[k % len(PALETTE)]
        d = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in pts if math.isfinite(y))
        dash = ' stroke-dasharray="5,4"' if dashed else ""
        out.append(f'<polyline points="{d}" fill="none" stroke="{colour}" stroke-width="1.8"{dash}/>')
        x, y = pts[-1]
        out.append(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="3" fill="{colour}"/>')
        ly = T + 14 + 18 * k
        out.append(f'<line x1="{L + pw + 12}" y1="{ly - 4}" x2="{L + pw + 36}" y2="{ly - 4}" stroke="{colour}" '
                   f'stroke-width="2"{dash}/><text x="{L + pw + 42}" y="{ly}">{name}</text>')
    out.append("</svg>\n")
    with open(path, "w") as f:
        f.write("\n".join(out))


def schedules(runs):
    budgets = (100, 200, 300)
    series = [(f"cosine {b}", val_curve(f"{runs}/cosine_{b}"), False) for b in budgets]
    series += [(f"WSD branch {b}", val_curve(f"{runs}/wsd_{b}"), True) for b in budgets]
    series.append(("WSD-S (one run)", val_curve(f"{runs}/wsds"), False))
    svg_lines(series, "Validation loss against training tokens: cosine, WSD, WSD-S",
              "training tokens", "validation loss (nats/token)", f"{runs}/schedules.svg")
    tokens_per_step = metrics(f"{runs}/wsds")[0]["tokens"] // metrics(f"{runs}/wsds")[0]["step"]
    print("| budget (steps) | tokens | cosine of that length | WSD branch (20% 1-sqrt) | WSD-S (one run) |")
    print("|---|---|---|---|---|")
    for b in budgets:
        print(f"| {b} | {b * tokens_per_step:,} | {val_at(f'{runs}/cosine_{b}', b):.4f} | "
              f"{val_at(f'{runs}/wsd_{b}', b):.4f} | {val_at(f'{runs}/wsds', b):.4f} |")
    total = {"cosine (3 runs)": sum(budgets), "WSD (main 240 + branches 20+40+60)": 240 + 120, "WSD-S": 300}
    print("\nsteps trained in all:", ", ".join(f"{k} {v}" for k, v in total.items()))
    print(f"figure: {runs}/schedules.svg")


def ngrams(tokens, n):
    return [tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]


def corpus_words():
    """Lower-cased alphabetic words of the training text (python3-doc's .rst sources)."""
    import glob, re
    src = os.environ.get("SOURCES", "/usr/share/doc/python3-doc/html/_sources")
    words = set()
    for f in glob.glob(os.path.join(src, "**", "*.rst.txt"), recursive=True):
        words.update(w.lower() for w in re.findall(r"[A-Za-z]{2,}", open(f, errors="replace").read()))
    return words


def sample_stats(path, vocabulary):
    samples = [s.strip() for s in open(path, encoding="utf-8", errors="replace").read().split("<<<END>>>") if s.strip()]
    words = [s.split() for s in samples]
    stats = {}
    for n in (1, 2, 3):
        grams = [g for w in words for g in ngrams(w, n)]
        stats[f"distinct-{n}"] = len(set(grams)) / max(1, len(grams))
    # Repetition: share of word 4-grams (and byte 16-grams) that repeat one earlier in the same sample.
    rep_w, rep_b = [], []
    for s, w in zip(samples, words):
        g = ngrams(w, 4)
        if g:
            rep_w.append(1 - len(set(g)) / len(g))
        gb = ngrams(list(s), 16)
        if gb:
            rep_b.append(1 - len(set(gb)) / len(gb))
    stats["rep-4 (words)"] = sum(rep_w) / max(1, len(rep_w))
    stats["rep-16 (bytes)"] = sum(rep_b) / max(1, len(rep_b))
    # Real-word rate: alphabetic words of 2+ letters that occur in the training text.
    import re
    alpha = [w.lower() for s in samples for w in re.findall(r"[A-Za-z]{2,}", s)]
    stats["real words"] = sum(w in vocabulary for w in alpha) / max(1, len(alpha))
    stats["samples"] = len(samples)
    return stats


def emo(runs):
    names = [("pretrain", "pretrained (CE, 400 steps)"), ("ce", "+150 steps CE"),
             ("emo", "+150 steps EMO ce-equal"), ("emo2", "+150 steps EMO emo-emphasised"),
             ("emo_self", "+150 steps EMO ce-equal, own head")]
    keys = ["distinct-1", "distinct-2", "distinct-3", "rep-4 (words)", "rep-16 (bytes)", "real words"]
    vocabulary = corpus_words()
    print("| model | val loss | val ppl | " + " | ".join(keys) + " |")
    print("|---|---|---|" + "---|" * len(keys))
    for name, label in names:
        run = f"{runs}/{name}"
        last = [r for r in metrics(run) if "val_loss" in r][-1]
        st = sample_stats(f"{run}/samples.txt", vocabulary)
        print(f"| {label} | {last['val_loss']:.4f} | {math.exp(last['val_loss']):.3f} | " +
              " | ".join(f"{st[k]:.3f}" for k in keys) + " |")
    print(f"\n{st['samples']} samples per model; distinct-n pooled over them, repetition per sample")


if __name__ == "__main__":
    {"schedules": schedules, "emo": emo}[sys.argv[1]](sys.argv[2])
