// llama_oracle — the llama.cpp (release v0.5.0, prebuilt from npm) side of lfmd's correctness tests.
//
//   llama_oracle [-v] logits   MODEL TOKENS_FILE OUT [--one-by-one] [--batch N] [--threads N] [--no-repack]
//                              [--kv f32|f16|q8_0] [--flash-attn]
//   llama_oracle [-v] greedy   MODEL TOKENS_FILE N OUT [same options as logits]
//   llama_oracle [-v] tokenize MODEL IN OUT [--no-add-special] [--no-parse-special]
//   llama_oracle [-v] quantize IN OUT TYPE [--threads N] [--pure] [--allow-requantize]
//   llama_oracle [-v] dequant  IN OUT
//   llama_oracle [-v] info     MODEL [--json]
//   llama_oracle [-v] bench    MODEL [--threads N] [--prompt-tokens P] [--gen-tokens N] [--repeat R]
//                              [--batch B] [--ctx C] [--kv f16|f32|q8_0] [--no-repack] [--parallel S]
//   global: --cpu-backend NAME  load only libggml-cpu-NAME.so (e.g. x64, haswell, zen4) instead of the
//                               best variant for this CPU, for results that do not depend on the host
//
// Every decode runs with an F32 KV cache and flash attention off (exact comparisons) unless --kv /
// --flash-attn say otherwise (measuring llama.cpp's own F16 / Q8_0 cache spread). Errors: one
// message on stderr, exit code 1. llama.cpp's log is shown only with -v (its errors always).
// Output formats:
//   logits   raw little-endian float32 [n_tokens][n_vocab], row i = logits after token i
//   greedy   the N generated ids, comma-separated, one line
//   tokenize one JSON array of ids per input line (input: one JSON string per line)

#include "oracle_util.h"
#include "oracle_bench.h"

