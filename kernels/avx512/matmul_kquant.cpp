// AVX-512 matmul for file-layout Q4_K / Q5_K / Q6_K weights against the AVX2 table's Q8_K
// activations. Per 64 weight bytes and token: vpmaddubsw (u8 codes x s8 acts -> s16 pairs) and
// vpdpwssd (pairs x the sub-blocks' int16 scales, added into int32 lanes): 2 instructions where the
// AVX2 kernel (kernels/avx2/matmul_kquant.cpp) spends 3 per 32 bytes. A zmm holds two of the
// AVX2 kernel's 32-byte chunks; folding its halves gives that kernel's 8 int32 lanes exactly (Q6_K
// prefill instead puts two rows' chunks in one zmm, each half one row's 8 lanes), and the floats
// then follow its operations one for one: results are bit-identical to the AVX2 table.
// Compiled with AVX-512 flags: only intrinsics, local helpers and the static ones of
// lane_helpers.h (no shared inline code).
#include <immintrin.h>

// GCC 12's vinserti64x4 passes _mm512_undefined_epi32 as its unused merge source (as noted in
// matmul_repacked.cpp), reported here as -Wuninitialized; nothing is uninitialized.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

#include <cstring>

#include "kernels/avx2/lane_helpers.h"  // static: compiled under this file's flags
#include "kernels/avx2/common.h"  // declarations (MatCtx, TileSet, run_tiles); no inline use
#include "kernels/avx512/avx512.h"

