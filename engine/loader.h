// Loads a GGUF model file into a ready-to-run bundle: mapping, hyperparameters, model,
// tokenizer, chat template, stop tokens, kernels and threads.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/gguf.h"
#include "engine/model.h"
#include "engine/thread_pool.h"
#include "engine/tokenizer/tokenizer.h"

namespace lfmd {

// The KV cache type of `lfmd` commands and liblfmd when none is given (LoadOptions itself keeps
// F32, the exact cache, for programs and tests that do not choose). F16: on the oracle models
// lfmd's f16 cache lands 8.8e-5 (median rel L2) from llama.cpp's F32 cache, llama.cpp's own F16
// cache 1.2e-4 (tests/integration/test_oracle.py kv-*).
constexpr kernels::KvType kDefaultKvType = kernels::KvType::F16;

struct LoadOptions {
  std::string path;
  int n_threads = 0;        // 0 = all hardware threads
  int64_t n_ctx = 0;        // 0 = the model's training context
  int64_t max_batch = 512;  // tokens per forward pass (prefill chunk)
  std::string isa;          // "" = LFMD_ISA env or best available
  bool repack = true;       // load-time weight repacking (ForwardContext::repack)
  // KV cache element type of new sequences (ForwardContext::kv_type); the CLI and liblfmd pass
  // their own default.
  kernels::KvType kv_type = kernels::KvType::F32;
  size_t matmul_unit_bytes = 512u << 10;  // ForwardContext::matmul_unit_bytes
  // Called while the weights are paged in: (bytes done, bytes total). Null = no prefault.
  std::function<void(uint64_t, uint64_t)> progress;
  // Called while weights are repacked (ForwardContext::repack_progress); may be empty.
  std::function<void(uint64_t, uint64_t)> repack_progress;
};

struct LoadedModel {
  std::unique_ptr<gguf::Reader> file;
  Hparams hp;
  const kernels::KernelTable* kernels = nullptr;
  std::unique_ptr<ThreadPool> pool;
  std::unique_ptr<Model> model;
  std::unique_ptr<Tokenizer> tokenizer;
  std::string chat_template;             // tokenizer.chat_template ("" if absent)
  std::string name;                      // general.name or the file name
  std::vector<int32_t> stop_ids;         // generation ends on any of these
  std::vector<uint8_t> never_sample;     // [n_vocab] 1 = padding / unused id
  int64_t n_ctx = 0;
  int64_t max_batch = 0;
  uint64_t weight_bytes = 0;             // bytes of tensor data in the file
};

// Throws gguf::FormatError / std::runtime_error with a one-line reason.
std::unique_ptr<LoadedModel> load_model(const LoadOptions& opt);

// Tokenizer data from GGUF tokenizer.ggml.* keys; throws gguf::FormatError naming a bad key.
VocabData vocab_from_gguf(const gguf::Reader& f);

struct MemoryUsage {
  uint64_t rss_file = 0;  // resident file-backed pages (mapped weights), bytes
  uint64_t rss_anon = 0;  // resident anonymous memory (working memory), bytes
  uint64_t anon_huge = 0;  // of rss_anon, bytes in transparent huge pages (repacked weights ask for them)
};
MemoryUsage current_memory_usage();

}  // namespace lfmd
