// Shared pieces of llama_oracle.cpp: errors, logging, command line, files, llama.cpp setup and
// batched decoding. Included by llama_oracle.cpp only (everything is in an anonymous namespace).
#pragma once

#include <ggml-backend.h>
#include <ggml.h>
#include <gguf.h>
#include <llama.h>

#include <nlohmann/json.hpp>

#include <dlfcn.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#ifndef LFMD_ORACLE_LIB_DIR
#define LFMD_ORACLE_LIB_DIR ""
#endif

static_assert(std::endian::native == std::endian::little, "output files are little-endian");

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

struct Failure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

[[noreturn]] __attribute__((format(printf, 1, 2))) void fail(const char* fmt, ...) {
  char buf[4096];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  throw Failure(buf);
}

// ---------------------------------------------------------------------------------------------
// logging: everything with -v; otherwise only llama.cpp/ggml errors

bool g_verbose = false;
ggml_log_level g_last_level = GGML_LOG_LEVEL_INFO;

void log_callback(ggml_log_level level, const char* text, void*) {
  if (level == GGML_LOG_LEVEL_CONT) {
    level = g_last_level;
  } else {
    g_last_level = level;
  }
  if (g_verbose || level == GGML_LOG_LEVEL_ERROR) {
    std::fputs(text, stderr);
  }
}

// GGML_ASSERT failures inside llama.cpp/ggml (e.g. a model lacking a tensor it asserts on) end the
// process with a message and exit code 1 instead of a backtrace and SIGABRT.
void abort_callback(const char* message) {
  std::fflush(stdout);
  std::fprintf(stderr, "llama_oracle: error: llama.cpp/ggml assertion failed: %s\n", message);
  std::fflush(stderr);
  _exit(1);
}

// ---------------------------------------------------------------------------------------------
// command line

struct Args {
  std::vector<std::string> pos;
  std::map<std::string, std::string> opt;  // "--batch" -> "8"; flags map to ""
};

// value-taking options; everything else starting with "--" is a flag
const std::set<std::string> kValueOpts = {"--threads", "--batch", "--cpu-backend", "--prompt-tokens",
                                          "--gen-tokens", "--repeat", "--ctx", "--kv",
                                          "--parallel"};

Args parse_args(int argc, char** argv, int first) {
  Args a;
  for (int i = first; i < argc; ++i) {
    std::string s = argv[i];
    if (s == "-v" || s == "--verbose") {
      g_verbose = true;
    } else if (s.size() > 2 && s.rfind("--", 0) == 0) {
      std::string val;
      if (auto eq = s.find('='); eq != std::string::npos) {
        val = s.substr(eq + 1);
        s = s.substr(0, eq);
      } else if (kValueOpts.count(s)) {
        if (i + 1 >= argc) fail("option %s needs a value", s.c_str());
        val = argv[++i];
      }
      a.opt[s] = val;
    } else {
      a.pos.push_back(s);
    }
  }
  return a;
}

void check_args(const Args& a, const char* cmd, size_t n_pos, std::initializer_list<const char*> allowed) {
  if (a.pos.size() != n_pos) {
    fail("%s: expected %zu arguments, got %zu (see llama_oracle --help)", cmd, n_pos, a.pos.size());
  }
  for (const auto& [k, v] : a.opt) {
    bool ok = k == "--cpu-backend";
    for (const char* al : allowed) ok = ok || k == al;
    if (!ok) fail("%s: unknown option %s", cmd, k.c_str());
    if (kValueOpts.count(k) && v.empty()) fail("option %s needs a value", k.c_str());
    if (!kValueOpts.count(k) && !v.empty()) fail("option %s takes no value", k.c_str());
  }
}

long parse_int(const std::string& s, const char* what, long lo, long hi) {
  long v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) fail("%s: not an integer: '%s'", what, s.c_str());
  if (v < lo || v > hi) fail("%s: %ld out of range [%ld, %ld]", what, v, lo, hi);
  return v;
}

std::optional<long> int_opt(const Args& a, const char* name, long lo, long hi) {
  auto it = a.opt.find(name);
  if (it == a.opt.end()) return std::nullopt;
  return parse_int(it->second, name, lo, hi);
}

bool flag(const Args& a, const char* name) { return a.opt.count(name) != 0; }

int hw_threads() {
  unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 4 : static_cast<int>(std::min(n, 16u));
}

// ---------------------------------------------------------------------------------------------
// files

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) fail("cannot open %s: %s", path.c_str(), std::strerror(errno));
  std::ostringstream ss;
  ss << f.rdbuf();
  if (f.bad()) fail("error reading %s", path.c_str());
  return ss.str();
}

void require_file(const std::string& path) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) fail("no such file: %s", path.c_str());
}

bool same_file(const std::string& a, const std::string& b) {
  std::error_code ec;
  return fs::exists(b, ec) && fs::equivalent(a, b, ec);
}

