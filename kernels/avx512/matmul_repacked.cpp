// AVX-512 VNNI matmul on repacked Q4_0 / Q8_0 / Q4_K matrices (layout in kernels.h, kRepackRows = 8).
// Two 8-row groups share one zmm: lanes 0..7 = rows of group g, lanes 8..15 = rows of group g+1
// (a lone group, and every group in Q8_0 / Q4_K decode, fills both halves and stores the low one;
// Q4_0 decode puts two blocks of one group in a zmm, q4_0_group1). vpdpbusd multiplies the 4 unsigned
// weight bytes of each lane by one broadcast 4-byte group of int8 activations and adds the 4
// products into the lane's int32, so a 32-column block of 16 rows is 8 vpdpbusd per token.
// Floats: per row and block exactly the AVX2 kernel's operations (acc = fma(float(isum),
// d_w * d_a, acc), blocks in order), so results are bit-identical to the AVX2 table.
// Compiled with AVX-512 flags: only intrinsics, local helpers and the static ones of
// lane_helpers.h (no shared inline or template code whose out-of-line copy the linker could
// hand to non-AVX-512 callers).
#include <immintrin.h>

// GCC 12's AVX-512 headers pass _mm512_undefined_* as the unused merge source of cvtph2ps,
// vinserti64x4 and vcvtdq2ps, which -Wmaybe-uninitialized reports; nothing here is uninitialized.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include <cstring>

#include "kernels/avx2/common.h"  // declarations only (MatCtx, Q8_0ActsLayout); no inline use
#include "kernels/avx2/lane_helpers.h"  // static: compiled under this file's flags
#include "kernels/avx512/avx512.h"

namespace lfmd::kernels::avx512 {

namespace {

inline int64_t imin(int64_t a, int64_t b) { return a < b ? a : b; }
inline int64_t imax(int64_t a, int64_t b) { return a > b ? a : b; }

inline __m512i bcast4(const uint8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return _mm512_set1_epi32(v);
}
// 32 bytes at a (group g) in the low half, 32 bytes at b (group g+1) in the high half.
inline __m512i load2(const uint8_t* a, const uint8_t* b) {
  const __m256i lo = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a));
  const __m256i hi = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b));
  return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}
// The 8 fp16 row scales at a and at b as 16 floats.
inline __m512 scales2(const uint8_t* a, const uint8_t* b) {
  const __m128i lo = _mm_loadu_si128(reinterpret_cast<const __m128i*>(a));
  const __m128i hi = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b));
  return _mm512_cvtph_ps(_mm256_inserti128_si256(_mm256_castsi128_si256(lo), hi, 1));
}

// Several tokens read two groups gb bytes apart: two weight streams, which the hardware
// prefetcher serves ~2x slower from memory than one (1792 x 2048 Q4_0, 2-4 tokens: 11-13 against
// 17-27 GB/s on one Zen 5 core). So each pair kernel prefetches both, `lines` cache lines
// kPrefetchAhead bytes ahead (the best of 1152 / 2304 / 4608), for the first token tile of a row
// chunk only (`pf`): later tiles find the chunk in L2, where the prefetches only cost issue slots
// (Q4_K GEMM from L2 measured ~15 % faster without them). A lone Q4_0 group (one stream, read in
// order) is left to the hardware, which measured faster there; q4_K_group1 reads each super-block's
// 1152 bytes out of order (two halves 512 bytes apart) and prefetches: one core from DRAM 17-19 ->
// 25-35 GB/s, 350M Q4_K_M decode 101-140 -> 160-188 tok/s (alternated runs, this host).
constexpr int64_t kPrefetchAhead = 2304;
inline void prefetch_ahead(const uint8_t* p, int lines) {
  for (int l = 0; l < lines; ++l) _mm_prefetch(reinterpret_cast<const char*>(p) + kPrefetchAhead + 64 * l, _MM_HINT_T0);
}

struct TokPtrs {
  const uint8_t* qs;  // [nb][32] int8
  const float* d;     // [nb] block scales
  const int32_t* s8;  // [nb] 8 * sum of the block's qs
};

