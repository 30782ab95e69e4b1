// AVX-VNNI matmul on repacked Q4_0 / Q8_0 / Q4_K matrices (layout in kernels.h, kRepackRows = 8).
// One 8-row group per ymm, lane r = row r. vpdpbusd (VEX, 256-bit) multiplies the 4 unsigned
// weight bytes of each lane by one broadcast 4-byte group of int8 activations and adds the 4
// products into the lane's int32, so a 32-column block of 8 rows is 8 vpdpbusd per token.
// Integers equal the AVX2 kernel's (its int16 partial sums never saturate); floats per row and
// block are exactly its operations (acc = fma(float(isum), d_w * d_a, acc), blocks in order), so
// results are bit-identical to the AVX2 table.
// Compiled with AVX-VNNI flags: only intrinsics, local helpers and the static ones of
// lane_helpers.h (no shared inline or template code whose out-of-line copy the linker could
// hand to non-VNNI callers).
#include <immintrin.h>

#include <cstring>

#include "kernels/avx2/common.h"  // declarations only (Q8_0ActsLayout); no inline use
#include "kernels/avx2/lane_helpers.h"  // static: compiled under this file's flags
#include "kernels/avxvnni/avxvnni.h"

namespace lfmd::kernels::avxvnni {

namespace {

inline int64_t imin(int64_t a, int64_t b) { return a < b ? a : b; }
inline int64_t imax(int64_t a, int64_t b) { return a > b ? a : b; }

inline __m256i bcast4(const uint8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return _mm256_set1_epi32(v);
}
inline __m256i load(const uint8_t* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }
// The 8 fp16 row scales at p as 8 floats.
inline __m256 scales(const uint8_t* p) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}
inline __m256i dp(__m256i acc, __m256i u8, __m256i s8) { return _mm256_dpbusd_avx_epi32(acc, u8, s8); }

struct TokPtrs {
  const uint8_t* qs;  // [nb][32] int8
  const float* d;     // [nb] block scales
  const int32_t* s8;  // [nb] 8 * sum of the block's qs
};

// 8 rows (group at g) x NT tokens; lane r of token t goes to y[t * ldy + r].
// Q4_0: unsigned nibbles (0..15) . a, minus 8 * sum(a) for the -8 bias.
template <int NT>
void q4_0_group(const uint8_t* g, int64_t nb, const TokPtrs* tok, float* y, int64_t ldy) {
  const __m256i m4 = _mm256_set1_epi8(0x0F);
  __m256 acc[NT];
  for (int t = 0; t < NT; ++t) acc[t] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b, g += 144) {
    const __m256 dw = scales(g);
    __m256i q[8];
    for (int u = 0; u < 4; ++u) {
      const __m256i raw = load(g + 16 + 32 * u);
      q[u] = _mm256_and_si256(raw, m4);                            // columns 4u..4u+3
      q[u + 4] = _mm256_and_si256(_mm256_srli_epi16(raw, 4), m4);  // columns 16+4u..16+4u+3
    }
    for (int t = 0; t < NT; ++t) {
      const uint8_t* a = tok[t].qs + 32 * b;
      __m256i s0 = dp(_mm256_setzero_si256(), q[0], bcast4(a));
      __m256i s1 = dp(_mm256_setzero_si256(), q[1], bcast4(a + 4));
      s0 = dp(s0, q[2], bcast4(a + 8));
      s1 = dp(s1, q[3], bcast4(a + 12));
      s0 = dp(s0, q[4], bcast4(a + 16));
      s1 = dp(s1, q[5], bcast4(a + 20));
      s0 = dp(s0, q[6], bcast4(a + 24));
      s1 = dp(s1, q[7], bcast4(a + 28));
      const __m256i i32 = _mm256_sub_epi32(_mm256_add_epi32(s0, s1), _mm256_set1_epi32(tok[t].s8[b]));
      acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(i32), _mm256_mul_ps(dw, _mm256_set1_ps(tok[t].d[b])), acc[t]);
    }
  }
  for (int t = 0; t < NT; ++t) _mm256_storeu_ps(y + t * ldy, acc[t]);
}

// Q8_0: signed weights flipped to unsigned (w ^ 0x80 = w + 128), so the dot gains 128 * sum(a)
// = 16 * s8, subtracted per block (|lane| <= 32 * 255 * 128: no overflow).
template <int NT>
void q8_0_group(const uint8_t* g, int64_t nb, const TokPtrs* tok, float* y, int64_t ldy) {
  const __m256i flip = _mm256_set1_epi8(static_cast<char>(0x80));
  __m256 acc[NT];
  for (int t = 0; t < NT; ++t) acc[t] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b, g += 272) {
    const __m256 dw = scales(g);
    __m256i q[8];
    for (int u = 0; u < 8; ++u) q[u] = _mm256_xor_si256(load(g + 16 + 32 * u), flip);
    for (int t = 0; t < NT; ++t) {
      const uint8_t* a = tok[t].qs + 32 * b;
      __m256i s0 = dp(_mm256_setzero_si256(), q[0], bcast4(a));
      __m256i s1 = dp(_mm256_setzero_si256(), q[1], bcast4(a + 4));
      for (int u = 2; u < 8; u += 2) {
        s0 = dp(s0, q[u], bcast4(a + 4 * u));
        s1 = dp(s1, q[u + 1], bcast4(a + 4 * u + 4));
      }
      const __m256i i32 = _mm256_sub_epi32(_mm256_add_epi32(s0, s1), _mm256_set1_epi32(16 * tok[t].s8[b]));
      acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(i32), _mm256_mul_ps(dw, _mm256_set1_ps(tok[t].d[b])), acc[t]);
    }
  }
  for (int t = 0; t < NT; ++t) _mm256_storeu_ps(y + t * ldy, acc[t]);
}

