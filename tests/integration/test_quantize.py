#!/usr/bin/python3
"""`lfmd quantize` against llama.cpp's quantizer (llama_model_quantize through llama_oracle) on the
same input files: every tensor must get the type llama.cpp chooses, and every block must be
bit-identical (all of Q8_0, Q4_0, Q4_K, Q5_K, Q6_K are deterministic in ggml's reference
quantizers without an importance matrix). Prints per-type block counts.

usage: test_quantize.py LFMD LLAMA_ORACLE WORK_DIR
"""
import os
import pty
import subprocess
import sys
from collections import defaultdict

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "oracle"))
sys.path.insert(0, os.path.join(HERE, "..", "oracle", "llama-src", "gguf-py"))
import gguf  # noqa: E402  (the release's own gguf-py: independent of lfmd's reader)
import oracle_lib as ol  # noqa: E402

LFMD, ORACLE, WORK = sys.argv[1:4]
os.makedirs(WORK, exist_ok=True)
MIXES = ["Q8_0", "Q4_0", "Q4_K_M", "Q5_K_M", "Q6_K", "Q4_K_S", "Q5_K_S"]
BLOCK = {"Q8_0": (32, 34), "Q4_0": (32, 18), "Q4_K": (256, 144), "Q5_K": (256, 176),
         "Q6_K": (256, 210), "F32": (1, 4), "F16": (1, 2), "BF16": (1, 2)}
failures = []
totals = defaultdict(lambda: [0, 0])  # type -> [identical blocks, blocks]


def check(cond, msg):
    print(("ok   " if cond else "FAIL ") + msg, flush=True)
    if not cond:
        failures.append(msg)


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=900, **kw)


def path(name):
    return os.path.join(WORK, name)


def lfmd_model(preset, typ, seed=3):
    out = path(f"{preset}-{typ}.gguf")
    if not os.path.exists(out):
        r = run([LFMD, "gen-model", "--preset", preset, "--type", typ, "--seed", str(seed), "--out", out])
        assert r.returncode == 0, r.stderr
    return out


def tiny_model(name, *args):
    out = path(name + ".gguf")
    if not os.path.exists(out):
        ol.make_tiny(out, extra=list(args))
    return out


def tensors(p):
    r = gguf.GGUFReader(p)
    ft = r.fields["general.file_type"]
    return {t.name: (t.tensor_type.name, bytes(t.data.tobytes())) for t in r.tensors}, int(ft.parts[ft.data[0]][0])


def compare(label, src, mix, requantize=False):
    ours, theirs = path(f"{label}-{mix}-lfmd.gguf"), path(f"{label}-{mix}-llama.gguf")
    r = run([LFMD, "quantize", src, ours, mix])
    if r.returncode != 0:
        check(False, f"{label} {mix}: lfmd quantize failed: {r.stderr.strip()}")
        return
    check(r.stderr.count("\n") <= 1, f"{label} {mix}: quiet when piped ({len(r.stderr)} bytes of stderr)")
    ol.run([ORACLE, "quantize", src, theirs, mix, *(["--allow-requantize"] if requantize else [])], timeout=900)
    a, fa = tensors(ours)
    b, fb = tensors(theirs)
    check(fa == fb, f"{label} {mix}: general.file_type {fa} == llama.cpp's {fb}")
    check(sorted(a) == sorted(b), f"{label} {mix}: same tensor names ({len(a)})")
    types_ok, blocks_ok, per_type = 0, 0, defaultdict(lambda: [0, 0])
    for name in sorted(set(a) & set(b)):
        (ta, da), (tb, db) = a[name], b[name]
        if ta != tb:
            check(False, f"{label} {mix}: {name} is {ta}, llama.cpp chose {tb}")
            continue
        types_ok += 1
        bs = BLOCK[ta][1]
        n = len(db) // bs
        same = sum(1 for i in range(n) if da[i * bs:(i + 1) * bs] == db[i * bs:(i + 1) * bs]) if len(da) == len(db) else 0
        per_type[ta][0] += same
        per_type[ta][1] += n
        if same != n:
            check(False, f"{label} {mix}: {name} ({ta}) {n - same} of {n} blocks differ")
        else:
            blocks_ok += 1
    summary = ", ".join(f"{t} {s}/{n}" for t, (s, n) in sorted(per_type.items()))
    check(types_ok == len(b) and blocks_ok == len(b),
          f"{label} {mix}: {types_ok}/{len(b)} tensor types agree, {blocks_ok} tensors bit-identical [{summary}]")
    for t, (s, n) in per_type.items():
        totals[t][0] += s
        totals[t][1] += n


