#include "engine/testmodel/generator.h"

#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <stdexcept>

#include "engine/disk_cache.h"
#include "engine/gguf.h"
#include "engine/chat_template_lfm2.h"
#include "engine/thread_pool.h"
#include "engine/tokenizer/tokenizer.h"
#include "engine/testmodel/vocab_builder.h"

namespace lfmd {

using kernels::DType;

const std::vector<TestModelPreset>& test_model_presets() {
  static const std::vector<TestModelPreset> presets = {
      {"tiny", "lfm2", 256, 6, 4, 2, 512, {2, 4}, 4096, 4096, 2000, 0, 0, 0, 0,
       "small dense LFM2 for unit and oracle tests"},
      {"tiny-moe", "lfm2moe", 256, 6, 4, 2, 512, {2, 5}, 4096, 4096, 2000, 16, 4, 256, 1,
       "small LFM2-MoE (16 experts, top-4, 1 leading dense layer)"},
      {"lfm2-350m", "lfm2", 1024, 16, 16, 8, 4608, {2, 5, 8, 10, 12, 14}, 32768, 65536, 4000, 0, 0, 0, 0,
       "LFM2-350M shape (official config.json)"},
      {"lfm2-8b-a1b", "lfm2moe", 2048, 24, 32, 8, 7168, {2, 6, 10, 14, 18, 21}, 32768, 65536, 4000, 32, 4, 1792, 2,
       "LFM2-8B-A1B shape (public config.json)"},
      // 40 layers = 30 conv + 10 GQA, 64 experts top-4, Fe 1536, 2 dense layers are published;
      // the attention indices and the dense FFN width (10752..12288) are not: these are guesses.
      {"lfm2-24b-a2b", "lfm2moe", 2048, 40, 32, 8, 11776, {2, 6, 10, 14, 18, 22, 26, 30, 34, 38}, 32768, 65536, 4000, 64, 4, 1536, 2,
       "LFM2-24B-A2B shape (attention layer indices and dense FFN width assumed)"},
  };
  return presets;
}

const TestModelPreset* find_test_model_preset(const std::string& name) {
  for (const auto& p : test_model_presets()) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

bool parse_weight_type(const std::string& s, DType* out) {
  std::string l = s;
  std::transform(l.begin(), l.end(), l.begin(), [](unsigned char c) { return std::tolower(c); });
  if (l == "f32") *out = DType::F32;
  else if (l == "f16") *out = DType::F16;
  else if (l == "bf16") *out = DType::BF16;
  else if (l == "q8_0") *out = DType::Q8_0;
  else if (l == "q4_0") *out = DType::Q4_0;
  else return false;
  return true;
}

namespace {

uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

uint64_t fnv1a(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

// How a tensor's values are drawn: uniform in [center - half, center + half].
struct Init {
  float center, half;
};

struct Spec {
  std::string name;
  DType type;
  std::vector<int64_t> ne;
  Init init;
};

// Fills row `r` of a tensor with values from its own stream, so rows can be made in parallel.
void fill_row(uint64_t tensor_seed, int64_t r, const Init& init, float* out, int64_t n) {
  uint64_t state = splitmix64(tensor_seed ^ static_cast<uint64_t>(r) * 0xd1342543de82ef95ull);
  for (int64_t i = 0; i < n; ++i) {
    state = splitmix64(state);
    float u = static_cast<float>(state >> 40) * (1.0f / 16777216.0f);  // [0, 1)
    out[i] = init.center + init.half * (2.0f * u - 1.0f);
  }
}

std::vector<Spec> tensor_specs(const TestModelPreset& p, DType type) {
  const int64_t D = p.n_embd, hd = D / p.n_head;
  auto lin = [](int64_t n_in) { return Init{0.0f, std::sqrt(3.0f / static_cast<float>(n_in))}; };
  const Init norm{1.0f, 0.2f};
  std::vector<Spec> s;
  // Embedding scale gives tied-output logits a standard deviation of about 4.
  s.push_back({"token_embd.weight", type, {D, p.n_vocab}, {0.0f, 4.0f * std::sqrt(3.0f / D)}});
  for (int64_t il = 0; il < p.n_layer; ++il) {
    const std::string b = "blk." + std::to_string(il) + ".";
    const bool attn = std::find(p.attention_layers.begin(), p.attention_layers.end(), il) != p.attention_layers.end();
    s.push_back({b + "attn_norm.weight", DType::F32, {D}, norm});
    if (attn) {
      s.push_back({b + "attn_q.weight", type, {D, p.n_head * hd}, lin(D)});
      s.push_back({b + "attn_k.weight", type, {D, p.n_head_kv * hd}, lin(D)});
      s.push_back({b + "attn_v.weight", type, {D, p.n_head_kv * hd}, lin(D)});
      s.push_back({b + "attn_output.weight", type, {p.n_head * hd, D}, lin(p.n_head * hd)});
      s.push_back({b + "attn_q_norm.weight", DType::F32, {hd}, norm});
      s.push_back({b + "attn_k_norm.weight", DType::F32, {hd}, norm});
    } else {
      s.push_back({b + "shortconv.conv.weight", DType::F32, {3, D}, {0.0f, 0.6f}});
      s.push_back({b + "shortconv.in_proj.weight", type, {D, 3 * D}, lin(D)});
      s.push_back({b + "shortconv.out_proj.weight", type, {D, D}, lin(D)});
    }
    s.push_back({b + "ffn_norm.weight", DType::F32, {D}, norm});
    if (p.n_expert > 0 && il >= p.n_dense_lead) {
      s.push_back({b + "ffn_gate_inp.weight", DType::F32, {D, p.n_expert}, lin(D)});
      s.push_back({b + "exp_probs_b.bias", DType::F32, {p.n_expert}, {0.0f, 0.1f}});
      s.push_back({b + "ffn_gate_exps.weight", type, {D, p.n_ff_exp, p.n_expert}, lin(D)});
      s.push_back({b + "ffn_down_exps.weight", type, {p.n_ff_exp, D, p.n_expert}, lin(p.n_ff_exp)});
      s.push_back({b + "ffn_up_exps.weight", type, {D, p.n_ff_exp, p.n_expert}, lin(D)});
    } else {
      s.push_back({b + "ffn_gate.weight", type, {D, p.n_ff}, lin(D)});
      s.push_back({b + "ffn_down.weight", type, {p.n_ff, D}, lin(p.n_ff)});
      s.push_back({b + "ffn_up.weight", type, {D, p.n_ff}, lin(D)});
    }
  }
  s.push_back({"token_embd_norm.weight", DType::F32, {D}, norm});
  return s;
}

uint32_t file_type_id(DType t) {
  switch (t) {
    case DType::F32: return 0;
    case DType::F16: return 1;
    case DType::Q4_0: return 2;
    case DType::Q8_0: return 7;
    case DType::BF16: return 32;
    default: return 0;
  }
}

}  // namespace

void write_test_model(const TestModelPreset& p, DType type, uint64_t seed, const std::string& path,
                      ThreadPool* pool, const std::function<void(uint64_t, uint64_t)>& progress) {
  const std::string a = p.arch + ".";
  gguf::Writer w;
  w.set_string("general.architecture", p.arch);
  w.set_string("general.name", "lfmd random-weight " + p.name + " (" + kernels::type_info(type).name + ", seed " + std::to_string(seed) + ")");
  w.set_string("general.description", "Random weights generated by lfmd for testing: " + p.note + ". Not a trained model.");
  w.set_u32("general.file_type", file_type_id(type));
  w.set_u32(a + "vocab_size", static_cast<uint32_t>(p.n_vocab));
  w.set_u32(a + "context_length", static_cast<uint32_t>(p.n_ctx));
  w.set_u32(a + "embedding_length", static_cast<uint32_t>(p.n_embd));
  w.set_u32(a + "feed_forward_length", static_cast<uint32_t>(p.n_ff));
  w.set_u32(a + "block_count", static_cast<uint32_t>(p.n_layer));
  w.set_u32(a + "attention.head_count", static_cast<uint32_t>(p.n_head));
  std::vector<int32_t> kv(p.n_layer, 0);
  for (int64_t l : p.attention_layers) kv[l] = static_cast<int32_t>(p.n_head_kv);
  w.set_array_i32(a + "attention.head_count_kv", kv);
  w.set_f32(a + "attention.layer_norm_rms_epsilon", 1e-5f);
  w.set_f32(a + "rope.freq_base", 1000000.0f);
  w.set_u32(a + "shortconv.l_cache", 3);
  if (p.n_expert > 0) {
    w.set_u32(a + "expert_count", static_cast<uint32_t>(p.n_expert));
    w.set_u32(a + "expert_used_count", static_cast<uint32_t>(p.n_expert_used));
    w.set_u32(a + "expert_feed_forward_length", static_cast<uint32_t>(p.n_ff_exp));
    w.set_u32(a + "leading_dense_block_count", static_cast<uint32_t>(p.n_dense_lead));
    w.set_u32(a + "expert_gating_func", 2);
  }
  VocabData vocab = make_lfm2_test_vocab(p.n_merges, p.n_vocab);
  w.set_string("tokenizer.ggml.model", vocab.model);
  w.set_string("tokenizer.ggml.pre", vocab.pre);
  w.set_array_string("tokenizer.ggml.tokens", vocab.tokens);
  w.set_array_i32("tokenizer.ggml.token_type", vocab.types);
  w.set_array_string("tokenizer.ggml.merges", vocab.merges);
  w.set_u32("tokenizer.ggml.bos_token_id", static_cast<uint32_t>(vocab.bos_id));
  w.set_u32("tokenizer.ggml.eos_token_id", static_cast<uint32_t>(vocab.eos_id));
  w.set_u32("tokenizer.ggml.padding_token_id", static_cast<uint32_t>(vocab.pad_id));
  w.set_bool("tokenizer.ggml.add_bos_token", vocab.add_bos);
  w.set_bool("tokenizer.ggml.add_eos_token", vocab.add_eos);
  w.set_string("tokenizer.chat_template", lfm2_official_chat_template());

  const std::vector<Spec> specs = tensor_specs(p, type);
  for (const auto& s : specs) w.add_tensor(s.name, s.type, s.ne);
  uint64_t total = 0, done = 0;
  for (size_t i = 0; i < specs.size(); ++i) total += w.tensor_bytes(i);

  std::vector<float> rows;
  std::vector<uint8_t> packed;
  w.write(path, [&](size_t i, const gguf::Writer::ByteSink& out) {
    const Spec& s = specs[i];
    const int64_t n_in = s.ne[0];
    int64_t n_rows = 1;
    for (size_t d = 1; d < s.ne.size(); ++d) n_rows *= s.ne[d];
    const size_t rb = kernels::row_bytes(s.type, n_in);
    const uint64_t tseed = splitmix64(seed ^ fnv1a(s.name));
    // Rows are produced in chunks of ~4M values, in parallel, each row from its own stream.
    const int64_t chunk = std::max<int64_t>(1, (int64_t{1} << 22) / n_in);
    rows.resize(static_cast<size_t>(std::min(chunk, n_rows) * n_in));
    packed.resize(rb * static_cast<size_t>(std::min(chunk, n_rows)));
    for (int64_t r0 = 0; r0 < n_rows; r0 += chunk) {
      const int64_t r1 = std::min(n_rows, r0 + chunk);
      auto work = [&](int64_t b, int64_t e) {
        for (int64_t r = r0 + b; r < r0 + e; ++r) {
          float* row = rows.data() + (r - r0) * n_in;
          fill_row(tseed, r, s.init, row, n_in);
          kernels::quantize_row(s.type, row, packed.data() + rb * static_cast<size_t>(r - r0), n_in);
        }
      };
      if (pool) pool->parallel_for(r1 - r0, 1, work); else work(0, r1 - r0);
      out(packed.data(), rb * static_cast<size_t>(r1 - r0));
      done += rb * static_cast<size_t>(r1 - r0);
      if (progress) progress(done, total);
    }
  });
}

std::string ensure_demo_model(int n_threads, const std::function<void(const std::string&)>& log) {
  const std::string dir = default_cache_dir();
  make_dirs(dir);
  const std::string path = dir + "/demo-tiny-moe-q8_0-seed42-v1.gguf";
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) return path;
  if (log) log("generating the demo model (random weights) into " + path);
  ThreadPool pool(n_threads > 0 ? n_threads : 2);  // only when the file must be made
  write_test_model(*find_test_model_preset("tiny-moe"), DType::Q8_0, 42, path, &pool);
  return path;
}

}  // namespace lfmd