namespace {

// ---------------------------------------------------------------------------------------------
// subcommands

int cmd_logits(const Args& a) {
  check_args(a, "logits", 3, {"--one-by-one", "--batch", "--threads", "--no-repack", "--kv", "--flash-attn"});
  const auto& [model_path, tokens_path, out_path] = std::tie(a.pos[0], a.pos[1], a.pos[2]);
  const std::vector<llama_token> toks = read_tokens(tokens_path);
  const auto n = static_cast<int32_t>(toks.size());
  decode_opts(a, toks.size(), nullptr);  // validate the options before loading anything

  init_backends(a);
  ModelPtr model = load_model(model_path, false, !flag(a, "--no-repack"));
  const DecodeOpts o = decode_opts(a, toks.size(), model.get());
  const int32_t n_vocab = llama_vocab_n_tokens(llama_model_get_vocab(model.get()));
  check_token_range(toks, n_vocab, tokens_path);
  ContextPtr ctx = make_context(model.get(), static_cast<uint32_t>(n), static_cast<uint32_t>(o.batch), o.threads,
                                o.threads_batch, o.kv, o.flash_attn);

  OutFile out(out_path);
  Batch batch(o.batch);
  for (int32_t start = 0; start < n; start += o.batch) {
    const int32_t cnt = std::min(o.batch, n - start);
    batch.set(toks.data() + start, cnt, start, true, true);
    decode(ctx.get(), batch.b, start);
    for (int32_t i = 0; i < cnt; ++i) {
      const float* row = llama_get_logits_ith(ctx.get(), i);
      if (!row) fail("llama_get_logits_ith(%d) returned NULL at position %d", i, start + i);
      out.write(row, sizeof(float) * static_cast<size_t>(n_vocab));
    }
  }
  out.commit();
  if (g_verbose) std::fprintf(stderr, "llama_oracle: wrote %d x %d float32 logits to %s\n", n, n_vocab, out_path.c_str());
  return 0;
}

int cmd_greedy(const Args& a) {
  check_args(a, "greedy", 4, {"--one-by-one", "--batch", "--threads", "--no-repack", "--kv", "--flash-attn"});
  const std::string& model_path = a.pos[0];
  const std::string& tokens_path = a.pos[1];
  const auto n_gen = static_cast<int32_t>(parse_int(a.pos[2], "N", 0, 1 << 20));
  const std::string& out_path = a.pos[3];
  const std::vector<llama_token> prompt = read_tokens(tokens_path);
  const auto n_prompt = static_cast<int32_t>(prompt.size());
  decode_opts(a, prompt.size(), nullptr);  // validate the options before loading anything

  init_backends(a);
  ModelPtr model = load_model(model_path, false, !flag(a, "--no-repack"));
  const DecodeOpts o = decode_opts(a, prompt.size(), model.get());
  const llama_vocab* vocab = llama_model_get_vocab(model.get());
  const int32_t n_vocab = llama_vocab_n_tokens(vocab);
  check_token_range(prompt, n_vocab, tokens_path);
  std::vector<char> usable(static_cast<size_t>(n_vocab));
  for (llama_token t = 0; t < n_vocab; ++t) usable[t] = (llama_vocab_get_attr(vocab, t) & LLAMA_TOKEN_ATTR_UNUSED) == 0;
  if (std::find(usable.begin(), usable.end(), 1) == usable.end()) fail("every token of the vocabulary is UNUSED");

  ContextPtr ctx = make_context(model.get(), static_cast<uint32_t>(n_prompt + std::max(n_gen, 1)),
                                static_cast<uint32_t>(o.batch), o.threads,
                                o.threads_batch, o.kv, o.flash_attn);
  Batch batch(o.batch);
  for (int32_t start = 0; start < n_prompt; start += o.batch) {
    const int32_t cnt = std::min(o.batch, n_prompt - start);
    batch.set(prompt.data() + start, cnt, start, false, start + cnt == n_prompt);
    decode(ctx.get(), batch.b, start);
  }

  std::string text;
  for (int32_t k = 0; k < n_gen; ++k) {
    const float* logits = llama_get_logits_ith(ctx.get(), -1);
    if (!logits) fail("llama_get_logits_ith(-1) returned NULL at generation step %d", k);
    llama_token best = -1;
    for (llama_token t = 0; t < n_vocab; ++t) {
      if (std::isnan(logits[t])) fail("NaN logit for token %d at generation step %d", t, k);
      if (usable[t] && (best < 0 || logits[t] > logits[best])) best = t;  // ties -> lowest id
    }
    if (k) text += ',';
    text += std::to_string(best);
    if (k + 1 < n_gen) {
      const int32_t pos = n_prompt + k;
      batch.set(&best, 1, pos, true, true);
      decode(ctx.get(), batch.b, pos);
    }
  }
  OutFile out(out_path);
  out.write(text + "\n");
  out.commit();
  return 0;
}

int cmd_tokenize(const Args& a) {
  check_args(a, "tokenize", 3, {"--no-add-special", "--no-parse-special"});
  const bool add_special = !flag(a, "--no-add-special");
  const bool parse_special = !flag(a, "--no-parse-special");
  const std::string& model_path = a.pos[0];
  const std::string& in_path = a.pos[1];
  const std::string& out_path = a.pos[2];
  const std::string input = read_file(in_path);

  init_backends(a);
  ModelPtr model = load_model(model_path, true);
  const llama_vocab* vocab = llama_model_get_vocab(model.get());

  OutFile out(out_path);
  std::istringstream lines(input);
  std::string line;
  std::vector<llama_token> toks;
  for (size_t lineno = 1; std::getline(lines, line); ++lineno) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    json j;
    try {
      j = json::parse(line);
    } catch (const json::exception& e) {
      fail("%s:%zu: not a JSON string: %s", in_path.c_str(), lineno, e.what());
    }
    if (!j.is_string()) fail("%s:%zu: expected a JSON string, got %s", in_path.c_str(), lineno, j.type_name());
    const std::string text = j.get<std::string>();
    if (text.size() > static_cast<size_t>(INT32_MAX)) fail("%s:%zu: text too long", in_path.c_str(), lineno);
    const auto len = static_cast<int32_t>(text.size());
    toks.resize(text.size() + 8);
    int32_t n = llama_tokenize(vocab, text.data(), len, toks.data(), static_cast<int32_t>(toks.size()), add_special,
                               parse_special);
    if (n < 0 && n != INT32_MIN) {
      toks.resize(static_cast<size_t>(-n));
      n = llama_tokenize(vocab, text.data(), len, toks.data(), static_cast<int32_t>(toks.size()), add_special,
                         parse_special);
    }
    if (n < 0) fail("%s:%zu: llama_tokenize failed (%d)", in_path.c_str(), lineno, n);
    toks.resize(static_cast<size_t>(n));
    out.write(json(toks).dump() + "\n");
  }
  out.commit();
  return 0;
}

