#!/usr/bin/python3
"""A float64 numpy forward pass of LFM2 / LFM2-MoE written from docs/lfm2.md §2, reading a
GGUF with the release's gguf-py (any tensor type, dequantized with gguf-py's own numpy code).

It exists to check the oracle itself: llama.cpp run on a tiny model written by make_tiny_lfm2.py
must agree with this reference (F32 weights: ~1e-6 relative L2), which shows that the file layout,
the spec and llama.cpp all mean the same thing. Slow; for tiny models only.

    /usr/bin/python3 tests/oracle/ref_lfm2_numpy.py MODEL.gguf TOKENS_FILE OUT.bin
writes float32 [n_tokens][n_vocab] logits like `llama_oracle logits`.
"""

from __future__ import annotations

import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "llama-src", "gguf-py"))
from gguf import GGUFReader  # noqa: E402
from gguf.quants import dequantize  # noqa: E402


class Model:
    def __init__(self, path: str):
        r = GGUFReader(path)
        self.kv = {f.name: f.contents() for f in r.fields.values()}
        self.arch = self.kv["general.architecture"]
        a = self.arch
        self.t = {}
        for t in r.tensors:
            shape = tuple(int(x) for x in reversed(t.shape))  # numpy order = reversed ggml ne
            self.t[t.name] = dequantize(t.data, t.tensor_type).astype(np.float64).reshape(shape)
        self.L = int(self.kv[f"{a}.block_count"])
        self.D = int(self.kv[f"{a}.embedding_length"])
        self.H = int(self.kv[f"{a}.attention.head_count"])
        hkv = self.kv[f"{a}.attention.head_count_kv"]
        self.Hkv = [int(x) for x in hkv] if isinstance(hkv, list) else [int(hkv)] * self.L
        self.eps = float(self.kv[f"{a}.attention.layer_norm_rms_epsilon"])
        self.theta = float(self.kv.get(f"{a}.rope.freq_base", 10000.0))
        self.n_dense = int(self.kv.get(f"{a}.leading_dense_block_count", 0)) if a == "lfm2moe" else self.L
        self.K = int(self.kv.get(f"{a}.expert_used_count", 0))
        self.Lc = int(self.kv[f"{a}.shortconv.l_cache"])

    def w(self, name: str) -> np.ndarray:
        return self.t[name]


def rmsnorm(x: np.ndarray, w: np.ndarray, eps: float) -> np.ndarray:
    return w * (x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps))


def silu(x: np.ndarray) -> np.ndarray:
    return x / (1.0 + np.exp(-x))


def forward(m: Model, ids: list[int]) -> np.ndarray:
    T, D, H = len(ids), m.D, m.H
    hd = D // H
    h = m.w("token_embd.weight")[ids]  # [T, D]
    pos = np.arange(T, dtype=np.float64)
    for i in range(m.L):
        p = f"blk.{i}."
        a = rmsnorm(h, m.w(p + "attn_norm.weight"), m.eps)
        if m.Hkv[i] == 0:  # shortconv
            bcx = a @ m.w(p + "shortconv.in_proj.weight").T
            B, C, X = bcx[:, :D], bcx[:, D:2 * D], bcx[:, 2 * D:]
            bx = B * X
            wc = m.w(p + "shortconv.conv.weight")  # [D, L]
            Lc = m.Lc
            pad = np.concatenate([np.zeros((Lc - 1, D)), bx], axis=0)
            conv = sum(wc[:, k] * pad[k:k + T] for k in range(Lc))
            mix = (C * conv) @ m.w(p + "shortconv.out_proj.weight").T
        else:
            Hkv = m.Hkv[i]
            q = (a @ m.w(p + "attn_q.weight").T).reshape(T, H, hd)
            k = (a @ m.w(p + "attn_k.weight").T).reshape(T, Hkv, hd)
            v = (a @ m.w(p + "attn_v.weight").T).reshape(T, Hkv, hd)
            q = rmsnorm(q, m.w(p + "attn_q_norm.weight"), m.eps)
            k = rmsnorm(k, m.w(p + "attn_k_norm.weight"), m.eps)
            inv = m.theta ** (-np.arange(0, hd // 2) * 2.0 / hd)
            ang = pos[:, None] * inv[None, :]
            cos, sin = np.cos(ang)[:, None, :], np.sin(ang)[:, None, :]

            def rope(x: np.ndarray) -> np.ndarray:
                x1, x2 = x[..., :hd // 2], x[..., hd // 2:]
                return np.concatenate([x1 * cos - x2 * sin, x2 * cos + x1 * sin], axis=-1)

            q, k = rope(q), rope(k)
            g = H // Hkv
            out = np.zeros((T, H, hd))
            mask = np.triu(np.full((T, T), -np.inf), 1)
            for hh in range(H):
                s = q[:, hh] @ k[:, hh // g].T / np.sqrt(hd) + mask
                s = np.exp(s - s.max(axis=-1, keepdims=True))
                s /= s.sum(axis=-1, keepdims=True)
                out[:, hh] = s @ v[:, hh // g]
            mix = out.reshape(T, H * hd) @ m.w(p + "attn_output.weight").T
        h = h + mix
        f = rmsnorm(h, m.w(p + "ffn_norm.weight"), m.eps)
        if i < m.n_dense:
            y = (silu(f @ m.w(p + "ffn_gate.weight").T) * (f @ m.w(p + "ffn_up.weight").T)) @ m.w(p + "ffn_down.weight").T
        else:
            probs = 1.0 / (1.0 + np.exp(-(f @ m.w(p + "ffn_gate_inp.weight").T)))  # [T, E] sigmoid
            sel = probs + m.w(p + "exp_probs_b.bias")
            gate, up, down = m.w(p + "ffn_gate_exps.weight"), m.w(p + "ffn_up_exps.weight"), m.w(p + "ffn_down_exps.weight")
            y = np.zeros_like(f)
            for t in range(T):
                idx = np.argsort(-sel[t], kind="stable")[:m.K]
                wts = probs[t, idx] / probs[t, idx].sum()  # llama.cpp: no epsilon
                for e, wt in zip(idx, wts):
                    y[t] += wt * ((silu(gate[e] @ f[t]) * (up[e] @ f[t])) @ down[e].T)
        h = h + y
    h = rmsnorm(h, m.w("token_embd_norm.weight"), m.eps)
    out_w = m.t.get("output.weight", m.w("token_embd.weight"))
    return h @ out_w.T


def main() -> None:
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    model, tok_path, out = sys.argv[1:]
    ids = [int(x) for x in open(tok_path).read().replace(",", " ").split()]
    logits = forward(Model(model), ids)
    np.ascontiguousarray(logits, dtype="<f4").tofile(out)


if __name__ == "__main__":
    main()