namespace lfmd::kernels::avx512 {

namespace {

using ref::BlockQ8_K;
using x86::f16;
using x86::hsum4;
using x86::hsum8;
using x86::hsum_epi32;
using x86::ld256;
using x86::unpack_scales_k4;

inline __m512i ld512(const void* p) {
  return _mm512_loadu_si512(p);
}
inline __m512i bcast256(const void* p) {
  return _mm512_broadcast_i64x4(ld256(p));
}
// 16 int32 lanes -> the AVX2 kernel's 8 (lane j + lane j+8; exact).
inline __m256i fold(__m512i v) {
  return _mm256_add_epi32(_mm512_castsi512_si256(v), _mm512_extracti64x4_epi64(v, 1));
}
// Word index vector: word e of the result takes word base + e / per of the source.
inline __m512i widx(int base, int per) {
  alignas(64) int16_t v[32];
  for (int e = 0; e < 32; ++e) v[e] = static_cast<int16_t>(base + e / per);
  return _mm512_load_si512(v);
}
// Word shift counts: 0 in the low 256 bits, s in the high ones.
inline __m512i hi_shift(int s) {
  return _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi16(static_cast<int16_t>(s)), 1);
}

const BlockQ8_K* tok_blocks(const avx2::MatCtx& c, int64_t t) {
  return reinterpret_cast<const BlockQ8_K*>(static_cast<const uint8_t*>(c.q) +
                                            t * avx2::q8_K_tok_stride(c.acts->n_in));
}

// Q4_K (HIGH5 = false) and Q5_K (HIGH5 = true), 1 row x NT tokens. Zmm g of a super-block:
// low half = sub-block 2g (low nibbles of qs[32g..]), high half = 2g+1 (high nibbles); both
// against the 64 activations 64g.. in order.
template <bool HIGH5>
struct KTile {
  template <int NR, int NT>
  struct K {
    static void run(const avx2::MatCtx& c, int64_t r, int64_t t0) {
      static_assert(NR == 1);
      const int64_t nb = c.acts->n_in / ref::QK_K;
      const size_t wbytes = HIGH5 ? sizeof(ref::BlockQ5_K) : sizeof(ref::BlockQ4_K);
      const BlockQ8_K* ab[NT];
      for (int t = 0; t < NT; ++t) ab[t] = tok_blocks(c, t0 + t);
      const __m512i m4 = _mm512_set1_epi8(0x0F), bit4 = _mm512_set1_epi8(0x10), sh4 = hi_shift(4);
      __m256 acc[NT];
      __m128 accm4[NT];
      float accm[NT];
      for (int t = 0; t < NT; ++t)
        acc[t] = _mm256_setzero_ps(), accm4[t] = _mm_setzero_ps(), accm[t] = 0.0f;
      for (int64_t b = 0; b < nb; ++b) {
        const uint8_t* blk = c.w + r * c.rb + b * wbytes;
        const float d = f16(blk), dmin = f16(blk + 2);
        const uint8_t* qs = blk + (HIGH5 ? 48 : 16);
        uint8_t sc[8], mn[8];
        unpack_scales_k4(blk + 4, sc, mn);
        uint64_t sc64, mn64;
        std::memcpy(&sc64, sc, 8);
        std::memcpy(&mn64, mn, 8);
        const __m128i mins16 = _mm_cvtepu8_epi16(_mm_cvtsi64_si128(static_cast<long long>(mn64)));
        const __m512i sc16 = _mm512_castsi128_si512(
            _mm_cvtepu8_epi16(_mm_cvtsi64_si128(static_cast<long long>(sc64))));
        __m512i hb = _mm512_setzero_si512();
        if constexpr (HIGH5) hb = bcast256(blk + 16);
        __m512i sz[NT];
        for (int t = 0; t < NT; ++t) sz[t] = _mm512_setzero_si512();
        for (int g = 0; g < 4; ++g) {
          __m512i q = _mm512_and_si512(_mm512_srlv_epi16(bcast256(qs + 32 * g), sh4), m4);
          if constexpr (HIGH5) {
            // 5th bit of sub-block j is bit j of qh[l]: 2g for the low half, 2g+1 for the high.
            const __m512i bits =
                _mm512_inserti64x4(_mm512_set1_epi8(static_cast<char>(1 << (2 * g))),
                                   _mm256_set1_epi8(static_cast<char>(2 << (2 * g))), 1);
            q = _mm512_mask_add_epi8(q, _mm512_test_epi8_mask(hb, bits), q, bit4);
          }
          const __m512i s = _mm512_permutexvar_epi16(widx(2 * g, 16), sc16);
          for (int t = 0; t < NT; ++t)
            sz[t] =
                _mm512_dpwssd_epi32(sz[t], _mm512_maddubs_epi16(q, ld512(ab[t][b].qs + 64 * g)), s);
        }
        for (int t = 0; t < NT; ++t) {
          const float da = ab[t][b].d;
          const __m256i bs = ld256(ab[t][b].bsums);
          const __m128i bsums32 =
              _mm_hadd_epi16(_mm256_castsi256_si128(bs), _mm256_extracti128_si256(bs, 1));
          const __m128i prod = _mm_madd_epi16(mins16, bsums32);
          if constexpr (HIGH5) {
            accm[t] += -(dmin * da) * static_cast<float>(hsum_epi32(prod));
          } else {
            accm4[t] = _mm_fmadd_ps(_mm_set1_ps(-(dmin * da)), _mm_cvtepi32_ps(prod), accm4[t]);
          }
          acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(fold(sz[t])), _mm256_set1_ps(d * da), acc[t]);
        }
      }
      for (int t = 0; t < NT; ++t)
        c.y[(t0 + t) * c.ldy + r] = hsum8(acc[t]) + (HIGH5 ? accm[t] : hsum4(accm4[t]));
    }
  };
};

// Word indices for run_pair's scale vectors: chunk c = 4h + k, word e takes sc16 word
// 16 (e / 16) + 2c + (e % 16) / 8 (that half's row, sub-blocks 2c and 2c + 1).
struct PairIdx {
  alignas(64) int16_t v[8][32];
};
constexpr PairIdx make_pair_idx() {
  PairIdx p{};
  for (int ch = 0; ch < 8; ++ch)
    for (int e = 0; e < 32; ++e)
      p.v[ch][e] = static_cast<int16_t>(16 * (e / 16) + 2 * ch + (e % 16) / 8);
  return p;
}
constexpr PairIdx kPairIdx = make_pair_idx();