// 16 rows (groups at g0 and g1) x NT tokens; lane r of token t goes to y[t * ldy + r] if set in store.
// Q4_0: unsigned nibbles (0..15) . a, minus 8 * sum(a) for the -8 bias.
template <int NT>
void q4_0_pair(const uint8_t* g0, const uint8_t* g1, int64_t nb, const TokPtrs* tok, float* y,
               int64_t ldy, __mmask16 store, bool pf) {
  const __m512i m4 = _mm512_set1_epi8(0x0F);
  __m512 acc[NT];
  for (int t = 0; t < NT; ++t) acc[t] = _mm512_setzero_ps();
  for (int64_t b = 0; b < nb; ++b, g0 += 144, g1 += 144) {
    if (pf && (b & 3) == 0) prefetch_ahead(g0, 9), prefetch_ahead(g1, 9);  // 4 blocks: 576 bytes
    const __m512 dw = scales2(g0, g1);
    __m512i q[8];
    for (int u = 0; u < 4; ++u) {
      const __m512i raw = load2(g0 + 16 + 32 * u, g1 + 16 + 32 * u);
      q[u] = _mm512_and_si512(raw, m4);                             // columns 4u..4u+3
      q[u + 4] = _mm512_and_si512(_mm512_srli_epi16(raw, 4), m4);  // columns 16+4u..16+4u+3
    }
    for (int t = 0; t < NT; ++t) {
      const uint8_t* a = tok[t].qs + 32 * b;
      __m512i s0 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), q[0], bcast4(a));
      __m512i s1 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), q[1], bcast4(a + 4));
      s0 = _mm512_dpbusd_epi32(s0, q[2], bcast4(a + 8));
      s1 = _mm512_dpbusd_epi32(s1, q[3], bcast4(a + 12));
      s0 = _mm512_dpbusd_epi32(s0, q[4], bcast4(a + 16));
      s1 = _mm512_dpbusd_epi32(s1, q[5], bcast4(a + 20));
      s0 = _mm512_dpbusd_epi32(s0, q[6], bcast4(a + 24));
      s1 = _mm512_dpbusd_epi32(s1, q[7], bcast4(a + 28));
      const __m512i i32 = _mm512_sub_epi32(_mm512_add_epi32(s0, s1), _mm512_set1_epi32(tok[t].s8[b]));
      acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(i32), _mm512_mul_ps(dw, _mm512_set1_ps(tok[t].d[b])), acc[t]);
    }
  }
  for (int t = 0; t < NT; ++t) _mm512_mask_storeu_ps(y + t * ldy, store, acc[t]);
}

// Q4_0, one 8-row group, one token (decode): blocks b (lanes 0..7) and b+1 (lanes 8..15) in one
// zmm. A group's blocks are contiguous (one stream) and every lane works, where q4_0_pair<1>
// leaves half the lanes idle. Integers per block as q4_0_pair; floats per row in block order,
// acc = fma(float(isum_b), d_w * d_a, acc), the same operations, so the same bits.
void q4_0_group1(const uint8_t* g, int64_t nb, const TokPtrs& tok, float* y) {
  const __m512i m4 = _mm512_set1_epi8(0x0F);
  const __m512i half = _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
  __m512i idx[8];  // activation dword k of block b (low lanes) and of block b+1 (high lanes)
  for (int k = 0; k < 8; ++k) idx[k] = _mm512_add_epi32(_mm512_set1_epi32(k), _mm512_slli_epi32(half, 3));
  __m256 acc = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; b += 2, g += 288) {
    const bool two = b + 1 < nb;  // an odd last block fills both halves; its high half is unused
    const uint8_t* g1 = two ? g + 144 : g;
    const __m512 dw = scales2(g, g1);
    const __m512i a = two ? _mm512_loadu_si512(tok.qs + 32 * b)
                          : _mm512_zextsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(tok.qs + 32 * b)));
    __m512i s0 = _mm512_setzero_si512(), s1 = _mm512_setzero_si512();
    for (int u = 0; u < 4; ++u) {
      const __m512i raw = load2(g + 16 + 32 * u, g1 + 16 + 32 * u);
      s0 = _mm512_dpbusd_epi32(s0, _mm512_and_si512(raw, m4), _mm512_permutexvar_epi32(idx[u], a));
      s1 = _mm512_dpbusd_epi32(s1, _mm512_and_si512(_mm512_srli_epi16(raw, 4), m4),
                               _mm512_permutexvar_epi32(idx[u + 4], a));
    }
    int64_t s8p, dp;  // s8 and d of blocks b and b+1 (b twice for an odd last block)
    std::memcpy(&s8p, tok.s8 + b, 4);
    std::memcpy(reinterpret_cast<char*>(&s8p) + 4, tok.s8 + (two ? b + 1 : b), 4);
    std::memcpy(&dp, tok.d + b, 4);
    std::memcpy(reinterpret_cast<char*>(&dp) + 4, tok.d + (two ? b + 1 : b), 4);
    const __m512i s8 = _mm512_permutexvar_epi32(half, _mm512_castsi128_si512(_mm_cvtsi64_si128(s8p)));
    const __m512 da = _mm512_permutexvar_ps(half, _mm512_castsi512_ps(_mm512_castsi128_si512(_mm_cvtsi64_si128(dp))));
    const __m512 f = _mm512_cvtepi32_ps(_mm512_sub_epi32(_mm512_add_epi32(s0, s1), s8));
    const __m512 sc = _mm512_mul_ps(dw, da);
    acc = _mm256_fmadd_ps(_mm512_castps512_ps256(f), _mm512_castps512_ps256(sc), acc);
    if (two) {
      auto hi = [](__m512 v) { return _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)); };
      acc = _mm256_fmadd_ps(hi(f), hi(sc), acc);
    }
  }
  _mm256_storeu_ps(y, acc);
}

