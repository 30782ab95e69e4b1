// AVX2 matmul on repacked Q4_0 / Q8_0 / Q4_K matrices (layout in kernels.h, kRepackRows = 8).
// One 32-byte load holds 4 quant bytes of each of 8 rows; multiplied (vpmaddubsw) by one
// broadcast 4-byte group of int8 activations it yields partial dots of 8 rows in 8 lanes, so the
// unpacked weights feed 8 output rows with no horizontal sums. Q4_0 keeps unsigned nibbles and
// accumulates the 8 products of a 32-column block in int16 (|sum| <= 8 * 2 * 15 * 127 = 30480),
// then subtracts 8 * sum(a) (prepared per block) for the -8 bias: one float FMA per block and
// 8 rows.
#include <algorithm>

#include "kernels/avx2/common.h"

namespace lfmd::kernels::avx2 {

namespace {

inline __m256i bcast4(const uint8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return _mm256_set1_epi32(v);
}

struct TokPtrs {
  const uint8_t* qs;
  const float* d;
  const int32_t* s8;
};

template <int NT>
void q4_0_group(const uint8_t* g, int64_t nb, const TokPtrs* tok, float* y, int64_t ldy) {
  const __m256i m4 = _mm256_set1_epi8(0x0F);
  const __m256i ones = _mm256_set1_epi16(1);
  __m256 acc[NT];
  for (int t = 0; t < NT; ++t) acc[t] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b, g += 144) {
    const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(g)));
    __m256i q[8];
    for (int u = 0; u < 4; ++u) {
      const __m256i raw = loadu(g + 16 + 32 * u);
      q[u] = _mm256_and_si256(raw, m4);                         // columns 4u..4u+3
      q[u + 4] = _mm256_and_si256(_mm256_srli_epi16(raw, 4), m4);  // columns 16+4u..16+4u+3
    }
    for (int t = 0; t < NT; ++t) {
      const uint8_t* a = tok[t].qs + 32 * b;
      __m256i s0 = _mm256_maddubs_epi16(q[0], bcast4(a));
      __m256i s1 = _mm256_maddubs_epi16(q[1], bcast4(a + 4));
      s0 = _mm256_add_epi16(s0, _mm256_maddubs_epi16(q[2], bcast4(a + 8)));
      s1 = _mm256_add_epi16(s1, _mm256_maddubs_epi16(q[3], bcast4(a + 12)));
      s0 = _mm256_add_epi16(s0, _mm256_maddubs_epi16(q[4], bcast4(a + 16)));
      s1 = _mm256_add_epi16(s1, _mm256_maddubs_epi16(q[5], bcast4(a + 20)));
      s0 = _mm256_add_epi16(s0, _mm256_maddubs_epi16(q[6], bcast4(a + 24)));
      s1 = _mm256_add_epi16(s1, _mm256_maddubs_epi16(q[7], bcast4(a + 28)));
      const __m256i i32 = _mm256_sub_epi32(_mm256_madd_epi16(_mm256_add_epi16(s0, s1), ones),
                                           _mm256_set1_epi32(tok[t].s8[b]));
      acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(i32), _mm256_mul_ps(dw, _mm256_set1_ps(tok[t].d[b])), acc[t]);
    }
  }
  for (int t = 0; t < NT; ++t) _mm256_storeu_ps(y + t * ldy, acc[t]);
}

