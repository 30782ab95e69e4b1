#!/usr/bin/python3
"""`lfmd convert`: a Hugging Face checkpoint written here from a generated GGUF (the inverse of
llama.cpp's name/shape mapping, experts unstacked, written with this file's own safetensors
writer) must convert back to the same tensors, bit for bit, with the same metadata, the same lfmd
logits, and llama.cpp must load the result and agree with lfmd (F32 path). Quantized outputs
(--type q4_k_m / q8_0) must equal llama.cpp's quantizer run on the original file.

usage: test_convert.py LFMD LLAMA_ORACLE WORK_DIR
"""
import json
import os
import shutil
import struct
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "oracle"))
sys.path.insert(0, os.path.join(HERE, "..", "oracle", "llama-src", "gguf-py"))
import gguf  # noqa: E402  (llama.cpp's own gguf-py)
import numpy as np  # noqa: E402
import oracle_lib as ol  # noqa: E402

LFMD, ORACLE, WORK = sys.argv[1:4]
os.makedirs(WORK, exist_ok=True)
REL_L2_EXACT = 1e-4
failures = []
SPLIT_REGEX = ("(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
               "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+")
ST_DTYPE = {gguf.GGMLQuantizationType.F32: "F32", gguf.GGMLQuantizationType.F16: "F16",
            gguf.GGMLQuantizationType.BF16: "BF16"}


def check(cond, msg):
    print(("ok   " if cond else "FAIL ") + msg, flush=True)
    if not cond:
        failures.append(msg)


def run(cmd, env=None):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=900, env=env)


def path(name):
    return os.path.join(WORK, name)


def field(r, key):
    f = r.fields.get(key)
    if f is None:
        return None
    vals = [f.parts[i] for i in f.data]
    if f.types[0] == gguf.GGUFValueType.ARRAY:
        if f.types[-1] == gguf.GGUFValueType.STRING:
            return [bytes(v).decode() for v in vals]
        return [v.tolist()[0] for v in vals]
    if f.types[0] == gguf.GGUFValueType.STRING:
        return bytes(vals[0]).decode()
    return vals[0].tolist()[0]


# ---- the inverse of llama.cpp's converter ---------------------------------------------------

def hf_name(name):
    """GGUF tensor name -> HF name (None for expert stacks, handled separately)."""
    if name == "token_embd.weight":
        return "model.embed_tokens.weight"
    if name == "token_embd_norm.weight":
        return "model.embedding_norm.weight"
    if name == "output.weight":
        return "lm_head.weight"
    _, il, rest = name.split(".", 2)
    m = f"model.layers.{il}."
    table = {"attn_norm.weight": "operator_norm.weight", "ffn_norm.weight": "ffn_norm.weight",
             "attn_q.weight": "self_attn.q_proj.weight", "attn_k.weight": "self_attn.k_proj.weight",
             "attn_v.weight": "self_attn.v_proj.weight", "attn_output.weight": "self_attn.out_proj.weight",
             "attn_q_norm.weight": "self_attn.q_layernorm.weight", "attn_k_norm.weight": "self_attn.k_layernorm.weight",
             "shortconv.conv.weight": "conv.conv.weight", "shortconv.in_proj.weight": "conv.in_proj.weight",
             "shortconv.out_proj.weight": "conv.out_proj.weight", "ffn_gate.weight": "feed_forward.w1.weight",
             "ffn_up.weight": "feed_forward.w3.weight", "ffn_down.weight": "feed_forward.w2.weight",
             "ffn_gate_inp.weight": "feed_forward.gate.weight", "exp_probs_b.bias": "feed_forward.expert_bias"}
    return m + table[rest]


