// AVX2 KernelTable: matmul dispatch, tile walking, and the small ops (attention vectorized,
// the rest shared with the scalar reference for now).
#include <algorithm>
#include <cmath>
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
  switch (ref::act_quant_for(wt)) {
    case ref::ActQuant::Q8_0: return q8_0_acts_bytes(n_in, n_tok);
    case ref::ActQuant::Q8_K: return q8_K_acts_bytes(n_in, n_tok);
    case ref::ActQuant::None: return 0;
  }
  return 0;
}

void prepare_acts(DType wt, PreparedActs& acts, void* scratch) {
  switch (ref::act_quant_for(wt)) {
    case ref::ActQuant::Q8_0: q8_0_prepare(acts, scratch); return;
    case ref::ActQuant::Q8_K: q8_K_prepare(acts, scratch); return;
    case ref::ActQuant::None: return;
  }
}

void matmul(DType wt, const void* w, size_t w_row_bytes, int64_t r0, int64_t r1,
            const PreparedActs& acts, float* y, int64_t ldy) {
  if (r1 <= r0 || acts.n_tok <= 0) return;
  const PreparedActs* a = &acts;
  PreparedActs own;
  if (acts.q == nullptr) {
    if (const size_t need = acts_bytes(wt, acts.n_in, acts.n_tok); need > 0) {
      // Not prepared by the caller: quantize privately (same result, repeated per call).
      thread_local std::vector<uint8_t> scratch;
      scratch.resize(need);
      own = acts;
      prepare_acts(wt, own, scratch.data());
      a = &own;
    }
  }
  const MatCtx c{static_cast<const uint8_t*>(w), w_row_bytes, a, a->q, y, ldy};
  switch (ref::act_quant_for(wt)) {
    case ref::ActQuant::Q8_0: matmul_q8_0(wt, c, r0, r1); return;
    case ref::ActQuant::Q8_K: matmul_kquant(wt, c, r0, r1); return;
    case ref::ActQuant::None: matmul_float(wt, c, r0, r1); return;
  }
}

void matmul_repacked_entry(DType wt, const void* w, int64_t n_rows, int64_t r0, int64_t r1,
                           const PreparedActs& acts, float* y, int64_t ldy) {
  if (r1 <= r0 || acts.n_tok <= 0) return;
  const PreparedActs* a = &acts;
  PreparedActs own;
  if (acts.q == nullptr) {
    thread_local std::vector<uint8_t> scratch;
    scratch.resize(acts_bytes(wt, acts.n_in, acts.n_tok));
    own = acts;
    prepare_acts(wt, own, scratch.data());
    a = &own;
  }
  const MatCtx c{static_cast<const uint8_t*>(w), row_bytes(wt, acts.n_in), a, a->q, y, ldy};
  matmul_repacked(wt, c, n_rows, r0, r1);
}

// One head of causal attention. The summation orders mirror llama.cpp's x86 CPU path so that
// on random models (which amplify rounding) lfmd stays as close to it as its own paths are:
//   scores_j = q . k_j with four 8-lane accumulators over 32-element steps (ggml's f32 dot),
//   softmax with the vectorized exp in 8-lane chunks, chunk sums added in double,
//   out[d] = sum_j p_j v_j[d] with lane (j mod 8) accumulators reduced like a 256-bit hsum.
void attention_head(const float* q, const float* k, const float* v, int64_t ld, int64_t n_kv,
                    int64_t head_dim, float scale, float* scores, float* out) {
  const int64_t hd32 = head_dim & ~int64_t{31};
  for (int64_t j = 0; j < n_kv; ++j) {
    const float* kj = k + j * ld;
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    for (int64_t d = 0; d < hd32; d += 32) {
      for (int a = 0; a < 4; ++a)
        acc[a] = _mm256_fmadd_ps(_mm256_loadu_ps(kj + d + 8 * a), _mm256_loadu_ps(q + d + 8 * a), acc[a]);
    }
    float s = hsum_pairwise4(acc);
    for (int64_t d = hd32; d < head_dim; ++d) s += kj[d] * q[d];
    scores[j] = s * scale;
  }
  float mx = -INFINITY;
  for (int64_t j = 0; j < n_kv; ++j) mx = std::fmax(mx, scores[j]);
  double sum = 0.0;
  const __m256 vmx = _mm256_set1_ps(mx);
  int64_t j = 0;
  for (; j < n_kv; j += 8) {
    const int64_t m = std::min<int64_t>(8, n_kv - j);
    alignas(32) float buf[8];
    for (int64_t l = 0; l < 8; ++l) buf[l] = l < m ? scores[j + l] : -INFINITY;
    // Lanes past n_kv stand for masked positions: exp(-inf) = 0 adds nothing to the sum.
    __m256 e = exp8(_mm256_sub_ps(_mm256_load_ps(buf), vmx));
    e = _mm256_blendv_ps(_mm256_setzero_ps(), e,
                         _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(m)),
                                                                _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7))));
    _mm256_store_ps(buf, e);
    for (int64_t l = 0; l < m; ++l) scores[j + l] = buf[l];
    sum += static_cast<double>(hsum(e));
  }
  const float inv = static_cast<float>(1.0 / sum);
  for (int64_t i = 0; i < n_kv; ++i) scores[i] *= inv;
  // out[d]: eight accumulators per block of 8 dims, one per (j mod 8), reduced as hsum does:
  // ((a0 + a4) + (a2 + a6)) + ((a1 + a5) + (a3 + a7)).
  int64_t d0 = 0;
  for (; d0 + 8 <= head_dim; d0 += 8) {
    __m256 a[8];
    for (int l = 0; l < 8; ++l) a[l] = _mm256_setzero_ps();
    for (int64_t jj = 0; jj < n_kv; ++jj) {
      a[jj & 7] = _mm256_fmadd_ps(_mm256_loadu_ps(v + jj * ld + d0), _mm256_set1_ps(scores[jj]), a[jj & 7]);
    }
    const __m256 r = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(a[0], a[4]), _mm256_add_ps(a[2], a[6])),
                                   _mm256_add_ps(_mm256_add_ps(a[1], a[5]), _mm256_add_ps(a[3], a[7])));
    _mm256_storeu_ps(out + d0, r);
  }
  for (; d0 < head_dim; ++d0) {
    float a[8] = {};
    for (int64_t jj = 0; jj < n_kv; ++jj) a[jj & 7] = std::fma(v[jj * ld + d0], scores[jj], a[jj & 7]);
    out[d0] = ((a[0] + a[4]) + (a[2] + a[6])) + ((a[1] + a[5]) + (a[3] + a[7]));
  }
}

// Q4_0 is repacked (its interleaved kernel sums as llama.cpp's repacked AVX2 Q4_0 path does), and
// so is Q4_K (llama.cpp repacks it too, into its own order; integer sums are exact, only the float
// accumulation differs). Q8_0 keeps the file layout, whose kernel is bit-identical to ggml's AVX2
// Q8_0 dot (llama.cpp does not repack Q8_0 on x86, so a repacked order would leave its oracle for
// no reason but speed).
size_t repack_bytes(DType wt, int64_t n_in, int64_t n_rows) {
  return wt == DType::Q4_0 || wt == DType::Q4_K ? ref::repack_bytes(wt, n_in, n_rows) : 0;
}

const KernelTable kTable{
    Isa::Avx2,     acts_bytes,   prepare_acts,   matmul,
    repack_bytes, ref::repack, matmul_repacked_entry,  ref::rmsnorm,
    ref::rope_neox, ref::softmax, swiglu,        ref::sigmoid,   conv_step,
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