// Writes OUT.tmp, renamed to OUT on commit(); removed if never committed.
class OutFile {
 public:
  explicit OutFile(std::string path) : path_(std::move(path)), tmp_(path_ + ".tmp") {
    f_ = std::fopen(tmp_.c_str(), "wb");
    if (!f_) fail("cannot create %s: %s", tmp_.c_str(), std::strerror(errno));
  }
  ~OutFile() {
    if (f_) std::fclose(f_);
    if (!committed_) std::remove(tmp_.c_str());
  }
  OutFile(const OutFile&) = delete;
  OutFile& operator=(const OutFile&) = delete;
  FILE* get() { return f_; }
  void write(const void* data, size_t n) {
    if (n && std::fwrite(data, 1, n, f_) != n) fail("write to %s failed: %s", tmp_.c_str(), std::strerror(errno));
  }
  void write(const std::string& s) { write(s.data(), s.size()); }
  void commit() {
    FILE* f = f_;
    f_ = nullptr;
    if (std::fclose(f) != 0) fail("closing %s failed: %s", tmp_.c_str(), std::strerror(errno));
    if (std::rename(tmp_.c_str(), path_.c_str()) != 0) {
      fail("renaming %s to %s failed: %s", tmp_.c_str(), path_.c_str(), std::strerror(errno));
    }
    committed_ = true;
  }

 private:
  std::string path_, tmp_;
  FILE* f_ = nullptr;
  bool committed_ = false;
};

std::vector<llama_token> read_tokens(const std::string& path) {
  std::string text = read_file(path);
  std::vector<llama_token> out;
  size_t i = 0;
  auto is_sep = [](char c) { return c == ',' || std::isspace(static_cast<unsigned char>(c)); };
  while (i < text.size()) {
    while (i < text.size() && is_sep(text[i])) ++i;
    size_t j = i;
    while (j < text.size() && !is_sep(text[j])) ++j;
    if (j > i) {
      out.push_back(static_cast<llama_token>(
          parse_int(text.substr(i, j - i), ("token in " + path).c_str(), 0, INT32_MAX)));
    }
    i = j;
  }
  if (out.empty()) fail("%s: no token ids", path.c_str());
  return out;
}

// ---------------------------------------------------------------------------------------------
// llama.cpp setup

std::string lib_dir() {
  // The directory libllama was actually loaded from (via RPATH); the configure-time one otherwise.
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&llama_backend_init), &info) && info.dli_fname) {
    fs::path p = fs::weakly_canonical(fs::path(info.dli_fname));
    if (p.has_parent_path()) return p.parent_path().string();
  }
  return LFMD_ORACLE_LIB_DIR;
}

void init_backends(const Args& a) {
  llama_log_set(log_callback, nullptr);
  const std::string dir = lib_dir();
  if (auto it = a.opt.find("--cpu-backend"); it != a.opt.end()) {
    const std::string so = dir + "/libggml-cpu-" + it->second + ".so";
    require_file(so);
    if (!ggml_backend_load(so.c_str())) fail("cannot load CPU backend %s (not supported by this CPU?)", so.c_str());
  } else {
    ggml_backend_load_all_from_path(dir.c_str());
  }
  if (ggml_backend_dev_by_type(GGML_BACKEND_DEVICE_TYPE_CPU) == nullptr) {
    fail("no ggml CPU backend could be loaded from %s (libggml-cpu-*.so)", dir.c_str());
  }
  llama_backend_init();
  if (g_verbose) {
    for (size_t i = 0; i < ggml_backend_dev_count(); ++i) {
      ggml_backend_dev_t d = ggml_backend_dev_get(i);
      std::fprintf(stderr, "llama_oracle: device %zu: %s (%s)\n", i, ggml_backend_dev_name(d),
                   ggml_backend_dev_description(d));
    }
  }
}

struct ModelDeleter {
  void operator()(llama_model* m) const { llama_model_free(m); }
};
struct ContextDeleter {
  void operator()(llama_context* c) const { llama_free(c); }
};
using ModelPtr = std::unique_ptr<llama_model, ModelDeleter>;
using ContextPtr = std::unique_ptr<llama_context, ContextDeleter>;

ModelPtr load_model(const std::string& path, bool vocab_only, bool repack = true) {
  require_file(path);
  llama_model_params mp = llama_model_default_params();
  mp.n_gpu_layers = 0;
  mp.vocab_only = vocab_only;
  mp.use_extra_bufts = repack;  // false: no runtime weight repacking (Q4_0 -> interleaved etc.)
  ModelPtr m(llama_model_load_from_file(path.c_str(), mp));
  if (!m) fail("llama.cpp failed to load %s%s", path.c_str(), g_verbose ? "" : " (rerun with -v for its log)");
  return m;
}

