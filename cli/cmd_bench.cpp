// lfmd bench: prefill and decode throughput of S parallel sequences (--streams, default 1), as one
// JSON line on stdout.
//
// Prompt token i of stream s is (i * 7919 + 13 + s * 1009) mod n_vocab (the same rule
// tests/oracle/llama_oracle.cpp's `bench` uses, so both engines see identical inputs; stream 0 is
// the single-sequence rule, the others share no prefix with it). The S prompts are prefilled one
// after the other (max_batch tokens per forward pass); then each decode step is one forward pass
// holding one token per sequence, feeding back each sequence's arg-max token. Each repeat starts
// fresh sequences; the reported figures are medians over the repeats.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/loader.h"
#include "engine/testmodel/generator.h"
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
  return n == 0 ? 0.0 : n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

double mb(uint64_t bytes) { return static_cast<double>(bytes) / (1024.0 * 1024.0); }

// Peak resident set (VmHWM: mapped weights + anonymous memory, load included) in bytes.
uint64_t peak_rss_bytes() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::strtoull(line.c_str() + 6, nullptr, 10) * 1024;
  }
  return 0;
}

int32_t argmax(const float* logits, int64_t n, const std::vector<uint8_t>& never) {
  int32_t best = -1;
  for (int64_t t = 0; t < n; ++t) {
    if (never[t]) continue;
    if (best < 0 || logits[t] > logits[best]) best = static_cast<int32_t>(t);
  }
  return best < 0 ? 0 : best;
}

struct Shape {
  int64_t P = 0, N = 0, R = 0, S = 1;  // prompt tokens, generated tokens, repeats, streams
};

struct Run {
  double prefill_s = 0;  // all S prompts
  double ttft_s = 0;     // stream 0's prompt alone
  double decode_s = 0;   // N steps of S tokens
};

// State of one bench: the model, S sequences, the logits rows of one forward pass.
struct Bench {
  LoadedModel* m = nullptr;
  Shape sh;
  std::vector<std::unique_ptr<SequenceState>> seqs;
  std::vector<float> logits;  // [S][n_vocab]
  Batch batch;
};

std::vector<int32_t> stream_prompt(int64_t P, int64_t V, int64_t s) {
  std::vector<int32_t> p(static_cast<size_t>(P));
  for (int64_t i = 0; i < P; ++i) p[i] = static_cast<int32_t>((i * 7919 + 13 + s * 1009) % V);
  return p;
}

// Prefills every stream in turn; returns each stream's first decode token (arg-max of its last
// prompt position).
std::vector<int32_t> prefill(Bench& b, Run& run) {
  LoadedModel& m = *b.m;
  const int64_t P = b.sh.P, V = m.hp.n_vocab;
  std::vector<int32_t> next(static_cast<size_t>(b.sh.S));
  const auto t0 = Clock::now();
  for (int64_t s = 0; s < b.sh.S; ++s) {
    const std::vector<int32_t> prompt = stream_prompt(P, V, s);
    SequenceState* seq = b.seqs[s].get();
    for (int64_t i = 0; i < P; i += m.max_batch) {
      const int64_t end = std::min(P, i + m.max_batch);
      b.batch.clear();
      for (int64_t j = i; j < end; ++j) b.batch.add(prompt[j], j, seq, j == P - 1);
      m.model->forward(b.batch, b.logits.data());
    }
    next[s] = argmax(b.logits.data(), V, m.never_sample);
    if (s == 0) run.ttft_s = seconds_since(t0);
  }
  run.prefill_s = seconds_since(t0);
  return next;
}

