#!/usr/bin/python3
"""Writes a tiny random-weight LFM2 (`lfm2`) or LFM2-MoE (`lfm2moe`) GGUF for the correctness oracle.

Independent of lfmd: it uses only numpy and the llama.cpp release's own gguf-py
(tests/oracle/llama-src/gguf-py, created by tests/oracle/install.sh), with the tensor names and
metadata keys of docs/lfm2.md §3 — the layout llama.cpp's converter produces for the real
models. Run it with /usr/bin/python3 (Debian's python3-numpy).

    /usr/bin/python3 tests/oracle/make_tiny_lfm2.py OUT.gguf [--moe] [--seed N] ...

Defaults (dense): D=256, 6 layers (attention at 2 and 4, conv elsewhere), 4 query heads of 64,
2 KV heads, FFN 512, vocab 512 = 14 LFM2 control tokens + 256 byte tokens + merges + [PAD] tokens.
--moe: lfm2moe with 8 experts (top-2, sigmoid gating, expert bias), expert FFN 256, the first layer
dense. Every matrix has ne0 (its input dim) a multiple of 256, so llama.cpp's K-quants apply to all
of them without falling back to other types. All tensors are F32.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
GGUF_PY = os.path.join(HERE, "llama-src", "gguf-py")
if not os.path.isdir(GGUF_PY):
    sys.exit(f"make_tiny_lfm2.py: {GGUF_PY} missing; run tests/oracle/install.sh first")
sys.path.insert(0, GGUF_PY)

import gguf  # noqa: E402  (the release's gguf-py)

# The 14 LFM2 special tokens, ids 0..13 (docs/lfm2.md §4), all CONTROL.
SPECIAL_TOKENS = [
    "<|pad|>", "<|startoftext|>", "<|endoftext|>", "<|fim_pre|>", "<|fim_mid|>", "<|fim_suf|>",
    "<|im_start|>", "<|im_end|>", "<|tool_list_start|>", "<|tool_list_end|>",
    "<|tool_call_start|>", "<|tool_call_end|>", "<|tool_response_start|>", "<|tool_response_end|>",
]
BOS_ID, EOS_ID, PAD_ID = 1, 7, 0

# Merges in rank order, written in GPT-2 byte-level form (Ġ = space, Ċ = newline). Each merge
# "a b" adds the token "ab"; every merged token is therefore reachable by BPE.
MERGES = [
    "Ġ t", "h e", "Ġ a", "i n", "e r", "o n", "Ġt he", "r e", "Ġ w", "a t", "e n", "Ġ s", "l l",
    "o r", "Ġ o", "e s", "l o", "Ġ h", "Ġ i", "i s", "he ll", "hell o", "Ġ hello", "Ġw or", "l d",
    "Ġwor ld", "Ġ c", "Ġ f", "a n", "Ġa n", "Ġan d", "in g", "Ġ 1", "1 2", "12 3", "Ċ Ċ", "Ġ Ġ",
    "ĠĠ ĠĠ", "Ġ -", "( )", ": Ċ", "Ġ =", "Ġi s", "Ġ in",
]


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte -> printable unicode character map."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


def build_vocab(vocab_size: int) -> tuple[list[str], list[int], list[str]]:
    tokens = list(SPECIAL_TOKENS)
    types = [gguf.TokenType.CONTROL] * len(SPECIAL_TOKENS)
    byte_map = bytes_to_unicode()
    for b in range(256):
        tokens.append(byte_map[b])
        types.append(gguf.TokenType.NORMAL)
    known = set(tokens)
    merges = []
    for m in MERGES:
        a, b = m.split(" ")
        if a not in known or b not in known:
            raise SystemExit(f"make_tiny_lfm2.py: merge '{m}' uses a token that does not exist yet")
        merges.append(m)
        if a + b not in known:
            tokens.append(a + b)
            types.append(gguf.TokenType.NORMAL)
            known.add(a + b)
    if vocab_size < len(tokens):
        raise SystemExit(f"make_tiny_lfm2.py: --vocab-size {vocab_size} < {len(tokens)} real tokens")
    # Pad like llama.cpp's converter does for LFM2 (ids >= 64400 of the real 65536-row embedding).
    for i in range(len(tokens), vocab_size):
        tokens.append(f"[PAD{i}]")
        types.append(gguf.TokenType.UNUSED)
    return tokens, [int(t) for t in types], merges


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", help="output .gguf path")
    ap.add_argument("--moe", action="store_true", help="write an lfm2moe model (default: dense lfm2)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--embd", type=int, default=256, help="D (keep a multiple of 256 for K-quants)")
    ap.add_argument("--layers", type=int, default=6)
    ap.add_argument("--attn-layers", default="2,4", help="comma-separated indices of attention layers")
    ap.add_argument("--heads", type=int, default=4, help="query heads (head_dim = D / heads)")
    ap.add_argument("--kv-heads", type=int, default=2)
    ap.add_argument("--ffn", type=int, default=512, help="dense FFN width")
    ap.add_argument("--experts", type=int, default=8)
    ap.add_argument("--experts-used", type=int, default=2)
    ap.add_argument("--expert-ffn", type=int, default=256)
    ap.add_argument("--dense-layers", type=int, default=1, help="lfm2moe leading_dense_block_count")
    ap.add_argument("--vocab-size", type=int, default=512)
    ap.add_argument("--ctx", type=int, default=32768, help="context_length")
    ap.add_argument("--untied", action="store_true", help="also write output.weight (official files have none)")
    ap.add_argument("--chat-template", metavar="FILE", help="store this Jinja file as tokenizer.chat_template")
    ap.add_argument("--omit-key", action="append", default=[], metavar="KEY",
                    help="leave this metadata key out (negative tests); repeatable")
    ap.add_argument("--omit-tensor", action="append", default=[], metavar="NAME",
                    help="leave this tensor out (negative tests); repeatable")
    args = ap.parse_args()

    arch = "lfm2moe" if args.moe else "lfm2"
    D, L, H, Hkv = args.embd, args.layers, args.heads, args.kv_heads
    if D % H:
        raise SystemExit("--embd must be a multiple of --heads")
    hd = D // H
    attn = sorted({int(x) for x in args.attn_layers.split(",") if x.strip()})
    if any(i < 0 or i >= L for i in attn):
        raise SystemExit("--attn-layers out of range")
    n_dense = args.dense_layers if args.moe else L
    E, K, Fe, F = args.experts, args.experts_used, args.expert_ffn, args.ffn
    if args.moe and not (0 < K <= E):
        raise SystemExit("need 0 < --experts-used <= --experts")

    rng = np.random.default_rng(args.seed)

    def mat(rows: int, cols: int, *lead: int) -> np.ndarray:
        """Random [..., rows, cols] weight (ggml ne = {cols, rows, ...}), std 1/sqrt(cols)."""
        return (rng.standard_normal((*lead, rows, cols)) / np.sqrt(cols)).astype(np.float32)

    def norm(n: int) -> np.ndarray:
        return (1.0 + 0.1 * rng.standard_normal(n)).astype(np.float32)

    tokens, toktypes, merges = build_vocab(args.vocab_size)
    V = len(tokens)

    tmp = args.out + ".tmp"  # written, then renamed: never a half-written OUT
    w = gguf.GGUFWriter(tmp, arch)
    w.add_name(f"tiny-{arch}-random-seed{args.seed}")
    w.add_file_type(gguf.LlamaFileType.ALL_F32)
    w.add_vocab_size(V)
    w.add_context_length(args.ctx)
    w.add_embedding_length(D)
    w.add_feed_forward_length(F)
    w.add_block_count(L)
    w.add_head_count(H)
    w.add_head_count_kv([Hkv if i in attn else 0 for i in range(L)])  # 0 => shortconv layer
    w.add_layer_norm_rms_eps(1e-5)
    w.add_rope_freq_base(1e6)
    w.add_shortconv_l_cache(3)
    if args.moe:
        w.add_expert_count(E)
        w.add_expert_used_count(K)
        w.add_expert_feed_forward_length(Fe)
        w.add_leading_dense_block_count(n_dense)
        w.add_expert_gating_func(gguf.ExpertGatingFuncType.SIGMOID)

    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("lfm2")
    w.add_token_list(tokens)
    w.add_token_types(toktypes)
    w.add_token_merges(merges)
    w.add_bos_token_id(BOS_ID)
    w.add_eos_token_id(EOS_ID)
    w.add_pad_token_id(PAD_ID)
    w.add_add_bos_token(True)
    w.add_add_eos_token(False)
    if args.chat_template:
        with open(args.chat_template, encoding="utf-8") as f:
            w.add_chat_template(f.read())

    for key in args.omit_key:
        if key not in w.kv_data[0]:
            raise SystemExit(f"make_tiny_lfm2.py: --omit-key {key}: no such key")
        del w.kv_data[0][key]
    add_tensor = w.add_tensor
    omitted = set()

    def add_tensor_filtered(name: str, data: np.ndarray) -> None:
        if name in args.omit_tensor:
            omitted.add(name)
        else:
            add_tensor(name, data)

    w.add_tensor = add_tensor_filtered  # type: ignore[method-assign]

    # Tensors, in the order llama.cpp's converter writes them.
    emb = (0.1 * rng.standard_normal((V, D))).astype(np.float32)
    w.add_tensor("token_embd.weight", emb)
    for i in range(L):
        p = f"blk.{i}."
        w.add_tensor(p + "attn_norm.weight", norm(D))
        if i in attn:
            w.add_tensor(p + "attn_q.weight", mat(H * hd, D))
            w.add_tensor(p + "attn_k.weight", mat(Hkv * hd, D))
            w.add_tensor(p + "attn_v.weight", mat(Hkv * hd, D))
            w.add_tensor(p + "attn_output.weight", mat(D, H * hd))
            w.add_tensor(p + "attn_q_norm.weight", norm(hd))
            w.add_tensor(p + "attn_k_norm.weight", norm(hd))
        else:
            w.add_tensor(p + "shortconv.in_proj.weight", mat(3 * D, D))
            w.add_tensor(p + "shortconv.out_proj.weight", mat(D, D))
            # HF conv.conv [D, 1, 3] squeezed to [D, 3] -> ggml ne {3, D}
            w.add_tensor(p + "shortconv.conv.weight", (0.5 * rng.standard_normal((D, 3))).astype(np.float32))
        w.add_tensor(p + "ffn_norm.weight", norm(D))
        if i < n_dense:
            w.add_tensor(p + "ffn_gate.weight", mat(F, D))
            w.add_tensor(p + "ffn_up.weight", mat(F, D))
            w.add_tensor(p + "ffn_down.weight", mat(D, F))
        else:
            w.add_tensor(p + "ffn_gate_inp.weight", mat(E, D))
            w.add_tensor(p + "exp_probs_b.bias", (0.1 * rng.standard_normal(E)).astype(np.float32))
            w.add_tensor(p + "ffn_gate_exps.weight", mat(Fe, D, E))
            w.add_tensor(p + "ffn_up_exps.weight", mat(Fe, D, E))
            w.add_tensor(p + "ffn_down_exps.weight", mat(D, Fe, E))
    w.add_tensor("token_embd_norm.weight", norm(D))  # the FINAL norm (model.embedding_norm)
    if args.untied:
        w.add_tensor("output.weight", (0.1 * rng.standard_normal((V, D))).astype(np.float32))

    if set(args.omit_tensor) - omitted:
        raise SystemExit(f"make_tiny_lfm2.py: --omit-tensor: no such tensor(s) {sorted(set(args.omit_tensor) - omitted)}")
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    os.replace(tmp, args.out)
    print(f"wrote {args.out}: {arch}, V={V}, D={D}, layers={L}, attention at {attn}"
          + (f", {E} experts top-{K}, expert FFN {Fe}, {n_dense} dense" if args.moe else f", FFN {F}"),
          file=sys.stderr)


if __name__ == "__main__":
    main()
