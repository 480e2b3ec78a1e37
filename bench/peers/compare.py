#!/usr/bin/env python3
"""Joins `attnlab bench ...` output with torch_peer.py's output (same line format) and
prints attnlab / peer ratios, >1 meaning attnlab is better:
  throughput (tokens/s, GFLOP/s): attnlab / peer;  time (ms, ms/token): peer / attnlab;
  memory (peak_MiB vs the peer's RSS growth): shown side by side.
  python compare.py attnlab.txt peer.txt
"""
import sys

TIME_KEYS = ("ms", "ms/step", "ms/token")
RATE_KEYS = ("tokens/s", "model_GFLOP/s", "mfu_sgemm")
LABEL_KEYS = ("T", "ctx")


def parse(path):
    rows = {}
    with open(path) as fh:
        for line in fh:
            if line.startswith("#") or "=" not in line:
                continue
            words = line.split()
            head = [w for w in words if "=" not in w]
            kv = dict(w.split("=", 1) for w in words if "=" in w)
            label = " ".join(head + [f"{k}={kv[k]}" for k in LABEL_KEYS if k in kv])
            rows[label] = kv
    return rows


def number(v):
    return float(v.rstrip("%"))


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: compare.py ATTNLAB_OUTPUT PEER_OUTPUT")
    ours, peer = parse(sys.argv[1]), parse(sys.argv[2])
    print(f"{'case':38s} {'metric':14s} {'attnlab':>10s} {'peer':>10s} {'ratio':>7s}  (>1: attnlab better)")
    for label, a in ours.items():
        p = peer.get(label)
        if p is None:
            continue
        for key in TIME_KEYS + RATE_KEYS:
            if key in a and key in p:
                va, vp = number(a[key]), number(p[key])
                ratio = vp / va if key in TIME_KEYS else va / vp
                print(f"{label:38s} {key:14s} {va:10.2f} {vp:10.2f} {ratio:7.2f}")
        for key in ("peak_MiB", "extra_MiB"):
            if key in a:
                other = p.get("extra_MiB", p.get("max_rss_MiB", "?"))
                print(f"{label:38s} {'memory MiB':14s} {number(a[key]):10.1f} {other:>10s}     -")


if __name__ == "__main__":
    main()
