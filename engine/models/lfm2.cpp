// LFM2 family forward pass: "lfm2" (dense) and "lfm2moe" (sparse MoE FFN after the leading
// dense layers). Semantics: docs/lfm2.md §2; the order of float operations
// mirrors llama.cpp's graph so that F32 runs agree with it to ~1e-6.
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <functional>
#include <numeric>
#include <stdexcept>

#include "engine/model.h"
#include "engine/models/models.h"

namespace lfmd {
namespace {

// Tokens per piece of the dense FFN (bounds its [piece][n_ff] gate/up scratch).
constexpr int64_t kDenseFfnPiece = 128;
// Tokens per attention tile: a tile's query rows share each K/V block read (group heads x this).
constexpr int64_t kAttnTileTokens = 16;

using gguf::FormatError;
using kernels::DType;

// A matrix of n_out rows of n_in elements in the mapping; `slabs` stacked matrices for experts.
struct Weight {
  DType type = DType::F32;
  int64_t n_in = 0, n_out = 0, slabs = 1;
  size_t row_bytes = 0, slab_bytes = 0;
  const uint8_t* data = nullptr;
  const uint8_t* slab(int64_t e) const { return data + static_cast<size_t>(e) * slab_bytes; }
  // Load-time repacked copy (KernelTable::repack), or null: then matmuls read `data`.
  const uint8_t* packed = nullptr;
  size_t packed_slab_bytes = 0;
};

std::string shape_str(const std::vector<int64_t>& ne) {
  std::string s = "[";
  for (size_t i = 0; i < ne.size(); ++i) s += (i ? ", " : "") + std::to_string(ne[i]);
  return s + "]";
}

const gguf::TensorInfo& find_tensor(const gguf::Reader& f, const std::string& name,
                                    const std::vector<int64_t>& ne) {
  const gguf::TensorInfo* t = f.tensor(name);
  if (!t) throw FormatError("missing tensor '" + name + "'");
  bool ok = t->n_dims <= ne.size() || (t->n_dims > ne.size() && t->ne[t->n_dims - 1] == 1);
  for (size_t d = 0; d < 4 && ok; ++d) ok = t->ne[d] == (d < ne.size() ? ne[d] : 1);
  if (!ok) {
    throw FormatError("tensor '" + name + "' has shape " + t->shape_string() + ", expected " + shape_str(ne));
  }
  return *t;
}

Weight load_weight(const gguf::Reader& f, const std::string& name, std::vector<int64_t> ne) {
  const gguf::TensorInfo& t = find_tensor(f, name, ne);
  Weight w;
  w.type = t.type;
  w.n_in = ne[0];
  w.n_out = ne[1];
  w.slabs = ne.size() > 2 ? ne[2] : 1;
  w.row_bytes = kernels::row_bytes(t.type, w.n_in);
  w.slab_bytes = w.row_bytes * static_cast<size_t>(w.n_out);
  w.data = t.data;
  return w;
}

// Small tensors (norms, conv kernels, biases) are copied to f32 once.
std::vector<float> load_f32(const gguf::Reader& f, const std::string& name, std::vector<int64_t> ne) {
  const gguf::TensorInfo& t = find_tensor(f, name, ne);
  std::vector<float> out(static_cast<size_t>(t.n_elements()));
  kernels::dequantize_row(t.type, t.data, out.data(), t.n_elements());
  return out;
}

struct Layer {
  std::vector<float> attn_norm, ffn_norm;
  Weight in_proj, out_proj;           // short conv: [3D <- D], [D <- D]
  std::vector<float> conv_kernel;     // [D][L]
  Weight wq, wk, wv, wo;              // attention
  std::vector<float> q_norm, k_norm;  // [head_dim]
  Weight ffn_gate, ffn_up, ffn_down;  // dense SwiGLU
  Weight router, gate_exps, up_exps, down_exps;  // MoE
  std::vector<float> exp_bias;        // [E], used only to select experts
};

class Lfm2Model final : public Model {
 public:
  Lfm2Model(const gguf::Reader& f, const Hparams& hp, const ForwardContext& ctx);
  void forward(const Batch& batch, float* logits) override;
  size_t scratch_bytes() const override;
  size_t anon_weight_bytes() const override { return packed_bytes_; }
  ~Lfm2Model() override {
    if (packed_arena_) ::munmap(packed_arena_, packed_bytes_);
  }