// Q8_0: |w| (unsigned) times sign(w)*a, each 4-column product pair widened to int32 (two
// products of 128 * 127 would overflow int16).
template <int NT>
void q8_0_group(const uint8_t* g, int64_t nb, const TokPtrs* tok, float* y, int64_t ldy) {
  const __m256i ones = _mm256_set1_epi16(1);
  __m256 acc[NT];
  for (int t = 0; t < NT; ++t) acc[t] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b, g += 272) {
    const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(g)));
    __m256i q[8], qa[8];
    for (int u = 0; u < 8; ++u) {
      q[u] = loadu(g + 16 + 32 * u);
      qa[u] = _mm256_sign_epi8(q[u], q[u]);
    }
    for (int t = 0; t < NT; ++t) {
      const uint8_t* a = tok[t].qs + 32 * b;
      __m256i s0 = _mm256_setzero_si256(), s1 = _mm256_setzero_si256();
      for (int u = 0; u < 8; u += 2) {
        s0 = _mm256_add_epi32(s0, _mm256_madd_epi16(_mm256_maddubs_epi16(qa[u], _mm256_sign_epi8(bcast4(a + 4 * u), q[u])), ones));
        s1 = _mm256_add_epi32(s1, _mm256_madd_epi16(_mm256_maddubs_epi16(qa[u + 1], _mm256_sign_epi8(bcast4(a + 4 * u + 4), q[u + 1])), ones));
      }
      acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_add_epi32(s0, s1)),
                               _mm256_mul_ps(dw, _mm256_set1_ps(tok[t].d[b])), acc[t]);
    }
  }
  for (int t = 0; t < NT; ++t) _mm256_storeu_ps(y + t * ldy, acc[t]);
}

