#!/usr/bin/env python3
"""Checks that the reference safetensors reader accepts the files attnlab writes.

Usage: check_safetensors.py DIR, where DIR holds main.safetensors and bf16.safetensors as
written by the C++ test SafetensorsPython.WriteFixture (src/attnlab/io/safetensors_test.cpp).
Values are recomputed here from the same formulas and compared exactly.

Exit codes: 0 pass, 1 fail, 77 skipped (the Python package `safetensors` or NumPy is not
installed; neither is a build or test dependency of attnlab). PyTorch is used when present
(safetensors.torch.load_file); otherwise safetensors.numpy.load_file, and bfloat16 tensors,
which NumPy has no type for, are checked from the raw bytes that safetensors.deserialize
returns after its own validation.
"""
import sys

SKIP = 77

try:
    import numpy as np
    import safetensors
    from safetensors import safe_open
except ImportError as e:  # not installed: nothing to check against
    print(f"skipped: {e}")
    sys.exit(SKIP)

try:
    import torch
    from safetensors.torch import load_file as load_torch
except ImportError:
    torch = None
from safetensors.numpy import load_file as load_numpy


def expected_main():
    i = np.arange(63 * 5, dtype=np.float32)
    return {
        "embed.weight": (i / np.float32(7)).reshape(63, 5),
        "blocks.0.mixer.scale": -np.arange(127, dtype=np.float64) / 3.0,
        "tokens": (np.arange(1000, dtype=np.int32) * 1000 - 7).reshape(10, 100),
        "transposed": np.arange(12, dtype=np.float32).reshape(3, 4).T.copy(),
        "scalar": np.array(2.5, dtype=np.float64),
        "empty": np.zeros((0, 3), dtype=np.float32),
    }


def expected_bf16_as_f32():
    return ((np.arange(1000) % 64 - 32) / 4.0).astype(np.float32)


failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


def compare(name, got, want):
    check(got.dtype == want.dtype, f"{name}: dtype {got.dtype} != {want.dtype}")
    check(got.shape == want.shape, f"{name}: shape {got.shape} != {want.shape}")
    if got.shape == want.shape:
        check(np.array_equal(got, want), f"{name}: values differ")


def main(d):
    main_path, bf16_path = f"{d}/main.safetensors", f"{d}/bf16.safetensors"
    want = expected_main()

    # safe_open validates the header (offsets tile the buffer, sizes match) on open.
    with safe_open(main_path, framework="numpy") as f:
        check(f.metadata() == {"format": "pt", "step": "42"}, f"main metadata: {f.metadata()}")
        check(sorted(f.keys()) == sorted(want), f"main keys: {sorted(f.keys())}")

    got = load_numpy(main_path)
    for name, w in want.items():
        compare(name, got[name], w)

    if torch is not None:
        tg = load_torch(main_path)
        for name, w in want.items():
            compare(name + " (torch)", tg[name].numpy(), w)
        tb = load_torch(bf16_path)
        check(tb["bf16"].dtype == torch.bfloat16, f"bf16 dtype under torch: {tb['bf16'].dtype}")
        compare("bf16 (torch)", tb["bf16"].float().numpy(), expected_bf16_as_f32())
        compare("after (torch)", tb["after"].numpy(), np.array([1.5, -2.0, 3.25], np.float32))

    with open(bf16_path, "rb") as fh:
        entries = dict(safetensors.deserialize(fh.read()))
    check(entries["bf16"]["dtype"] in ("bfloat16", "BF16", "bf16"), f"bf16 dtype: {entries['bf16']['dtype']}")
    check(list(entries["bf16"]["shape"]) == [1000], f"bf16 shape: {entries['bf16']['shape']}")
    raw = np.frombuffer(bytes(entries["bf16"]["data"]), dtype="<u2")
    as_f32 = (raw.astype(np.uint32) << 16).view(np.float32)
    compare("bf16 (raw bytes)", as_f32, expected_bf16_as_f32())
    after = np.frombuffer(bytes(entries["after"]["data"]), dtype="<f4")
    compare("after (raw bytes)", after, np.array([1.5, -2.0, 3.25], np.float32))
    with safe_open(bf16_path, framework="numpy") as f:
        check(f.metadata() == {"dtype": "bf16"}, f"bf16 metadata: {f.metadata()}")

    reader = "safetensors " + safetensors.__version__ + (" + torch " + torch.__version__ if torch else " (numpy)")
    if failures:
        print(f"{len(failures)} check(s) failed with {reader}")
        return 1
    print(f"ok: {reader} reads main.safetensors (6 tensors) and bf16.safetensors (2 tensors)")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: check_safetensors.py DIR", file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1]))