// N steps, each one forward pass of S tokens (one per stream, positions P + k).
void decode(Bench& b, std::vector<int32_t> tok, Run& run) {
  LoadedModel& m = *b.m;
  const int64_t V = m.hp.n_vocab;
  const auto t0 = Clock::now();
  for (int64_t k = 0; k < b.sh.N; ++k) {
    b.batch.clear();
    for (int64_t s = 0; s < b.sh.S; ++s) b.batch.add(tok[s], b.sh.P + k, b.seqs[s].get(), true);
    m.model->forward(b.batch, b.logits.data());
    for (int64_t s = 0; s < b.sh.S; ++s) tok[s] = argmax(b.logits.data() + s * V, V, m.never_sample);
  }
  run.decode_s = seconds_since(t0);
}

std::vector<Run> run_all(Bench& b) {
  std::vector<Run> runs;
  for (int64_t rep = 0; rep < b.sh.R; ++rep) {
    for (auto& seq : b.seqs) seq->reset();
    Run run;
    decode(b, prefill(b, run), run);
    const double S = static_cast<double>(b.sh.S);
    std::fprintf(stderr, "lfmd bench: run %lld/%lld: prefill %.1f tok/s (%.3f s), decode %.2f tok/s aggregate (%.3f s)\n",
                 static_cast<long long>(rep + 1), static_cast<long long>(b.sh.R),
                 S * b.sh.P / std::max(run.prefill_s, 1e-9), run.prefill_s,
                 S * b.sh.N / std::max(run.decode_s, 1e-9), run.decode_s);
    runs.push_back(run);
  }
  return runs;
}

LoadOptions load_options(const config::Options& o, const Shape& sh) {
  LoadOptions lo;
  lo.path = resolve_model_path(o.str("model"));
  lo.n_threads = static_cast<int>(o.integer("threads"));
  if (lo.path.empty()) {  // as serve and chat: the built-in demo model (random weights, tiny)
    lo.path = ensure_demo_model(lo.n_threads, [](const std::string& line) { std::fprintf(stderr, "lfmd bench: %s\n", line.c_str()); });
  }
  // Per sequence. Without --ctx the context is exactly what the run needs; with --ctx each
  // sequence's cache is allocated for the whole context up front, so rss_working_mb is the
  // memory at that context.
  lo.n_ctx = o.is_set("ctx") && o.integer("ctx") > 0 ? o.integer("ctx") : sh.P + sh.N;
  if (lo.n_ctx < sh.P + sh.N)
    throw std::runtime_error("--ctx " + std::to_string(lo.n_ctx) + " is smaller than --prompt-tokens + --gen-tokens (" +
                             std::to_string(sh.P + sh.N) + ")");
  lo.max_batch = std::max(o.integer("batch"), sh.S);  // a decode step holds S tokens
  lo.isa = o.str("isa");
  lo.repack = o.flag("repack");
  lo.kv_type = cli::kv_type_option(o);
  lo.progress = cli::progress_printer("lfmd bench: paging in weights", false);
  lo.repack_progress = cli::progress_printer("lfmd bench: repacking weights", false);
  return lo;
}

