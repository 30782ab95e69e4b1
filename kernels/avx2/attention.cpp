// AVX2 tiled attention (kernels.h attention_tile). Key blocks outer, the tile's query rows inner:
// a block of kAttnKeyBlock K/V rows is read from memory once and then served from L1 to every
// row of the tile; an f16 / q8_0 cache's block is converted to f32 once per tile (attn_kv_rows)
// and then read as an f32 cache would be. Per row, the float operations (mirrored by
// kernels/neon/attention.cpp) are:
//   scores = scale * q.k_j, eight keys at a time reduced by a hadd tree (block_scores),
//   block max, alpha = exp8(old max - new max), exp8(score - max) in 8-lane chunks summed in
//   double, sum = fma(sum, alpha, block sum), acc = acc * alpha then fma(v_j, p_j, acc) in key
//   order; at the end out = acc * (1 / sum).
#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/avx2/common.h"

namespace lfmd::kernels::avx2 {

namespace {

constexpr int64_t kB = kAttnKeyBlock;
static_assert(kB % 8 == 0, "key blocks are walked in 8-lane chunks");

struct RowState {
  float mx = -INFINITY;  // running max of the scaled scores
  double sum = 0.0;      // running sum of exp(score - mx)
};

// s[i] = scale * q.k_i for the m keys of a block, eight keys at a time: one 8-lane accumulator
// per key over the dims (fma), the eight reduced together by a hadd tree (per key
// ((x0 + x1) + (x2 + x3)) + ((x4 + x5) + (x6 + x7)) of its lanes), then the dims past the last
// multiple of 8 by scalar fma. Lanes of keys past m repeat key m - 1 and are not used.
void block_scores(const float* q, const float* k, int64_t ld, int64_t m, int64_t hd, float scale,
                  float* s) {
  const int64_t hd8 = hd & ~int64_t{7};
  const __m256 vs = _mm256_set1_ps(scale);
  for (int64_t i0 = 0; i0 < m; i0 += 8) {
    const float* kr[8];
    for (int r = 0; r < 8; ++r) kr[r] = k + std::min<int64_t>(i0 + r, m - 1) * ld;
    __m256 acc[8];
    for (int r = 0; r < 8; ++r) acc[r] = _mm256_setzero_ps();
    for (int64_t d = 0; d < hd8; d += 8) {
      const __m256 qd = _mm256_loadu_ps(q + d);
      for (int r = 0; r < 8; ++r) acc[r] = _mm256_fmadd_ps(_mm256_loadu_ps(kr[r] + d), qd, acc[r]);
    }
    const __m256 u0 =
        _mm256_hadd_ps(_mm256_hadd_ps(acc[0], acc[1]), _mm256_hadd_ps(acc[2], acc[3]));
    const __m256 u1 =
        _mm256_hadd_ps(_mm256_hadd_ps(acc[4], acc[5]), _mm256_hadd_ps(acc[6], acc[7]));
    __m256 x =
        _mm256_add_ps(_mm256_permute2f128_ps(u0, u1, 0x20), _mm256_permute2f128_ps(u0, u1, 0x31));
    if (hd8 < hd) {
      alignas(32) float t[8];
      _mm256_store_ps(t, x);
      for (int r = 0; r < 8; ++r)
        for (int64_t d = hd8; d < hd; ++d) t[r] = std::fma(kr[r][d], q[d], t[r]);
      x = _mm256_load_ps(t);
    }
    _mm256_store_ps(s + i0, _mm256_mul_ps(x, vs));
  }
}

// acc[d0 .. d0 + 8 NR) = acc * alpha (zero on the first block) + sum_i p[i] v_i, i in key order.
template <int NR>
void accumulate_v(const float* v, int64_t ld, int64_t m, const float* p, bool first, __m256 alpha,
                  float* acc) {
  __m256 a[NR];
  for (int r = 0; r < NR; ++r)
    a[r] = first ? _mm256_setzero_ps() : _mm256_mul_ps(_mm256_loadu_ps(acc + 8 * r), alpha);
  for (int64_t i = 0; i < m; ++i) {
    const __m256 pi = _mm256_set1_ps(p[i]);
    const float* vi = v + i * ld;
    for (int r = 0; r < NR; ++r) a[r] = _mm256_fmadd_ps(_mm256_loadu_ps(vi + 8 * r), pi, a[r]);
  }
  for (int r = 0; r < NR; ++r) _mm256_storeu_ps(acc + 8 * r, a[r]);
}

void accumulate_all(const float* v, int64_t ld, int64_t m, int64_t hd, const float* p, bool first,
                    float alpha, float* acc) {
  const __m256 va = _mm256_set1_ps(alpha);
  const int64_t hd8 = hd & ~int64_t{7};
  // Up to 8 registers (64 dims) per pass, so each dim's chain runs over the block in registers.
  for (int64_t d0 = 0; d0 < hd8; d0 += 64) {
    switch (std::min<int64_t>(8, (hd8 - d0) / 8)) {
      case 1:
        accumulate_v<1>(v + d0, ld, m, p, first, va, acc + d0);
        break;
      case 2:
        accumulate_v<2>(v + d0, ld, m, p, first, va, acc + d0);
        break;
      case 3:
        accumulate_v<3>(v + d0, ld, m, p, first, va, acc + d0);
        break;
      case 4:
        accumulate_v<4>(v + d0, ld, m, p, first, va, acc + d0);
        break;
      case 5:
        accumulate_v<5>(v + d0, ld, m, p, first, va, acc + d0);
        break;
      case 6:
        accumulate_v<6>(v + d0, ld, m, p, first, va, acc + d0);
        break;
      case 7:
        accumulate_v<7>(v + d0, ld, m, p, first, va, acc + d0);
        break;
      default:
        accumulate_v<8>(v + d0, ld, m, p, first, va, acc + d0);
        break;
    }
  }
  for (int64_t d = hd8; d < hd; ++d) {
    float x = first ? 0.0f : acc[d] * alpha;
    for (int64_t i = 0; i < m; ++i) x = std::fma(v[i * ld + d], p[i], x);
    acc[d] = x;
  }
}

// One query row over keys [j0, j0 + m) of its block walk.
// The block's K or V rows as f32 (attn_kv_rows), f16 converted with F16C: exact, the same
// floats as fp16_to_fp32, at a fraction of the scalar conversion's cost.
const float* kv_rows(const AttnTile& a, const uint8_t* const* blocks, int64_t j0, int64_t m,
                     float* scratch, int64_t* ld) {
  if (a.kv_type != KvType::F16) return attn_kv_rows(a, blocks, j0, m, scratch, ld);
  const uint8_t* row0 =
      blocks[j0 / kKvBlockTokens] + (j0 % kKvBlockTokens) * a.row_bytes + a.head_offset;
  const int64_t hd = a.head_dim;
  for (int64_t i = 0; i < m; ++i) {
    const auto* s = reinterpret_cast<const uint16_t*>(row0 + i * a.row_bytes);
    float* d = scratch + i * hd;
    int64_t k = 0;
    for (; k + 8 <= hd; k += 8)
      _mm256_storeu_ps(d + k,
                       _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(s + k))));
    for (; k < hd; ++k) d[k] = fp16_to_fp32(s[k]);
  }
  *ld = hd;
  return scratch;
}

