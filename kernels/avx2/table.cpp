// AVX2 KernelTable: matmul dispatch, tile walking, and the small ops (attention vectorized,
// the rest shared with the scalar reference for now).
#include <algorithm>
#include <vector>

#include "kernels/avx2/common.h"

namespace lfmd::kernels::avx2 {

void run_tiles(const TileSet& tiles, const MatCtx& c, int64_t r0, int64_t r1, int64_t n_tok) {
  if (n_tok == 1) {
    int64_t r = r0;
    const int nr = tiles.decode_nr;
    for (; r + nr <= r1; r += nr) tiles.fn[nr - 1][0](c, r, 0);
    for (; r < r1; ++r) tiles.fn[0][0](c, r, 0);
    return;
  }
  // Rows in chunks of ~128 KiB of weights, so they stay in L2 while every token group reads them.
  const int64_t chunk =
      std::clamp<int64_t>(static_cast<int64_t>((128u << 10) / std::max<size_t>(c.rb, 1)), 8, 1024) & ~int64_t{3};
  for (int64_t rc = r0; rc < r1; rc += chunk) {
    const int64_t re = std::min(r1, rc + chunk);
    for (int64_t t0 = 0; t0 < n_tok; t0 += tiles.multi_nt) {
      const int nt = static_cast<int>(std::min<int64_t>(tiles.multi_nt, n_tok - t0));
      const int nr = tiles.multi_nr;
      int64_t r = rc;
      for (; r + nr <= re; r += nr) tiles.fn[nr - 1][nt - 1](c, r, t0);
      for (; r < re; ++r) tiles.fn[0][nt - 1](c, r, t0);
    }
  }
}

namespace {

size_t acts_bytes(DType wt, int64_t n_in, int64_t n_tok) {
  if (wt == DType::F16 || wt == DType::BF16) return static_cast<size_t>(n_in * n_tok) * sizeof(float);
  switch (ref::act_quant_for(wt)) {
    case ref::ActQuant::Q8_0: return q8_0_acts_bytes(n_in, n_tok);
    case ref::ActQuant::Q8_K: return q8_K_acts_bytes(n_in, n_tok);
    case ref::ActQuant::None: return 0;
  }
  return 0;
}

void prepare_acts(DType wt, PreparedActs& acts, void* scratch) {
  if (wt == DType::F16 || wt == DType::BF16) {
    round_acts_to_half(wt, acts, static_cast<float*>(scratch));
    return;
  }
  switch (ref::act_quant_for(wt)) {
    case ref::ActQuant::Q8_0: q8_0_prepare(acts, scratch); return;
    case ref::ActQuant::Q8_K: q8_K_prepare(acts, scratch); return;
    case ref::ActQuant::None: return;
  }
}

void matmul(DType wt, const void* w, size_t w_row_bytes, int64_t r0, int64_t r1,
            const PreparedActs& acts, float* y, int64_t ldy) {
  if (r1 <= r0 || acts.n_tok <= 0) return;
  if ((wt == DType::F16 || wt == DType::BF16) && acts.q == nullptr) {
    // Not prepared: round the activations privately (same result, slower).
    thread_local std::vector<float> rounded;
    rounded.resize(static_cast<size_t>(acts.n_in * acts.n_tok));
    PreparedActs own = acts;
    round_acts_to_half(wt, own, rounded.data());
    matmul_float(wt, MatCtx{static_cast<const uint8_t*>(w), w_row_bytes, &own, own.q, y, ldy}, r0, r1);
    return;
  }
  const MatCtx c{static_cast<const uint8_t*>(w), w_row_bytes, &acts, acts.q, y, ldy};
  switch (ref::act_quant_for(wt)) {
    case ref::ActQuant::Q8_0: matmul_q8_0(wt, c, r0, r1); return;
    case ref::ActQuant::Q8_K: matmul_kquant(wt, c, r0, r1); return;
    case ref::ActQuant::None: matmul_float(wt, c, r0, r1); return;
  }
}

// scores_j = q . k_j (8-wide FMA), softmax as the reference, out = sum_j p_j v_j (FMA over hd).
void attention_head(const float* q, const float* k, const float* v, int64_t ld, int64_t n_kv,
                    int64_t head_dim, float scale, float* scores, float* out) {
  const int64_t hd8 = head_dim & ~int64_t{7};
  for (int64_t j = 0; j < n_kv; ++j) {
    const float* kj = k + j * ld;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t d = 0; d < hd8; d += 8)
      acc = _mm256_fmadd_ps(_mm256_loadu_ps(q + d), _mm256_loadu_ps(kj + d), acc);
    float s = hsum(acc);
    for (int64_t d = hd8; d < head_dim; ++d) s += q[d] * kj[d];
    scores[j] = s;
  }
  ref::softmax(scores, n_kv, scale);
  for (int64_t d = 0; d < head_dim; ++d) out[d] = 0.0f;
  // Blocks of 32 output dims held in registers across all j.
  int64_t d0 = 0;
  for (; d0 + 32 <= head_dim; d0 += 32) {
    __m256 o0 = _mm256_setzero_ps(), o1 = o0, o2 = o0, o3 = o0;
    for (int64_t j = 0; j < n_kv; ++j) {
      const float* vj = v + j * ld + d0;
      const __m256 p = _mm256_set1_ps(scores[j]);
      o0 = _mm256_fmadd_ps(p, _mm256_loadu_ps(vj), o0);
      o1 = _mm256_fmadd_ps(p, _mm256_loadu_ps(vj + 8), o1);
      o2 = _mm256_fmadd_ps(p, _mm256_loadu_ps(vj + 16), o2);
      o3 = _mm256_fmadd_ps(p, _mm256_loadu_ps(vj + 24), o3);
    }
    _mm256_storeu_ps(out + d0, o0);
    _mm256_storeu_ps(out + d0 + 8, o1);
    _mm256_storeu_ps(out + d0 + 16, o2);
    _mm256_storeu_ps(out + d0 + 24, o3);
  }
  for (; d0 < head_dim; ++d0) {
    float s = 0.0f;
    for (int64_t j = 0; j < n_kv; ++j) s += scores[j] * v[j * ld + d0];
    out[d0] = s;
  }
}

const KernelTable kTable{
    Isa::Avx2,     acts_bytes,   prepare_acts,   matmul,         ref::rmsnorm,
    ref::rope_neox, ref::softmax, ref::swiglu,   ref::sigmoid,   ref::conv_step,
    attention_head,
};

}  // namespace

const KernelTable* table() { return &kTable; }

}  // namespace lfmd::kernels::avx2

namespace lfmd::kernels {

const KernelTable* avx2_table() {
  static const bool ok = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
           __builtin_cpu_supports("f16c");
  }();
  return ok ? avx2::table() : nullptr;
}

}  // namespace lfmd::kernels
