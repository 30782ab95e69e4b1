#include "cli/cli_common.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <exception>
#include <stdexcept>

#include "engine/testmodel/generator.h"

namespace lfmd::cli {

using config::OptionSpec;
using config::OptType;

std::vector<OptionSpec> model_options() {
  return {
      {"model", OptType::String, "",
       "GGUF model file (default: the built-in random-weight demo model)", 0, 0, 'm'},
      {"threads", OptType::Int, "0", "worker threads (0 = all cores)", 0, 1024, 't'},
      {"ctx", OptType::Int, "0", "context length in tokens (0 = the model's training context)", 0,
       1 << 24, 'c'},
      {"batch", OptType::Int, "512", "tokens per forward pass during prefill", 1, 65536, 'b'},
      {"isa", OptType::String, "", "kernel set: scalar | avx2 | avx512 | avxvnni | neon | i8mm (default: best for this CPU)"},
      {"repack", OptType::Bool, "true",
       "repack Q4_0/Q4_K weights into interleaved tiles at load, AVX2/AVX-512/AVX-VNNI/i8mm (--no-repack: use "
       "the mapping)"},
      {"kv-type", OptType::String, kernels::kv_type_name(kDefaultKvType),
       "KV cache element type: f32 | f16 | q8_0 (q8_0 needs a head dimension multiple of 32)"},
  };
}

kernels::KvType kv_type_option(const config::Options& opts) {
  kernels::KvType t = kDefaultKvType;
  if (!kernels::parse_kv_type(opts.str("kv-type").c_str(), &t))
    throw std::runtime_error("--kv-type must be f32, f16 or q8_0 (got '" + opts.str("kv-type") + "')");
  return t;
}

std::string mib(uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(bytes) / (1024.0 * 1024.0));
  return buf;
}

std::function<void(uint64_t, uint64_t)> progress_printer(std::string what, bool in_place) {
  return [what = std::move(what), in_place, last = -1](uint64_t done, uint64_t total) mutable {
    const int pct = total ? static_cast<int>(100 * done / total) : 100;
    const int step = in_place ? pct : pct / 10;
    if (step == last) return;
    last = step;
    if (in_place) {
      std::fprintf(stderr, "\r%s %3d%% (%s of %s)", what.c_str(), pct, mib(done).c_str(),
                   mib(total).c_str());
      if (done >= total) std::fprintf(stderr, "\n");
    } else {
      std::fprintf(stderr, "%s %3d%%\n", what.c_str(), pct);
    }
  };
}

std::unique_ptr<LoadedModel> load_from_options(const config::Options& opts,
                                               const std::function<void(const std::string&)>& say_to) {
  const bool tty = ::isatty(STDERR_FILENO);
  auto say = [&say_to](const std::string& line) {
    if (say_to) say_to(line);
    else std::fprintf(stderr, "lfmd: %s\n", line.c_str());
  };
  LoadOptions lo;
  lo.path = opts.str("model");
  lo.n_threads = static_cast<int>(opts.integer("threads"));
  lo.n_ctx = opts.integer("ctx");
  lo.max_batch = opts.integer("batch");
  lo.isa = opts.str("isa");
  lo.repack = opts.flag("repack");
  lo.kv_type = kv_type_option(opts);
  lo.path = resolve_model_path(lo.path);
  if (lo.path.empty()) {
    lo.path = ensure_demo_model(lo.n_threads, say);
    say("no --model given: using the built-in DEMO model " + lo.path);
    say("its weights are RANDOM - it produces gibberish; pass --model FILE.gguf for a real model");
  }
  if (tty) {
    lo.progress = progress_printer("lfmd: loading weights", true);
    lo.repack_progress = progress_printer("lfmd: repacking weights into kernel tiles", true);
  }
  auto t0 = std::chrono::steady_clock::now();
  auto m = load_model(lo);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  MemoryUsage mem = current_memory_usage();
  // Repacked weights live in anonymous memory: they are weights, not working memory.
  const uint64_t packed = m->model->anon_weight_bytes();
  char line[1024];
  std::snprintf(line, sizeof line, "loaded %s (%s, %lld layers, vocab %lld, ctx %lld) in %.2f s; kernels %s, %d threads, KV cache %s",
                m->name.c_str(), m->hp.arch.c_str(), static_cast<long long>(m->hp.n_layer),
                static_cast<long long>(m->hp.n_vocab), static_cast<long long>(m->n_ctx), secs,
                kernels::isa_name(m->kernels->isa), m->pool->size(), kernels::kv_type_name(m->model->kv_type()));
  say(line);
  std::snprintf(
      line, sizeof line,
      "memory: weights %s memory-mapped, %s resident (%s of them repacked, %s in 2 MiB pages), working memory %s resident (model scratch %s)",
      mib(m->weight_bytes).c_str(),
      mib(mem.rss_file + packed).c_str(), mib(packed).c_str(), mib(std::min(mem.anon_huge, packed)).c_str(),
      mib(mem.rss_anon > packed ? mem.rss_anon - packed : 0).c_str(),
      mib(m->model->scratch_bytes()).c_str());
  say(line);
  return m;
}

int guarded(const char* command, int (*body)(const config::Options&), const config::Command& cmd,
            const std::vector<std::string>& args) {
  config::Options opts;
  std::string err;
  if (!opts.parse(cmd, args, &err)) {
    std::fprintf(stderr, "lfmd %s: %s\n", command, err.c_str());
    return 2;
  }
  if (opts.help_requested()) {
    std::fputs(config::help_text(cmd).c_str(), stdout);
    return 0;
  }
  try {
    return body(opts);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "lfmd %s: error: %s\n", command, e.what());
    return 1;
  }
}

}  // namespace lfmd::cli