// Q8_0: signed weights flipped to unsigned (w ^ 0x80 = w + 128), so the dot gains 128 * sum(a)
// = 16 * s8, subtracted per block (|lane| <= 32 * 255 * 128: no overflow).
template <int NT>
void q8_0_pair(const uint8_t* g0, const uint8_t* g1, int64_t nb, const TokPtrs* tok, float* y,
               int64_t ldy, __mmask16 store, bool pf) {
  const __m512i flip = _mm512_set1_epi8(static_cast<char>(0x80));
  __m512 acc[NT];
  for (int t = 0; t < NT; ++t) acc[t] = _mm512_setzero_ps();
  for (int64_t b = 0; b < nb; ++b, g0 += 272, g1 += 272) {
    if (pf && (b & 3) == 0) prefetch_ahead(g0, 17), prefetch_ahead(g1, 17);  // 4 blocks: 1088 bytes
    const __m512 dw = scales2(g0, g1);
    __m512i q[8];
    for (int u = 0; u < 8; ++u) q[u] = _mm512_xor_si512(load2(g0 + 16 + 32 * u, g1 + 16 + 32 * u), flip);
    for (int t = 0; t < NT; ++t) {
      const uint8_t* a = tok[t].qs + 32 * b;
      __m512i s0 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), q[0], bcast4(a));
      __m512i s1 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), q[1], bcast4(a + 4));
      for (int u = 2; u < 8; u += 2) {
        s0 = _mm512_dpbusd_epi32(s0, q[u], bcast4(a + 4 * u));
        s1 = _mm512_dpbusd_epi32(s1, q[u + 1], bcast4(a + 4 * u + 4));
      }
      const __m512i i32 =
          _mm512_sub_epi32(_mm512_add_epi32(s0, s1), _mm512_set1_epi32(16 * tok[t].s8[b]));
      acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(i32), _mm512_mul_ps(dw, _mm512_set1_ps(tok[t].d[b])), acc[t]);
    }
  }
  for (int t = 0; t < NT; ++t) _mm512_mask_storeu_ps(y + t * ldy, store, acc[t]);
}