// KV cache type of a --kv value (f32 | f16 | q8_0); fails on anything else.
ggml_type kv_cache_type(const std::string& kv) {
  if (kv == "f32") return GGML_TYPE_F32;
  if (kv == "f16") return GGML_TYPE_F16;
  if (kv == "q8_0") return GGML_TYPE_Q8_0;
  fail("--kv: expected f32, f16 or q8_0, got '%s'", kv.c_str());
}

// An F32 KV cache without flash attention unless kv / flash_attn say otherwise (llama.cpp needs
// flash attention for a quantized V cache).
ContextPtr make_context(llama_model* model, uint32_t n_ctx, uint32_t n_batch, int threads, int threads_batch,
                        const std::string& kv = "f32", bool flash_attn = false) {
  llama_context_params cp = llama_context_default_params();
  cp.n_ctx = n_ctx;
  cp.n_batch = n_batch;
  cp.n_ubatch = n_batch;  // one ubatch per llama_decode call
  cp.n_seq_max = 1;
  cp.n_threads = threads;
  cp.n_threads_batch = threads_batch;
  cp.type_k = kv_cache_type(kv);
  cp.type_v = kv_cache_type(kv);
  cp.flash_attn_type = flash_attn ? LLAMA_FLASH_ATTN_TYPE_ENABLED : LLAMA_FLASH_ATTN_TYPE_DISABLED;
  cp.embeddings = false;
  cp.no_perf = true;
  ContextPtr ctx(llama_init_from_model(model, cp));
  if (!ctx) fail("llama_init_from_model failed (n_ctx %u, n_batch %u)", n_ctx, n_batch);
  if (llama_n_ctx(ctx.get()) < n_ctx) fail("context has %u positions, need %u", llama_n_ctx(ctx.get()), n_ctx);
  if (llama_n_batch(ctx.get()) < n_batch) fail("context batch is %u, need %u", llama_n_batch(ctx.get()), n_batch);
  return ctx;
}

struct Batch {
  llama_batch b;
  int32_t cap;
  explicit Batch(int32_t n) : b(llama_batch_init(n, 0, 1)), cap(n) {
    if (!b.token) fail("llama_batch_init(%d) failed", n);
  }
  ~Batch() { llama_batch_free(b); }
  Batch(const Batch&) = delete;
  Batch& operator=(const Batch&) = delete;
  void set(const llama_token* toks, int32_t n, int32_t pos0, bool all_logits, bool last_logit) {
    if (n > cap) fail("internal: batch overflow");
    b.n_tokens = n;
    for (int32_t i = 0; i < n; ++i) {
      b.token[i] = toks[i];
      b.pos[i] = pos0 + i;
      b.n_seq_id[i] = 1;
      b.seq_id[i][0] = 0;
      b.logits[i] = all_logits || (last_logit && i == n - 1);
    }
  }
};

void decode(llama_context* ctx, const llama_batch& b, int32_t pos0) {
  const int32_t rc = llama_decode(ctx, b);
  if (rc != 0) fail("llama_decode failed with code %d (batch of %d tokens at position %d)", rc, b.n_tokens, pos0);
}

void check_token_range(const std::vector<llama_token>& toks, int32_t n_vocab, const std::string& src) {
  for (size_t i = 0; i < toks.size(); ++i) {
    if (toks[i] < 0 || toks[i] >= n_vocab) fail("%s: token %d at index %zu is outside the vocabulary (n_vocab %d)",
                                               src.c_str(), toks[i], i, n_vocab);
  }
}

struct DecodeOpts {
  int threads;        // for one-token ubatches
  int threads_batch;  // for multi-token ubatches
  int32_t batch;      // tokens per llama_decode call
  std::string kv;     // --kv: KV cache type (default f32)
  bool flash_attn;    // --flash-attn
};

DecodeOpts decode_opts(const Args& a, size_t n_tokens, const llama_model* model) {
  DecodeOpts o{};
  // Default: all cores (<= 16) for multi-token batches; one-token decode steps of tiny test models
  // run on one thread, since ggml's thread synchronisation dominates them (much worse on a loaded
  // machine). Results do not depend on the thread count.
  const auto threads = int_opt(a, "--threads", 1, 1024);
  const bool tiny = model && llama_model_n_params(model) < 100'000'000;
  o.threads_batch = static_cast<int>(threads.value_or(hw_threads()));
  o.threads = static_cast<int>(threads.value_or(tiny ? 1 : hw_threads()));
  const bool one = flag(a, "--one-by-one");
  auto batch = int_opt(a, "--batch", 1, 1 << 20);
  if (one && batch && *batch != 1) fail("--one-by-one contradicts --batch %ld", *batch);
  o.batch = one ? 1 : static_cast<int32_t>(batch.value_or(static_cast<long>(n_tokens)));
  o.batch = std::max<int32_t>(1, std::min<int32_t>(o.batch, static_cast<int32_t>(n_tokens)));
  o.kv = a.opt.count("--kv") ? a.opt.at("--kv") : "f32";
  o.flash_attn = flag(a, "--flash-attn");
  return o;
}

}  // namespace
