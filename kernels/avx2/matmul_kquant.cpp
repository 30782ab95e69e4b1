// AVX2 matmul for Q4_K, Q5_K, Q6_K weights against Q8_K activations (256-value super-blocks with
// an f32 scale and 16-value sums), quantized once per call. Per super-block: exact int32 sums with
// the 6/8-bit sub-block scales applied in integer, then one scale FMA.
#include <cmath>
#include <cstring>
#include <vector>

#include "kernels/avx2/common.h"
#include "kernels/avx2/lane_helpers.h"

namespace lfmd::kernels::avx2 {

namespace {

using ref::BlockQ8_K;
constexpr size_t kAlign = 64;

void quantize_tokens(const PreparedActs& acts, uint8_t* base) {
  const int64_t nb = acts.n_in / ref::QK_K;
  const size_t stride = q8_K_tok_stride(acts.n_in);
  const __m256 sign = _mm256_set1_ps(-0.0f);
  const __m256i perm = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  constexpr int kRne = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;
  for (int64_t t = 0; t < acts.n_tok; ++t) {
    auto* y = reinterpret_cast<BlockQ8_K*>(base + t * stride);
    const float* x = acts.x + t * acts.ldx;
    for (int64_t b = 0; b < nb; ++b, x += ref::QK_K) {
      __m256 m = _mm256_setzero_ps();
      for (int k = 0; k < ref::QK_K; k += 8) m = _mm256_max_ps(m, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + k)));
      __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
      m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
      m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
      const float amax = _mm_cvtss_f32(m4);
      BlockQ8_K& blk = y[b];
      if (amax == 0.0f) {
        std::memset(&blk, 0, sizeof(BlockQ8_K));
        continue;
      }
      float vmax = 0.0f;  // signed value of the first element of largest magnitude
      const __m256 am = _mm256_set1_ps(amax);
      for (int k = 0; k < ref::QK_K; k += 8) {
        const int hit = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_andnot_ps(sign, _mm256_loadu_ps(x + k)), am, _CMP_EQ_OQ));
        if (hit) {
          vmax = x[k + __builtin_ctz(static_cast<unsigned>(hit))];
          break;
        }
      }
      const float iscale = -127.0f / vmax;
      const __m256 is = _mm256_set1_ps(iscale);
      for (int k = 0; k < ref::QK_K; k += 32) {
        __m256i i0 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(_mm256_loadu_ps(x + k), is), kRne));
        __m256i i1 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(_mm256_loadu_ps(x + k + 8), is), kRne));
        __m256i i2 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(_mm256_loadu_ps(x + k + 16), is), kRne));
        __m256i i3 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(_mm256_loadu_ps(x + k + 24), is), kRne));
        // Saturating packs clamp at 127 (the reference's min(127, v)); the permute fixes lane order.
        const __m256i q = _mm256_permutevar8x32_epi32(
            _mm256_packs_epi16(_mm256_packs_epi32(i0, i1), _mm256_packs_epi32(i2, i3)), perm);
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(blk.qs + k), q);
      }
      // Sums of 16: q ^ 0x80 = q + 128 as unsigned, so each 8-byte psadbw sum is sum(q) + 1024.
      const __m256i flip = _mm256_set1_epi8(static_cast<char>(0x80));
      for (int k = 0; k < ref::QK_K; k += 32) {
        const __m256i sad = _mm256_sad_epu8(_mm256_xor_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk.qs + k)), flip),
                                            _mm256_setzero_si256());  // 4 x int64: sums of 8 bytes
        alignas(32) int64_t s8[4];
        _mm256_store_si256(reinterpret_cast<__m256i*>(s8), sad);
        blk.bsums[k / 16] = static_cast<int16_t>(s8[0] + s8[1] - 2048);
        blk.bsums[k / 16 + 1] = static_cast<int16_t>(s8[2] + s8[3] - 2048);
      }
      blk.d = 1.0f / iscale;
    }
  }
}