 private:
  void repack_weights();
  void matmul(const Weight& w, int64_t slab, const float* x, int64_t ldx, int64_t n_tok, float* y,
              int64_t ldy);
  // Several matmuls in one parallel region (one thread hand-off instead of one per matmul).
  // Rows are cut into units of ~matmul_unit_bytes of weights; each thread streams its own
  // contiguous share of them, then takes units from the back of the others' shares (a static
  // split left the cores waiting for each other ~14 % of decode time: they do not stream at
  // equal speed). after(job, r0, r1) runs for each unit once its rows are done; a job with
  // rows_with_prev is computed in the same units as the job before it (gate and up, so SwiGLU
  // can follow at once) and after() gets that second job's index.
  struct MatJob {
    const Weight* w;
    int64_t slab;
    const float* x;
    int64_t ldx, n_tok;
    float* y;
    int64_t ldy;
    bool same_acts_as_prev = false;  // x, n_in, n_tok and activation format as the job before
    bool rows_with_prev = false;     // same n_out as the job before; computed unit by unit with it
  };
  struct RowUnit {
    uint32_t job;  // first job of the unit (and job + 1 when that one has rows_with_prev)
    int64_t r0, r1;
  };
  std::vector<RowUnit> units_, tail_split_;
  static constexpr int64_t kTailCuts = 8;
  void split_tails(int n_workers);             // sets shares_ and cuts units_ (see its definition)
  std::vector<std::atomic<uint64_t>> shares_;  // per worker: [next unit, end) of its share
  // fn(b, e) over [0, n) (tokens, or channels in multiples of `align`): from kParallelRows items,
  // one share per thread taken from a shared counter (run_shared: a worker kept off its core is
  // not waited for; the engine thread takes its share too), else inline. Callers' work per item
  // must not depend on the split.
  static constexpr int64_t kParallelRows = 16;
  template <class Fn>
  void for_rows(int64_t n, const Fn& fn, int64_t align = 1) {
    const int workers = ctx_.pool ? ctx_.pool->size() : 1;
    if (workers <= 1 || n < kParallelRows) {
      fn(0, n);
      return;
    }
    const int64_t chunk = (n + workers * align - 1) / (workers * align) * align;  // one share per thread
    std::atomic<int64_t> next{0};
    ctx_.pool->run_shared([&](int) {
      for (int64_t b; (b = next.fetch_add(chunk, std::memory_order_relaxed)) < n;) fn(b, std::min(n, b + chunk));
    });
  }
  void matmul_jobs(const std::vector<MatJob>& jobs,
                   const std::function<void(size_t, int64_t, int64_t)>& after = {});
  void conv_block(const Layer& L, int64_t il, const Batch& b);
  std::vector<float*> conv_snaps_;  // per batch token: its snapshot rows (or null), conv_block
  void attention_block(const Layer& L, int64_t il, const Batch& b);
  void plan_attention_tiles(const Batch& b, int64_t n_kv_heads);
  void dense_ffn(const Layer& L, int64_t n_tok);
  void moe_ffn(const Layer& L, int64_t n_tok);
  void moe_expert_group(const Layer& L, const std::vector<std::vector<int64_t>>& routed, int64_t e0, int64_t e1);

  ForwardContext ctx_;
  Weight tok_embd_, output_;
  std::vector<float> output_norm_;
  std::vector<Layer> layers_;

