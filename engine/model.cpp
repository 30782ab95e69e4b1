#include "engine/model.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>
#include <stdexcept>

#include <sys/mman.h>
#include <unistd.h>

namespace lfmd {

using gguf::FormatError;
using kernels::kKvBlockTokens;

// Blocks are their own anonymous mappings (page-aligned, zeroed by the kernel), not malloc
// chunks: a freed block goes back to the OS at once. Blocks of 16-256 KiB made and freed on the
// engine and disk I/O threads fragmented glibc's arenas (RSS grew ~10 MiB/min in the soak test).
KvBlocks::~KvBlocks() {
  for (size_t i = 0; i < ptr_.size(); ++i) ::munmap(ptr_[i], size_[i]);
}

void KvBlocks::add(int64_t tokens, size_t token_bytes) {
  static const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  const size_t bytes = static_cast<size_t>(tokens) * token_bytes;
  const size_t len = std::max<size_t>(1, (bytes + page - 1) / page) * page;
  void* p = ::mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw std::bad_alloc();
  ptr_.push_back(static_cast<uint8_t*>(p));
  size_.push_back(len);
  tokens_.push_back(tokens);
}

void SequenceState::Layer::gather_rows(const KvBlocks& kv, int64_t b, int64_t n, uint8_t* dst) const {
  for (int64_t h = 0; h < n_heads; ++h) {
    const uint8_t* src = head_rows(kv, b, h);
    for (int64_t j = 0; j < n; ++j) std::memcpy(dst + j * row_bytes + h * head_bytes, src + j * head_bytes, head_bytes);
  }
}

void SequenceState::Layer::scatter_rows(const KvBlocks& kv, int64_t b, int64_t n, const uint8_t* src) const {
  for (int64_t h = 0; h < n_heads; ++h) {
    uint8_t* dst = head_rows(kv, b, h);
    for (int64_t j = 0; j < n; ++j) std::memcpy(dst + j * head_bytes, src + j * row_bytes + h * head_bytes, head_bytes);
  }
}

SequenceState::SequenceState(const Hparams& hp, int64_t n_ctx, kernels::KvType kv_type)
    : n_ctx_(n_ctx), kv_type_(kv_type) {
  if (kv_type == kernels::KvType::Q8_0 && hp.head_dim % 32 != 0) {
    throw std::invalid_argument("KV type q8_0 needs a head dimension that is a multiple of 32 (this model's is " +
                                std::to_string(hp.head_dim) + "); use f16 or f32");
  }
  layers_.resize(hp.n_layer);
  conv_rows_ = (hp.conv_l_cache - 1) * hp.n_embd;
  for (int64_t l = 0; l < hp.n_layer; ++l) {
    if (hp.is_attention(l)) {
      Layer& a = layers_[l];
      a.kv_dim = hp.n_head_kv[l] * hp.head_dim;
      a.n_heads = hp.n_head_kv[l];
      a.head_bytes = kernels::kv_row_bytes(kv_type, hp.head_dim);
      a.row_bytes = static_cast<size_t>(a.n_heads) * a.head_bytes;
      a.max_blocks = (n_ctx + kKvBlockTokens - 1) / kKvBlockTokens;
      a.k_heads.assign(static_cast<size_t>(a.n_heads * a.max_blocks), nullptr);
      a.v_heads.assign(static_cast<size_t>(a.n_heads * a.max_blocks), nullptr);
      kv_token_bytes_ += 2 * a.row_bytes;
    } else {
      layers_[l].conv.assign(conv_rows_, 0.0f);
      layers_[l].conv_slot = n_conv_layers_++;
    }
  }
}

int64_t SequenceState::block_tokens(int64_t b) const {
  return std::min(kKvBlockTokens, n_ctx_ - b * kKvBlockTokens);
}

void SequenceState::reset() {
  n_past_ = 0;
  snaps_.clear();
  extra_points_.clear();
  for (auto& l : layers_) std::fill(l.conv.begin(), l.conv.end(), 0.0f);
}

void SequenceState::reserve(int64_t n_tokens) {
  if (n_tokens > n_ctx_) {
    throw std::length_error("sequence needs " + std::to_string(n_tokens) +
                            " positions but its context is " + std::to_string(n_ctx_) + " tokens");
  }
  // New blocks only: rows already stored never move.
  const int64_t need = (n_tokens + kKvBlockTokens - 1) / kKvBlockTokens;
  for (; n_blocks_ < need; ++n_blocks_) {
    for (auto& l : layers_) {
      if (l.kv_dim == 0) continue;
      l.k.add(block_tokens(n_blocks_), l.row_bytes);
      l.v.add(block_tokens(n_blocks_), l.row_bytes);
      for (int64_t h = 0; h < l.n_heads; ++h) {
        l.k_heads[static_cast<size_t>(h * l.max_blocks + n_blocks_)] = l.head_rows(l.k, n_blocks_, h);
        l.v_heads[static_cast<size_t>(h * l.max_blocks + n_blocks_)] = l.head_rows(l.v, n_blocks_, h);
      }
    }
  }
}

size_t SequenceState::bytes() const {
  size_t b = 0;
  for (int64_t i = 0; i < n_blocks_; ++i) b += static_cast<size_t>(block_tokens(i)) * kv_token_bytes_;
  for (const auto& l : layers_) b += l.conv.capacity() * sizeof(float);
  for (const auto& [n, s] : snaps_) b += s.capacity() * sizeof(float);
  return b;
}

size_t SequenceState::bytes_at(int64_t n) const {
  size_t b = bytes();
  if (n <= n_past_) return b;
  const int64_t need = (std::min(n, n_ctx_) + kKvBlockTokens - 1) / kKvBlockTokens;
  for (int64_t i = n_blocks_; i < need; ++i) b += static_cast<size_t>(block_tokens(i)) * kv_token_bytes_;
  if (n_conv_layers_ > 0) {
    int64_t points = snap_every_ > 0 ? n / snap_every_ - n_past_ / snap_every_ : 0;
    for (int64_t e : extra_points_) points += (e > n_past_ && e <= n && (snap_every_ == 0 || e % snap_every_ != 0)) ? 1 : 0;
    b += static_cast<size_t>(points * n_conv_layers_ * conv_rows_) * sizeof(float);
  }
  return b;
}

float* SequenceState::snapshot_rows(int64_t n, int64_t layer) {
  if (n <= 0 || n_conv_layers_ == 0) return nullptr;
  const bool point = (snap_every_ > 0 && n % snap_every_ == 0) ||
                     std::find(extra_points_.begin(), extra_points_.end(), n) != extra_points_.end();
  const int64_t slot = layers_[layer].conv_slot;
  if (!point || slot < 0) return nullptr;
  std::vector<float>& snap = snaps_[n];
  if (snap.empty()) snap.assign(static_cast<size_t>(n_conv_layers_ * conv_rows_), 0.0f);
  return snap.data() + slot * conv_rows_;
}

std::vector<float>& SequenceState::snapshot_storage(int64_t n) {
  std::vector<float>& snap = snaps_[n];
  snap.assign(static_cast<size_t>(n_conv_layers_ * conv_rows_), 0.0f);
  return snap;
}

bool SequenceState::can_resume_at(int64_t n) const {
  if (n == 0 || n == n_past_) return n <= n_past_;
  return n > 0 && n < n_past_ && snaps_.count(n) > 0;
}

int64_t SequenceState::resume_point(int64_t limit) const {
  if (limit >= n_past_) return n_past_;
  if (limit <= 0) return 0;
  auto it = snaps_.upper_bound(limit);  // first snapshot past the limit
  return it == snaps_.begin() ? 0 : std::prev(it)->first;
}

void SequenceState::copy_prefix_from(const SequenceState& src, int64_t n) {
  if (!src.can_resume_at(n) || layers_.size() != src.layers_.size() || conv_rows_ != src.conv_rows_ ||
      kv_type_ != src.kv_type_) {
    throw std::logic_error("copy_prefix_from: state cannot resume at " + std::to_string(n) + " tokens");
  }
  reset();
  reserve(n);
  snap_every_ = src.snap_every_;
  const std::vector<float>* snap = (n > 0 && n < src.n_past_) ? &src.snaps_.at(n) : nullptr;
  for (size_t l = 0; l < layers_.size(); ++l) {
    Layer& d = layers_[l];
    const Layer& s = src.layers_[l];
    if (d.kv_dim > 0) {
      for (int64_t b = 0; b * kKvBlockTokens < n; ++b) {
        const size_t bytes = static_cast<size_t>(std::min(kKvBlockTokens, n - b * kKvBlockTokens)) * d.head_bytes;
        for (int64_t h = 0; h < d.n_heads; ++h) {
          std::memcpy(d.head_rows(d.k, b, h), s.head_rows(s.k, b, h), bytes);
          std::memcpy(d.head_rows(d.v, b, h), s.head_rows(s.v, b, h), bytes);
        }
      }
    } else if (n == 0) {
      std::fill(d.conv.begin(), d.conv.end(), 0.0f);
    } else if (snap) {
      const float* rows = snap->data() + d.conv_slot * conv_rows_;
      std::copy(rows, rows + conv_rows_, d.conv.begin());
    } else {
      d.conv = s.conv;
    }
  }
  for (auto it = src.snaps_.begin(); it != src.snaps_.end() && it->first <= n; ++it) snaps_.insert(*it);
  n_past_ = n;
}

size_t Batch::n_logits() const {
  return static_cast<size_t>(std::count(want_logits.begin(), want_logits.end(), uint8_t{1}));
}

namespace {

int64_t checked_range(uint64_t v, int64_t lo, int64_t hi, const std::string& key) {
  if (v < static_cast<uint64_t>(lo) || v > static_cast<uint64_t>(hi)) {
    throw FormatError("metadata '" + key + "' = " + std::to_string(v) + " is out of range [" +
                      std::to_string(lo) + ", " + std::to_string(hi) + "]");
  }
  return static_cast<int64_t>(v);
}

// A per-layer key may be a scalar (same for all layers) or an array of n_layer integers.
std::vector<int64_t> per_layer(const gguf::Reader& f, const std::string& key, int64_t n_layer) {
  const gguf::Value* v = f.find(key);
  if (!v) throw FormatError("missing metadata key '" + key + "'");
  if (v->type == gguf::ValueType::ARRAY) {
    if (v->arr_int.size() != static_cast<size_t>(n_layer)) {
      throw FormatError("metadata '" + key + "' has " + std::to_string(v->array_size()) +
                        " entries, expected one integer per layer (" + std::to_string(n_layer) + ")");
    }
    return v->arr_int;
  }
  if (!v->is_integer()) throw FormatError("metadata '" + key + "' should be an integer or an array");
  return std::vector<int64_t>(n_layer, static_cast<int64_t>(v->u));
}

}  // namespace

Hparams read_hparams(const gguf::Reader& f) {
  Hparams hp;
  hp.arch = f.get_string("general.architecture");
  if (!find_model_factory(hp.arch)) {
    std::string list;
    for (const auto& a : supported_architectures()) list += (list.empty() ? "" : ", ") + a;
    throw FormatError("unknown architecture '" + hp.arch + "' (supported: " + list + ")");
  }
  const std::string a = hp.arch + ".";
  hp.n_embd = checked_range(f.get_uint(a + "embedding_length"), 1, 1 << 16, a + "embedding_length");
  hp.n_layer = checked_range(f.get_uint(a + "block_count"), 1, 1024, a + "block_count");
  hp.n_head = checked_range(f.get_uint(a + "attention.head_count"), 1, 4096, a + "attention.head_count");
  hp.n_ctx_train = checked_range(f.get_uint(a + "context_length"), 1, 1 << 24, a + "context_length");
  hp.conv_l_cache = checked_range(f.get_uint(a + "shortconv.l_cache"), 2, 16, a + "shortconv.l_cache");
  hp.norm_eps = static_cast<float>(f.get_float(a + "attention.layer_norm_rms_epsilon"));
  hp.rope_freq_base = static_cast<float>(f.get_float_opt(a + "rope.freq_base").value_or(10000.0));
  if (!(hp.norm_eps >= 0.0f && hp.norm_eps < 1.0f)) throw FormatError("metadata '" + a + "attention.layer_norm_rms_epsilon' is out of range");
  if (!(hp.rope_freq_base > 0.0f)) throw FormatError("metadata '" + a + "rope.freq_base' must be positive");
  if (hp.n_embd % hp.n_head != 0) {
    throw FormatError("embedding_length " + std::to_string(hp.n_embd) + " is not a multiple of head_count " + std::to_string(hp.n_head));
  }
  hp.head_dim = hp.n_embd / hp.n_head;
  if (hp.head_dim % 2 != 0) throw FormatError("head dimension " + std::to_string(hp.head_dim) + " is odd (RoPE needs pairs)");
  if (auto rot = f.get_uint_opt(a + "rope.dimension_count"); rot && static_cast<int64_t>(*rot) != hp.head_dim) {
    throw FormatError("partial RoPE (rope.dimension_count " + std::to_string(*rot) + " != head dim " + std::to_string(hp.head_dim) + ") is not supported");
  }
  hp.n_head_kv = per_layer(f, a + "attention.head_count_kv", hp.n_layer);
  for (int64_t l = 0; l < hp.n_layer; ++l) {
    int64_t kv = hp.n_head_kv[l];
    if (kv < 0 || kv > hp.n_head || (kv > 0 && hp.n_head % kv != 0)) {
      throw FormatError("layer " + std::to_string(l) + ": head_count_kv " + std::to_string(kv) + " does not divide head_count " + std::to_string(hp.n_head));
    }
  }
  std::vector<int64_t> ff = per_layer(f, a + "feed_forward_length", hp.n_layer);
  hp.n_ff = *std::max_element(ff.begin(), ff.end());
  if (hp.n_ff < 0 || hp.n_ff > (1 << 20)) throw FormatError("feed_forward_length out of range");

  if (const gguf::TensorInfo* emb = f.tensor("token_embd.weight")) {
    hp.n_vocab = emb->ne[1];
  } else {
    throw FormatError("missing tensor 'token_embd.weight'");
  }
  if (auto vs = f.get_uint_opt(a + "vocab_size"); vs && static_cast<int64_t>(*vs) != hp.n_vocab) {
    throw FormatError("metadata '" + a + "vocab_size' = " + std::to_string(*vs) + " but token_embd.weight has " + std::to_string(hp.n_vocab) + " rows");
  }

  if (auto ne = f.get_uint_opt(a + "expert_count"); ne && *ne > 0) {
    hp.n_expert = checked_range(*ne, 1, 1024, a + "expert_count");
    hp.n_expert_used = checked_range(f.get_uint(a + "expert_used_count"), 1, hp.n_expert, a + "expert_used_count");
    hp.n_ff_exp = checked_range(f.get_uint(a + "expert_feed_forward_length"), 1, 1 << 20, a + "expert_feed_forward_length");
    hp.n_dense_lead = checked_range(f.get_uint_opt(a + "leading_dense_block_count").value_or(0), 0, hp.n_layer, a + "leading_dense_block_count");
    uint64_t gating = f.get_uint_opt(a + "expert_gating_func").value_or(2);
    if (gating != 2) throw FormatError("expert_gating_func " + std::to_string(gating) + " is not supported (LFM2-MoE uses 2 = sigmoid)");
    hp.expert_weights_scale = static_cast<float>(f.get_float_opt(a + "expert_weights_scale").value_or(0.0));
  } else if (hp.arch == "lfm2moe") {
    throw FormatError("missing metadata key '" + a + "expert_count'");
  }
  return hp;
}

}  // namespace lfmd