using x86::hsum_epi32;
using x86::unpack_scales_k4;

// Q4_K (HIGH5 = false) and Q5_K (HIGH5 = true): unsigned codes q in 0..15 / 0..31,
// value = d*sc_j*q - dmin*m_j. Per row and token: d*da*sum_j sc_j (q.a)_j - dmin*da*sum_j m_j sum(a)_j.
template <bool HIGH5>
struct KTile {
  template <int NR, int NT>
  struct K {
    static void run(const MatCtx& c, int64_t r, int64_t t0) {
      const int64_t nb = c.acts->n_in / ref::QK_K;
      const size_t wbytes = HIGH5 ? sizeof(ref::BlockQ5_K) : sizeof(ref::BlockQ4_K);
      const BlockQ8_K* ab[NT];
      for (int t = 0; t < NT; ++t)
        ab[t] = reinterpret_cast<const BlockQ8_K*>(static_cast<const uint8_t*>(c.q) + (t0 + t) * q8_K_tok_stride(c.acts->n_in));
      const __m256i m4 = _mm256_set1_epi8(0x0F);
      const __m256i bit4 = _mm256_set1_epi8(0x10);
      // The min terms are accumulated as ggml's AVX2 kernels do (4 lanes for Q4_K, a scalar for
      // Q5_K), which makes single-token results bit-identical with ggml_vec_dot_q{4,5}_K_q8_K.
      __m256 acc[NR][NT];
      __m128 accm4[NR][NT];
      float accm[NR][NT];
      for (int i = 0; i < NR; ++i)
        for (int t = 0; t < NT; ++t)
          acc[i][t] = _mm256_setzero_ps(), accm4[i][t] = _mm_setzero_ps(), accm[i][t] = 0.0f;
      for (int64_t b = 0; b < nb; ++b) {
        for (int i = 0; i < NR; ++i) {
          const uint8_t* blk = c.w + (r + i) * c.rb + b * wbytes;
          // Both layouts start with d, dmin, scales[12]; Q5_K then has qh[32] before qs[128].
          const float d = f16_to_f32(blk), dmin = f16_to_f32(blk + 2);
          const uint8_t* qs = blk + (HIGH5 ? 48 : 16);
          uint8_t sc[8], mn[8];
          unpack_scales_k4(blk + 4, sc, mn);
          uint64_t mn64;
          std::memcpy(&mn64, mn, 8);
          const __m128i mins16 = _mm_cvtepu8_epi16(_mm_cvtsi64_si128(static_cast<long long>(mn64)));
          __m256i hbits = _mm256_setzero_si256();
          if constexpr (HIGH5) hbits = loadu(blk + 16);
          __m256i sumi[NT];
          for (int t = 0; t < NT; ++t) sumi[t] = _mm256_setzero_si256();
          for (int g = 0; g < 4; ++g) {
            const __m256i raw = loadu(qs + 32 * g);
            __m256i lo = _mm256_and_si256(raw, m4);
            __m256i hi = _mm256_and_si256(_mm256_srli_epi16(raw, 4), m4);
            if constexpr (HIGH5) {
              // 5th bit of sub-block j is bit j of qh[l]: test it, turn it into 16.
              const __m256i ml = _mm256_set1_epi8(static_cast<char>(1 << (2 * g)));
              const __m256i mh = _mm256_set1_epi8(static_cast<char>(2 << (2 * g)));
              lo = _mm256_or_si256(lo, _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(hbits, ml), ml), bit4));
              hi = _mm256_or_si256(hi, _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(hbits, mh), mh), bit4));
            }
            const __m256i slo = _mm256_set1_epi16(sc[2 * g]);
            const __m256i shi = _mm256_set1_epi16(sc[2 * g + 1]);
            for (int t = 0; t < NT; ++t) {
              const int8_t* a = ab[t][b].qs + 64 * g;
              const __m256i plo = _mm256_madd_epi16(slo, _mm256_maddubs_epi16(lo, loadu(a)));
              const __m256i phi = _mm256_madd_epi16(shi, _mm256_maddubs_epi16(hi, loadu(a + 32)));
              sumi[t] = _mm256_add_epi32(sumi[t], _mm256_add_epi32(plo, phi));
            }
          }
          for (int t = 0; t < NT; ++t) {
            const float da = ab[t][b].d;
            const __m128i prod = _mm_madd_epi16(mins16, bsums32(ab[t][b]));
            if constexpr (HIGH5) {
              accm[i][t] += -(dmin * da) * static_cast<float>(hsum_epi32(prod));
            } else {
              accm4[i][t] = _mm_fmadd_ps(_mm_set1_ps(-(dmin * da)), _mm_cvtepi32_ps(prod), accm4[i][t]);
            }
            acc[i][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sumi[t]), _mm256_set1_ps(d * da), acc[i][t]);
          }
        }
      }
      for (int i = 0; i < NR; ++i)
        for (int t = 0; t < NT; ++t) {
          __m128 m = accm4[i][t];
          m = _mm_add_ps(m, _mm_movehl_ps(m, m));
          m = _mm_add_ss(m, _mm_movehdup_ps(m));
          c.y[(t0 + t) * c.ldy + r + i] = hsum(acc[i][t]) + (HIGH5 ? accm[i][t] : _mm_cvtss_f32(m));
        }
    }
  };
};