// Q4_K (layout in kernels.h), two groups per zmm. Per sub-block j of 32 columns: 8 vpdpbusd give
// the lane's q . a over j, times the row's 6-bit scale (vpmulld) into isum; the min term is
// sum_j m_j * sum(a over j), 4 vpdpwssd on int16 pairs. Integers equal the AVX2 kernel's; floats
// per super-block: acc += isum * (d * da), accm += msum * (dmin * da), y = acc - accm.
template <int NT>
void q4_K_pair(const uint8_t* g0, const uint8_t* g1, int64_t nb, const TokPtrs* tok, float* y,
               int64_t ldy, __mmask16 store, bool pf) {
  constexpr size_t kGb = kRepackRows * sizeof(ref::BlockQ4_K);  // 1152 bytes per super-block
  const __m512i m4 = _mm512_set1_epi8(0x0F), m6 = _mm512_set1_epi8(0x3F), m30 = _mm512_set1_epi8(0x30);
  __m512 acc[NT], accm[NT];
  for (int t = 0; t < NT; ++t) acc[t] = accm[t] = _mm512_setzero_ps();
  for (int64_t b = 0; b < nb; ++b, g0 += kGb, g1 += kGb) {
    if (pf) prefetch_ahead(g0, 18), prefetch_ahead(g1, 18);  // 1152 bytes
    const __m512 dw = scales2(g0, g1), dmw = scales2(g0 + 16, g1 + 16);
    // Packed scale bytes [k][row] of both groups: A = k 0..3, B = 4..7, C = 8..11.
    const __m512i A = load2(g0 + 32, g1 + 32), B = load2(g0 + 64, g1 + 64), C = load2(g0 + 96, g1 + 96);
    // 6-bit scales / mins as bytes [j % 4][row] per group (group 0 in the low 256 bits): sub-blocks
    // 0..3 in sa / ma, 4..7 in sb / mb. Qword q of a vector = sub-block q % 4 of group q / 4.
    const __m512i sa = _mm512_and_si512(A, m6), ma = _mm512_and_si512(B, m6);
    const __m512i sb = _mm512_or_si512(_mm512_and_si512(C, m4), _mm512_and_si512(_mm512_srli_epi16(A, 2), m30));
    const __m512i mb = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(C, 4), m4), _mm512_and_si512(_mm512_srli_epi16(B, 2), m30));
    __m512i s32[8];  // lane = row's scale of sub-block j (lanes 0..7 group 0, 8..15 group 1)
    for (int j = 0; j < 8; ++j) {
      const __m512i both = _mm512_permutexvar_epi64(_mm512_set_epi64(0, 0, 0, 0, 0, 0, 4 + j % 4, j % 4), j < 4 ? sa : sb);
      s32[j] = _mm512_cvtepu8_epi32(_mm512_castsi512_si128(both));
    }
    __m512i mp[4];  // lane = int16 pair (m_2k, m_2k+1) of the row
    for (int k = 0; k < 4; ++k) {
      const int q = 2 * (k % 2);  // sub-blocks 2k, 2k+1 are qwords q, q+1 of ma (k < 2) or mb
      const __m512i x = _mm512_permutexvar_epi64(_mm512_set_epi64(0, 0, 5 + q, 1 + q, 0, 0, 4 + q, q), k < 2 ? ma : mb);
      const __m128i a = _mm512_castsi512_si128(x), b = _mm512_extracti32x4_epi32(x, 2);
      mp[k] = _mm512_cvtepu8_epi16(_mm256_inserti128_si256(_mm256_castsi128_si256(_mm_unpacklo_epi8(a, b)),
                                                           _mm_unpackhi_epi8(a, b), 1));
    }
    __m512i isum[NT];
    for (int t = 0; t < NT; ++t) isum[t] = _mm512_setzero_si512();
    // Chunk p: units 8p..8p+7 hold sub-block 2p (low nibbles) and 2p+1 (high nibbles).
    for (int p = 0; p < 4; ++p) {
      __m512i lo[8], hi[8];
      for (int u = 0; u < 8; ++u) {
        const __m512i raw = load2(g0 + 128 + 32 * (8 * p + u), g1 + 128 + 32 * (8 * p + u));
        lo[u] = _mm512_and_si512(raw, m4);
        hi[u] = _mm512_and_si512(_mm512_srli_epi16(raw, 4), m4);
      }
      for (int t = 0; t < NT; ++t) {
        const uint8_t* a = reinterpret_cast<const uint8_t*>(
                               reinterpret_cast<const ref::BlockQ8_K*>(tok[t].qs)[b].qs) + 64 * p;
        __m512i sl = _mm512_setzero_si512(), sh = _mm512_setzero_si512();
        for (int u = 0; u < 8; ++u) {
          sl = _mm512_dpbusd_epi32(sl, lo[u], bcast4(a + 4 * u));
          sh = _mm512_dpbusd_epi32(sh, hi[u], bcast4(a + 32 + 4 * u));
        }
        isum[t] = _mm512_add_epi32(isum[t], _mm512_add_epi32(_mm512_mullo_epi32(sl, s32[2 * p]),
                                                             _mm512_mullo_epi32(sh, s32[2 * p + 1])));
      }
    }
    for (int t = 0; t < NT; ++t) {
      const ref::BlockQ8_K& a = reinterpret_cast<const ref::BlockQ8_K*>(tok[t].qs)[b];
      const __m512i bs = _mm512_castsi256_si512(x86::sub_block_sum_pairs(a.bsums));
      __m512i msum = _mm512_setzero_si512();
      for (int k = 0; k < 4; ++k)
        msum = _mm512_dpwssd_epi32(msum, mp[k], _mm512_permutexvar_epi32(_mm512_set1_epi32(x86::kSumPairDword[k]), bs));
      const __m512 da = _mm512_set1_ps(a.d);
      acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[t]), _mm512_mul_ps(dw, da), acc[t]);
      accm[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(msum), _mm512_mul_ps(dmw, da), accm[t]);
    }
  }
  for (int t = 0; t < NT; ++t) _mm512_mask_storeu_ps(y + t * ldy, store, _mm512_sub_ps(acc[t], accm[t]));
}