// Q4_K (layout in kernels.h), one group per ymm. Per sub-block j of 32 columns: 8 vpdpbusd give
// the lane's q . a over j, times the row's 6-bit scale (vpmulld) into isum; the min term is
// sum_j m_j * sum(a over j), 4 vpdpwssd on int16 pairs. Integers equal the AVX2 kernel's; floats
// per super-block: acc += isum * (d * da), accm += msum * (dmin * da), y = acc - accm.
template <int NT>
void q4_K_group(const uint8_t* g, int64_t nb, const TokPtrs* tok, float* y, int64_t ldy) {
  constexpr size_t kGb = kRepackRows * sizeof(ref::BlockQ4_K);  // 1152 bytes per super-block
  const __m256i m4 = _mm256_set1_epi8(0x0F);
  __m256 acc[NT], accm[NT];
  for (int t = 0; t < NT; ++t) acc[t] = accm[t] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b, g += kGb) {
    const __m256 dw = scales(g), dmw = scales(g + 16);
    alignas(32) uint8_t sc[64], mn[64];  // [sub-block j][row]
    x86::unpack_scales_k4_group(g, sc, mn);
    __m256i s32[8];  // lane = row's scale of sub-block j
    for (int j = 0; j < 8; ++j)
      s32[j] = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(sc + 8 * j)));
    __m256i mp[4];  // lane = int16 pair (m_2k, m_2k+1) of the row
    for (int k = 0; k < 4; ++k)
      mp[k] = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(mn + 16 * k)),
                                                     _mm_loadl_epi64(reinterpret_cast<const __m128i*>(mn + 16 * k + 8))));
    __m256i isum[NT];
    for (int t = 0; t < NT; ++t) isum[t] = _mm256_setzero_si256();
    // Chunk p: units 8p..8p+7 hold sub-block 2p (low nibbles) and 2p+1 (high nibbles).
    for (int p = 0; p < 4; ++p) {
      __m256i lo[8], hi[8];
      for (int u = 0; u < 8; ++u) {
        const __m256i raw = load(g + 128 + 32 * (8 * p + u));
        lo[u] = _mm256_and_si256(raw, m4);
        hi[u] = _mm256_and_si256(_mm256_srli_epi16(raw, 4), m4);
      }
      for (int t = 0; t < NT; ++t) {
        const uint8_t* a = reinterpret_cast<const uint8_t*>(
                               reinterpret_cast<const ref::BlockQ8_K*>(tok[t].qs)[b].qs) + 64 * p;
        __m256i sl = _mm256_setzero_si256(), sh = _mm256_setzero_si256();
        for (int u = 0; u < 8; ++u) {
          sl = dp(sl, lo[u], bcast4(a + 4 * u));
          sh = dp(sh, hi[u], bcast4(a + 32 + 4 * u));
        }
        isum[t] = _mm256_add_epi32(isum[t], _mm256_add_epi32(_mm256_mullo_epi32(sl, s32[2 * p]),
                                                             _mm256_mullo_epi32(sh, s32[2 * p + 1])));
      }
    }
    for (int t = 0; t < NT; ++t) {
      const ref::BlockQ8_K& a = reinterpret_cast<const ref::BlockQ8_K*>(tok[t].qs)[b];
      const __m256i bs = x86::sub_block_sum_pairs(a.bsums);
      __m256i msum = _mm256_setzero_si256();
      for (int k = 0; k < 4; ++k) msum = _mm256_dpwssd_avx_epi32(msum, mp[k], x86::sub_block_sum_pair(bs, k));
      const __m256 da = _mm256_set1_ps(a.d);
      acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[t]), _mm256_mul_ps(dw, da), acc[t]);
      accm[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(msum), _mm256_mul_ps(dmw, da), accm[t]);
    }
  }
  for (int t = 0; t < NT; ++t) _mm256_storeu_ps(y + t * ldy, _mm256_sub_ps(acc[t], accm[t]));
}