// Byte shuffles: 8 copies of scale 2p then 8 copies of scale 2p+1.
alignas(16) constexpr uint8_t kPairShuf[8][16] = {
    {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1},
    {2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3},
    {4, 4, 4, 4, 4, 4, 4, 4, 5, 5, 5, 5, 5, 5, 5, 5},
    {6, 6, 6, 6, 6, 6, 6, 6, 7, 7, 7, 7, 7, 7, 7, 7},
    {8, 8, 8, 8, 8, 8, 8, 8, 9, 9, 9, 9, 9, 9, 9, 9},
    {10, 10, 10, 10, 10, 10, 10, 10, 11, 11, 11, 11, 11, 11, 11, 11},
    {12, 12, 12, 12, 12, 12, 12, 12, 13, 13, 13, 13, 13, 13, 13, 13},
    {14, 14, 14, 14, 14, 14, 14, 14, 15, 15, 15, 15, 15, 15, 15, 15},
};

// Q6_K: unsigned 6-bit codes u (value u - 32), 16 sub-blocks of 16 with signed 8-bit scales.
// isum = sum_j sc_j (u.a)_j - 32 sum_j sc_j bsum_j.
template <int NR, int NT>
struct Q6KTile {
  static void run(const MatCtx& c, int64_t r, int64_t t0) {
    const int64_t nb = c.acts->n_in / ref::QK_K;
    const BlockQ8_K* ab[NT];
    for (int t = 0; t < NT; ++t)
      ab[t] = reinterpret_cast<const BlockQ8_K*>(static_cast<const uint8_t*>(c.q) + (t0 + t) * q8_K_tok_stride(c.acts->n_in));
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    const __m256i m03 = _mm256_set1_epi8(0x03), m0c = _mm256_set1_epi8(0x0C);
    const __m256i m30 = _mm256_set1_epi8(0x30), mc0 = _mm256_set1_epi8(static_cast<char>(0xC0));
    __m256 acc[NR][NT];
    for (int i = 0; i < NR; ++i)
      for (int t = 0; t < NT; ++t) acc[i][t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
      for (int i = 0; i < NR; ++i) {
        const auto* blk = reinterpret_cast<const ref::BlockQ6_K*>(c.w + (r + i) * c.rb) + b;
        const uint8_t* base = reinterpret_cast<const uint8_t*>(blk);
        const __m128i sc8 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(base + 192));
        const __m256i sc16 = _mm256_cvtepi8_epi16(sc8);
        const float d = f16_to_f32(base + 208);
        __m256i sumi[NT];
        for (int t = 0; t < NT; ++t)
          sumi[t] = _mm256_sub_epi32(_mm256_setzero_si256(),
                                     _mm256_slli_epi32(_mm256_madd_epi16(sc16, loadu(ab[t][b].bsums)), 5));
        for (int h = 0; h < 2; ++h) {
          const __m256i ql0 = loadu(base + 64 * h);
          const __m256i ql1 = loadu(base + 64 * h + 32);
          const __m256i qh = loadu(base + 128 + 32 * h);
          __m256i q[4];
          q[0] = _mm256_or_si256(_mm256_and_si256(ql0, m4), _mm256_slli_epi16(_mm256_and_si256(qh, m03), 4));
          q[1] = _mm256_or_si256(_mm256_and_si256(ql1, m4), _mm256_slli_epi16(_mm256_and_si256(qh, m0c), 2));
          q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), m4), _mm256_and_si256(qh, m30));
          q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), m4),
                                 _mm256_srli_epi16(_mm256_and_si256(qh, mc0), 2));
          for (int k = 0; k < 4; ++k) {
            // chunk k covers sub-blocks 8h+2k (low 16 values) and 8h+2k+1
            const __m128i shuf = _mm_load_si128(reinterpret_cast<const __m128i*>(kPairShuf[4 * h + k]));
            const __m256i s = _mm256_cvtepi8_epi16(_mm_shuffle_epi8(sc8, shuf));
            for (int t = 0; t < NT; ++t) {
              const __m256i a = loadu(ab[t][b].qs + 128 * h + 32 * k);
              sumi[t] = _mm256_add_epi32(sumi[t], _mm256_madd_epi16(s, _mm256_maddubs_epi16(q[k], a)));
            }
          }
        }
        for (int t = 0; t < NT; ++t)
          acc[i][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sumi[t]), _mm256_set1_ps(d * ab[t][b].d), acc[i][t]);
      }
    }
    for (int i = 0; i < NR; ++i)
      for (int t = 0; t < NT; ++t) c.y[(t0 + t) * c.ldy + r + i] = hsum(acc[i][t]);
  }
};