const std::map<std::string, llama_ftype>& ftype_names() {
  static const std::map<std::string, llama_ftype> m = {
      {"F32", LLAMA_FTYPE_ALL_F32},         {"F16", LLAMA_FTYPE_MOSTLY_F16},
      {"BF16", LLAMA_FTYPE_MOSTLY_BF16},    {"Q8_0", LLAMA_FTYPE_MOSTLY_Q8_0},
      {"Q4_0", LLAMA_FTYPE_MOSTLY_Q4_0},    {"Q4_1", LLAMA_FTYPE_MOSTLY_Q4_1},
      {"Q5_0", LLAMA_FTYPE_MOSTLY_Q5_0},    {"Q5_1", LLAMA_FTYPE_MOSTLY_Q5_1},
      {"Q2_K", LLAMA_FTYPE_MOSTLY_Q2_K},    {"Q3_K_S", LLAMA_FTYPE_MOSTLY_Q3_K_S},
      {"Q3_K_M", LLAMA_FTYPE_MOSTLY_Q3_K_M}, {"Q3_K_L", LLAMA_FTYPE_MOSTLY_Q3_K_L},
      {"Q4_K_S", LLAMA_FTYPE_MOSTLY_Q4_K_S}, {"Q4_K_M", LLAMA_FTYPE_MOSTLY_Q4_K_M},
      {"Q5_K_S", LLAMA_FTYPE_MOSTLY_Q5_K_S}, {"Q5_K_M", LLAMA_FTYPE_MOSTLY_Q5_K_M},
      {"Q6_K", LLAMA_FTYPE_MOSTLY_Q6_K},
  };
  return m;
}

int cmd_quantize(const Args& a) {
  check_args(a, "quantize", 3, {"--threads", "--pure", "--allow-requantize"});
  const std::string& in_path = a.pos[0];
  const std::string& out_path = a.pos[1];
  std::string type = a.pos[2];
  std::transform(type.begin(), type.end(), type.begin(), [](unsigned char c) { return std::toupper(c); });
  auto it = ftype_names().find(type);
  if (it == ftype_names().end()) {
    std::string known;
    for (const auto& [k, v] : ftype_names()) known.append(" ").append(k);
    fail("quantize: unknown type '%s' (known:%s)", a.pos[2].c_str(), known.c_str());
  }
  require_file(in_path);
  if (same_file(in_path, out_path)) fail("quantize: IN and OUT are the same file");

  init_backends(a);
  llama_model_quantize_params qp = llama_model_quantize_default_params();
  qp.ftype = it->second;
  qp.nthread = static_cast<int32_t>(int_opt(a, "--threads", 1, 1024).value_or(hw_threads()));
  qp.pure = flag(a, "--pure");
  qp.allow_requantize = flag(a, "--allow-requantize");  // e.g. Q8_0 -> Q4_K_M for benchmark files
  const std::string tmp = out_path + ".tmp";
  const uint32_t rc = llama_model_quantize(in_path.c_str(), tmp.c_str(), &qp);
  if (rc != 0) {
    std::remove(tmp.c_str());
    fail("llama_model_quantize(%s -> %s) failed with code %u%s", in_path.c_str(), type.c_str(), rc,
         g_verbose ? "" : " (rerun with -v for its log)");
  }
  if (std::rename(tmp.c_str(), out_path.c_str()) != 0) {
    fail("renaming %s to %s failed: %s", tmp.c_str(), out_path.c_str(), std::strerror(errno));
  }
  return 0;
}

struct GgufDeleter {
  void operator()(gguf_context* g) const { gguf_free(g); }
};
struct GgmlDeleter {
  void operator()(ggml_context* c) const { ggml_free(c); }
};
using GgufPtr = std::unique_ptr<gguf_context, GgufDeleter>;
using GgmlPtr = std::unique_ptr<ggml_context, GgmlDeleter>;

GgufPtr open_gguf_meta(const std::string& path, ggml_context** meta_ctx) {
  require_file(path);
  gguf_init_params gp{};
  gp.no_alloc = true;
  gp.ctx = meta_ctx;
  GgufPtr g(gguf_init_from_file(path.c_str(), gp));
  if (!g) fail("%s is not a readable GGUF file", path.c_str());
  return g;
}

