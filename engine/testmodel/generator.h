// Deterministic random-weight GGUF models of the exact LFM2 / LFM2-MoE shapes, for tests and
// benchmarks (no trained weights can be downloaded here). Same preset + type + seed = same bytes.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "kernels/kernels.h"

namespace lfmd {

class ThreadPool;

struct TestModelPreset {
  std::string name;          // "tiny", "tiny-moe", "lfm2-350m", "lfm2-8b-a1b", "lfm2-24b-a2b"
  std::string arch;          // "lfm2" | "lfm2moe"
  int64_t n_embd, n_layer, n_head, n_head_kv, n_ff;
  std::vector<int64_t> attention_layers;
  int64_t n_ctx;
  int32_t n_vocab;           // rows of token_embd (tokenizer padded with unused tokens)
  int n_merges;              // BPE merges trained on the built-in corpus
  int64_t n_expert = 0, n_expert_used = 0, n_ff_exp = 0, n_dense_lead = 0;
  std::string note;          // where the shape comes from
};

const std::vector<TestModelPreset>& test_model_presets();
const TestModelPreset* find_test_model_preset(const std::string& name);

// Parses "f32", "f16", "bf16", "q8_0", "q4_0" (case-insensitive). Returns false otherwise.
bool parse_weight_type(const std::string& s, kernels::DType* out);

// Writes the model to `path` (atomically). Large matrices get `type`; norms, conv kernels, router
// and expert bias stay F32 (as llama.cpp's quantizer leaves them). progress(bytes done, total).
void write_test_model(const TestModelPreset& preset, kernels::DType type, uint64_t seed,
                      const std::string& path, ThreadPool* pool,
                      const std::function<void(uint64_t, uint64_t)>& progress = {});

// The demo model: generated once into the cache directory ($LFMD_CACHE_DIR, else
// $XDG_CACHE_HOME/lfmd, else ~/.cache/lfmd) with n_threads (0 = 2) and reused. Returns its path.
std::string ensure_demo_model(int n_threads, const std::function<void(const std::string&)>& log);

}  // namespace lfmd