  // Scratch, [max_batch][width] row-major.
  std::vector<float> x_, a_, wide_, kbuf_, vbuf_, y_, o_, g_, u_;
  std::vector<float> router_, probs_, expert_out_, xe_, ge_, ue_, de_;
  std::vector<int32_t> sel_idx_;
  std::vector<float> sel_w_;
  std::vector<uint8_t> act_scratch_;
  std::vector<MatJob> jobs_;
  std::vector<int64_t> group_slots_;  // moe_expert_group: (token, slot) pair of each grouped row
  std::vector<kernels::PreparedActs> job_acts_;
  // Attention work items (plan_attention_tiles) and each batch token's key count.
  struct AttnItem {
    int64_t t0, n_tok, kv_head, cost;
  };
  std::vector<AttnItem> attn_items_;
  std::vector<int64_t> attn_n_kv_;
  void* packed_arena_ = nullptr;  // anonymous mapping holding every repacked weight
  std::vector<uint8_t> embd_row_;  // one token_embd row unpacked from the tied output's copy
  bool embd_from_packed() const { return output_.packed && output_.data == tok_embd_.data; }
  size_t packed_bytes_ = 0;
};

Lfm2Model::Lfm2Model(const gguf::Reader& f, const Hparams& hp, const ForwardContext& ctx) : ctx_(ctx) {
  hp_ = hp;
  kv_type_ = ctx.kv_type;
  if (kv_type_ == kernels::KvType::Q8_0 && hp.head_dim % 32 != 0) {
    throw std::runtime_error("KV type q8_0 needs a head dimension that is a multiple of 32 (this model's is " +
                             std::to_string(hp.head_dim) + "); use --kv-type f16 or f32");
  }
  const int64_t D = hp.n_embd, V = hp.n_vocab, hd = hp.head_dim, Lc = hp.conv_l_cache;
  tok_embd_ = load_weight(f, "token_embd.weight", {D, V});
  output_ = f.tensor("output.weight") ? load_weight(f, "output.weight", {D, V}) : tok_embd_;
  // LFM2's final norm is stored as token_embd_norm (llama.cpp's name); Ollama writes output_norm.
  output_norm_ = f.tensor("token_embd_norm.weight") ? load_f32(f, "token_embd_norm.weight", {D})
                                                     : load_f32(f, "output_norm.weight", {D});
  layers_.resize(hp.n_layer);
  for (int64_t il = 0; il < hp.n_layer; ++il) {
    Layer& L = layers_[il];
    const std::string p = "blk." + std::to_string(il) + ".";
    L.attn_norm = load_f32(f, p + "attn_norm.weight", {D});
    L.ffn_norm = load_f32(f, p + "ffn_norm.weight", {D});
    if (hp.is_attention(il)) {
      const int64_t kv = hp.n_head_kv[il] * hd;
      L.wq = load_weight(f, p + "attn_q.weight", {D, hp.n_head * hd});
      L.wk = load_weight(f, p + "attn_k.weight", {D, kv});
      L.wv = load_weight(f, p + "attn_v.weight", {D, kv});
      L.wo = load_weight(f, p + "attn_output.weight", {hp.n_head * hd, D});
      L.q_norm = load_f32(f, p + "attn_q_norm.weight", {hd});
      L.k_norm = load_f32(f, p + "attn_k_norm.weight", {hd});
    } else {
      L.in_proj = load_weight(f, p + "shortconv.in_proj.weight", {D, 3 * D});
      L.out_proj = load_weight(f, p + "shortconv.out_proj.weight", {D, D});
      L.conv_kernel = load_f32(f, p + "shortconv.conv.weight", {Lc, D});
    }
    if (hp.is_moe(il)) {
      const int64_t E = hp.n_expert, Fe = hp.n_ff_exp;
      L.router = load_weight(f, p + "ffn_gate_inp.weight", {D, E});
      L.exp_bias = load_f32(f, p + "exp_probs_b.bias", {E});
      L.gate_exps = load_weight(f, p + "ffn_gate_exps.weight", {D, Fe, E});
      L.up_exps = load_weight(f, p + "ffn_up_exps.weight", {D, Fe, E});
      L.down_exps = load_weight(f, p + "ffn_down_exps.weight", {Fe, D, E});
    } else {
      if (hp.n_ff <= 0) throw FormatError("layer " + std::to_string(il) + " needs a dense FFN but feed_forward_length is 0");
      L.ffn_gate = load_weight(f, p + "ffn_gate.weight", {D, hp.n_ff});
      L.ffn_up = load_weight(f, p + "ffn_up.weight", {D, hp.n_ff});
      L.ffn_down = load_weight(f, p + "ffn_down.weight", {hp.n_ff, D});
    }
  }

  const int64_t T = ctx_.max_batch;
  int64_t max_kv = 0;
  for (int64_t il = 0; il < hp.n_layer; ++il) max_kv = std::max(max_kv, hp.n_head_kv[il] * hd);
  const int64_t wide = std::max(3 * D, hp.n_head * hd);
  auto sz = [](int64_t a, int64_t b) { return static_cast<size_t>(a * b); };
  x_.resize(sz(T, D));
  a_.resize(sz(T, D));
  wide_.resize(sz(T, wide));
  kbuf_.resize(sz(T, max_kv));
  vbuf_.resize(sz(T, max_kv));
  y_.resize(sz(T, std::max(D, hp.n_head * hd)));
  o_.resize(sz(T, D));
  if (hp.n_ff > 0) {
    g_.resize(sz(std::min(T, kDenseFfnPiece), hp.n_ff));
    u_.resize(sz(std::min(T, kDenseFfnPiece), hp.n_ff));
  }
  if (hp.n_expert > 0) {
    const int64_t E = hp.n_expert, K = hp.n_expert_used, Fe = hp.n_ff_exp;
    router_.resize(sz(T, E));
    probs_.resize(sz(T, E));
    sel_idx_.resize(sz(T, K));
    sel_w_.resize(sz(T, K));
    expert_out_.resize(sz(T * K, D));
    xe_.resize(sz(T, D));
    ge_.resize(sz(T, Fe));
    ue_.resize(sz(T, Fe));
    de_.resize(sz(T, D));
  }
  if (ctx_.repack) repack_weights();
}

// Copies every matrix the kernels can repack into one anonymous arena (huge pages where the
// kernel grants them), then drops the mapped file pages of the originals from this process, so
// resident weight memory stays about the file size. token_embd keeps its mapping for row lookups.
void Lfm2Model::repack_weights() {
  const kernels::KernelTable& K = *ctx_.kernels;
  std::vector<Weight*> todo;
  auto consider = [&](Weight& w) {
    if (w.data && K.repack_bytes(w.type, w.n_in, w.n_out) > 0) todo.push_back(&w);
  };
  consider(output_);
  for (Layer& L : layers_) {
    for (Weight* w : {&L.in_proj, &L.out_proj, &L.wq, &L.wk, &L.wv, &L.wo, &L.ffn_gate, &L.ffn_up,
                      &L.ffn_down, &L.gate_exps, &L.up_exps, &L.down_exps}) {
      consider(*w);
    }
  }
  if (todo.empty()) return;
  auto round64 = [](size_t v) { return (v + 63) / 64 * 64; };
  size_t total = 0;
  for (Weight* w : todo) total += round64(K.repack_bytes(w->type, w->n_in, w->n_out) * static_cast<size_t>(w->slabs));
  void* arena = ::mmap(nullptr, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (arena == MAP_FAILED) throw std::runtime_error("cannot allocate " + std::to_string(total >> 20) + " MiB for repacked weights (run with --no-repack)");
  ::madvise(arena, total, MADV_HUGEPAGE);
  packed_arena_ = arena;
  packed_bytes_ = total;
  auto* dst = static_cast<uint8_t*>(arena);
  const long page = ::sysconf(_SC_PAGESIZE);
  size_t done = 0;
  if (ctx_.repack_progress) ctx_.repack_progress(0, total);
  for (Weight* w : todo) {
    const size_t pb = K.repack_bytes(w->type, w->n_in, w->n_out);
    for (int64_t e = 0; e < w->slabs; ++e) {
      const uint8_t* src = w->slab(e);
      uint8_t* out = dst + static_cast<size_t>(e) * pb;
      // Row ranges start on group boundaries, where the packed layout is row-aligned.
      auto job = [&](int64_t r0, int64_t r1) {
        K.repack(w->type, src + static_cast<size_t>(r0) * w->row_bytes, w->row_bytes, w->n_in, r1 - r0,
                 out + static_cast<size_t>(r0) * w->row_bytes);
      };
      if (ctx_.pool) ctx_.pool->parallel_for(w->n_out, kernels::kRepackRows, job); else job(0, w->n_out);
    }
    // Release the original pages (whole pages inside the tensor only; the file stays mapped).
    const auto a = reinterpret_cast<uintptr_t>(w->data), b = a + w->slab_bytes * static_cast<size_t>(w->slabs);
    const uintptr_t pa = (a + page - 1) / page * page, pe = b / page * page;
    if (pe > pa && w != &output_) ::madvise(reinterpret_cast<void*>(pa), pe - pa, MADV_DONTNEED);
    w->packed = dst;
    w->packed_slab_bytes = pb;
    const size_t span = round64(pb * static_cast<size_t>(w->slabs));
    dst += span;
    done += span;
    if (ctx_.repack_progress) ctx_.repack_progress(done, total);
  }
  // output.weight may be token_embd (tied): embedding lookups then unpack rows of the copy.
  if (output_.packed) {
    const auto a = reinterpret_cast<uintptr_t>(output_.data), b = a + output_.slab_bytes;
    const uintptr_t pa = (a + page - 1) / page * page, pe = b / page * page;
    if (pe > pa) ::madvise(reinterpret_cast<void*>(pa), pe - pa, MADV_DONTNEED);
  }
}

size_t Lfm2Model::scratch_bytes() const {
  size_t n = 0;
  for (const auto* v : {&x_, &a_, &wide_, &kbuf_, &vbuf_, &y_, &o_, &g_, &u_, &router_, &probs_,
                        &expert_out_, &xe_, &ge_, &ue_, &de_, &sel_w_}) {
    n += v->capacity() * sizeof(float);
  }
  n += sel_idx_.capacity() * sizeof(int32_t) + group_slots_.capacity() * sizeof(int64_t) +
       act_scratch_.capacity();
  return n;
}

// y[t][r] = W_slab[r] . x[t] for all rows r; rows are split across the pool.
void Lfm2Model::matmul(const Weight& w, int64_t slab, const float* x, int64_t ldx, int64_t n_tok,
                       float* y, int64_t ldy) {
  std::vector<MatJob> one{MatJob{&w, slab, x, ldx, n_tok, y, ldy}};
  matmul_jobs(one);
}

// Shares of units_ for n_workers threads, each share's last unit cut into kTailCuts pieces of
// whole 16-row steps: the thread that finishes first then waits for a piece of the other's work
// (~3 us) rather than a whole ~512 KiB unit (~25 us on one core). Time waiting in the pool during
// decode (perf): 350M 10.5 -> 6.2 % of all samples, 8B-A1B 10.3 -> 6.9 % of kernel samples.
void Lfm2Model::split_tails(int n_workers) {
  const size_t n = units_.size();
  tail_split_.clear();
  for (int w = 0; w < n_workers; ++w) {
    const size_t lo = n * w / n_workers, hi = n * (w + 1) / n_workers;
    const uint64_t first = tail_split_.size();
    for (size_t u = lo; u < hi; ++u) {
      const RowUnit ru = units_[u];
      const int64_t rows = ru.r1 - ru.r0;
      const int64_t piece =
          u + 1 == hi ? std::max<int64_t>(16, (rows / kTailCuts + 15) / 16 * 16) : rows;
      for (int64_t r = ru.r0; r < ru.r1; r += piece)
        tail_split_.push_back({ru.job, r, std::min(ru.r1, r + piece)});
    }
    shares_[w].store(first | (static_cast<uint64_t>(tail_split_.size()) << 32),
                     std::memory_order_relaxed);
  }
  units_.swap(tail_split_);
}

void Lfm2Model::matmul_jobs(const std::vector<MatJob>& jobs,
                            const std::function<void(size_t, int64_t, int64_t)>& after) {
  const kernels::KernelTable& K = *ctx_.kernels;
  const size_t nj = jobs.size();
  // Activations of every job prepared up front (serially; they are small next to the weights).
  std::vector<size_t> off(nj, 0);
  size_t total = 0;
  for (size_t j = 0; j < nj; ++j) {
    if (jobs[j].same_acts_as_prev && j > 0) continue;
    off[j] = total;
    total += (K.acts_bytes(jobs[j].w->type, jobs[j].w->n_in, jobs[j].n_tok) + 63) / 64 * 64;
  }
  if (act_scratch_.size() < total + 64) act_scratch_.resize(total + 64);
  auto addr = reinterpret_cast<uintptr_t>(act_scratch_.data());
  uint8_t* base = act_scratch_.data() + ((64 - addr % 64) % 64);  // 64-byte aligned for vector loads
  job_acts_.resize(nj);
  for (size_t j = 0; j < nj; ++j) {
    const MatJob& m = jobs[j];
    if (m.same_acts_as_prev && j > 0) {
      job_acts_[j] = job_acts_[j - 1];
      continue;
    }
    kernels::PreparedActs& a = job_acts_[j];
    a = kernels::PreparedActs{};
    a.x = m.x;
    a.ldx = m.ldx;
    a.n_in = m.w->n_in;
    a.n_tok = m.n_tok;
    const size_t stride = kernels::acts_tok_stride(K, m.w->type, m.w->n_in);
    if (stride == 0) continue;
    // Tokens split over the pool (a serial prepare left the other core idle for ~7 % of a
    // 350M prefill); the halves are the bytes of one whole prepare (kernels.h).
    for_rows(m.n_tok, [&](int64_t t0, int64_t t1) {
      kernels::PreparedActs part = a;
      part.x = a.x + t0 * a.ldx;
      part.n_tok = t1 - t0;
      K.prepare_acts(m.w->type, part, base + off[j] + t0 * stride);
    });
    a.q = base + off[j];  // 64-byte aligned, so where prepare_acts puts token 0
  }
  // Units: multiples of 16 rows (kernels::kRepackRows divides 16), ~matmul_unit_bytes each.
  units_.clear();
  for (size_t j = 0; j < nj; ++j) {
    if (jobs[j].rows_with_prev && j > 0) continue;  // covered by the units of job j - 1
    const Weight& w = *jobs[j].w;
    const bool paired = j + 1 < nj && jobs[j + 1].rows_with_prev;
    const size_t unit_bytes = w.row_bytes * (paired ? 2 : 1);
    const auto fit = static_cast<int64_t>(ctx_.matmul_unit_bytes / std::max<size_t>(1, unit_bytes));
    const int64_t rows = std::max<int64_t>(16, fit / 16 * 16);
    for (int64_t r = 0; r < w.n_out; r += rows) {
      units_.push_back({static_cast<uint32_t>(j), r, std::min(w.n_out, r + rows)});
    }
  }
  auto compute = [&](size_t j, int64_t r0, int64_t r1) {
    const MatJob& m = jobs[j];
    const Weight& w = *m.w;
    if (w.packed) {
      K.matmul_repacked(w.type, w.packed + static_cast<size_t>(m.slab) * w.packed_slab_bytes,
                        w.n_out, r0, r1, job_acts_[j], m.y, m.ldy);
    } else {
      K.matmul(w.type, w.slab(m.slab), w.row_bytes, r0, r1, job_acts_[j], m.y, m.ldy);
    }
  };
  auto run_unit = [&](size_t u) {
    const RowUnit& ru = units_[u];
    size_t j = ru.job;
    compute(j, ru.r0, ru.r1);
    if (j + 1 < nj && jobs[j + 1].rows_with_prev) compute(++j, ru.r0, ru.r1);
    if (after) after(j, ru.r0, ru.r1);
  };
  const int n_workers = ctx_.pool ? ctx_.pool->size() : 1;
  // Each worker owns a contiguous share of the units (long sequential weight streams) and takes
  // them from the front; a worker that runs out takes units from the back of another's share.
  // A share is one atomic word: low 32 bits = next unit, high 32 bits = end.
  if (n_workers > 1) {
    if (static_cast<int>(shares_.size()) < n_workers)
      shares_ = std::vector<std::atomic<uint64_t>>(n_workers);
    split_tails(n_workers);
  }
  // Inline only when there is nothing to share after the cut: a lone unit of over 16 rows (the F32
  // MoE router, 256-512 KiB) is cut in 16-row pieces and both cores take part.
  if (n_workers <= 1 || units_.size() <= 1) {
    for (size_t u = 0; u < units_.size(); ++u) run_unit(u);
    return;
  }
  auto take_front = [&](std::atomic<uint64_t>& sh, uint64_t* u) {
    uint64_t v = sh.load(std::memory_order_relaxed);
    while ((v & 0xffffffffu) < (v >> 32)) {
      if (sh.compare_exchange_weak(v, v + 1, std::memory_order_relaxed)) {
        *u = v & 0xffffffffu;
        return true;
      }
    }
    return false;
  };
  auto take_back = [&](std::atomic<uint64_t>& sh, uint64_t* u) {
    uint64_t v = sh.load(std::memory_order_relaxed);
    while ((v & 0xffffffffu) < (v >> 32)) {
      const uint64_t hi = (v >> 32) - 1;
      if (sh.compare_exchange_weak(v, (v & 0xffffffffu) | (hi << 32), std::memory_order_relaxed)) {
        *u = hi;
        return true;
      }
    }
    return false;
  };
  ctx_.pool->run_shared([&](int worker) {
    uint64_t u;
    while (take_front(shares_[worker], &u)) run_unit(u);
    for (int k = 1; k < n_workers; ++k) {
      std::atomic<uint64_t>& other = shares_[(worker + k) % n_workers];
      while (take_back(other, &u)) run_unit(u);
    }
  });
}

void Lfm2Model::conv_block(const Layer& L, int64_t il, const Batch& b) {
  const kernels::KernelTable& K = *ctx_.kernels;
  const int64_t D = hp_.n_embd, T = static_cast<int64_t>(b.size()), Lc = hp_.conv_l_cache;
  matmul(L.in_proj, 0, a_.data(), D, T, wide_.data(), 3 * D);  // [T][B | C | x]
  // Snapshot rows looked up serially (the lookup may allocate); then the tokens in order, the
  // channels split over the pool (depthwise: a channel never reads another's state).
  conv_snaps_.resize(static_cast<size_t>(T));
  for (int64_t t = 0; t < T; ++t) conv_snaps_[t] = b.seq[t]->snapshot_rows(b.pos[t] + 1, il);
  auto channels = [&](int64_t c0, int64_t c1) {
    const int64_t n = c1 - c0;
    std::vector<float> bx(static_cast<size_t>(n)), conv(static_cast<size_t>(n));
    std::vector<const float*> hist(Lc - 1);
    for (int64_t t = 0; t < T; ++t) {
      const float* B = wide_.data() + t * 3 * D + c0;
      const float* C = B + D;
      const float* X = B + 2 * D;
      for (int64_t c = 0; c < n; ++c) bx[c] = B[c] * X[c];
      float* state = b.seq[t]->layers()[il].conv.data();  // [L-1][D], oldest first
      for (int64_t k = 0; k < Lc - 1; ++k) hist[k] = state + k * D + c0;
      K.conv_step(hist.data(), bx.data(), L.conv_kernel.data() + c0 * Lc, Lc, n, conv.data());
      float* y = y_.data() + t * D + c0;
      for (int64_t c = 0; c < n; ++c) y[c] = C[c] * conv[c];
      // Shift the window: drop the oldest row, append this token's B*x.
      for (int64_t k = 0; k + 1 < Lc - 1; ++k) std::memcpy(state + k * D + c0, state + (k + 1) * D + c0, sizeof(float) * n);
      std::memcpy(state + (Lc - 2) * D + c0, bx.data(), sizeof(float) * n);
      // Keep the rows at snapshot points so a copy of this sequence can resume there exactly.
      if (float* snap = conv_snaps_[t])
        for (int64_t k = 0; k < Lc - 1; ++k) std::memcpy(snap + k * D + c0, state + k * D + c0, sizeof(float) * n);
    }
  };
  if (T >= kParallelRows) for_rows(D, channels, 16); else channels(0, D);
  matmul(L.out_proj, 0, y_.data(), D, T, o_.data(), D);
}

void Lfm2Model::attention_block(const Layer& L, int64_t il, const Batch& b) {
  const kernels::KernelTable& K = *ctx_.kernels;
  const int64_t D = hp_.n_embd, T = static_cast<int64_t>(b.size()), hd = hp_.head_dim;
  const int64_t Hq = hp_.n_head, Hkv = hp_.n_head_kv[il], qd = Hq * hd, kvd = Hkv * hd;
  const int64_t group = Hq / Hkv;
  float* q = wide_.data();
  jobs_.clear();
  jobs_.push_back({&L.wq, 0, a_.data(), D, T, q, qd});
  jobs_.push_back({&L.wk, 0, a_.data(), D, T, kbuf_.data(), kvd, L.wk.type == L.wq.type});
  jobs_.push_back({&L.wv, 0, a_.data(), D, T, vbuf_.data(), kvd, L.wv.type == L.wk.type});
  matmul_jobs(jobs_);
  // Per token: q/k norms, RoPE, K and V rows into the cache (distinct rows: tokens split over the pool).
  for_rows(T, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      float* qt = q + t * qd;
      float* kt = kbuf_.data() + t * kvd;
      for (int64_t h = 0; h < Hq; ++h) K.rmsnorm(qt + h * hd, L.q_norm.data(), hd, hp_.norm_eps, qt + h * hd);
      for (int64_t h = 0; h < Hkv; ++h) K.rmsnorm(kt + h * hd, L.k_norm.data(), hd, hp_.norm_eps, kt + h * hd);
      K.rope_neox(qt, Hq, hd, b.pos[t], hp_.rope_freq_base);
      K.rope_neox(kt, Hkv, hd, b.pos[t], hp_.rope_freq_base);
      SequenceState::Layer& cache = b.seq[t]->layers()[il];
      const kernels::KvType kv_type = b.seq[t]->kv_type();
      for (int64_t h = 0; h < Hkv; ++h) {
        kernels::kv_store_row(kv_type, kt + h * hd, cache.head_row(cache.k, b.pos[t], h), hd);
        kernels::kv_store_row(kv_type, vbuf_.data() + t * kvd + h * hd, cache.head_row(cache.v, b.pos[t], h), hd);
      }
    }
  });
  // All keys of the batch are in the caches now; each token attends to positions <= its own.
  attn_n_kv_.resize(T);
  for (int64_t t = 0; t < T; ++t) attn_n_kv_[t] = b.pos[t] + 1;
  plan_attention_tiles(b, Hkv);
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  auto run_tile = [&](const AttnItem& it) {
    const SequenceState::Layer& cache = b.seq[it.t0]->layers()[il];
    kernels::AttnTile tile;
    tile.q = q + it.t0 * qd + it.kv_head * group * hd;
    tile.ld_q = qd;
    tile.n_kv = attn_n_kv_.data() + it.t0;
    tile.n_tok = it.n_tok;
    tile.group = group;
    tile.head_dim = hd;
    tile.kv_type = b.seq[it.t0]->kv_type();
    // Head-major blocks (model.h): this head's rows are contiguous in each block.
    tile.k_blocks = cache.k_heads.data() + it.kv_head * cache.max_blocks;
    tile.v_blocks = cache.v_heads.data() + it.kv_head * cache.max_blocks;
    tile.row_bytes = cache.head_bytes;
    tile.head_offset = 0;
    tile.scale = scale;
    tile.out = y_.data() + it.t0 * qd + it.kv_head * group * hd;
    tile.ld_out = qd;
    K.attention_tile(tile);
  };
  const int64_t n_items = static_cast<int64_t>(attn_items_.size());
  if (ctx_.pool && ctx_.pool->size() > 1 && n_items > 1) {
    // Largest tiles first, taken one by one: each row's result does not depend on its tile or on
    // which thread runs it (kernels.h attention_tile), only the load balance does.
    std::atomic<int64_t> next{0};
    ctx_.pool->run_shared([&](int) {
      for (int64_t i; (i = next.fetch_add(1, std::memory_order_relaxed)) < n_items;) run_tile(attn_items_[i]);
    });
  } else {
    for (const AttnItem& it : attn_items_) run_tile(it);
  }
  matmul(L.wo, 0, y_.data(), qd, T, o_.data(), D);
}

// Work items of attention: runs of consecutive batch tokens of one sequence, cut into tiles of
// kAttnTileTokens, times the KV heads; sorted by cost (tokens x keys), largest first.
void Lfm2Model::plan_attention_tiles(const Batch& b, int64_t n_kv_heads) {
  attn_items_.clear();
  const int64_t T = static_cast<int64_t>(b.size());
  for (int64_t t0 = 0; t0 < T;) {
    int64_t n = 1;
    while (t0 + n < T && n < kAttnTileTokens && b.seq[t0 + n] == b.seq[t0]) ++n;
    int64_t keys = 0;
    for (int64_t t = t0; t < t0 + n; ++t) keys = std::max(keys, attn_n_kv_[t]);
    for (int64_t h = 0; h < n_kv_heads; ++h) attn_items_.push_back({t0, n, h, n * keys});
    t0 += n;
  }
  std::stable_sort(attn_items_.begin(), attn_items_.end(),
                   [](const AttnItem& x, const AttnItem& y) { return x.cost > y.cost; });
}

void Lfm2Model::dense_ffn(const Layer& L, int64_t T) {
  const int64_t D = hp_.n_embd, F = hp_.n_ff;
  // In pieces of kDenseFfnPiece tokens: the [T][F] gate/up buffers of a whole 512-token chunk
  // would be 46 MiB for the 24B-A2B shape, and results do not depend on how tokens are grouped.
  for (int64_t t0 = 0; t0 < T; t0 += kDenseFfnPiece) {
    const int64_t n = std::min(kDenseFfnPiece, T - t0);
    const float* a = a_.data() + t0 * D;
    jobs_.clear();
    jobs_.push_back({&L.ffn_gate, 0, a, D, n, g_.data(), F});
    jobs_.push_back({&L.ffn_up, 0, a, D, n, u_.data(), F, L.ffn_up.type == L.ffn_gate.type, true});
    // SwiGLU on each unit of rows as soon as its gate and up rows are done.
    matmul_jobs(jobs_, [&](size_t j, int64_t r0, int64_t r1) {
      if (j != 1) return;
      for (int64_t t = 0; t < n; ++t) ctx_.kernels->swiglu(g_.data() + t * F + r0, u_.data() + t * F + r0, r1 - r0, g_.data() + t * F + r0);
    });
    matmul(L.ffn_down, 0, g_.data(), F, n, o_.data() + t0 * D, D);
  }
}

// Experts [e0, e1) of a MoE layer for their routed (token, slot) rows: y rows into expert_out_.
// Rows of xe_/ge_/ue_/de_ are grouped by expert (at most max_batch in all).
void Lfm2Model::moe_expert_group(const Layer& L, const std::vector<std::vector<int64_t>>& routed, int64_t e0,
                                 int64_t e1) {
  const kernels::KernelTable& K = *ctx_.kernels;
  const int64_t D = hp_.n_embd, k_used = hp_.n_expert_used, Fe = hp_.n_ff_exp;
  struct Span { int64_t e, base, n; };
  std::vector<Span> spans;
  std::vector<int64_t>& slot_of_row = group_slots_;
  slot_of_row.clear();
  for (int64_t e = e0; e < e1; ++e) {
    if (routed[e].empty()) continue;
    spans.push_back(
        {e, static_cast<int64_t>(slot_of_row.size()), static_cast<int64_t>(routed[e].size())});
    slot_of_row.insert(slot_of_row.end(), routed[e].begin(), routed[e].end());
  }
  if (spans.empty()) return;
  // Gather and (below) scatter over the pool: a prefill chunk moves ~16 MiB each way per layer.
  const auto n_rows = static_cast<int64_t>(slot_of_row.size());
  for_rows(n_rows, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r)
      std::memcpy(xe_.data() + r * D, a_.data() + (slot_of_row[r] / k_used) * D, sizeof(float) * D);
  });
  jobs_.clear();
  for (const Span& sp : spans) {
    jobs_.push_back({&L.gate_exps, sp.e, xe_.data() + sp.base * D, D, sp.n, ge_.data() + sp.base * Fe, Fe});
    jobs_.push_back({&L.up_exps, sp.e, xe_.data() + sp.base * D, D, sp.n,
                     ue_.data() + sp.base * Fe, Fe, L.up_exps.type == L.gate_exps.type, true});
  }
  matmul_jobs(jobs_, [&](size_t j, int64_t r0, int64_t r1) {
    if (j % 2 != 1) return;
    const Span& sp = spans[j / 2];
    for (int64_t r = sp.base; r < sp.base + sp.n; ++r) {
      K.swiglu(ge_.data() + r * Fe + r0, ue_.data() + r * Fe + r0, r1 - r0, ge_.data() + r * Fe + r0);
    }
  });
  jobs_.clear();
  for (const Span& sp : spans) {
    jobs_.push_back({&L.down_exps, sp.e, ge_.data() + sp.base * Fe, Fe, sp.n, de_.data() + sp.base * D, D});
  }
  matmul_jobs(jobs_);
  for_rows(n_rows, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r)
      std::memcpy(expert_out_.data() + slot_of_row[r] * D, de_.data() + r * D, sizeof(float) * D);
  });
}