def hf_tensors(reader, fused=False):
    """[(hf name, dtype, torch-order array)], experts unstacked (or, fused: transformers >= 5's
    gate_up_proj [E, 2Fe, D] / down_proj [E, D, Fe]), conv kernels unsqueezed."""
    out = []
    stacks = {}
    for t in reader.tensors:
        dt = ST_DTYPE[t.tensor_type]
        shape = [int(x) for x in reversed(t.shape.tolist())]  # ne -> torch order
        a = np.frombuffer(t.data.tobytes(), dtype=np.float32 if dt == "F32" else np.uint16).reshape(shape)
        if t.name.endswith("_exps.weight") and fused:
            il, kind = t.name.split(".")[1], t.name.split(".")[2]
            stacks[(il, kind)] = (dt, a)
            if kind == "ffn_down_exps":
                out.append((f"model.layers.{il}.feed_forward.experts.down_proj", dt, a))
            if ("ffn_gate_exps" in [k for i, k in stacks if i == il] and
                    "ffn_up_exps" in [k for i, k in stacks if i == il] and kind != "ffn_down_exps"):
                g, u = stacks[(il, "ffn_gate_exps")][1], stacks[(il, "ffn_up_exps")][1]
                out.append((f"model.layers.{il}.feed_forward.experts.gate_up_proj", dt, np.concatenate([g, u], axis=1)))
        elif t.name.endswith("_exps.weight"):
            il = t.name.split(".")[1]
            w = {"ffn_gate_exps": "w1", "ffn_up_exps": "w3", "ffn_down_exps": "w2"}[t.name.split(".")[2]]
            for e in range(shape[0]):
                out.append((f"model.layers.{il}.feed_forward.experts.{e}.{w}.weight", dt, a[e]))
        elif "shortconv.conv" in t.name:
            out.append((hf_name(t.name), dt, a.reshape(shape[0], 1, shape[1])))
        else:
            out.append((hf_name(t.name), dt, a))
    return out