// Q6_K, 1 row x NT tokens: unsigned 6-bit codes u (value u - 32), 16 sub-blocks of 16, signed
// scales; isum = sum_j sc_j (u.a)_j - 32 sum_j sc_j bsum_j. Zmm c covers the 64 values 64c.. =
// sub-blocks 4c..4c+3 (the AVX2 kernel's chunks (h, k) = (c/2, 2(c%2)) and (c/2, 2(c%2)+1)).
template <int NR, int NT>
struct Q6KTile {
  static void run(const avx2::MatCtx& c, int64_t r, int64_t t0) {
    static_assert(NR == 1 || NR == 2);
    if constexpr (NR == 2) {
      run_pair(c, r, t0);
      return;
    }
    const int64_t nb = c.acts->n_in / ref::QK_K;
    const BlockQ8_K* ab[NT];
    for (int t = 0; t < NT; ++t) ab[t] = tok_blocks(c, t0 + t);
    const __m512i m4 = _mm512_set1_epi8(0x0F), m30 = _mm512_set1_epi8(0x30), sh2 = hi_shift(2);
    __m256 acc[NT];
    for (int t = 0; t < NT; ++t) acc[t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
      const uint8_t* base = c.w + r * c.rb + b * sizeof(ref::BlockQ6_K);
      const __m128i sc8 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(base + 192));
      const __m256i sc16 = _mm256_cvtepi8_epi16(sc8);
      const float d = f16(base + 208);
      // The -32 bias term starts the sums: lane j (< 8) = -32 (sc_2j bsum_2j + sc_2j+1 bsum_2j+1)
      // as in the AVX2 kernel (|-32 sc| <= 4096 fits int16); lanes 8..15 start at 0.
      const __m512i scm32 = _mm512_zextsi256_si512(
          _mm256_sub_epi16(_mm256_setzero_si256(), _mm256_slli_epi16(sc16, 5)));
      __m512i sz[NT];
      for (int t = 0; t < NT; ++t)
        sz[t] = _mm512_dpwssd_epi32(_mm512_setzero_si512(),
                                    _mm512_zextsi256_si512(ld256(ab[t][b].bsums)), scm32);
      for (int h = 0; h < 2; ++h) {
        const __m512i ql = ld512(base + 64 * h);  // low half: ql0 of the AVX2 kernel, high: ql1
        // qh bits 0-1 / 4-5 (low half) and 2-3 / 6-7 (high half) moved to bits 0-1 / 4-5.
        const __m512i hq = _mm512_srlv_epi16(bcast256(base + 128 + 32 * h), sh2);
        const __m512i q01 = _mm512_or_si512(_mm512_and_si512(ql, m4),
                                            _mm512_and_si512(_mm512_slli_epi16(hq, 4), m30));
        const __m512i q23 = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(ql, 4), m4),
                                            _mm512_and_si512(hq, m30));
        const __m512i s01 = _mm512_permutexvar_epi16(widx(8 * h, 8), _mm512_castsi256_si512(sc16));
        const __m512i s23 =
            _mm512_permutexvar_epi16(widx(8 * h + 4, 8), _mm512_castsi256_si512(sc16));
        for (int t = 0; t < NT; ++t) {
          const int8_t* a = ab[t][b].qs + 128 * h;
          sz[t] = _mm512_dpwssd_epi32(sz[t], _mm512_maddubs_epi16(q01, ld512(a)), s01);
          sz[t] = _mm512_dpwssd_epi32(sz[t], _mm512_maddubs_epi16(q23, ld512(a + 64)), s23);
        }
      }
      for (int t = 0; t < NT; ++t) {
        const __m256 isum = _mm256_cvtepi32_ps(fold(sz[t]));
        acc[t] = _mm256_fmadd_ps(isum, _mm256_set1_ps(d * ab[t][b].d), acc[t]);
      }
    }
    for (int t = 0; t < NT; ++t) c.y[(t0 + t) * c.ldy + r] = hsum8(acc[t]);
  }

  // Rows r and r + 1 x NT tokens: lanes 0..7 hold row r's 8 AVX2 lanes, 8..15 row r + 1's, so
  // each 32-byte chunk of codes (both rows) meets the token's chunk broadcast to both halves, the
  // scale step is the AVX2 kernel's madd as one vpdpwssd, and no fold is needed.
  static void run_pair(const avx2::MatCtx& c, int64_t r, int64_t t0) {
    const int64_t nb = c.acts->n_in / ref::QK_K;
    const BlockQ8_K* ab[NT];
    for (int t = 0; t < NT; ++t) ab[t] = tok_blocks(c, t0 + t);
    const __m512i m4 = _mm512_set1_epi8(0x0F), m03 = _mm512_set1_epi8(0x03),
                  m0c = _mm512_set1_epi8(0x0C), m30 = _mm512_set1_epi8(0x30),
                  mc0 = _mm512_set1_epi8(static_cast<char>(0xC0));
    const __m512i zero = _mm512_setzero_si512();
    __m512 acc[NT];
    for (int t = 0; t < NT; ++t) acc[t] = _mm512_setzero_ps();
    const x86::RowsAhead ahead(c.w, c.rb, r, 2, sizeof(ref::BlockQ6_K), t0 == 0);
    for (int64_t b = 0; b < nb; ++b) {
      const uint8_t* b0 = c.w + r * c.rb + b * sizeof(ref::BlockQ6_K);
      const uint8_t* b1 = b0 + c.rb;
      // One core from DRAM, 2048 columns: 2 tokens 8.5 -> 22 GB/s, 8 tokens 33 -> 110 GMAC/s.
      ahead.at(b);
      auto sc_of = [](const uint8_t* blk) {
        return _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 192)));
      };
      const __m512i sc16 = _mm512_inserti64x4(_mm512_castsi256_si512(sc_of(b0)), sc_of(b1), 1);
      const __m512 dv =
          _mm512_castpd_ps(_mm512_insertf64x4(_mm512_castps_pd(_mm512_set1_ps(f16(b0 + 208))),
                                              _mm256_castps_pd(_mm256_set1_ps(f16(b1 + 208))), 1));
      // -32 (sc_2j bsum_2j + sc_2j+1 bsum_2j+1) in lane j of each half, as the AVX2 kernel starts.
      const __m512i scm32 = _mm512_sub_epi16(zero, _mm512_slli_epi16(sc16, 5));
      __m512i sz[NT];
      for (int t = 0; t < NT; ++t)
        sz[t] = _mm512_dpwssd_epi32(zero, bcast256(ab[t][b].bsums), scm32);
      for (int h = 0; h < 2; ++h) {
        auto both = [&](size_t off) {
          return _mm512_inserti64x4(_mm512_castsi256_si512(ld256(b0 + off)), ld256(b1 + off), 1);
        };
        const __m512i ql0 = both(64 * h), ql1 = both(64 * h + 32), qh = both(128 + 32 * h);
        __m512i q[4];  // the AVX2 kernel's chunks k = 0..3 of this half, for both rows
        q[0] = _mm512_or_si512(_mm512_and_si512(ql0, m4),
                               _mm512_slli_epi16(_mm512_and_si512(qh, m03), 4));
        q[1] = _mm512_or_si512(_mm512_and_si512(ql1, m4),
                               _mm512_slli_epi16(_mm512_and_si512(qh, m0c), 2));
        q[2] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(ql0, 4), m4),
                               _mm512_and_si512(qh, m30));
        q[3] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(ql1, 4), m4),
                               _mm512_srli_epi16(_mm512_and_si512(qh, mc0), 2));
        for (int k = 0; k < 4; ++k) {
          // Words 0..7 / 8..15 of each half: the row's scales of sub-blocks 8h+2k and 8h+2k+1.
          const __m512i s =
              _mm512_permutexvar_epi16(_mm512_load_si512(kPairIdx.v[4 * h + k]), sc16);
          for (int t = 0; t < NT; ++t)
            sz[t] = _mm512_dpwssd_epi32(
                sz[t], _mm512_maddubs_epi16(q[k], bcast256(ab[t][b].qs + 128 * h + 32 * k)), s);
        }
      }
      for (int t = 0; t < NT; ++t)
        acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sz[t]),
                                 _mm512_mul_ps(dv, _mm512_set1_ps(ab[t][b].d)), acc[t]);
    }
    for (int t = 0; t < NT; ++t) {
      float* y = c.y + (t0 + t) * c.ldy + r;
      y[0] = hsum8(_mm512_castps512_ps256(acc[t]));
      y[1] = hsum8(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(acc[t]), 1)));
    }
  }
};