int cmd_dequant(const Args& a) {
  check_args(a, "dequant", 2, {});
  const std::string& in_path = a.pos[0];
  const std::string& out_path = a.pos[1];
  llama_log_set(log_callback, nullptr);

  ggml_context* meta_raw = nullptr;
  GgufPtr in = open_gguf_meta(in_path, &meta_raw);
  GgmlPtr meta(meta_raw);
  if (same_file(in_path, out_path)) fail("dequant: IN and OUT are the same file");

  // Output: the same KVs (general.file_type rewritten to ALL_F32), the same tensors in the same
  // order, all F32.
  GgufPtr out(gguf_init_empty());
  gguf_set_kv(out.get(), in.get());
  if (gguf_find_key(out.get(), "general.file_type") >= 0) {
    gguf_set_val_u32(out.get(), "general.file_type", LLAMA_FTYPE_ALL_F32);
  }
  const int64_t n_tensors = gguf_get_n_tensors(in.get());
  ggml_init_params ip{};
  ip.mem_size = static_cast<size_t>(n_tensors + 1) * ggml_tensor_overhead();
  ip.no_alloc = true;
  GgmlPtr tctx(ggml_init(ip));
  if (!tctx) fail("ggml_init failed");
  for (int64_t i = 0; i < n_tensors; ++i) {
    const char* name = gguf_get_tensor_name(in.get(), i);
    const ggml_tensor* src = ggml_get_tensor(meta.get(), name);
    if (!src) fail("internal: tensor %s missing from the metadata context", name);
    ggml_tensor* t = ggml_new_tensor(tctx.get(), GGML_TYPE_F32, ggml_n_dims(src), src->ne);
    ggml_set_name(t, name);
    gguf_add_tensor(out.get(), t);
  }

  OutFile of(out_path);
  {
    std::vector<uint8_t> meta_bytes(gguf_get_meta_size(out.get()));
    gguf_get_meta_data(out.get(), meta_bytes.data());
    of.write(meta_bytes.data(), meta_bytes.size());
  }
  std::ifstream f(in_path, std::ios::binary);
  if (!f) fail("cannot open %s", in_path.c_str());
  const size_t data_in = gguf_get_data_offset(in.get());
  const size_t align = gguf_get_alignment(out.get());
  std::vector<uint8_t> raw;
  std::vector<float> conv;
  size_t written = 0;  // bytes of the data section written so far
  for (int64_t i = 0; i < n_tensors; ++i) {
    const char* name = gguf_get_tensor_name(in.get(), i);
    const ggml_type type = gguf_get_tensor_type(in.get(), i);
    const ggml_tensor* src = ggml_get_tensor(meta.get(), name);
    const int64_t ne0 = src->ne[0];
    const int64_t nrows = ggml_nrows(src);
    const size_t row_bytes = ggml_row_size(type, ne0);
    const ggml_type_traits* tr = ggml_get_type_traits(type);
    if (type != GGML_TYPE_F32 && (!tr || !tr->to_float)) {
      fail("dequant: tensor %s has type %s, which has no to_float conversion", name, ggml_type_name(type));
    }
    const size_t out_off = gguf_get_tensor_offset(out.get(), i);
    if (out_off < written) fail("internal: tensor offsets overlap at %s", name);
    static const uint8_t zeros[64] = {};
    while (written < out_off) {  // alignment padding between tensors
      const size_t k = std::min(out_off - written, sizeof zeros);
      of.write(zeros, k);
      written += k;
    }
    f.seekg(static_cast<std::streamoff>(data_in + gguf_get_tensor_offset(in.get(), i)));
    const int64_t rows_per_chunk = std::max<int64_t>(1, static_cast<int64_t>((64u << 20) / std::max<size_t>(row_bytes, 1)));
    for (int64_t r = 0; r < nrows; r += rows_per_chunk) {
      const int64_t nr = std::min(rows_per_chunk, nrows - r);
      raw.resize(static_cast<size_t>(nr) * row_bytes);
      if (!f.read(reinterpret_cast<char*>(raw.data()), static_cast<std::streamsize>(raw.size()))) {
        fail("%s: truncated data for tensor %s", in_path.c_str(), name);
      }
      conv.resize(static_cast<size_t>(nr * ne0));
      if (type == GGML_TYPE_F32) {
        std::memcpy(conv.data(), raw.data(), raw.size());
      } else {
        for (int64_t k = 0; k < nr; ++k) tr->to_float(raw.data() + k * row_bytes, conv.data() + k * ne0, ne0);
      }
      of.write(conv.data(), conv.size() * sizeof(float));
      written += conv.size() * sizeof(float);
    }
  }
  while (written % align) {
    const uint8_t z = 0;
    of.write(&z, 1);
    ++written;
  }
  of.commit();
  return 0;
}

