// Model interface shared by all architectures, per-sequence state, and token batches.
// A Model is owned and driven by one thread; it may use a ThreadPool inside forward().
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engine/gguf.h"
#include "engine/thread_pool.h"
#include "kernels/kernels.h"

namespace lfmd {

// Hyperparameters read from GGUF metadata ({arch}.* keys); nothing is assumed per model size.
struct Hparams {
  std::string arch;             // general.architecture: "lfm2" | "lfm2moe"
  int64_t n_vocab = 0;          // rows of token_embd
  int64_t n_ctx_train = 0;      // {arch}.context_length
  int64_t n_embd = 0;           // D
  int64_t n_layer = 0;
  int64_t n_head = 0;           // query heads
  int64_t head_dim = 0;         // D / n_head
  std::vector<int64_t> n_head_kv;  // per layer; 0 = short-conv layer
  int64_t n_ff = 0;             // dense FFN width
  int64_t conv_l_cache = 0;     // L (3): conv kernel length; state keeps L-1 rows
  float norm_eps = 1e-5f;
  float rope_freq_base = 1e6f;
  int64_t n_expert = 0;         // 0 for dense models
  int64_t n_expert_used = 0;
  int64_t n_ff_exp = 0;
  int64_t n_dense_lead = 0;     // leading layers with a dense FFN (MoE models)
  float expert_weights_scale = 0.0f;  // 0 or 1 = no scaling

  bool is_attention(int64_t layer) const { return n_head_kv[layer] > 0; }
  bool is_moe(int64_t layer) const { return n_expert > 0 && layer >= n_dense_lead; }
};

// Storage blocks of one attention layer's K (or V) cache: block b holds positions
// [b * kKvBlockTokens, b * kKvBlockTokens + tokens(b)), page-aligned. Blocks are never moved.
class KvBlocks {
 public:
  KvBlocks() = default;
  KvBlocks(KvBlocks&& o) noexcept
      : ptr_(std::move(o.ptr_)), size_(std::move(o.size_)), tokens_(std::move(o.tokens_)) {
    o.ptr_.clear();
    o.size_.clear();
    o.tokens_.clear();
  }
  KvBlocks& operator=(KvBlocks&&) = delete;
  KvBlocks(const KvBlocks&) = delete;
  ~KvBlocks();
  void add(int64_t tokens, size_t token_bytes);  // appends one zeroed block of `tokens` tokens
  size_t count() const { return ptr_.size(); }
  uint8_t* block(size_t b) const { return ptr_[b]; }
  int64_t tokens(size_t b) const { return tokens_[b]; }

 private:
  std::vector<uint8_t*> ptr_;
  std::vector<size_t> size_;     // mapped bytes of each block
  std::vector<int64_t> tokens_;  // tokens each block holds
};

// Per-sequence state: the KV cache of attention layers and the conv rows of short-conv layers.
// K and V rows are stored as `kv_type` in blocks of kKvBlockTokens tokens, allocated as the
// sequence grows up to n_ctx tokens (the last block only up to n_ctx) and kept until the state
// is destroyed (reset keeps them for reuse). Optional conv-state snapshots every `interval`
// tokens let a copy of this state resume exactly at any multiple of the interval (prefix cache).
class SequenceState {
 public:
  // K and V blocks are head-major: block b holds, for each KV head h, its rows of the block's
  // tokens contiguously ([h][tokens(b)][head_bytes]), so attention over one head streams them.
  struct Layer {
    int64_t kv_dim = 0;        // Hkv * head_dim (0 for conv layers)
    int64_t n_heads = 0;       // Hkv
    size_t head_bytes = 0;     // one head of one token: kv_row_bytes(type, head_dim)
    size_t row_bytes = 0;      // one token, every head: n_heads * head_bytes
    KvBlocks k, v;             // storage blocks
    std::vector<float> conv;   // [L-1][D], oldest row first (conv layers)
    int64_t conv_slot = -1;    // index among conv layers (-1 for attention layers)
    // Head h's rows in each block, [h][max blocks] (kernels::AttnTile k_blocks / v_blocks).
    std::vector<const uint8_t*> k_heads, v_heads;
    int64_t max_blocks = 0;
    uint8_t* head_rows(const KvBlocks& kv, int64_t b, int64_t h) const {
      return kv.block(static_cast<size_t>(b)) + static_cast<size_t>(h * kv.tokens(static_cast<size_t>(b))) * head_bytes;
    }
    // Head h's row of position pos in K (or V).
    uint8_t* head_row(const KvBlocks& kv, int64_t pos, int64_t h) const {
      return head_rows(kv, pos / kernels::kKvBlockTokens, h) + (pos % kernels::kKvBlockTokens) * head_bytes;
    }
    // Rows [0, n) of block b as token-major rows [n][row_bytes] into dst, or back from src.
    void gather_rows(const KvBlocks& kv, int64_t b, int64_t n, uint8_t* dst) const;
    void scatter_rows(const KvBlocks& kv, int64_t b, int64_t n, const uint8_t* src) const;
  };

