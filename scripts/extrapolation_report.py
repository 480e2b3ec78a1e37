#!/usr/bin/env python3
"""Collects scripts/extrapolation.sh's evaluations into one CSV, a Markdown table and an
SVG plot (perplexity against length, log2 length axis, log perplexity axis, one line per
model and scaling). Standard library only.

    python3 scripts/extrapolation_report.py OUT TRAIN_LENGTH
"""
import csv
import math
import os
import sys


def main():
    out, train_length = sys.argv[1], int(sys.argv[2])
    eval_dir = os.path.join(out, "eval")
    rows = []
    for name in sorted(os.listdir(eval_dir)):
        if not name.endswith(".csv") or "@" in name:
            continue
        label = name[:-4]
        with open(os.path.join(eval_dir, name)) as f:
            for r in csv.DictReader(f):
                model = r["checkpoint"].rstrip("/").split("/")[-2]
                rows.append({
                    "label": label, "model": model, "length": int(r["length"]),
                    "x_train": int(r["length"]) / train_length,
                    "ppl": float(r["ppl"]), "bits_per_byte": float(r["bits_per_byte"]),
                    "sliding_ppl": float(r["sliding_ppl"]), "sliding_bits_per_byte": float(r["sliding_bits_per_byte"]),
                })
    if not rows:
        sys.exit(f"[report] error: no evaluations in {eval_dir}")
    fields = list(rows[0].keys())
    with open(os.path.join(out, "results.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)

    labels = sorted(dict.fromkeys(r["label"] for r in rows), key=lambda l: (l.split("+")[0], "+" in l, l))
    lengths = sorted({r["length"] for r in rows})
    by = {(r["label"], r["length"]): r for r in rows}

    def seconds(path):
        try:
            return open(path).read().strip()
        except OSError:
            return "-"

    md = ["| model (+ evaluation-time scaling) | " + " | ".join(f"{L} ({L // train_length}x)" for L in lengths)
          + " | train s |", "|---|" + "---:|" * len(lengths) + "---:|"]
    for lab in labels:
        model = next(r["model"] for r in rows if r["label"] == lab)
        cells = [f"{by[(lab, L)]['sliding_ppl']:.3f}" if (lab, L) in by else "-" for L in lengths]
        md.append(f"| {lab} | " + " | ".join(cells) + f" | {seconds(os.path.join(out, model, 'train_seconds'))} |")
    note = ("Byte-level perplexity with sliding windows (stride L/2) on the same validation tokens; "
            "train s: wall seconds of training on the shared machine.")
    with open(os.path.join(out, "results.md"), "w") as f:
        f.write(note + "\n\n" + "\n".join(md) + "\n")
    write_svg(os.path.join(out, "perplexity.svg"), labels, lengths, by, train_length)


def write_svg(path, labels, lengths, by, train_length):
    W, H, left, right, top, bottom = 900, 560, 70, 230, 40, 50
    pw, ph = W - left - right, H - top - bottom
    vals = [by[(l, L)]["sliding_ppl"] for l in labels for L in lengths if (l, L) in by]
    lo, hi = math.log(min(vals)), math.log(max(vals))
    if hi - lo < 1e-9:
        hi = lo + 1
    x_lo, x_hi = math.log2(lengths[0]), math.log2(lengths[-1]) if len(lengths) > 1 else math.log2(lengths[0]) + 1

    def X(L):
        return left + (math.log2(L) - x_lo) / (x_hi - x_lo) * pw

    def Y(p):
        return top + (1 - (math.log(p) - lo) / (hi - lo)) * ph

    # One colour per trained model; its evaluation-time scalings share it with a dash pattern.
    colours = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
               "#bcbd22", "#17becf"]
    dashes = ["", "7 3", "2 3", "10 3 2 3", "4 6"]
    models = list(dict.fromkeys(lab.split("+")[0] for lab in labels))
    style = {}
    for lab in labels:
        m = lab.split("+")[0]
        k = sum(1 for other in style if other.split("+")[0] == m)
        dash = f' stroke-dasharray="{dashes[k % len(dashes)]}"' if k else ""
        style[lab] = (colours[models.index(m) % len(colours)], dash)
    s = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">',
         f'<rect width="{W}" height="{H}" fill="white"/>',
         f'<text x="{left}" y="22" font-size="14">Perplexity against length (trained at {train_length}; '
         'sliding windows; log axes)</text>',
         f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="#444"/>']
    for L in lengths:
        s.append(f'<line x1="{X(L):.1f}" y1="{top}" x2="{X(L):.1f}" y2="{top + ph}" stroke="#eee"/>')
        s.append(f'<text x="{X(L):.1f}" y="{top + ph + 16}" text-anchor="middle">{L}</text>')
    s.append(f'<line x1="{X(train_length):.1f}" y1="{top}" x2="{X(train_length):.1f}" y2="{top + ph}" '
             'stroke="#888" stroke-dasharray="4 4"/>')
    for k in range(6):
        p = math.exp(lo + (hi - lo) * k / 5)
        s.append(f'<text x="{left - 6}" y="{Y(p) + 4:.1f}" text-anchor="end">{p:.3g}</text>')
    s.append(f'<text x="{left + pw / 2}" y="{H - 10}" text-anchor="middle">evaluation length (tokens)</text>')
    for i, lab in enumerate(labels):
        c, dash = style[lab]
        pts = [(X(L), Y(by[(lab, L)]["sliding_ppl"])) for L in lengths if (lab, L) in by]
        s.append(f'<polyline fill="none" stroke="{c}" stroke-width="2"{dash} points="'
                 + " ".join(f"{x:.1f},{y:.1f}" for x, y in pts) + '"/>')
        ly = top + 14 + 18 * i
        s.append(f'<line x1="{left + pw + 12}" y1="{ly - 4}" x2="{left + pw + 36}" y2="{ly - 4}" stroke="{c}" '
                 f'stroke-width="2"{dash}/>')
        s.append(f'<text x="{left + pw + 42}" y="{ly}">{lab}</text>')
    s.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(s) + "\n")


if __name__ == "__main__":
    main()