// Q4_K, one 8-row group, one token (decode): lanes 0..7 take chunks 0 and 1 of a super-block
// (sub-blocks 0..3), lanes 8..15 chunks 2 and 3 (sub-blocks 4..7), so every lane works where
// q4_K_pair<1> leaves half idle. The halves' integer sums are added before the floats: per row the
// same integers and the same float operations as q4_K_pair, so the same bits.
void q4_K_group1(const uint8_t* g, int64_t nb, const TokPtrs& tok, float* y) {
  constexpr size_t kGb = kRepackRows * sizeof(ref::BlockQ4_K);  // 1152 bytes per super-block
  const __m512i n4 = _mm512_set1_epi8(0x0F);
  const __m512i half = _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
  __m512i idx[8];  // dword u of the low 32 activation bytes (low lanes) and of the high 32 (high lanes)
  for (int u = 0; u < 8; ++u) idx[u] = _mm512_add_epi32(_mm512_set1_epi32(u), _mm512_slli_epi32(half, 3));
  using x86::ld256;
  auto ld8 = [](const uint8_t* p) { return _mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)); };
  __m256 acc = _mm256_setzero_ps(), accm = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b, g += kGb) {
    prefetch_ahead(g, 18);  // this super-block's 1152 bytes, two super-blocks ahead
    const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(g)));
    const __m256 dmw = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(g + 16)));
    alignas(32) uint8_t sc[64], mn[64];  // [sub-block j][row]
    x86::unpack_scales_k4_group(g, sc, mn);
    const ref::BlockQ8_K& a = reinterpret_cast<const ref::BlockQ8_K*>(tok.qs)[b];
    const uint8_t* aq = reinterpret_cast<const uint8_t*>(a.qs);
    __m512i isum = _mm512_setzero_si512();
    for (int p = 0; p < 2; ++p) {  // low lanes: chunk p (sub-blocks 2p, 2p+1); high: chunk p + 2
      const __m512i alo = _mm512_inserti64x4(_mm512_castsi256_si512(ld256(aq + 64 * p)), ld256(aq + 64 * p + 128), 1);
      const __m512i ahi = _mm512_inserti64x4(_mm512_castsi256_si512(ld256(aq + 64 * p + 32)), ld256(aq + 64 * p + 160), 1);
      __m512i sl = _mm512_setzero_si512(), sh = _mm512_setzero_si512();
      for (int u = 0; u < 8; ++u) {
        const __m512i raw = load2(g + 128 + 32 * (8 * p + u), g + 128 + 32 * (8 * p + 16 + u));
        sl = _mm512_dpbusd_epi32(sl, _mm512_and_si512(raw, n4), _mm512_permutexvar_epi32(idx[u], alo));
        sh = _mm512_dpbusd_epi32(sh, _mm512_and_si512(_mm512_srli_epi16(raw, 4), n4), _mm512_permutexvar_epi32(idx[u], ahi));
      }
      const __m512i slo = _mm512_cvtepu8_epi32(_mm_unpacklo_epi64(ld8(sc + 16 * p), ld8(sc + 16 * p + 32)));
      const __m512i shi = _mm512_cvtepu8_epi32(_mm_unpacklo_epi64(ld8(sc + 16 * p + 8), ld8(sc + 16 * p + 40)));
      isum = _mm512_add_epi32(isum, _mm512_add_epi32(_mm512_mullo_epi32(sl, slo), _mm512_mullo_epi32(sh, shi)));
    }
    const __m256i isum8 = _mm256_add_epi32(_mm512_castsi512_si256(isum), _mm512_extracti64x4_epi64(isum, 1));
    const __m256i bs = x86::sub_block_sum_pairs(a.bsums);
    __m256i msum = _mm256_setzero_si256();
    for (int k = 0; k < 4; ++k) {
      const __m256i mp = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(ld8(mn + 16 * k), ld8(mn + 16 * k + 8)));
      msum = _mm256_dpwssd_epi32(msum, mp, x86::sub_block_sum_pair(bs, k));
    }
    const __m256 da = _mm256_set1_ps(a.d);
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum8), _mm256_mul_ps(dw, da), acc);
    accm = _mm256_fmadd_ps(_mm256_cvtepi32_ps(msum), _mm256_mul_ps(dmw, da), accm);
  }
  _mm256_storeu_ps(y, _mm256_sub_ps(acc, accm));
}

