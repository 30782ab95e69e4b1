// lfmd bench: prefill and decode throughput of one sequence, as one JSON line on stdout.
//
// Prompt token i is (i * 7919 + 13) mod n_vocab (the same rule tests/oracle/llama_oracle.cpp's
// `bench` uses, so both engines see identical inputs); decoding feeds back the arg-max token.
// Each repeat starts a fresh sequence; the reported figures are medians over the repeats.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/loader.h"
#include "cli/cli_common.h"
#include "cli/commands.h"

namespace lfmd::cli {
namespace {

using config::OptType;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

double mb(uint64_t bytes) { return static_cast<double>(bytes) / (1024.0 * 1024.0); }

int32_t argmax(const float* logits, int64_t n, const std::vector<uint8_t>& never) {
  int32_t best = -1;
  for (int64_t t = 0; t < n; ++t) {
    if (never[t]) continue;
    if (best < 0 || logits[t] > logits[best]) best = static_cast<int32_t>(t);
  }
  return best < 0 ? 0 : best;
}

struct Run {
  double prefill_s = 0, decode_s = 0;
};

int run_bench(const config::Options& o) {
  const int64_t P = o.integer("prompt-tokens"), N = o.integer("gen-tokens"), R = o.integer("repeat");
  if (o.str("model").empty()) throw std::runtime_error("--model FILE.gguf is required");
  LoadOptions lo;
  lo.path = resolve_model_path(o.str("model"));
  lo.n_threads = static_cast<int>(o.integer("threads"));
  // Without --ctx the context is exactly what the run needs; with --ctx the sequence's cache is
  // allocated for the whole context up front, so rss_working_mb is the memory at that context.
  lo.n_ctx = o.is_set("ctx") && o.integer("ctx") > 0 ? o.integer("ctx") : P + N;
  if (lo.n_ctx < P + N) throw std::runtime_error("--ctx " + std::to_string(lo.n_ctx) + " is smaller than --prompt-tokens + --gen-tokens (" + std::to_string(P + N) + ")");
  lo.max_batch = o.integer("batch");
  lo.isa = o.str("isa");
  lo.repack = o.flag("repack");
  lo.kv_type = cli::kv_type_option(o);
  lo.progress = cli::progress_printer("lfmd bench: paging in weights", false);
  lo.repack_progress = cli::progress_printer("lfmd bench: repacking weights", false);
  auto t_load = Clock::now();
  auto m = load_model(lo);
  const double load_s = seconds_since(t_load);
  const int64_t V = m->hp.n_vocab;
  std::fprintf(stderr, "lfmd bench: loaded %s (%s) in %.1f s; kernels %s, %d threads, KV cache %s; prompt %lld, gen %lld, %lld repeats\n",
               m->name.c_str(), m->hp.arch.c_str(), load_s, kernels::isa_name(m->kernels->isa), m->pool->size(),
               kernels::kv_type_name(m->model->kv_type()),
               static_cast<long long>(P), static_cast<long long>(N), static_cast<long long>(R));

  std::vector<int32_t> prompt(P);
  for (int64_t i = 0; i < P; ++i) prompt[i] = static_cast<int32_t>((i * 7919 + 13) % V);
  auto seq = m->model->new_sequence(m->n_ctx);
  seq->reserve(m->n_ctx);
  std::vector<float> logits(static_cast<size_t>(V));
  Batch batch;
  std::vector<Run> runs;
  for (int64_t rep = 0; rep < R; ++rep) {
    seq->reset();
    Run run;
    auto t0 = Clock::now();
    for (int64_t i = 0; i < P; i += m->max_batch) {
      const int64_t end = std::min(P, i + m->max_batch);
      batch.clear();
      for (int64_t j = i; j < end; ++j) batch.add(prompt[j], j, seq.get(), j == P - 1);
      m->model->forward(batch, logits.data());
    }
    run.prefill_s = seconds_since(t0);
    int32_t tok = argmax(logits.data(), V, m->never_sample);
    t0 = Clock::now();
    for (int64_t k = 0; k < N; ++k) {
      batch.clear();
      batch.add(tok, P + k, seq.get(), true);
      m->model->forward(batch, logits.data());
      tok = argmax(logits.data(), V, m->never_sample);
    }
    run.decode_s = seconds_since(t0);
    std::fprintf(stderr, "lfmd bench: run %lld/%lld: prefill %.1f tok/s (%.3f s), decode %.2f tok/s (%.3f s)\n",
                 static_cast<long long>(rep + 1), static_cast<long long>(R), P / std::max(run.prefill_s, 1e-9),
                 run.prefill_s, N / std::max(run.decode_s, 1e-9), run.decode_s);
    runs.push_back(run);
  }

  std::vector<double> pf, dc, ttft;
  for (const Run& r : runs) {
    pf.push_back(P / std::max(r.prefill_s, 1e-9));
    dc.push_back(N / std::max(r.decode_s, 1e-9));
    ttft.push_back(1000.0 * r.prefill_s);
  }
  const MemoryUsage mem = current_memory_usage();
  // Weights held in anonymous memory (load-time repacked copies) count as weights, not working memory.
  const uint64_t anon_weights = m->model->anon_weight_bytes();
  nlohmann::ordered_json j;
  j["model"] = m->name;
  j["file"] = lo.path;
  j["arch"] = m->hp.arch;
  j["isa"] = kernels::isa_name(m->kernels->isa);
  j["kv_type"] = kernels::kv_type_name(m->model->kv_type());
  j["threads"] = m->pool->size();
  j["prompt_tokens"] = P;
  j["gen_tokens"] = N;
  j["repeat"] = R;
  j["ctx"] = m->n_ctx;
  j["prefill_tps"] = P > 0 ? median(pf) : 0.0;
  j["decode_tps"] = N > 0 ? median(dc) : 0.0;
  j["ttft_ms"] = median(ttft);
  j["rss_weights_mb"] = mb(mem.rss_file + anon_weights);
  j["rss_working_mb"] = mb(mem.rss_anon > anon_weights ? mem.rss_anon - anon_weights : 0);
  j["repacked_weights_mb"] = mb(anon_weights);
  j["file_weights_mb"] = mb(m->weight_bytes);
  j["load_s"] = load_s;
  j["prefill_tps_runs"] = pf;
  j["decode_tps_runs"] = dc;
  std::printf("%s\n", j.dump().c_str());
  std::fflush(stdout);
  return 0;
}

config::Command bench_cmd() {
  config::Command c{"bench", "Measure prefill and decode speed; prints one JSON line, progress on stderr.",
                    "lfmd bench --model M [--threads T] [--prompt-tokens P] [--gen-tokens N] [--repeat R] [--ctx C] --json",
                    model_options()};
  c.options.push_back({"prompt-tokens", OptType::Int, "512", "prompt length in tokens", 1, 1 << 20, 'p'});
  c.options.push_back({"gen-tokens", OptType::Int, "64", "tokens to decode after the prompt", 0, 1 << 20, 'n'});
  c.options.push_back({"repeat", OptType::Int, "3", "runs (medians are reported)", 1, 1000, 'r'});
  c.options.push_back({"json", OptType::Bool, "", "JSON output (the only format; accepted for scripts)"});
  return c;
}

}  // namespace

int cmd_bench(const std::vector<std::string>& args) { return guarded("bench", run_bench, bench_cmd(), args); }

}  // namespace lfmd::cli