// Decode: one row. Prefill: 2 rows x 8 tokens for Q6_K (8 zmm int32 sums + 8 zmm float sums), 1
// row x 8 tokens for Q4_K / Q5_K.
constexpr avx2::TileSet kQ4KTiles = avx2::make_tiles<KTile<false>::K, 1, 1, 8>();
constexpr avx2::TileSet kQ5KTiles = avx2::make_tiles<KTile<true>::K, 1, 1, 8>();
constexpr avx2::TileSet kQ6KTiles = avx2::make_tiles<Q6KTile, 1, 2, 8>();

}  // namespace

// F32 / F16 / BF16 prefill tiles (kernels/avx512/matmul_float.cpp) and Q8_0 prefill tiles
// (kernels/avx512/matmul_q8_0.cpp).
void float_prefill(DType wt, const avx2::MatCtx& c, int64_t r0, int64_t r1);
void q8_0_prefill(const avx2::MatCtx& c, int64_t r0, int64_t r1);

void matmul(DType wt, const void* w, size_t w_row_bytes, int64_t r0, int64_t r1,
            const PreparedActs& acts, float* y, int64_t ldy) {
  const bool fl = wt == DType::F32 || wt == DType::F16 || wt == DType::BF16;
  // Rows with a scalar tail (n_in % 8) stay on AVX2: the compiler vectorizes that tail loop
  // differently per ISA (fused or separate multiply-adds), which would change the last bits.
  if (fl && acts.n_tok > 1 && r1 > r0 && acts.n_in % 8 == 0) {
    const avx2::MatCtx c{static_cast<const uint8_t*>(w), w_row_bytes, &acts, nullptr, y, ldy};
    float_prefill(wt, c, r0, r1);
    return;
  }
  if (wt == DType::Q8_0 && acts.q != nullptr && acts.n_tok > 1 && r1 > r0) {
    const avx2::MatCtx c{static_cast<const uint8_t*>(w), w_row_bytes, &acts, acts.q, y, ldy};
    q8_0_prefill(c, r0, r1);
    return;
  }
  const bool kq = wt == DType::Q4_K || wt == DType::Q5_K || wt == DType::Q6_K;
  if (!kq || acts.q == nullptr || r1 <= r0 || acts.n_tok <= 0) {
    // Other types, decode with float weights, or activations to quantize privately: the AVX2
    // table (same results).
    avx2_table()->matmul(wt, w, w_row_bytes, r0, r1, acts, y, ldy);
    return;
  }
  const avx2::MatCtx c{static_cast<const uint8_t*>(w), w_row_bytes, &acts, acts.q, y, ldy};
  const avx2::TileSet& tiles = wt == DType::Q4_K   ? kQ4KTiles
                               : wt == DType::Q5_K ? kQ5KTiles
                                                   : kQ6KTiles;
  avx2::run_tiles(tiles, c, r0, r1, acts.n_tok);
}

}  // namespace lfmd::kernels::avx512