int cmd_info(const Args& a) {
  check_args(a, "info", 1, {"--json", "--no-repack"});
  const std::string& model_path = a.pos[0];
  init_backends(a);
  ModelPtr model = load_model(model_path, false, !flag(a, "--no-repack"));
  const llama_vocab* vocab = llama_model_get_vocab(model.get());

  char buf[512];
  json j;
  j["arch"] = llama_model_meta_val_str(model.get(), "general.architecture", buf, sizeof buf) >= 0 ? buf : "";
  llama_model_desc(model.get(), buf, sizeof buf);
  j["desc"] = buf;
  j["ftype"] = llama_ftype_name(llama_model_ftype(model.get()));
  j["n_vocab"] = llama_vocab_n_tokens(vocab);
  j["n_ctx_train"] = llama_model_n_ctx_train(model.get());
  j["n_layer"] = llama_model_n_layer(model.get());
  j["n_embd"] = llama_model_n_embd(model.get());
  j["n_head"] = llama_model_n_head(model.get());
  j["n_params"] = llama_model_n_params(model.get());
  j["bos"] = llama_vocab_bos(vocab);
  j["eos"] = llama_vocab_eos(vocab);
  j["n_unused_tokens"] = [&] {
    int n = 0;
    for (llama_token t = 0; t < llama_vocab_n_tokens(vocab); ++t) n += (llama_vocab_get_attr(vocab, t) & LLAMA_TOKEN_ATTR_UNUSED) != 0;
    return n;
  }();

  ggml_context* meta_raw = nullptr;
  GgufPtr g = open_gguf_meta(model_path, &meta_raw);
  GgmlPtr meta(meta_raw);
  {  // per-layer KV heads (0 = shortconv layer for lfm2/lfm2moe), from the metadata
    json hkv = json::array();
    const std::string key = j["arch"].get<std::string>() + ".attention.head_count_kv";
    const int64_t id = gguf_find_key(g.get(), key.c_str());
    if (id >= 0 && gguf_get_kv_type(g.get(), id) == GGUF_TYPE_ARRAY &&
        (gguf_get_arr_type(g.get(), id) == GGUF_TYPE_UINT32 || gguf_get_arr_type(g.get(), id) == GGUF_TYPE_INT32)) {
      const auto* d = static_cast<const int32_t*>(gguf_get_arr_data(g.get(), id));
      for (size_t i = 0; i < gguf_get_arr_n(g.get(), id); ++i) hkv.push_back(d[i]);
    } else if (id >= 0 && gguf_get_kv_type(g.get(), id) == GGUF_TYPE_UINT32) {
      for (int i = 0; i < llama_model_n_layer(model.get()); ++i) hkv.push_back(gguf_get_val_u32(g.get(), id));
    } else {
      for (int i = 0; i < llama_model_n_layer(model.get()); ++i) hkv.push_back(llama_model_n_head_kv(model.get()));
    }
    j["n_head_kv"] = hkv;
  }
  json tensors = json::array();
  std::map<std::string, int> counts;
  for (int64_t i = 0; i < gguf_get_n_tensors(g.get()); ++i) {
    const char* name = gguf_get_tensor_name(g.get(), i);
    const ggml_tensor* t = ggml_get_tensor(meta.get(), name);
    json shape = json::array();
    for (int d = 0; d < ggml_n_dims(t); ++d) shape.push_back(t->ne[d]);
    const char* tname = ggml_type_name(t->type);
    tensors.push_back({{"name", name}, {"type", tname}, {"shape", shape}});
    counts[tname]++;
  }
  j["type_counts"] = counts;
  j["tensors"] = tensors;

  if (flag(a, "--json")) {
    std::printf("%s\n", j.dump(1).c_str());
  } else {
    for (const char* k : {"arch", "desc", "ftype", "n_vocab", "n_ctx_train", "n_layer", "n_embd", "n_head",
                          "n_head_kv", "n_params", "bos", "eos", "n_unused_tokens"}) {
      const json& v = j[k];
      std::printf("%s %s\n", k, v.is_string() ? v.get<std::string>().c_str() : v.dump().c_str());
    }
    std::string tc;
    for (const auto& [k, v] : counts) tc.append(" ").append(k).append("=").append(std::to_string(v));
    std::printf("type_counts%s\n", tc.c_str());
    for (const json& t : tensors) {
      std::string shape;
      for (const json& d : t["shape"]) shape.append(" ").append(d.dump());
      std::printf("tensor %s %s%s\n", t["name"].get<std::string>().c_str(), t["type"].get<std::string>().c_str(),
                  shape.c_str());
    }
  }
  if (std::fflush(stdout) != 0) fail("writing to stdout failed");
  return 0;
}