nlohmann::ordered_json report(const Bench& b, const LoadOptions& lo, const std::vector<Run>& runs, double load_s) {
  const LoadedModel& m = *b.m;
  const int64_t P = b.sh.P, N = b.sh.N, S = b.sh.S;
  std::vector<double> pf, dc, ttft;
  for (const Run& r : runs) {
    pf.push_back(static_cast<double>(S * P) / std::max(r.prefill_s, 1e-9));
    dc.push_back(static_cast<double>(S * N) / std::max(r.decode_s, 1e-9));
    ttft.push_back(1000.0 * r.ttft_s);
  }
  const MemoryUsage mem = current_memory_usage();
  // Weights held in anonymous memory (load-time repacked copies) count as weights, not working memory.
  const uint64_t anon_weights = m.model->anon_weight_bytes();
  nlohmann::ordered_json j;
  j["model"] = m.name;
  j["file"] = lo.path;
  j["arch"] = m.hp.arch;
  j["isa"] = kernels::isa_name(m.kernels->isa);
  j["kv_type"] = kernels::kv_type_name(m.model->kv_type());
  j["threads"] = m.pool->size();
  j["prompt_tokens"] = P;
  j["gen_tokens"] = N;
  j["repeat"] = b.sh.R;
  j["streams"] = S;
  j["ctx"] = m.n_ctx;  // per sequence
  j["prefill_tps"] = P > 0 ? median(pf) : 0.0;  // S * P prompt tokens / prefill time
  j["decode_tps"] = N > 0 ? median(dc) : 0.0;   // aggregate: S * N / decode time
  j["decode_tps_per_stream"] = N > 0 ? median(dc) / static_cast<double>(S) : 0.0;
  j["ttft_ms"] = median(ttft);  // stream 0's prefill
  j["rss_weights_mb"] = mb(mem.rss_file + anon_weights);
  j["rss_working_mb"] = mb(mem.rss_anon > anon_weights ? mem.rss_anon - anon_weights : 0);
  j["rss_peak_mb"] = mb(peak_rss_bytes());
  j["repacked_weights_mb"] = mb(anon_weights);
  j["repacked_huge_pages_mb"] = mb(std::min(mem.anon_huge, anon_weights));  // in 2 MiB pages
  j["file_weights_mb"] = mb(m.weight_bytes);
  j["load_s"] = load_s;
  j["prefill_tps_runs"] = pf;
  j["decode_tps_runs"] = dc;
  return j;
}

int run_bench(const config::Options& o) {
  Shape sh{o.integer("prompt-tokens"), o.integer("gen-tokens"), o.integer("repeat"), o.integer("streams")};
  const LoadOptions lo = load_options(o, sh);
  const auto t_load = Clock::now();
  auto m = load_model(lo);
  const double load_s = seconds_since(t_load);
  std::fprintf(stderr, "lfmd bench: loaded %s (%s) in %.1f s; kernels %s, %d threads, KV cache %s; prompt %lld, gen %lld, "
               "%lld streams, %lld repeats\n", m->name.c_str(), m->hp.arch.c_str(), load_s,
               kernels::isa_name(m->kernels->isa), m->pool->size(), kernels::kv_type_name(m->model->kv_type()),
               static_cast<long long>(sh.P), static_cast<long long>(sh.N), static_cast<long long>(sh.S),
               static_cast<long long>(sh.R));
  Bench b;
  b.m = m.get();
  b.sh = sh;
  for (int64_t s = 0; s < sh.S; ++s) {
    b.seqs.push_back(m->model->new_sequence(m->n_ctx));
    b.seqs.back()->reserve(m->n_ctx);
  }
  b.logits.resize(static_cast<size_t>(sh.S * m->hp.n_vocab));
  const std::vector<Run> runs = run_all(b);
  std::printf("%s\n", report(b, lo, runs, load_s).dump().c_str());
  std::fflush(stdout);
  return 0;
}

config::Command bench_cmd() {
  config::Command c{"bench", "Measure prefill and decode speed; prints one JSON line, progress on stderr.",
                    "lfmd bench --model M [--threads T] [--prompt-tokens P] [--gen-tokens N] [--streams S] [--repeat R] "
                    "[--ctx C] --json",
                    model_options()};
  c.options.push_back({"prompt-tokens", OptType::Int, "512", "prompt length in tokens (each stream)", 1, 1 << 20, 'p'});
  c.options.push_back({"gen-tokens", OptType::Int, "64", "tokens to decode after the prompt (each stream)", 0, 1 << 20, 'n'});
  c.options.push_back({"streams", OptType::Int, "1",
                       "parallel sequences, decoded together (one token each per forward pass); decode_tps is "
                       "the aggregate", 1, 4096, 's'});
  c.options.push_back({"repeat", OptType::Int, "3", "runs (medians are reported)", 1, 1000, 'r'});
  c.options.push_back({"json", OptType::Bool, "", "JSON output (the only format; accepted for scripts)"});
  return c;
}

}  // namespace

int cmd_bench(const std::vector<std::string>& args) { return guarded("bench", run_bench, bench_cmd(), args); }

}  // namespace lfmd::cli
