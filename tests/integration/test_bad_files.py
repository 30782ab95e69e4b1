#!/usr/bin/env python3
"""Corrupt a generated model in each way a hostile or broken file can be wrong; lfmd must exit
non-zero with a one-line error naming the problem, never crash (run on the ASan build in CI).
usage: test_bad_files.py LFMD_BINARY WORK_DIR"""
import os
import struct
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gguf_mini import Header  # noqa: E402

lfmd, work = sys.argv[1], sys.argv[2]
os.makedirs(work, exist_ok=True)
good = os.path.join(work, "good-tiny.gguf")
subprocess.run([lfmd, "gen-model", "--preset", "tiny", "--type", "q8_0", "--seed", "3", "--out", good],
               check=True, capture_output=True)
data = open(good, "rb").read()
h = Header(data)
D = 256


def patched(pos, fmt, value, base=data):
    b = bytearray(base)
    struct.pack_into(fmt, b, pos, value)
    return bytes(b)


def rename(old, new):
    assert len(old) == len(new)
    i = data.index(old.encode())
    return data[:i] + new.encode() + data[i + len(old):]


norm = h.tensor("blk.0.attn_norm.weight")
up = h.tensor("blk.0.ffn_up.weight")
cases = [
    ("empty file", b"", "truncated"),
    ("truncated header", data[:200], "truncated"),
    ("truncated data", data[: len(data) // 2], "runs past the end"),
    ("wrong magic", b"GGML" + data[4:], "not a GGUF file"),
    ("unsupported version", patched(4, "<I", 7), "unsupported GGUF version 7"),
    ("absurd tensor count", patched(8, "<Q", 1 << 60), "tensor count"),
    ("absurd metadata count", patched(16, "<Q", 1 << 60), "metadata count"),
    ("tensor offset past the end", patched(up["offset_off"], "<Q", 1 << 40), "runs past the end"),
    ("tensor size past the end", patched(up["dims_off"] + 8, "<Q", 512 * 4096), "runs past the end"),
    ("overflowing dimensions", patched(up["dims_off"] + 8, "<Q", 1 << 39,
                                       patched(up["dims_off"], "<Q", 1 << 39)), "overflows"),
    ("zero dimension", patched(norm["dims_off"], "<Q", 0), "out of range"),
    # general.architecture is the first string of length 4 reading "lfm2"
    ("unknown architecture", data.replace(b"\x04" + b"\x00" * 7 + b"lfm2", b"\x04" + b"\x00" * 7 + b"gpt9", 1),
     "unknown architecture 'gpt9'"),
    ("missing tensor", rename("blk.0.ffn_up.weight", "blk.0.ffn_up.weighs"), "missing tensor 'blk.0.ffn_up.weight'"),
    ("wrong shape", patched(norm["dims_off"], "<Q", D // 2), "expected [256]"),
    ("unsupported tensor type", patched(up["type_off"], "<I", 3), "unsupported type Q4_1"),
    ("invalid tensor type id", patched(up["type_off"], "<I", 1000), "unsupported type"),
    ("misaligned offset", patched(up["offset_off"], "<Q", up["offset"] + 1), "not aligned"),
]
failures = 0
for name, blob, expect in cases:
    path = os.path.join(work, "bad-" + name.replace(" ", "-") + ".gguf")
    with open(path, "wb") as f:
        f.write(blob)
    r = subprocess.run([lfmd, "tokenize", "--model", path, "--text", "hi"], capture_output=True, text=True, timeout=120)
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    ok = (r.returncode == 1 and len(lines) == 1 and expect in lines[0] and "Sanitizer" not in r.stderr)
    print(("PASS" if ok else "FAIL") + f": {name}: exit {r.returncode}: {r.stderr.strip()[:300]}")
    failures += not ok
    os.remove(path)
print(f"{len(cases) - failures} passed, {failures} failed")
sys.exit(1 if failures else 0)