def write_safetensors(fname, items):
    header, blobs, off = {"__metadata__": {"format": "pt"}}, [], 0
    for name, dt, a in items:
        b = np.ascontiguousarray(a).tobytes()
        header[name] = {"dtype": dt, "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(fname, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h)
        for b in blobs:
            f.write(b)


def write_tokenizer(reader, d):
    tokens, types = field(reader, "tokenizer.ggml.tokens"), field(reader, "tokenizer.ggml.token_type")
    merges = field(reader, "tokenizer.ggml.merges")
    vocab = {t: i for i, (t, ty) in enumerate(zip(tokens, types)) if ty != 5}
    added = [{"id": i, "content": t, "single_word": False, "lstrip": False, "rstrip": False,
              "normalized": False, "special": ty == 3} for i, (t, ty) in enumerate(zip(tokens, types)) if ty in (3, 4)]
    bos = tokens[field(reader, "tokenizer.ggml.bos_token_id")]
    tj = {"version": "1.0", "added_tokens": added, "normalizer": None,
          "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
              {"type": "Split", "pattern": {"Regex": SPLIT_REGEX}, "behavior": "Isolated", "invert": False},
              {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]},
          "post_processor": {"type": "TemplateProcessing",
                             "single": [{"SpecialToken": {"id": bos, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
                             "pair": [], "special_tokens": {bos: {"id": bos, "ids": [tokens.index(bos)], "tokens": [bos]}}},
          "decoder": {"type": "ByteLevel"},
          "model": {"type": "BPE", "dropout": None, "unk_token": None, "byte_fallback": False,
                    "ignore_merges": False, "vocab": vocab, "merges": merges}}
    with open(os.path.join(d, "tokenizer.json"), "w") as f:
        json.dump(tj, f, ensure_ascii=False)
    tc = {"bos_token": bos, "eos_token": tokens[field(reader, "tokenizer.ggml.eos_token_id")],
          "pad_token": tokens[field(reader, "tokenizer.ggml.padding_token_id")],
          "add_bos_token": bool(field(reader, "tokenizer.ggml.add_bos_token")),
          "add_eos_token": bool(field(reader, "tokenizer.ggml.add_eos_token")),
          "chat_template": field(reader, "tokenizer.chat_template")}
    with open(os.path.join(d, "tokenizer_config.json"), "w") as f:
        json.dump(tc, f, ensure_ascii=False)


def write_config(reader, d):
    arch = field(reader, "general.architecture")
    g = lambda k: field(reader, f"{arch}.{k}")  # noqa: E731
    kv = g("attention.head_count_kv")
    c = {"architectures": ["Lfm2ForCausalLM" if arch == "lfm2" else "Lfm2MoeForCausalLM"],
         "model_type": "lfm2" if arch == "lfm2" else "lfm2_moe",
         "hidden_size": g("embedding_length"), "num_hidden_layers": g("block_count"),
         "num_attention_heads": g("attention.head_count"), "num_key_value_heads": max(kv),
         "vocab_size": g("vocab_size"), "max_position_embeddings": g("context_length"),
         "norm_eps": g("attention.layer_norm_rms_epsilon"), "rope_theta": g("rope.freq_base"),
         "conv_L_cache": g("shortconv.l_cache"), "conv_bias": False, "tie_word_embeddings": True,
         "layer_types": ["full_attention" if k else "conv" for k in kv],
         "intermediate_size": g("feed_forward_length"), "torch_dtype": "float32"}
    if arch == "lfm2":
        c.update({"block_auto_adjust_ff_dim": False, "block_ff_dim": g("feed_forward_length")})
    else:
        c.update({"num_experts": g("expert_count"), "num_experts_per_tok": g("expert_used_count"),
                  "moe_intermediate_size": g("expert_feed_forward_length"),
                  "num_dense_layers": g("leading_dense_block_count"), "use_expert_bias": True,
                  "norm_topk_prob": True})
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(c, f, indent=1)


def write_checkpoint(src, d, shards=1, fused=False):
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    r = gguf.GGUFReader(src)
    items = hf_tensors(r, fused)
    if shards == 1:
        write_safetensors(os.path.join(d, "model.safetensors"), items)
    else:
        per = (len(items) + shards - 1) // shards
        wm = {}
        for s in range(shards):
            fn = f"model-{s + 1:05d}-of-{shards:05d}.safetensors"
            part = items[s * per:(s + 1) * per]
            write_safetensors(os.path.join(d, fn), part)
            wm.update({n: fn for n, _, _ in part})
        with open(os.path.join(d, "model.safetensors.index.json"), "w") as f:
            json.dump({"metadata": {}, "weight_map": wm}, f)
    write_config(r, d)
    write_tokenizer(r, d)
    return d


# ---- checks ---------------------------------------------------------------------------------

def same_tensors(label, a_path, b_path):
    a, b = gguf.GGUFReader(a_path), gguf.GGUFReader(b_path)
    ta = {t.name: t for t in a.tensors}
    tb = {t.name: t for t in b.tensors}
    check(sorted(ta) == sorted(tb), f"{label}: same {len(tb)} tensor names")
    diff = [n for n in tb if n in ta and (ta[n].tensor_type != tb[n].tensor_type or
                                          ta[n].shape.tolist() != tb[n].shape.tolist() or
                                          ta[n].data.tobytes() != tb[n].data.tobytes())]
    check(not diff, f"{label}: every tensor bit-identical (type, shape, bytes)" + (f"; differ: {diff[:4]}" if diff else ""))
    return a, b


def same_metadata(label, conv, orig):
    arch = field(orig, "general.architecture")
    keys = [k for k in orig.fields if k.startswith(arch + ".") or k.startswith("tokenizer.")]
    bad = [k for k in keys if field(conv, k) != field(orig, k)]
    check(not bad, f"{label}: {len(keys)} architecture and tokenizer keys equal" + (f"; differ: {bad}" if bad else ""))


def logits(cmd_prefix, model, ids, n_vocab, name, env=None):
    tf, of = path(name + "-ids.txt"), path(name + "-logits.bin")
    with open(tf, "w") as f:
        f.write(",".join(map(str, ids)))
    r = run(cmd_prefix(model, tf, of), env=env)
    assert r.returncode == 0, r.stderr
    return ol.read_logits(of, n_vocab)


def lfmd_logits(model, ids, n_vocab, name):
    # An f32 KV cache, as llama_oracle's (the default f16 cache is measured in test_oracle.py kv-*).
    return logits(lambda m, t, o: [LFMD, "logits", "--model", m, "--tokens-file", t, "--out", o, "--kv-type", "f32"],
                  model, ids, n_vocab, name)


def llama_logits(model, ids, n_vocab, name):
    return logits(lambda m, t, o: [ORACLE, "logits", m, t, o], model, ids, n_vocab, name)


def round_trip(label, preset, typ, shards, fused=False):
    src = path(f"{label.replace('-fused', '')}.gguf")
    if not os.path.exists(src):
        r = run([LFMD, "gen-model", "--preset", preset, "--type", typ, "--seed", "11", "--out", src])
        assert r.returncode == 0, r.stderr
    d = write_checkpoint(src, path(label + "-hf"), shards, fused)
    out = path(f"{label}-converted.gguf")
    r = run([LFMD, "convert", d, "--out", out, "--type", typ])
    check(r.returncode == 0 and r.stderr.count("\n") == 1, f"{label}: lfmd convert ({typ}, {shards} shard(s)): {r.stderr.strip()}")
    if r.returncode != 0:
        return None, None
    conv, orig = same_tensors(label, out, src)
    same_metadata(label, conv, orig)
    n_vocab = field(orig, f"{field(orig, 'general.architecture')}.vocab_size")
    ids = [1] + [(i * 7919) % 4000 + 20 for i in range(95)]
    a, b = lfmd_logits(out, ids, n_vocab, label + "-conv"), lfmd_logits(src, ids, n_vocab, label + "-orig")
    check(np.array_equal(a, b), f"{label}: lfmd logits of the converted file equal the original's ({len(ids)} positions)")
    return out, (ids, n_vocab, a)


def oracle_agrees(label, model, ids, n_vocab, mine):
    ref = llama_logits(model, ids, n_vocab, label + "-llama")
    err = ol.rel_l2(mine, ref)
    check(err.max() <= REL_L2_EXACT, f"{label}: llama.cpp loads the converted file; relative L2 to lfmd max {err.max():.2e} (limit {REL_L2_EXACT:g})")


def quantized_convert(label, hf_dir, src, mix):
    ours, theirs = path(f"{label}-conv-{mix}.gguf"), path(f"{label}-llama-{mix}.gguf")
    r = run([LFMD, "convert", hf_dir, "--out", ours, "--type", mix.lower()])
    check(r.returncode == 0, f"{label}: convert --type {mix.lower()}: {r.stderr.strip()}")
    if r.returncode == 0:
        ol.run([ORACLE, "quantize", src, theirs, mix], timeout=900)
        same_tensors(f"{label} {mix} vs llama.cpp's quantizer", ours, theirs)


def failure_cases(good_dir):
    bad = path("bad-hf")
    out = path("bad.gguf")

    def expect_fail(what, needle):
        r = run([LFMD, "convert", bad, "--out", out])
        check(r.returncode == 1 and r.stderr.count("\n") == 1 and needle in r.stderr and not os.path.exists(out)
              and not os.path.exists(out + ".tmp"), f"{what}: {r.stderr.strip()}")

    shutil.rmtree(bad, ignore_errors=True)
    shutil.copytree(good_dir, bad)
    os.remove(os.path.join(bad, "config.json"))
    expect_fail("missing config.json", "config.json")
    shutil.copy(os.path.join(good_dir, "config.json"), bad)
    c = json.load(open(os.path.join(bad, "config.json")))
    c["hidden_size"] = c["hidden_size"] * 2
    c["num_attention_heads"] = c["num_attention_heads"] * 2
    json.dump(c, open(os.path.join(bad, "config.json"), "w"))
    expect_fail("config that does not match the weights", "has shape")
    shutil.copy(os.path.join(good_dir, "config.json"), bad)
    with open(os.path.join(bad, "model.safetensors"), "r+b") as f:
        f.truncate(os.path.getsize(os.path.join(bad, "model.safetensors")) - 100)
    expect_fail("truncated safetensors", "runs past the end")
    shutil.copy(os.path.join(good_dir, "model.safetensors"), bad)
    os.remove(os.path.join(bad, "tokenizer.json"))
    expect_fail("missing tokenizer.json", "tokenizer.json")


def main():
    out, (ids, n_vocab, mine) = round_trip("tiny-f32", "tiny", "f32", 1)
    if out:
        oracle_agrees("tiny-f32", out, ids, n_vocab, mine)
    out, (ids, n_vocab, mine) = round_trip("tiny-moe-f32", "tiny-moe", "f32", 3)
    if out:
        oracle_agrees("tiny-moe-f32", out, ids, n_vocab, mine)
    round_trip("tiny-moe-f16", "tiny-moe", "f16", 1)
    round_trip("tiny-moe-f32-fused", "tiny-moe", "f32", 1, fused=True)
    round_trip("tiny-bf16", "tiny", "bf16", 1)
    for mix in ("Q4_K_M", "Q5_K_M", "Q8_0"):
        quantized_convert("tiny-moe", path("tiny-moe-f32-hf"), path("tiny-moe-f32.gguf"), mix)
    quantized_convert("tiny", path("tiny-f32-hf"), path("tiny-f32.gguf"), "Q4_K_M")
    failure_cases(path("tiny-f32-hf"))
    if failures:
        print(f"{len(failures)} failure(s)", file=sys.stderr)
        sys.exit(1)
    print("all convert checks passed")


if __name__ == "__main__":
    main()
