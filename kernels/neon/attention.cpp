// NEON tiled attention (kernels.h attention_tile): kernels/avx2/attention.cpp operation for
// operation, an 8-lane AVX2 register being a pair of float32x4 (see common.h). Key blocks outer,
// the tile's query rows inner, so a block of K/V rows is read once and reused from L1.
#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/neon/common.h"

namespace lfmd::kernels::neon {

namespace {

constexpr int64_t kB = kAttnKeyBlock;
static_assert(kB % 8 == 0, "key blocks are walked in 8-lane chunks");

struct RowState {
  float mx = -INFINITY;  // running max of the scaled scores
  double sum = 0.0;      // running sum of exp(score - mx)
};

inline F8 exp8(F8 x) {
  return {exp4(x.lo), exp4(x.hi)};
}
inline F8 mul8(F8 a, float32x4_t b) {
  return {vmulq_f32(a.lo, b), vmulq_f32(a.hi, b)};
}

// s[i] = scale * q.k_i for the m keys of a block, eight keys at a time as the AVX2 kernel:
// vpaddq_f32 on each half is _mm256_hadd_ps on each 128-bit lane.
void block_scores(const float* q, const float* k, int64_t ld, int64_t m, int64_t hd, float scale,
                  float* s) {
  const int64_t hd8 = hd & ~int64_t{7};
  const float32x4_t vs = vdupq_n_f32(scale);
  auto hadd = [](F8 a, F8 b) { return F8{vpaddq_f32(a.lo, b.lo), vpaddq_f32(a.hi, b.hi)}; };
  for (int64_t i0 = 0; i0 < m; i0 += 8) {
    const float* kr[8];
    for (int r = 0; r < 8; ++r) kr[r] = k + std::min<int64_t>(i0 + r, m - 1) * ld;
    F8 acc[8];
    for (int r = 0; r < 8; ++r) acc[r] = zero8();
    for (int64_t d = 0; d < hd8; d += 8) {
      const F8 qd = load8(q + d);
      for (int r = 0; r < 8; ++r) acc[r] = fma8(acc[r], load8(kr[r] + d), qd);
    }
    const F8 u0 = hadd(hadd(acc[0], acc[1]), hadd(acc[2], acc[3]));
    const F8 u1 = hadd(hadd(acc[4], acc[5]), hadd(acc[6], acc[7]));
    F8 x{vaddq_f32(u0.lo, u0.hi), vaddq_f32(u1.lo, u1.hi)};
    if (hd8 < hd) {
      float t[8];
      store8(t, x);
      for (int r = 0; r < 8; ++r)
        for (int64_t d = hd8; d < hd; ++d) t[r] = std::fma(kr[r][d], q[d], t[r]);
      x = load8(t);
    }
    store8(s + i0, mul8(x, vs));
  }
}

// acc[d0 .. d0 + 8 NR) = acc * alpha (zero on the first block) + sum_i p[i] v_i, i in key order.
template <int NR>
void accumulate_v(const float* v, int64_t ld, int64_t m, const float* p, bool first,
                  float32x4_t alpha, float* acc) {
  F8 a[NR];
  for (int r = 0; r < NR; ++r) a[r] = first ? zero8() : mul8(load8(acc + 8 * r), alpha);
  for (int64_t i = 0; i < m; ++i) {
    const float32x4_t pi = vdupq_n_f32(p[i]);
    const float* vi = v + i * ld;
    for (int r = 0; r < NR; ++r) a[r] = fma8(a[r], load8(vi + 8 * r), pi);
  }
  for (int r = 0; r < NR; ++r) store8(acc + 8 * r, a[r]);
}

void accumulate_all(const float* v, int64_t ld, int64_t m, int64_t hd, const float* p, bool first,
                    float alpha, float* acc) {
  const float32x4_t va = vdupq_n_f32(alpha);
  const int64_t hd8 = hd & ~int64_t{7};
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
// The block's K or V rows as f32 (attn_kv_rows), f16 converted with vcvt_f32_f16: exact, the same
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
    for (; k + 4 <= hd; k += 4)
      vst1q_f32(d + k, vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(s + k))));
    for (; k < hd; ++k) d[k] = fp16_to_fp32(s[k]);
  }
  *ld = hd;
  return scratch;
}

// kb / vb: the block's K / V rows as f32, ld floats apart (attn_kv_rows).
void row_block(const AttnTile& a, const float* q, const float* kb, int64_t ldk, const float* vb,
               int64_t ldv, int64_t j0, int64_t m, float* acc, RowState& st) {
  float s[kB];
  block_scores(q, kb, ldk, m, a.head_dim, a.scale, s);
  float bmx = st.mx;
  for (int64_t i = 0; i < m; ++i) bmx = std::max(bmx, s[i]);  // inline (fmax is a libm call)
  const bool first = j0 == 0;
  const float alpha = first ? 0.0f : vgetq_lane_f32(exp4(vdupq_n_f32(st.mx - bmx)), 0);
  const float32x4_t vmx = vdupq_n_f32(bmx);
  const int32x4_t lane = {0, 1, 2, 3};
  double bsum = 0.0;
  for (int64_t i = 0; i < m; i += 8) {
    const int n = static_cast<int>(std::min<int64_t>(8, m - i));
    for (int l = n; l < 8; ++l) s[i + l] = -INFINITY;
    // Lanes past the block's keys are masked to exactly 0, as in the AVX2 kernel.
    const F8 x = load8(s + i);
    F8 e = exp8({vsubq_f32(x.lo, vmx), vsubq_f32(x.hi, vmx)});
    e.lo = vbslq_f32(vcltq_s32(lane, vdupq_n_s32(n)), e.lo, vdupq_n_f32(0.0f));
    e.hi = vbslq_f32(vcltq_s32(lane, vdupq_n_s32(n - 4)), e.hi, vdupq_n_f32(0.0f));
    store8(s + i, e);
    bsum += static_cast<double>(hsum8(e));
  }
  st.sum = first ? bsum : std::fma(st.sum, static_cast<double>(alpha), bsum);
  st.mx = bmx;
  accumulate_all(vb, ldv, m, a.head_dim, s, first, alpha, acc);
}

void finish_row(const float* acc, const RowState& st, int64_t n, int64_t hd, float* out) {
  const float inv = static_cast<float>(1.0 / st.sum);
  const float32x4_t vi = vdupq_n_f32(inv);
  int64_t d = 0;
  if (n > 0) {
    for (; d + 8 <= hd; d += 8) store8(out + d, mul8(load8(acc + d), vi));
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

}  // namespace lfmd::kernels::neon