  // Throws std::invalid_argument when kv_type cannot hold the model's heads (q8_0 needs
  // head_dim % 32 == 0).
  SequenceState(const Hparams& hp, int64_t n_ctx, kernels::KvType kv_type = kernels::KvType::F32);
  int64_t n_ctx() const { return n_ctx_; }
  kernels::KvType kv_type() const { return kv_type_; }
  int64_t n_past() const { return n_past_; }
  // Forget everything (positions restart at 0); the KV blocks stay allocated for reuse.
  void reset();
  // Ensure room for positions [0, n_tokens). Throws std::length_error past n_ctx.
  void reserve(int64_t n_tokens);
  void set_n_past(int64_t n) { n_past_ = n; }
  // Allocated KV blocks + conv rows + snapshots, exactly.
  size_t bytes() const;
  // Bytes this state will occupy once it holds n tokens (n >= n_past): bytes() plus the KV
  // storage and conv-state snapshots that tokens (n_past, n] add. The engine's memory budget
  // plans each step with it, so it must never be less than bytes() after reserve(n) + forward.
  size_t bytes_at(int64_t n) const;
  std::vector<Layer>& layers() { return layers_; }

  // ---- conv-state snapshots ----
  void set_snapshot_interval(int64_t every) { snap_every_ = every; }
  int64_t snapshot_interval() const { return snap_every_; }
  // One more snapshot point besides the multiples of the interval (e.g. the end of the prompt,
  // where the next turn of a conversation usually continues).
  void add_snapshot_point(int64_t n) { extra_points_.push_back(n); }
  // Where forward() stores layer `layer`'s conv rows ([L-1][D]) once the sequence holds n tokens,
  // n a snapshot point; nullptr when n is not one.
  float* snapshot_rows(int64_t n, int64_t layer);
  // Whether a copy can start at n tokens: 0, n_past, or a snapshot point <= n_past.
  bool can_resume_at(int64_t n) const;
  // The largest n <= limit at which a copy can start.
  int64_t resume_point(int64_t limit) const;
  // Becomes a copy of `src` (same kv_type) at n tokens (src.can_resume_at(n)): KV rows [0, n)
  // (each head's rows of a block by one memcpy), the conv rows
  // at n and the snapshots up to n. Bit-exact: continuing from here equals continuing src.
  void copy_prefix_from(const SequenceState& src, int64_t n);

  // ---- raw access for the disk cache (engine/disk_format.cpp) ----
  int64_t conv_floats() const { return conv_rows_; }  // one conv layer's state, (L-1) * D
  int64_t n_conv_layers() const { return n_conv_layers_; }
  const std::vector<Layer>& layers() const { return layers_; }
  const std::map<int64_t, std::vector<float>>& snapshots() const { return snaps_; }
  // Rows of a snapshot at n tokens (every conv layer, [n_conv][L-1][D]), created zeroed.
  std::vector<float>& snapshot_storage(int64_t n);