// Decode: one row at a time. Prefill: 1 row x 4 tokens (per-token int32 sums + float
// accumulators fill the 16 ymm registers).
constexpr TileSet kQ4KTiles = make_tiles<KTile<false>::K, 1, 1, 4>();
constexpr TileSet kQ5KTiles = make_tiles<KTile<true>::K, 1, 1, 4>();
constexpr TileSet kQ6KTiles = make_tiles<Q6KTile, 1, 1, 4>();

inline uint8_t* align_up(void* p) {
  const auto v = reinterpret_cast<uintptr_t>(p);
  return reinterpret_cast<uint8_t*>((v + kAlign - 1) / kAlign * kAlign);
}

}  // namespace

size_t q8_K_tok_stride(int64_t n_in) {
  const size_t bytes = static_cast<size_t>(n_in / ref::QK_K) * sizeof(BlockQ8_K);
  return (bytes + kAlign - 1) / kAlign * kAlign;
}

size_t q8_K_acts_bytes(int64_t n_in, int64_t n_tok) {
  return kAlign + q8_K_tok_stride(n_in) * static_cast<size_t>(n_tok);
}

void q8_K_prepare(PreparedActs& acts, void* scratch) {
  uint8_t* base = align_up(scratch);
  quantize_tokens(acts, base);
  acts.q = base;
}

void matmul_kquant(DType wt, const MatCtx& c, int64_t r0, int64_t r1) {
  // c.q is always prepared (the table's matmul quantizes privately when the caller did not).
  const TileSet& tiles = wt == DType::Q4_K ? kQ4KTiles : wt == DType::Q5_K ? kQ5KTiles : kQ6KTiles;
  run_tiles(tiles, c, r0, r1, c.acts->n_tok);
}

}  // namespace lfmd::kernels::avx2