def progress_on_terminal(src):
    """With stderr on a pseudo-terminal, quantize shows a percentage line."""
    out = path("tty-q4km.gguf")
    master, slave = pty.openpty()
    p = subprocess.Popen([LFMD, "quantize", src, out, "Q4_K_M"], stdout=subprocess.DEVNULL, stderr=slave)
    os.close(slave)
    text = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO once the child has closed the terminal
            break
        if not chunk:
            break
        text += chunk
    os.close(master)
    t = text.decode("utf-8", "replace")
    check(p.wait(timeout=300) == 0 and "100%" in t and "MiB" in t, f"progress on a terminal ({t.count('%')} updates)")


def failure_cases(src_320):
    # A row length lfmd cannot give llama.cpp's fallback for (Q4_K -> Q5_0): one line, exit 1, no file.
    out = path("fail-q4km.gguf")
    r = run([LFMD, "quantize", src_320, out, "Q4_K_M"])
    check(r.returncode == 1 and r.stderr.count("\n") == 1 and "Q5_0" in r.stderr and not os.path.exists(out)
          and not os.path.exists(out + ".tmp"), f"D=320 Q4_K_M refused in one line: {r.stderr.strip()}")
    r = run([LFMD, "quantize", src_320, out, "Q3_K_M"])
    check(r.returncode == 1 and "unknown type" in r.stderr and "q4_k_m" in r.stderr and not os.path.exists(out),
          f"unknown type refused, listing the known ones: {r.stderr.strip()}")
    r = run([LFMD, "quantize", path("does-not-exist.gguf"), out, "Q8_0"])
    check(r.returncode == 1 and r.stderr.count("\n") == 1 and not os.path.exists(out),
          f"missing input: {r.stderr.strip()}")
    r = run([LFMD, "quantize", src_320])
    check(r.returncode != 0 and r.stderr.count("\n") == 1, f"missing arguments: {r.stderr.strip()}")


def main():
    ol.find_oracle  # noqa: B018  (import check)
    models = [
        ("tiny-f32", lfmd_model("tiny", "f32"), MIXES),
        ("tiny-moe16-f16", lfmd_model("tiny-moe", "f16"), MIXES),
        ("tiny-bf16", lfmd_model("tiny", "bf16"), ["Q4_K_M", "Q8_0"]),
        # 16 layers (more varied "more bits" layers) and an untied output.weight
        ("dense16-untied", tiny_model("dense16-untied", "--layers", "16", "--attn-layers", "2,5,8,10,12,14",
                                      "--untied", "--seed", "5"), MIXES),
        # exactly 8 experts: llama.cpp's 8-expert rules (attn_v / attn_k Q8_0, attn_output Q5_K)
        ("moe8", tiny_model("moe8", "--moe", "--layers", "8", "--attn-layers", "2,5", "--seed", "6"), MIXES),
        # rows of 320: K-quant fallbacks (Q6_K -> Q8_0)
        ("d320", tiny_model("d320", "--embd", "320", "--heads", "4", "--kv-heads", "2", "--seed", "7"),
         ["Q8_0", "Q4_0", "Q6_K"]),
    ]
    for label, src, mixes in models:
        for mix in mixes:
            compare(label, src, mix)
    compare("tiny-q8_0", lfmd_model("tiny", "q8_0"), "Q4_K_M", requantize=True)
    progress_on_terminal(models[0][1])
    failure_cases(models[-1][1])
    print("bit-identical blocks by type: " +
          ", ".join(f"{t} {s}/{n}" for t, (s, n) in sorted(totals.items())), flush=True)
    if failures:
        print(f"{len(failures)} failure(s)", file=sys.stderr)
        sys.exit(1)
    print("all quantize checks passed")


if __name__ == "__main__":
    main()