// Q4_K, 8 rows per group (layout in kernels.h): each 32-byte load holds 4 quant bytes of 8 rows,
// i.e. 4 values of sub-block 2p (low nibbles) and of 2p+1 (high nibbles) per row. The 8 units of a
// sub-block sum in int16 (|sum| <= 8 * 2 * 15 * 127 = 30480) in four-unit halves, so one vpmaddwd
// per half and token applies the row's 6-bit scale; the min term is one vpmaddwd per sub-block
// pair and token. Per super-block: d*da*isum - dmin*da*msum, one FMA each, for 8 rows.
template <int NT>
void q4_K_group(const uint8_t* g, int64_t nb, const ref::BlockQ8_K* const* tok, float* y,
                int64_t ldy) {
  const __m256i m4 = _mm256_set1_epi8(0x0F), m6 = _mm256_set1_epi8(0x3F),
                m30 = _mm256_set1_epi8(0x30);
  __m256 acc[NT], accm[NT];
  for (int t = 0; t < NT; ++t) acc[t] = accm[t] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b, g += kRepackRows * sizeof(ref::BlockQ4_K)) {
    const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(g)));
    const __m256 dmw = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(g + 16)));
    // Packed scale bytes k = 0..11 of the 8 rows, [k][row]: A = k 0..3, B = 4..7, C = 8..11.
    const __m256i A = loadu(g + 32), B = loadu(g + 64), C = loadu(g + 96);
    alignas(32) uint8_t sc[64], mn[64];  // [sub-block j][row]
    _mm256_store_si256(reinterpret_cast<__m256i*>(sc), _mm256_and_si256(A, m6));
    _mm256_store_si256(
        reinterpret_cast<__m256i*>(sc + 32),
        _mm256_or_si256(_mm256_and_si256(C, m4), _mm256_and_si256(_mm256_srli_epi16(A, 2), m30)));
    _mm256_store_si256(reinterpret_cast<__m256i*>(mn), _mm256_and_si256(B, m6));
    _mm256_store_si256(reinterpret_cast<__m256i*>(mn + 32),
                       _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(C, 4), m4),
                                       _mm256_and_si256(_mm256_srli_epi16(B, 2), m30)));
    __m256i s16[8];  // int32 lane r = row r's scale of sub-block j in both int16 halves
    for (int j = 0; j < 8; ++j) {
      const __m256i v =
          _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(sc + 8 * j)));
      s16[j] = _mm256_or_si256(v, _mm256_slli_epi32(v, 16));
    }
    __m256i mp[4];  // int16 pairs (m_2k, m_2k+1) per row
    for (int k = 0; k < 4; ++k)
      mp[k] = _mm256_cvtepu8_epi16(
          _mm_unpacklo_epi8(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(mn + 16 * k)),
                            _mm_loadl_epi64(reinterpret_cast<const __m128i*>(mn + 16 * k + 8))));
    __m256i isum[NT];
    for (int t = 0; t < NT; ++t) isum[t] = _mm256_setzero_si256();
    const uint8_t* qs = g + 128;
    // Half h: units 4h..4h+3 of sub-blocks 2(h/2) and 2(h/2)+1.
    for (int h = 0; h < 8; ++h, qs += 128) {
      __m256i lo[4], hi[4];
      for (int u = 0; u < 4; ++u) {
        const __m256i raw = loadu(qs + 32 * u);
        lo[u] = _mm256_and_si256(raw, m4);
        hi[u] = _mm256_and_si256(_mm256_srli_epi16(raw, 4), m4);
      }
      const int p = h >> 1, off = 64 * p + 16 * (h & 1);
      for (int t = 0; t < NT; ++t) {
        const uint8_t* a = reinterpret_cast<const uint8_t*>(tok[t][b].qs) + off;
        __m256i sl = _mm256_maddubs_epi16(lo[0], bcast4(a));
        __m256i sh = _mm256_maddubs_epi16(hi[0], bcast4(a + 32));
        for (int u = 1; u < 4; ++u) {
          sl = _mm256_add_epi16(sl, _mm256_maddubs_epi16(lo[u], bcast4(a + 4 * u)));
          sh = _mm256_add_epi16(sh, _mm256_maddubs_epi16(hi[u], bcast4(a + 32 + 4 * u)));
        }
        isum[t] =
            _mm256_add_epi32(isum[t], _mm256_add_epi32(_mm256_madd_epi16(sl, s16[2 * p]),
                                                       _mm256_madd_epi16(sh, s16[2 * p + 1])));
      }
    }
    for (int t = 0; t < NT; ++t) {
      const ref::BlockQ8_K& a = tok[t][b];
      // Sub-block sums of the activations (bsums are per 16), as int16 pairs broadcast per k.
      const __m256i bs8 = _mm256_broadcastsi128_si256(bsums32(a));
      const __m256i msum = _mm256_add_epi32(
          _mm256_add_epi32(_mm256_madd_epi16(mp[0], _mm256_shuffle_epi32(bs8, 0x00)),
                           _mm256_madd_epi16(mp[1], _mm256_shuffle_epi32(bs8, 0x55))),
          _mm256_add_epi32(_mm256_madd_epi16(mp[2], _mm256_shuffle_epi32(bs8, 0xAA)),
                           _mm256_madd_epi16(mp[3], _mm256_shuffle_epi32(bs8, 0xFF))));
      const __m256 da = _mm256_set1_ps(a.d);
      acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[t]), _mm256_mul_ps(dw, da), acc[t]);
      accm[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(msum), _mm256_mul_ps(dmw, da), accm[t]);
    }
  }
  for (int t = 0; t < NT; ++t) _mm256_storeu_ps(y + t * ldy, _mm256_sub_ps(acc[t], accm[t]));
}

constexpr int kNT = 4;
template <class Tok>
using GroupFn = void (*)(const uint8_t*, int64_t, const Tok*, float*, int64_t);
constexpr GroupFn<TokPtrs> kQ4_0[kNT] = {q4_0_group<1>, q4_0_group<2>, q4_0_group<3>,
                                         q4_0_group<4>};
constexpr GroupFn<TokPtrs> kQ8_0[kNT] = {q8_0_group<1>, q8_0_group<2>, q8_0_group<3>,
                                         q8_0_group<4>};
using KTok = const ref::BlockQ8_K*;
constexpr GroupFn<KTok> kQ4_K[kNT] = {q4_K_group<1>, q4_K_group<2>, q4_K_group<3>, q4_K_group<4>};