constexpr int kNT = 4;
using GroupFn = void (*)(const uint8_t*, int64_t, const TokPtrs*, float*, int64_t);
constexpr GroupFn kQ4_0[kNT] = {q4_0_group<1>, q4_0_group<2>, q4_0_group<3>, q4_0_group<4>};
constexpr GroupFn kQ8_0[kNT] = {q8_0_group<1>, q8_0_group<2>, q8_0_group<3>, q8_0_group<4>};
constexpr GroupFn kQ4_K[kNT] = {q4_K_group<1>, q4_K_group<2>, q4_K_group<3>, q4_K_group<4>};

struct Job {
  const uint8_t* w;  // packed matrix
  size_t gb;         // bytes per 8-row group
  int64_t nb;        // blocks per row
  const GroupFn* fns;
  const uint8_t* q;  // prepared activations
  avx2::Q8_0ActsLayout l;
  size_t k_stride;   // Q4_K: bytes per token of Q8_K blocks (0 for Q4_0 / Q8_0)

  TokPtrs tok(int64_t t) const {
    if (k_stride) return TokPtrs{q + t * k_stride, nullptr, nullptr};  // qs = its BlockQ8_K row
    const uint8_t* base = q + t * l.stride;
    return TokPtrs{base, reinterpret_cast<const float*>(base + l.d_off),
                   reinterpret_cast<const int32_t*>(base + l.s8_off)};
  }
  // Whole groups from row r to re (multiples of 8; group 0 at w) for nt tokens from t0; row r of
  // token t0 + t goes to yt[t * ldy + r].
  void groups(int64_t r, int64_t re, int64_t t0, int nt, float* yt, int64_t ldy) const {
    TokPtrs tp[kNT];
    for (int t = 0; t < nt; ++t) tp[t] = tok(t0 + t);
    for (; r < re; r += kRepackRows) fns[nt - 1](w + (r / kRepackRows) * gb, nb, tp, yt + r, ldy);
  }
};

}  // namespace

void matmul_repacked(DType wt, const void* w, int64_t n_rows, int64_t r0, int64_t r1,
                     const PreparedActs& acts, float* y, int64_t ldy) {
  if (r1 <= r0 || acts.n_tok <= 0) return;
  const KernelTable* base = avx2_table();
  if (acts.q == nullptr || (wt != DType::Q4_0 && wt != DType::Q8_0 && wt != DType::Q4_K)) {
    // Unprepared activations (quantized privately there): the AVX2 kernel, whose results these
    // kernels reproduce bit for bit.
    base->matmul_repacked(wt, w, n_rows, r0, r1, acts, y, ldy);
    return;
  }
  const int64_t full = n_rows / kRepackRows * kRepackRows;
  const Job job{static_cast<const uint8_t*>(w), row_bytes(wt, acts.n_in) * kRepackRows,
                acts.n_in / (wt == DType::Q4_K ? ref::QK_K : ref::QK),
                wt == DType::Q4_0 ? kQ4_0 : wt == DType::Q8_0 ? kQ8_0 : kQ4_K,
                static_cast<const uint8_t*>(acts.q), avx2::q8_0_acts_layout(acts.n_in),
                wt == DType::Q4_K ? avx2::q8_K_tok_stride(acts.n_in) : 0};
  const int64_t g_lim = imin(r1, full);                     // rows computed from groups
  const int64_t g_end = g_lim / kRepackRows * kRepackRows;  // whole groups in range
  const int64_t n_tok = acts.n_tok;
  if (r0 < g_end) {
    if (n_tok == 1) {
      job.groups(r0, g_end, 0, 1, y, ldy);
    } else {
      // Groups in chunks of ~128 KiB of weights, kept in L2 across token tiles.
      const int64_t chunk = imax(1, static_cast<int64_t>((128u << 10) / job.gb)) * kRepackRows;
      for (int64_t rc = r0; rc < g_end; rc += chunk) {
        const int64_t re = imin(g_end, rc + chunk);
        for (int64_t t0 = 0; t0 < n_tok; t0 += kNT) job.groups(rc, re, t0, static_cast<int>(imin(kNT, n_tok - t0)), y + t0 * ldy, ldy);
      }
    }
  }
  if (g_lim > g_end && g_lim > r0) {
    // A range ending inside a group: compute the whole group aside, keep the rows asked for.
    const int64_t gr = imax(r0, g_end);
    float tmp[kNT * kRepackRows];
    Job aside = job;
    aside.w = job.w + (gr / kRepackRows) * job.gb;
    for (int64_t t0 = 0; t0 < n_tok; t0 += kNT) {
      const int nt = static_cast<int>(imin(kNT, n_tok - t0));
      aside.groups(0, kRepackRows, t0, nt, tmp, kRepackRows);
      for (int t = 0; t < nt; ++t)
        for (int64_t r = gr; r < g_lim; ++r) y[(t0 + t) * ldy + r] = tmp[t * kRepackRows + (r - gr)];
    }
  }
  // Rows past the last full group keep the original format: the AVX2 file-layout kernel.
  if (r1 > full) base->matmul_repacked(wt, w, n_rows, imax(r0, full), r1, acts, y, ldy);
}

}  // namespace lfmd::kernels::avxvnni