// kb / vb: the block's K / V rows as f32, ld floats apart (attn_kv_rows).
void row_block(const AttnTile& a, const float* q, const float* kb, int64_t ldk, const float* vb,
               int64_t ldv, int64_t j0, int64_t m, float* acc, RowState& st) {
  alignas(32) float s[kB];
  block_scores(q, kb, ldk, m, a.head_dim, a.scale, s);
  float bmx = st.mx;
  for (int64_t i = 0; i < m; ++i) bmx = std::max(bmx, s[i]);  // inline (fmax is a libm call)
  const bool first = j0 == 0;
  const float alpha = first ? 0.0f : _mm256_cvtss_f32(exp8(_mm256_set1_ps(st.mx - bmx)));
  const __m256 vmx = _mm256_set1_ps(bmx);
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  double bsum = 0.0;
  for (int64_t i = 0; i < m; i += 8) {
    const int n = static_cast<int>(std::min<int64_t>(8, m - i));
    for (int l = n; l < 8; ++l) s[i + l] = -INFINITY;
    // Lanes past the block's keys are masked to exactly 0 (exp8 is not relied on at -inf).
    __m256 e = exp8(_mm256_sub_ps(_mm256_load_ps(s + i), vmx));
    e = _mm256_blendv_ps(_mm256_setzero_ps(), e,
                         _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32(n), lane)));
    _mm256_store_ps(s + i, e);
    bsum += static_cast<double>(hsum(e));
  }
  st.sum = first ? bsum : std::fma(st.sum, static_cast<double>(alpha), bsum);
  st.mx = bmx;
  accumulate_all(vb, ldv, m, a.head_dim, s, first, alpha, acc);
}