// Rows [r0, min(r1, full)) from the row groups; fns[nt-1] computes one group of 8 rows for nt
// tokens; tok(t) is token t's activation handle; gb bytes per group, nb blocks per row.
template <class Tok, class TokOf>
void run_groups(const MatCtx& c, int64_t full, int64_t r0, int64_t r1, size_t gb, int64_t nb,
                const GroupFn<Tok>* fns, TokOf tok) {
  const int64_t g_lim = std::min(r1, full);                 // rows computed from groups
  const int64_t g_end = g_lim / kRepackRows * kRepackRows;  // whole groups in range
  const int64_t n_tok = c.acts->n_tok;
  if (r0 >= g_lim) return;
  if (n_tok == 1) {
    const Tok tp = tok(0);
    for (int64_t r = r0; r < g_end; r += kRepackRows)
      fns[0](c.w + (r / kRepackRows) * gb, nb, &tp, c.y + r, c.ldy);
  } else {
    // Groups in chunks of ~128 KiB of weights, so they stay in L2 while every token tile reads
    // them.
    const int64_t chunk =
        std::max<int64_t>(1, static_cast<int64_t>((128u << 10) / gb)) * kRepackRows;
    for (int64_t rc = r0; rc < g_end; rc += chunk) {
      const int64_t re = std::min(g_end, rc + chunk);
      for (int64_t t0 = 0; t0 < n_tok; t0 += kNT) {
        const int nt = static_cast<int>(std::min<int64_t>(kNT, n_tok - t0));
        Tok tp[kNT];
        for (int t = 0; t < nt; ++t) tp[t] = tok(t0 + t);
        for (int64_t r = rc; r < re; r += kRepackRows) {
          fns[nt - 1](c.w + (r / kRepackRows) * gb, nb, tp, c.y + t0 * c.ldy + r, c.ldy);
        }
      }
    }
  }
  if (g_lim > g_end && g_lim > r0) {
    // A range ending inside a group: compute the whole group aside, keep the rows asked for.
    const int64_t gr = std::max(r0, g_end);
    float tmp[kNT * kRepackRows];
    for (int64_t t0 = 0; t0 < n_tok; t0 += kNT) {
      const int nt = static_cast<int>(std::min<int64_t>(kNT, n_tok - t0));
      Tok tp[kNT];
      for (int t = 0; t < nt; ++t) tp[t] = tok(t0 + t);
      fns[nt - 1](c.w + (gr / kRepackRows) * gb, nb, tp, tmp, kRepackRows);
      for (int t = 0; t < nt; ++t)
        for (int64_t r = gr; r < g_lim; ++r)
          c.y[(t0 + t) * c.ldy + r] = tmp[t * kRepackRows + (r - gr)];
    }
  }
}

}  // namespace

void matmul_repacked(DType wt, const MatCtx& c, int64_t n_rows, int64_t r0, int64_t r1) {
  const int64_t full = n_rows / kRepackRows * kRepackRows;
  const size_t gb = c.rb * kRepackRows;  // bytes per group
  if (wt == DType::Q4_K) {
    const size_t stride = q8_K_tok_stride(c.acts->n_in);
    const auto* base = static_cast<const uint8_t*>(c.q);
    run_groups<KTok>(c, full, r0, r1, gb, c.acts->n_in / ref::QK_K, kQ4_K,
                     [&](int64_t t) { return reinterpret_cast<KTok>(base + t * stride); });
  } else {
    const Q8_0ActsLayout l = q8_0_acts_layout(c.acts->n_in);
    run_groups<
        TokPtrs>(c, full, r0, r1, gb, l.nb, wt == DType::Q4_0 ? kQ4_0 : kQ8_0, [&](int64_t t) {
      const uint8_t* base = static_cast<const uint8_t*>(c.q) + t * l.stride;
      return TokPtrs{base, reinterpret_cast<const float*>(base + l.d_off), reinterpret_cast<const int32_t*>(base + l.s8_off)};
    });
  }
  // Rows past the last full group keep the original format, at the same offsets (rb per row).
  if (r1 > full) (wt == DType::Q4_K ? matmul_kquant : matmul_q8_0)(wt, c, std::max(r0, full), r1);
}

}  // namespace lfmd::kernels::avx2