 private:
  int64_t n_ctx_;
  // Tokens storage block b holds: kKvBlockTokens, the last one up to n_ctx.
  int64_t block_tokens(int64_t b) const;
  int64_t n_past_ = 0;
  kernels::KvType kv_type_ = kernels::KvType::F32;
  int64_t n_blocks_ = 0;        // storage blocks allocated per K (and V) of each attention layer
  size_t kv_token_bytes_ = 0;  // K + V bytes of one token over all attention layers
  int64_t conv_rows_ = 0;     // floats of one conv layer's state: (L-1) * D
  int64_t n_conv_layers_ = 0;
  int64_t snap_every_ = 0;
  std::vector<Layer> layers_;
  std::vector<int64_t> extra_points_;
  std::map<int64_t, std::vector<float>> snaps_;  // n -> every conv layer's rows at n tokens
};

// Tokens to run in one forward pass. Tokens of one sequence must appear in position order and
// continue that sequence (pos == n_past, n_past + 1, ...).
struct Batch {
  std::vector<int32_t> tokens;
  std::vector<int64_t> pos;
  std::vector<SequenceState*> seq;
  std::vector<uint8_t> want_logits;

  void add(int32_t token, int64_t p, SequenceState* s, bool logits) {
    tokens.push_back(token);
    pos.push_back(p);
    seq.push_back(s);
    want_logits.push_back(logits ? 1 : 0);
  }
  void clear() { tokens.clear(); pos.clear(); seq.clear(); want_logits.clear(); }
  size_t size() const { return tokens.size(); }
  size_t n_logits() const;
};

struct ForwardContext {
  const kernels::KernelTable* kernels = nullptr;
  ThreadPool* pool = nullptr;
  int64_t max_batch = 512;  // most tokens per forward() call; sizes the scratch buffers
  // Repack weights into the kernels' interleaved layout at load where they have one (the copy
  // replaces the mapped pages: resident memory stays about the file size).
  bool repack = true;
  // Weight bytes per unit of matmul work handed to a thread. Measured on 8B-A1B Q4_0 decode,
  // 2 threads (medians of 9): 64 KiB 22-24 tok/s, 256 KiB 23-29, 512 KiB-1 MiB 26-32. Tests
  // make it small so that tiny models exercise the sharing of units between threads.
  size_t matmul_unit_bytes = 512u << 10;
  // Element type of the sequences' K/V caches (new_sequence); q8_0 needs head_dim % 32 == 0.
  kernels::KvType kv_type = kernels::KvType::F32;
  // Called while repacking: (bytes repacked, bytes to repack); may be empty.
  std::function<void(uint64_t, uint64_t)> repack_progress;
};

class Model {
 public:
  virtual ~Model() = default;
  const Hparams& hparams() const { return hp_; }
  // A new sequence whose KV cache has this model's kv_type (ForwardContext::kv_type).
  std::unique_ptr<SequenceState> new_sequence(int64_t n_ctx) const {
    return std::make_unique<SequenceState>(hp_, n_ctx, kv_type_);
  }
  kernels::KvType kv_type() const { return kv_type_; }
  // Runs the batch (size() <= max_batch), appending to each sequence's state, and writes one row
  // of n_vocab logits per token with want_logits, in batch order, to `logits`.
  virtual void forward(const Batch& batch, float* logits) = 0;
  // Bytes of scratch owned by the model (excluding weights and sequence states).
  virtual size_t scratch_bytes() const = 0;
  // Bytes of weights held in anonymous memory (load-time repacked copies); they are weights,
  // not working memory, in memory reports.
  virtual size_t anon_weight_bytes() const { return 0; }

 protected:
  Hparams hp_;
  kernels::KvType kv_type_ = kernels::KvType::F32;
};

// Reads Hparams for a supported architecture; throws gguf::FormatError naming the problem.
Hparams read_hparams(const gguf::Reader& file);

// Architecture registry: general.architecture -> constructor.
using ModelFactory = std::unique_ptr<Model> (*)(const gguf::Reader&, const Hparams&,
                                                const ForwardContext&);
ModelFactory find_model_factory(const std::string& arch);
std::vector<std::string> supported_architectures();

}  // namespace lfmd