void finish_row(const float* acc, const RowState& st, int64_t n, int64_t hd, float* out) {
  const float inv = static_cast<float>(1.0 / st.sum);
  const __m256 vi = _mm256_set1_ps(inv);
  int64_t d = 0;
  if (n > 0) {
    for (; d + 8 <= hd; d += 8)
      _mm256_storeu_ps(out + d, _mm256_mul_ps(_mm256_loadu_ps(acc + d), vi));
    for (; d < hd; ++d) out[d] = acc[d] * inv;
  }
  for (; d < hd; ++d) out[d] = 0.0f;  // no keys: nothing to attend to
}

}  // namespace

void attention_tile(const AttnTile& a) {
  const int64_t hd = a.head_dim, rows = a.n_tok * a.group;
  thread_local std::vector<float> acc;
  thread_local std::vector<RowState> st;
  acc.resize(static_cast<size_t>(rows * hd));
  st.assign(static_cast<size_t>(rows), RowState{});
  int64_t max_n = 0;
  for (int64_t t = 0; t < a.n_tok; ++t) max_n = std::max(max_n, a.n_kv[t]);
  thread_local std::vector<float> kbuf, vbuf;  // one key block converted to f32, [kB][hd]
  kbuf.resize(static_cast<size_t>(kB * hd));
  vbuf.resize(static_cast<size_t>(kB * hd));
  for (int64_t j0 = 0; j0 < max_n; j0 += kB) {
    // Converted once per tile and block, then read by every row of the tile.
    const int64_t mb = std::min(kB, max_n - j0);
    int64_t ldk = 0, ldv = 0;
    const float* kb = kv_rows(a, a.k_blocks, j0, mb, kbuf.data(), &ldk);
    const float* vb = kv_rows(a, a.v_blocks, j0, mb, vbuf.data(), &ldv);
    for (int64_t t = 0; t < a.n_tok; ++t) {
      if (j0 >= a.n_kv[t]) continue;
      const int64_t m = std::min(kB, a.n_kv[t] - j0);
      for (int64_t g = 0; g < a.group; ++g) {
        const int64_t r = t * a.group + g;
        row_block(a, a.q + t * a.ld_q + g * hd, kb, ldk, vb, ldv, j0, m, acc.data() + r * hd,
                  st[r]);
      }
    }
  }
  for (int64_t t = 0; t < a.n_tok; ++t) {
    for (int64_t g = 0; g < a.group; ++g) {
      const int64_t r = t * a.group + g;
      finish_row(acc.data() + r * hd, st[r], a.n_kv[t], hd, a.out + t * a.ld_out + g * hd);
    }
  }
}

}  // namespace lfmd::kernels::avx2
