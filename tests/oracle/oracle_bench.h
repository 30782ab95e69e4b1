// llama_oracle bench: llama_decode timing for scripts/bench-compare.py, with the same inputs and
// JSON keys as `lfmd bench`. Included by llama_oracle.cpp only, after oracle_util.h.
//
// S = --parallel sequences (seq ids 0..S-1, n_seq_max = S, a separate KV stream each: kv_unified
// off, n_ctx = S * per-sequence context). Prompt token i of sequence s is
// (i * 7919 + 13 + s * 1009) mod n_vocab; the prompts are prefilled one after the other in
// --batch chunks, then each decode step is one llama_decode of S tokens (one per sequence),
// feeding back each sequence's arg-max token.
#pragma once

#include "oracle_util.h"

namespace {

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

double median_of(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n == 0 ? 0.0 : n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// One /proc/self/status field (kB) in MiB: "RssFile:", "RssAnon:", "VmHWM:" (peak resident).
double status_mb(const char* key) {
  std::ifstream in("/proc/self/status");
  std::string line;
  const size_t n = std::strlen(key);
  while (std::getline(in, line)) {
    if (line.compare(0, n, key) == 0) return std::strtod(line.c_str() + n, nullptr) / 1024.0;
  }
  return 0;
}

// The libggml-cpu-*.so variant actually mapped into this process ("zen4", "haswell", ...).
std::string loaded_cpu_variant() {
  std::ifstream in("/proc/self/maps");
  std::string line;
  while (std::getline(in, line)) {
    const size_t p = line.find("libggml-cpu-");
    if (p == std::string::npos) continue;
    std::string v = line.substr(p + 12);
    return v.substr(0, v.find(".so"));
  }
  return "unknown";
}

struct BenchShape {
  int32_t P, N, R, S;  // prompt tokens, generated tokens, repeats, parallel sequences
  int32_t n_ctx_seq;   // per sequence
  int32_t n_batch;     // tokens per llama_decode in prefill (>= S for the decode steps)
};

struct BenchRun {
  double prefill_s = 0, ttft_s = 0, decode_s = 0;  // all S prompts / sequence 0's / N steps of S
};

// tok[i] for sequence seq[i] at position pos[i]; logits for the flagged entries.
void fill_batch(llama_batch& b, int32_t n, const llama_token* tok, const int32_t* pos, const int32_t* seq,
                bool all_logits) {
  b.n_tokens = n;
  for (int32_t i = 0; i < n; ++i) {
    b.token[i] = tok[i];
    b.pos[i] = pos[i];
    b.n_seq_id[i] = 1;
    b.seq_id[i][0] = seq[i];
    b.logits[i] = all_logits || i == n - 1;
  }
}

llama_token arg_max_row(llama_context* ctx, int32_t i, int32_t n_vocab) {
  const float* l = llama_get_logits_ith(ctx, i);
  if (!l) fail("llama_get_logits_ith(%d) returned NULL", i);
  llama_token best = 0;
  for (llama_token t = 1; t < n_vocab; ++t) best = l[t] > l[best] ? t : best;
  return best;
}

// One repeat: fresh KV cache, S prompts prefilled in turn, N decode steps of S tokens.
BenchRun bench_once(llama_context* ctx, const BenchShape& sh, int32_t n_vocab) {
  llama_memory_clear(llama_get_memory(ctx), true);
  Batch batch(sh.n_batch);
  std::vector<int32_t> pos(static_cast<size_t>(sh.n_batch)), seq(static_cast<size_t>(sh.n_batch));
  std::vector<llama_token> prompt(static_cast<size_t>(sh.P)), tok(static_cast<size_t>(sh.S));
  BenchRun run;
  double t0 = now_s();
  for (int32_t s = 0; s < sh.S; ++s) {
    for (int32_t i = 0; i < sh.P; ++i) prompt[i] = static_cast<llama_token>((int64_t{i} * 7919 + 13 + s * 1009) % n_vocab);
    for (int32_t start = 0; start < sh.P; start += sh.n_batch) {
      const int32_t cnt = std::min(sh.n_batch, sh.P - start);
      for (int32_t i = 0; i < cnt; ++i) pos[i] = start + i, seq[i] = s;
      fill_batch(batch.b, cnt, prompt.data() + start, pos.data(), seq.data(), false);
      decode(ctx, batch.b, start);
    }
    tok[s] = arg_max_row(ctx, -1, n_vocab);
    if (s == 0) run.ttft_s = now_s() - t0;
  }
  run.prefill_s = now_s() - t0;
  t0 = now_s();
  for (int32_t k = 0; k < sh.N; ++k) {
    for (int32_t s = 0; s < sh.S; ++s) pos[s] = sh.P + k, seq[s] = s;
    fill_batch(batch.b, sh.S, tok.data(), pos.data(), seq.data(), true);
    decode(ctx, batch.b, sh.P + k);
    for (int32_t s = 0; s < sh.S; ++s) tok[s] = arg_max_row(ctx, s, n_vocab);
  }
  run.decode_s = now_s() - t0;
  return run;
}

// llama.cpp's defaults (flash attention auto) with the --kv cache type (f16 unless told; q8_0
// turns flash attention on, which a quantized V cache needs).
ContextPtr bench_context(llama_model* model, const BenchShape& sh, int threads, const std::string& kv) {
  llama_context_params cp = llama_context_default_params();
  cp.n_ctx = static_cast<uint32_t>(sh.S) * static_cast<uint32_t>(sh.n_ctx_seq);
  cp.n_batch = static_cast<uint32_t>(sh.n_batch);
  cp.n_ubatch = cp.n_batch;
  cp.n_seq_max = static_cast<uint32_t>(sh.S);
  cp.kv_unified = false;  // one KV stream per sequence, as lfmd's separate sequences
  cp.n_threads = threads;
  cp.n_threads_batch = threads;
  cp.type_k = kv_cache_type(kv);
  cp.type_v = kv_cache_type(kv);
  if (kv == "q8_0") cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_ENABLED;
  cp.no_perf = true;
  ContextPtr ctx(llama_init_from_model(model, cp));
  if (!ctx) fail("llama_init_from_model failed (n_ctx %u, n_batch %u, n_seq_max %u)", cp.n_ctx, cp.n_batch, cp.n_seq_max);
  return ctx;
}

json bench_report(const BenchShape& sh, const std::vector<BenchRun>& runs, int threads, bool repack,
                  const std::string& kv, uint32_t n_ctx, double load_s) {
  std::vector<double> pf, dc, ttft;
  for (const BenchRun& r : runs) {
    pf.push_back(static_cast<double>(sh.S) * sh.P / std::max(r.prefill_s, 1e-9));
    dc.push_back(static_cast<double>(sh.S) * sh.N / std::max(r.decode_s, 1e-9));
    ttft.push_back(1000.0 * r.ttft_s);
  }
  json j;
  j["engine"] = "llama.cpp";
  j["backend"] = loaded_cpu_variant();
  j["repack"] = repack;
  j["kv"] = kv;
  j["kv_type"] = kv;
  j["threads"] = threads;
  j["prompt_tokens"] = sh.P;
  j["gen_tokens"] = sh.N;
  j["repeat"] = sh.R;
  j["streams"] = sh.S;
  j["ctx"] = sh.n_ctx_seq;  // per sequence
  j["ctx_total"] = n_ctx;
  j["prefill_tps"] = median_of(pf);
  j["decode_tps"] = sh.N > 0 ? median_of(dc) : 0.0;  // aggregate: S * N / decode time
  j["decode_tps_per_stream"] = sh.N > 0 ? median_of(dc) / sh.S : 0.0;
  j["ttft_ms"] = median_of(ttft);
  j["rss_file_mb"] = status_mb("RssFile:");
  j["rss_anon_mb"] = status_mb("RssAnon:");
  j["rss_peak_mb"] = status_mb("VmHWM:");
  j["load_s"] = load_s;
  j["prefill_tps_runs"] = pf;
  j["decode_tps_runs"] = dc;
  return j;
}

int cmd_bench(const Args& a) {
  check_args(a, "bench", 1, {"--threads", "--prompt-tokens", "--gen-tokens", "--repeat", "--batch", "--ctx", "--kv",
                             "--no-repack", "--parallel"});
  const std::string& model_path = a.pos[0];
  const int threads = static_cast<int>(int_opt(a, "--threads", 1, 1024).value_or(hw_threads()));
  BenchShape sh{};
  sh.P = static_cast<int32_t>(int_opt(a, "--prompt-tokens", 1, 1 << 20).value_or(512));
  sh.N = static_cast<int32_t>(int_opt(a, "--gen-tokens", 0, 1 << 20).value_or(64));
  sh.R = static_cast<int32_t>(int_opt(a, "--repeat", 1, 1000).value_or(3));
  sh.S = static_cast<int32_t>(int_opt(a, "--parallel", 1, 256).value_or(1));
  const auto B = static_cast<int32_t>(int_opt(a, "--batch", 1, 1 << 20).value_or(512));
  const auto C = static_cast<int32_t>(int_opt(a, "--ctx", 0, 1 << 24).value_or(0));
  sh.n_ctx_seq = std::max(C, sh.P + sh.N);
  sh.n_batch = std::max(std::min(B, sh.P), sh.S);
  const std::string kv = a.opt.count("--kv") ? a.opt.at("--kv") : "f16";
  kv_cache_type(kv);  // validates
  const bool repack = !flag(a, "--no-repack");

  init_backends(a);
  const double t_load = now_s();
  ModelPtr model = load_model(model_path, false, repack);
  const double load_s = now_s() - t_load;
  const int32_t n_vocab = llama_vocab_n_tokens(llama_model_get_vocab(model.get()));
  ContextPtr ctx = bench_context(model.get(), sh, threads, kv);
  std::fprintf(stderr, "llama_oracle bench: backend %s, %d threads, repack %s, kv %s, %d sequences, load %.1f s\n",
               loaded_cpu_variant().c_str(), threads, repack ? "on" : "off", kv.c_str(), sh.S, load_s);
  std::vector<BenchRun> runs;
  for (int32_t rep = 0; rep < sh.R; ++rep) {
    runs.push_back(bench_once(ctx.get(), sh, n_vocab));
    const BenchRun& r = runs.back();
    std::fprintf(stderr, "llama_oracle bench: run %d/%d: prefill %.1f tok/s, decode %.2f tok/s aggregate\n", rep + 1,
                 sh.R, static_cast<double>(sh.S) * sh.P / std::max(r.prefill_s, 1e-9), static_cast<double>(sh.S) * sh.N / std::max(r.decode_s, 1e-9));
  }
  const json j = bench_report(sh, runs, threads, repack, kv, llama_n_ctx(ctx.get()), load_s);
  std::printf("%s\n", j.dump().c_str());
  if (std::fflush(stdout) != 0) fail("writing to stdout failed");
  return 0;
}

}  // namespace