void Lfm2Model::moe_ffn(const Layer& L, int64_t T) {
  const kernels::KernelTable& K = *ctx_.kernels;
  const int64_t D = hp_.n_embd, E = hp_.n_expert, k_used = hp_.n_expert_used;
  matmul(L.router, 0, a_.data(), D, T, router_.data(), E);
  K.sigmoid(router_.data(), T * E, probs_.data());
  // Select experts by sigmoid + bias; weight them by the unbiased sigmoid, renormalised.
  std::vector<int32_t> order(E);
  std::vector<float> sel(E);
  for (int64_t t = 0; t < T; ++t) {
    const float* p = probs_.data() + t * E;
    for (int64_t e = 0; e < E; ++e) sel[e] = p[e] + L.exp_bias[e];
    std::iota(order.begin(), order.end(), 0);
    std::partial_sort(order.begin(), order.begin() + k_used, order.end(),
                      [&](int32_t a, int32_t c) { return sel[a] > sel[c] || (sel[a] == sel[c] && a < c); });
    double sum = 0;
    for (int64_t k = 0; k < k_used; ++k) sum += p[order[k]];
    const float denom = std::max(static_cast<float>(sum), 6.103515625e-5f);
    for (int64_t k = 0; k < k_used; ++k) {
      float w = p[order[k]] / denom;
      if (hp_.expert_weights_scale != 0.0f && hp_.expert_weights_scale != 1.0f) w *= hp_.expert_weights_scale;
      sel_idx_[t * k_used + k] = order[k];
      sel_w_[t * k_used + k] = w;
    }
  }
  // Group (token, slot) pairs by expert so each selected expert's weights are read once.
  std::vector<std::vector<int64_t>> routed(E);
  for (int64_t i = 0; i < T * k_used; ++i) routed[sel_idx_[i]].push_back(i);
  // Experts in groups of at most max_batch routed rows (the rows xe_/ge_/ue_/de_ hold; one
  // expert has at most T <= max_batch), each group in two parallel regions (gate+up+SwiGLU, down)
  // instead of three per expert: a decode step is one group; a 24-96-token chunk of the 8B-A1B
  // shape ran 1.7-3.6x faster so than expert by expert on a loaded machine.
  for (int64_t e0 = 0; e0 < E;) {
    int64_t e1 = e0, rows = 0;
    while (e1 < E && rows + static_cast<int64_t>(routed[e1].size()) <= ctx_.max_batch) rows += static_cast<int64_t>(routed[e1++].size());
    moe_expert_group(L, routed, e0, e1);
    e0 = e1;
  }
  // o[t] = ((y0*w0 + y1*w1) + y2*w2) + ...  (slot order, as llama.cpp adds them); tokens over the
  // pool.
  for_rows(T, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      float* o = o_.data() + t * D;
      for (int64_t k = 0; k < k_used; ++k) {
        const float w = sel_w_[t * k_used + k];
        const float* y = expert_out_.data() + (t * k_used + k) * D;
        if (k == 0) {
          for (int64_t c = 0; c < D; ++c) o[c] = y[c] * w;
        } else {
          for (int64_t c = 0; c < D; ++c) {
            const float yw = y[c] * w;
            o[c] = o[c] + yw;
          }
        }
      }
    }
  });
}