const char* kUsage =
    "usage: llama_oracle [-v] COMMAND ARGS...\n"
    "  logits   MODEL TOKENS_FILE OUT [--one-by-one] [--batch N] [--threads N] [--no-repack]\n"
    "           float32 [n_tokens][n_vocab] logits of every position (F32 KV cache, no flash attention)\n"
    "           --batch: tokens per llama_decode call (default all); --threads: default min(cores, 16),\n"
    "           but 1 for one-token steps of models under 100M parameters; --no-repack: no runtime\n"
    "           weight repacking (e.g. Q4_0/Q4_K interleaving on AVX2/AVX-512); --kv f32|f16|q8_0: KV\n"
    "           cache type (default f32); --flash-attn (needed by a q8_0 V cache)\n"
    "  greedy   MODEL TOKENS_FILE N OUT [--one-by-one] [--batch N] [--threads N] [--no-repack]\n"
    "           N greedy ids after the prompt (UNUSED tokens skipped, ties -> lowest id, no EOS stop)\n"
    "  tokenize MODEL IN OUT [--no-add-special] [--no-parse-special]\n"
    "           IN: one JSON string per line; OUT: one JSON id array per line\n"
    "           (llama_tokenize with add_special=true, parse_special=true unless turned off)\n"
    "  quantize IN OUT TYPE [--threads N] [--pure] [--allow-requantize]\n"
    "           TYPE: F32 F16 BF16 Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 Q2_K Q3_K_S Q3_K_M Q3_K_L Q4_K_S Q4_K_M Q5_K_S\n"
    "                 Q5_K_M Q6_K\n"
    "  dequant  IN OUT            F32 copy of a GGUF (ggml to_float), same KVs and tensors\n"
    "  info     MODEL [--json]    n_vocab, n_ctx_train, n_layer, tensors (name type shape)\n"
    "  bench    MODEL [--threads N] [--prompt-tokens P] [--gen-tokens N] [--repeat R] [--batch B]\n"
    "           [--ctx C] [--kv f16|f32|q8_0] [--no-repack] [--parallel S]\n"
    "           one JSON line: median prefill/decode tok/s of llama_decode (prompt token i of sequence s\n"
    "           = (i*7919+13+s*1009) mod n_vocab, arg-max decoding), resident and peak memory, CPU\n"
    "           backend variant; --parallel: S sequences prefilled in turn, then decoded together\n"
    "           (S tokens per llama_decode; decode_tps is the aggregate); --ctx: per sequence\n"
    "global options: -v (llama.cpp log), --cpu-backend NAME (load only libggml-cpu-NAME.so)\n"
    "TOKENS_FILE: token ids separated by commas, spaces or newlines\n";

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || !std::strcmp(argv[1], "-h") || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "help")) {
    std::fputs(kUsage, argc < 2 ? stderr : stdout);
    return argc < 2 ? 1 : 0;
  }
  ggml_set_abort_callback(abort_callback);
  try {
    // the command is the first positional argument; options may come before or after it
    Args a = parse_args(argc, argv, 1);
    if (a.pos.empty()) fail("missing command\n%s", kUsage);
    const std::string cmd = a.pos.front();
    a.pos.erase(a.pos.begin());
    if (cmd == "logits") return cmd_logits(a);
    if (cmd == "greedy") return cmd_greedy(a);
    if (cmd == "tokenize") return cmd_tokenize(a);
    if (cmd == "quantize") return cmd_quantize(a);
    if (cmd == "dequant") return cmd_dequant(a);
    if (cmd == "info") return cmd_info(a);
    if (cmd == "bench") return cmd_bench(a);
    fail("unknown command '%s'\n%s", cmd.c_str(), kUsage);
  } catch (const Failure& e) {
    std::fprintf(stderr, "llama_oracle: error: %s\n", e.what());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "llama_oracle: error: %s\n", e.what());
  }
  return 1;
}
