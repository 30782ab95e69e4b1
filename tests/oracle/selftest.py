#!/usr/bin/python3
"""End-to-end self-test of the llama.cpp oracle on tiny random LFM2 / LFM2-MoE models.

    /usr/bin/python3 tests/oracle/selftest.py [--oracle PATH] [--keep DIR]

Checks, for a dense (lfm2) and a MoE (lfm2moe) model written by make_tiny_lfm2.py:
  * `info` reports the shapes the writer chose;
  * `logits` batched, in chunks of 7 and one token per call agree to < 1e-5 relative L2 (F32 cache),
    and agree with ref_lfm2_numpy.py (a float64 numpy forward written from docs/lfm2.md §2) to < 1e-5;
  * `greedy` is the same in both decode paths, never emits an UNUSED ([PAD]) token, and its first
    id is the argmax over usable tokens of the last prompt row of `logits`;
  * `tokenize` round-trips text through the vocabulary and handles special tokens;
  * `quantize` to F16 Q8_0 Q4_0 Q4_K_M Q5_K_M Q6_K yields only types lfmd supports, and `dequant`
    of each is bit-identical to gguf-py's own numpy dequantization, with the same metadata.
Prints the measurements; exit code 0 when everything holds.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import oracle_lib as ol  # noqa: E402

sys.path.insert(0, str(HERE / "llama-src" / "gguf-py"))
import gguf  # noqa: E402
from gguf import GGUFReader  # noqa: E402
from gguf.quants import dequantize  # noqa: E402

SUPPORTED = {"f32", "f16", "bf16", "q4_0", "q8_0", "q4_K", "q5_K", "q6_K"}  # the types of the official LFM2 GGUFs
FTYPES = ["F16", "Q8_0", "Q4_0", "Q4_K_M", "Q5_K_M", "Q6_K"]
TOL = 1e-5

failures: list[str] = []


def check(cond: bool, what: str) -> None:
    print(("  ok   " if cond else "  FAIL ") + what)
    if not cond:
        failures.append(what)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--oracle", help="llama_oracle path (default: $LLAMA_ORACLE or <repo>/build*/)")
    ap.add_argument("--keep", help="work in this directory and keep the files")
    args = ap.parse_args()
    orc = ol.Oracle(args.oracle)
    print(f"oracle: {orc.exe}")
    tmp = None
    if args.keep:
        work = Path(args.keep)
        work.mkdir(parents=True, exist_ok=True)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="lfmd-oracle-selftest-")
        work = Path(tmp.name)

    rng = np.random.default_rng(1)
    toks = [1] + [int(x) for x in rng.integers(14, 314, size=63)]

    for kind in ("dense", "moe"):
        print(f"== {kind}")
        model = str(work / f"{kind}.gguf")
        ol.make_tiny(model, moe=kind == "moe")
        info = orc.info(model)
        V = info["n_vocab"]
        check(info["arch"] == ("lfm2moe" if kind == "moe" else "lfm2") and V == 512 and info["n_layer"] == 6
              and info["n_embd"] == 256 and info["n_head_kv"] == [0, 0, 2, 0, 2, 0],
              f"info: {info['arch']} n_vocab {V} n_layer {info['n_layer']} n_head_kv {info['n_head_kv']}")

        d = work / kind
        d.mkdir(exist_ok=True)
        full = orc.logits(model, toks, d, n_vocab=V)
        chunk = orc.logits(model, toks, d, batch=7, n_vocab=V)
        one = orc.logits(model, toks, d, one_by_one=True, n_vocab=V)
        check(ol.rel_l2(one, full).max() < TOL, f"logits one-by-one vs batched: {ol.summary(one, full)}")
        check(ol.rel_l2(chunk, full).max() < TOL, f"logits batch 7 vs batched:    {ol.summary(chunk, full)}")
        tokf = d / "toks.txt"
        ol.write_tokens(tokf, toks)
        ref_out = d / "ref.bin"
        ol.run([ol.PYTHON, HERE / "ref_lfm2_numpy.py", model, tokf, ref_out], timeout=300)
        ref = ol.read_logits(ref_out, V)
        check(ol.rel_l2(full, ref).max() < TOL, f"logits vs numpy spec reference: {ol.summary(full, ref)}")

        prompt = toks[:8]
        g1 = orc.greedy(model, prompt, 24, d)
        g2 = orc.greedy(model, prompt, 24, d, one_by_one=True)
        usable = np.arange(V) < 314  # make_tiny_lfm2: ids >= 314 are [PAD] (UNUSED)
        first = int(np.argmax(np.where(usable, full[len(prompt) - 1], -np.inf)))
        check(len(g1) == 24 and g1 == g2 and all(usable[t] for t in g1) and g1[0] == first,
              f"greedy: {g1[:8]}... same in both paths, no [PAD], first = argmax {first}")

    print("== tokenizer")
    model = str(work / "dense.gguf")
    texts = ["hello world", " hello world", "1234567890 and the is in", "", "café 😀  \t\n\n  x",
             "<|im_start|>user\nHi<|im_end|>\n"]
    ids = orc.tokenize(model, texts, work)
    rd = GGUFReader(model)
    vocab = {f.name: f.contents() for f in rd.fields.values()}["tokenizer.ggml.tokens"]
    import make_tiny_lfm2 as mt  # the writer's own GPT-2 byte map
    inv = {v: k for k, v in mt.bytes_to_unicode().items()}

    def detok(seq: list[int]) -> str:
        return b"".join(vocab[t].encode() if t < 14 else bytes(inv[c] for c in vocab[t]) for t in seq).decode()

    check(all(x[0] == 1 for x in ids), "tokenize: every line starts with BOS 1 (add_bos)")
    check(all(detok(x[1:]) == t for x, t in zip(ids, texts)), "tokenize: ids decode back to the text")
    check([vocab[t] for t in ids[0]] == ["<|startoftext|>", "hello", "Ġworld"], f"tokenize 'hello world': {ids[0]}")
    check(ids[2][1:5] == [vocab.index("123"), vocab.index("4"), vocab.index("5"), vocab.index("6")],
          "tokenize: digits split in groups of <= 3")
    check(6 in ids[5] and 7 in ids[5], "tokenize: <|im_start|> / <|im_end|> parsed as special tokens")

    for kind in ("dense", "moe"):
        print(f"== quantize / dequant ({kind})")
        src = str(work / f"{kind}.gguf")
        for ft in FTYPES:
            q = str(work / f"{kind}.{ft}.gguf")
            f32 = str(work / f"{kind}.{ft}.f32.gguf")
            orc.quantize(src, q, ft)
            counts = orc.info(q)["type_counts"]
            check(set(counts) <= SUPPORTED, f"{ft}: tensor types {json.dumps(counts)}")
            orc.dequant(q, f32)
            rq, rf = GGUFReader(q), GGUFReader(f32)
            kq = {f.name: f.contents() for f in rq.fields.values() if not f.name.startswith("GGUF.")}
            kf = {f.name: f.contents() for f in rf.fields.values() if not f.name.startswith("GGUF.")}
            kq.pop("general.file_type", None)
            ft32 = kf.pop("general.file_type", None)
            same_meta = kq == kf and ft32 == 0
            tf = {t.name: t for t in rf.tensors}
            exact = [t.name for t in rq.tensors
                     if tf[t.name].tensor_type == gguf.GGMLQuantizationType.F32
                     and list(tf[t.name].shape) == list(t.shape)
                     and np.array_equal(dequantize(t.data, t.tensor_type).reshape(-1),
                                        np.asarray(tf[t.name].data).reshape(-1))]
            check(same_meta and len(exact) == len(rq.tensors) == len(rf.tensors),
                  f"{ft}: dequant bit-exact vs gguf-py for {len(exact)}/{len(rq.tensors)} tensors, same metadata")
        q = str(work / f"{kind}.Q4_K_M.f32.gguf")
        a = orc.logits(q, toks, work, n_vocab=512)
        b = orc.logits(q, toks, work, one_by_one=True, n_vocab=512)
        check(ol.rel_l2(b, a).max() < TOL, f"Q4_K_M F32 copy: one-by-one vs batched: {ol.summary(b, a)}")

    if tmp is not None:
        tmp.cleanup()
    print("selftest:", "FAILED: " + "; ".join(failures) if failures else "all checks passed")
    return 1 if failures else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except ol.OracleError as e:
        print(f"selftest: error: {e}", file=sys.stderr)
        sys.exit(1)