void Lfm2Model::forward(const Batch& b, float* logits) {
  const kernels::KernelTable& K = *ctx_.kernels;
  const int64_t T = static_cast<int64_t>(b.size()), D = hp_.n_embd;
  if (T == 0) return;
  if (T > ctx_.max_batch) throw std::invalid_argument("batch of " + std::to_string(T) + " tokens exceeds max_batch " + std::to_string(ctx_.max_batch));
  // Validate positions and make room in every touched sequence before any state changes.
  std::vector<std::pair<SequenceState*, int64_t>> next;  // sequence -> next expected position
  for (int64_t t = 0; t < T; ++t) {
    if (b.tokens[t] < 0 || b.tokens[t] >= hp_.n_vocab) throw std::invalid_argument("token id " + std::to_string(b.tokens[t]) + " is outside the vocabulary");
    auto it = std::find_if(next.begin(), next.end(), [&](auto& p) { return p.first == b.seq[t]; });
    int64_t expect = it == next.end() ? b.seq[t]->n_past() : it->second;
    if (b.pos[t] != expect) throw std::invalid_argument("token position " + std::to_string(b.pos[t]) + " does not continue its sequence (expected " + std::to_string(expect) + ")");
    if (it == next.end()) next.emplace_back(b.seq[t], expect + 1); else it->second = expect + 1;
  }
  for (auto& [s, n] : next) s->reserve(n);

  for (int64_t t = 0; t < T; ++t) {
    const uint8_t* row = tok_embd_.data + tok_embd_.row_bytes * b.tokens[t];
    if (embd_from_packed()) {  // tied output, repacked: its mapped pages were dropped
      embd_row_.resize(tok_embd_.row_bytes);
      kernels::unpack_repacked_row(output_.type, output_.packed, D, hp_.n_vocab, b.tokens[t], embd_row_.data());
      row = embd_row_.data();
    }
    kernels::dequantize_row(tok_embd_.type, row, x_.data() + t * D, D);
  }
  // x += o (the block's output) then a = rmsnorm(x), token by token over the pool.
  auto residual_norm = [&](const std::vector<float>& w, bool add) {
    for_rows(T, [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; ++t) {
        float* x = x_.data() + t * D;
        if (add) for (int64_t i = 0; i < D; ++i) x[i] = x[i] + o_[t * D + i];
        K.rmsnorm(x, w.data(), D, hp_.norm_eps, a_.data() + t * D);
      }
    });
  };
  for (int64_t il = 0; il < hp_.n_layer; ++il) {
    const Layer& L = layers_[il];
    if (il == 0) residual_norm(L.attn_norm, false);
    if (hp_.is_attention(il)) attention_block(L, il, b); else conv_block(L, il, b);
    residual_norm(L.ffn_norm, true);
    if (hp_.is_moe(il)) moe_ffn(L, T); else dense_ffn(L, T);
    if (il + 1 < hp_.n_layer) residual_norm(layers_[il + 1].attn_norm, true);
  }
  for (int64_t i = 0; i < T * D; ++i) x_[i] = x_[i] + o_[i];
  for (auto& [s, n] : next) s->set_n_past(n);

  int64_t n_out = 0;
  for (int64_t t = 0; t < T; ++t) {
    if (!b.want_logits[t]) continue;
    K.rmsnorm(x_.data() + t * D, output_norm_.data(), D, hp_.norm_eps, a_.data() + n_out * D);
    ++n_out;
  }
  if (n_out > 0) matmul(output_, 0, a_.data(), D, n_out, logits, hp_.n_vocab);
}

}  // namespace

std::unique_ptr<Model> make_lfm2(const gguf::Reader& f, const Hparams& hp, const ForwardContext& ctx) {
  return std::make_unique<Lfm2Model>(f, hp, ctx);
}

}  // namespace lfmd