constexpr int kNT = 4;
using PairFn = void (*)(const uint8_t*, const uint8_t*, int64_t, const TokPtrs*, float*, int64_t,
                        __mmask16, bool);
constexpr PairFn kQ4_0[kNT] = {q4_0_pair<1>, q4_0_pair<2>, q4_0_pair<3>, q4_0_pair<4>};
constexpr PairFn kQ8_0[kNT] = {q8_0_pair<1>, q8_0_pair<2>, q8_0_pair<3>, q8_0_pair<4>};
constexpr PairFn kQ4_K[kNT] = {q4_K_pair<1>, q4_K_pair<2>, q4_K_pair<3>, q4_K_pair<4>};

struct Job {
  const uint8_t* w;  // packed matrix
  size_t gb;         // bytes per 8-row group
  int64_t nb;        // blocks per row
  const PairFn* fns;
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
  // token t0 + t goes to yt[t * ldy + r]. Several tokens: two groups per vector. One token
  // (decode): one group at a time, one stream (two groups gb bytes apart as two streams measured
  // ~1.6x slower, GEMV bench in tests/kernels/test_repack.cpp); Q4_0 fills the vector with two
  // blocks of the group (q4_0_group1), Q8_0 / Q4_K leave its upper half unused.
  void groups(int64_t r, int64_t re, int64_t t0, int nt, float* yt, int64_t ldy, bool pf) const {
    TokPtrs tp[kNT];
    for (int t = 0; t < nt; ++t) tp[t] = tok(t0 + t);
    for (; nt > 1 && r + 2 * kRepackRows <= re; r += 2 * kRepackRows) {
      const uint8_t* g = w + (r / kRepackRows) * gb;
      fns[nt - 1](g, g + gb, nb, tp, yt + r, ldy, 0xFFFF, pf);
    }
    for (; r < re; r += kRepackRows) {
      const uint8_t* g = w + (r / kRepackRows) * gb;
      if (nt == 1 && fns == kQ4_0) q4_0_group1(g, nb, tp[0], yt + r);
      else if (nt == 1 && fns == kQ4_K) q4_K_group1(g, nb, tp[0], yt + r);
      else fns[nt - 1](g, g, nb, tp, yt + r, ldy, 0x00FF, false);
    }
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
      job.groups(r0, g_end, 0, 1, y, ldy, false);
    } else {
      // Groups in chunks of ~128 KiB of weights (even count), kept in L2 across token tiles.
      const int64_t chunk = imax(2, static_cast<int64_t>((128u << 10) / job.gb) & ~int64_t{1}) * kRepackRows;
      for (int64_t rc = r0; rc < g_end; rc += chunk) {
        const int64_t re = imin(g_end, rc + chunk);
        for (int64_t t0 = 0; t0 < n_tok; t0 += kNT) job.groups(rc, re, t0, static_cast<int>(imin(kNT, n_tok - t0)), y + t0 * ldy, ldy, t0 == 0);
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
      aside.groups(0, kRepackRows, t0, nt, tmp, kRepackRows, false);
      for (int t = 0; t < nt; ++t)
        for (int64_t r = gr; r < g_lim; ++r) y[(t0 + t) * ldy + r] = tmp[t * kRepackRows + (r - gr)];
    }
  }
  // Rows past the last full group keep the original format: the AVX2 file-layout kernel.
  if (r1 > full) base->matmul_repacked(wt, w, n_rows, imax(r0, full), r1, acts, y, ldy);
}

}  // namespace lfmd::kernels::avx512
