// AVX-512 tiled attention (kernels.h attention_tile): the AVX2 kernel's per-row float operations
// (kernels/avx2/attention.cpp) on zmm, bit for bit. Scores: a zmm holds two keys' 8-lane chains
// (the same FMAs per lane, q's 8 dims broadcast to both halves) and the same hadd tree, so 16
// keys take 8 zmm; the max, exp and 8-lane sums run on 16 lanes with the same per-lane operations;
// V is accumulated for up to kRows query rows of one token at once (independent FMA chains that
// share each V load). The key block after next is prefetched: a decode tile does little math per
// block, and its history of strided rows (one head's 128 bytes of every 1 KiB row) otherwise
// stalls on memory. Head dims that are not a multiple of 16 go to the AVX2 kernel.
// Compiled with AVX-512 flags: only intrinsics and local helpers (no shared inline code, no
// std containers: their inline instantiations could be handed to other tables by the linker).
#include <immintrin.h>

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

#include <cmath>
#include <cstdlib>

#include "kernels/avx2/common.h"  // declaration of avx2::attention_tile only; no inline use
#include "kernels/avx512/avx512.h"

namespace lfmd::kernels::avx512 {

namespace {

constexpr int64_t kB = kAttnKeyBlock;
static_assert(kB == 32, "a key block is two groups of 16 scores");
constexpr int kRows = 4;  // query rows of one token accumulated together
constexpr int64_t kPrefetchBlocks = 2;  // key blocks ahead

int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

struct RowState {
  float mx = -INFINITY;  // running max of the scaled scores
  double sum = 0.0;      // running sum of exp(score - mx)
};

// A growable per-thread float buffer (malloc'd, 64-byte aligned, never shrinks).
struct Buf {
  float* p = nullptr;
  size_t n = 0;
  ~Buf() { std::free(p); }
  float* get(size_t want) {
    if (want > n) {
      std::free(p);
      p = static_cast<float*>(std::aligned_alloc(64, ((want * sizeof(float) + 63) / 64) * 64));
      if (p == nullptr) std::abort();
      for (size_t i = 0; i < want; ++i) p[i] = 0.0f;  // slots past a block's keys are read, unused
      n = want;
    }
    return p;
  }
};

// avx2::exp8 (kernels/avx2/activations.cpp) on 16 lanes: the same operations per lane (its fast
// path's fma(p, scale, scale) equals the slow path's fma(scale, p, scale) for normal lanes).
__m512 exp16(__m512 x) {
  const __m512 shift = _mm512_set1_ps(0x1.8p23f);
  const __m512 z = _mm512_fmadd_ps(x, _mm512_set1_ps(0x1.715476p+0f), shift);
  const __m512 n = _mm512_sub_ps(z, shift);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0x1.62e4p-1f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0x1.7f7d1cp-20f), r);
  const __m512i e = _mm512_slli_epi32(_mm512_castps_si512(z), 23);
  const __m512 scale =
      _mm512_castsi512_ps(_mm512_add_epi32(e, _mm512_castps_si512(_mm512_set1_ps(1.0f))));
  const __m512 r2 = _mm512_mul_ps(r, r);
  const __m512 hi = _mm512_fmadd_ps(_mm512_set1_ps(0x1.0e4020p-7f), r, _mm512_set1_ps(0x1.573e2ep-5f));
  const __m512 lo = _mm512_fmadd_ps(_mm512_set1_ps(0x1.555e66p-3f), r, _mm512_set1_ps(0x1.fffdb6p-2f));
  const __m512 p = _mm512_fmadd_ps(_mm512_fmadd_ps(hi, r2, lo), r2,
                                   _mm512_mul_ps(_mm512_set1_ps(0x1.ffffecp-1f), r));
  const __m512 an = _mm512_castsi512_ps(
      _mm512_and_si512(_mm512_castps_si512(n), _mm512_set1_epi32(0x7fffffff)));  // andnot(-0, n)
  const __m512 normal = _mm512_fmadd_ps(p, scale, scale);
  const __mmask16 big = _mm512_cmp_ps_mask(an, _mm512_set1_ps(126.0f), _CMP_GT_OQ);
  if (!big) return normal;
  const __mmask16 le0 = _mm512_cmp_ps_mask(n, _mm512_setzero_ps(), _CMP_LE_OQ);
  const __m512i neg = _mm512_maskz_mov_epi32(le0, _mm512_set1_epi32(static_cast<int>(0x82000000u)));
  const __m512 s1 = _mm512_castsi512_ps(_mm512_add_epi32(neg, _mm512_set1_epi32(0x7f000000)));
  const __m512 s2 = _mm512_castsi512_ps(_mm512_sub_epi32(e, neg));
  const __mmask16 huge = _mm512_cmp_ps_mask(an, _mm512_set1_ps(192.0f), _CMP_GT_OQ);
  const __m512 two_step = _mm512_mul_ps(_mm512_fmadd_ps(s2, p, s2), s1);
  return _mm512_mask_mov_ps(_mm512_mask_mov_ps(normal, big, two_step), huge, _mm512_mul_ps(s1, s1));
}

// Paired K layout of one key block: key i's dims [d, d + 8) at k_slot(i) + 2 d. Keys (r, r + 4)
// of each 8 share a slot (2 hd floats): 8 dims of one, then 8 of the other, so one zmm load
// gives both keys' lanes and the hadd tree below leaves scores 0..15 of a group in key order.
float* k_slot(float* kp, int64_t i, int64_t hd) {
  const int64_t g = i / 16, r = i % 16;
  return kp + (g * 8 + (r / 8) * 4 + r % 4) * 2 * hd + ((r / 4) % 2) * 8;
}

const uint8_t* kv_row(const AttnTile& a, const uint8_t* const* blocks, int64_t j) {
  return blocks[j / kKvBlockTokens] + (j % kKvBlockTokens) * a.row_bytes + a.head_offset;
}

// Keys [j0, j0 + m) into the paired layout (f16 converted exactly with F16C, other types
// through attn_kv_rows into tmp).
void pack_k(const AttnTile& a, int64_t j0, int64_t m, float* tmp, float* kp) {
  const int64_t hd = a.head_dim;
  if (a.kv_type == KvType::F16) {
    for (int64_t i = 0; i < m; ++i) {
      const auto* s = reinterpret_cast<const uint16_t*>(kv_row(a, a.k_blocks, j0 + i));
      float* d = k_slot(kp, i, hd);
      for (int64_t k = 0; k < hd; k += 8)
        _mm256_storeu_ps(d + 2 * k, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(s + k))));
    }
    return;
  }
  int64_t ld = 0;
  const float* rows = attn_kv_rows(a, a.k_blocks, j0, m, tmp, &ld);
  for (int64_t i = 0; i < m; ++i) {
    float* d = k_slot(kp, i, hd);
    for (int64_t k = 0; k < hd; k += 8) _mm256_storeu_ps(d + 2 * k, _mm256_loadu_ps(rows + i * ld + k));
  }
}

// V rows [j0, j0 + m) as f32 rows *ld floats apart (f16 into vbuf; other types attn_kv_rows).
const float* v_rows(const AttnTile& a, int64_t j0, int64_t m, float* vbuf, int64_t* ld) {
  if (a.kv_type != KvType::F16) return attn_kv_rows(a, a.v_blocks, j0, m, vbuf, ld);
  const int64_t hd = a.head_dim;
  for (int64_t i = 0; i < m; ++i) {
    const auto* s = reinterpret_cast<const uint16_t*>(kv_row(a, a.v_blocks, j0 + i));
    for (int64_t k = 0; k < hd; k += 16)
      _mm512_storeu_ps(vbuf + i * hd + k,
                       _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(s + k))));
  }
  *ld = hd;
  return vbuf;
}

// Every cache line of keys [j0, j0 + m)'s K and V rows of this head.
void prefetch_block(const AttnTile& a, int64_t j0, int64_t m) {
  const size_t bytes = kv_row_bytes(a.kv_type, a.head_dim);
  for (int64_t i = 0; i < m; ++i) {
    const char* k = reinterpret_cast<const char*>(kv_row(a, a.k_blocks, j0 + i));
    const char* v = reinterpret_cast<const char*>(kv_row(a, a.v_blocks, j0 + i));
    for (size_t o = 0; o < bytes; o += 64) {
      _mm_prefetch(k + o, _MM_HINT_T0);
      _mm_prefetch(v + o, _MM_HINT_T0);
    }
    _mm_prefetch(k + bytes - 1, _MM_HINT_T0);
    _mm_prefetch(v + bytes - 1, _MM_HINT_T0);
  }
}

// vhaddps on each 128-bit lane: [a0 + a1, a2 + a3, b0 + b1, b2 + b3].
__m512 hadd(__m512 a, __m512 b) {
  return _mm512_add_ps(_mm512_shuffle_ps(a, b, 0x88), _mm512_shuffle_ps(a, b, 0xDD));
}

// scale * q.k for the 16 keys of one group (8 slots of kp): per key the AVX2 block_scores
// chains (lane l sums dims d = l mod 8 by fma) and tree ((x0 + x1) + (x2 + x3)) + ((x4 + x5) +
// (x6 + x7)). Lanes of slots past the block's keys hold stale floats and are not used.
__m512 scores16(const float* q, const float* kp, int64_t hd, __m512 scale) {
  __m512 acc[8];
  for (int j = 0; j < 8; ++j) acc[j] = _mm512_setzero_ps();
  for (int64_t d = 0; d < hd; d += 8) {
    const __m512 qd = _mm512_castpd_ps(_mm512_broadcast_f64x4(_mm256_loadu_pd(reinterpret_cast<const double*>(q + d))));
    for (int j = 0; j < 8; ++j)
      acc[j] = _mm512_fmadd_ps(_mm512_loadu_ps(kp + j * 2 * hd + 2 * d), qd, acc[j]);
  }
  // 128-bit lanes of u0: [keys 0-3 dims 0-3 | 0-3 dims 4-7 | 4-7 dims 0-3 | 4-7 dims 4-7]; u1 the
  // same for keys 8-15.
  const __m512 u0 = hadd(hadd(acc[0], acc[1]), hadd(acc[2], acc[3]));
  const __m512 u1 = hadd(hadd(acc[4], acc[5]), hadd(acc[6], acc[7]));
  const __m512 x = _mm512_add_ps(_mm512_shuffle_f32x4(u0, u1, 0x88), _mm512_shuffle_f32x4(u0, u1, 0xDD));
  return _mm512_mul_ps(x, scale);
}

__mmask16 first_lanes(int64_t n) {
  return n >= 16 ? __mmask16(0xFFFF) : n <= 0 ? __mmask16(0) : static_cast<__mmask16>((1u << n) - 1);
}

// NR rows' scores -> p[r][0..32) (exp(s - max), 0 past m) and their states; alpha[r] is the
// rescale of row r's accumulator (0 on the first block). Sums as AVX2's: each 8-lane chunk by
// hsum (halves, then movehl, then movehdup), chunks added in double in key order. The rows run
// phase by phase (scores, maxima, one exp for all alphas, probabilities) so that their latency
// chains overlap.
template <int NR>
void rows_probs(const float* const* q, const float* kp, int64_t hd, __m512 scale, int64_t m, bool first,
                RowState* const* st, float (*p)[kB], float* alpha) {
  const __mmask16 k0 = first_lanes(m), k1 = first_lanes(m - 16);
  const __m512 ninf = _mm512_set1_ps(-INFINITY);
  __m512 s0[NR], s1[NR];
  for (int r = 0; r < NR; ++r) {
    s0[r] = scores16(q[r], kp, hd, scale);
    s1[r] = k1 ? scores16(q[r], kp + 16 * hd, hd, scale) : ninf;
  }
  alignas(64) float bmx[16] = {}, dmx[16] = {}, al[16];
  for (int r = 0; r < NR; ++r) {
    const __m512 mx = _mm512_max_ps(_mm512_mask_mov_ps(ninf, k0, s0[r]), _mm512_mask_mov_ps(ninf, k1, s1[r]));
    const float smx = _mm512_reduce_max_ps(mx);
    bmx[r] = st[r]->mx < smx ? smx : st[r]->mx;  // exact (only a zero's sign may differ; exp(+-0) = 1)
    dmx[r] = st[r]->mx - bmx[r];
  }
  _mm512_store_ps(al, exp16(_mm512_load_ps(dmx)));  // lane r: exp8(set1(old max - new max))'s
  for (int r = 0; r < NR; ++r) {
    alpha[r] = first ? 0.0f : al[r];
    const __m512 vmx = _mm512_set1_ps(bmx[r]);
    const __m512 e0 = _mm512_maskz_mov_ps(k0, exp16(_mm512_sub_ps(s0[r], vmx)));
    const __m512 e1 = k1 ? _mm512_maskz_mov_ps(k1, exp16(_mm512_sub_ps(s1[r], vmx))) : _mm512_setzero_ps();
    _mm512_storeu_ps(p[r], e0);
    _mm512_storeu_ps(p[r] + 16, e1);
    // 128-bit lane c of x: chunk c's low + high half; chunks past m are exact zeros (adding +0.0
    // to the positive double sum changes nothing).
    const __m512 x = _mm512_add_ps(_mm512_shuffle_f32x4(e0, e1, 0x88), _mm512_shuffle_f32x4(e0, e1, 0xDD));
    const __m512 y = _mm512_add_ps(x, _mm512_permute_ps(x, 0xEE));  // [s0 + s2, s1 + s3, ..]
    const __m512 z = _mm512_add_ps(y, _mm512_movehdup_ps(y));        // lane 0: (s0+s2) + (s1+s3)
    const __m128 h = _mm512_castps512_ps128(
        _mm512_permutexvar_ps(_mm512_setr_epi32(0, 4, 8, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), z));
    alignas(32) double h4[4];
    _mm256_store_pd(h4, _mm256_cvtps_pd(h));
    double bsum = 0.0;
    for (int c = 0; c < 4; ++c) bsum += h4[c];
    st[r]->sum = first ? bsum : std::fma(st[r]->sum, static_cast<double>(alpha[r]), bsum);
    st[r]->mx = bmx[r];
  }
}

// Dims [d0, d0 + 16 NZ) of NR rows: acc = acc * alpha (0 on the first block) + sum_i p[i] v_i in
// key order, each row's FMA chain as AVX2's accumulate_v; each V load serves all NR rows.
template <int NR, int NZ>
void accumulate(const float* v, int64_t ld, int64_t m, const float* const* p, bool first,
                const float* alpha, float* const* acc, int64_t d0) {
  __m512 a[NR][NZ];
  for (int r = 0; r < NR; ++r) {
    const __m512 va = _mm512_set1_ps(alpha[r]);
    for (int z = 0; z < NZ; ++z)
      a[r][z] = first ? _mm512_setzero_ps() : _mm512_mul_ps(_mm512_loadu_ps(acc[r] + d0 + 16 * z), va);
  }
  for (int64_t i = 0; i < m; ++i) {
    __m512 vz[NZ];
    for (int z = 0; z < NZ; ++z) vz[z] = _mm512_loadu_ps(v + i * ld + d0 + 16 * z);
    for (int r = 0; r < NR; ++r) {
      const __m512 pi = _mm512_set1_ps(p[r][i]);
      for (int z = 0; z < NZ; ++z) a[r][z] = _mm512_fmadd_ps(vz[z], pi, a[r][z]);
    }
  }
  for (int r = 0; r < NR; ++r)
    for (int z = 0; z < NZ; ++z) _mm512_storeu_ps(acc[r] + d0 + 16 * z, a[r][z]);
}

using AccumulateFn = void (*)(const float*, int64_t, int64_t, const float* const*, bool, const float*,
                              float* const*, int64_t);
template <int NR>
constexpr AccumulateFn kAcc[4] = {accumulate<NR, 1>, accumulate<NR, 2>, accumulate<NR, 3>, accumulate<NR, 4>};
constexpr const AccumulateFn* kAccByRows[kRows] = {kAcc<1>, kAcc<2>, kAcc<3>, kAcc<4>};

void accumulate_rows(int nr, const float* v, int64_t ld, int64_t m, int64_t hd, const float* const* p,
                     bool first, const float* alpha, float* const* acc) {
  for (int64_t d0 = 0; d0 < hd; d0 += 64) {
    const int nz = static_cast<int>(min64(4, (hd - d0) / 16));
    kAccByRows[nr - 1][nz - 1](v, ld, m, p, first, alpha, acc, d0);
  }
}

void finish_row(const float* acc, const RowState& st, int64_t n, int64_t hd, float* out) {
  const __m512 inv = _mm512_set1_ps(static_cast<float>(1.0 / st.sum));
  for (int64_t d = 0; d < hd; d += 16)
    _mm512_storeu_ps(out + d, n > 0 ? _mm512_mul_ps(_mm512_loadu_ps(acc + d), inv) : _mm512_setzero_ps());
}

struct Scratch {
  Buf acc, kp, vbuf, tmp;
  RowState* st = nullptr;
  size_t n_st = 0;
  ~Scratch() { std::free(st); }
  RowState* states(int64_t rows) {
    if (static_cast<size_t>(rows) > n_st) {
      std::free(st);
      st = static_cast<RowState*>(std::malloc(sizeof(RowState) * static_cast<size_t>(rows)));
      if (st == nullptr) std::abort();
      n_st = static_cast<size_t>(rows);
    }
    for (int64_t r = 0; r < rows; ++r) st[r] = RowState{};
    return st;
  }
};

using ProbsFn = void (*)(const float* const*, const float*, int64_t, __m512, int64_t, bool, RowState* const*,
                        float (*)[kB], float*);
constexpr ProbsFn kProbs[kRows] = {rows_probs<1>, rows_probs<2>, rows_probs<3>, rows_probs<4>};

// The rows of token t (its group, kRows at a time) over keys [j0, j0 + m).
void token_block(const AttnTile& a, int64_t t, const float* kp, const float* vb, int64_t ldv, int64_t j0,
                 int64_t m, float* acc, RowState* st) {
  const int64_t hd = a.head_dim;
  const __m512 scale = _mm512_set1_ps(a.scale);
  alignas(64) float p[kRows][kB];
  for (int64_t g0 = 0; g0 < a.group; g0 += kRows) {
    const int nr = static_cast<int>(min64(kRows, a.group - g0));
    float alpha[kRows];
    const float* qr[kRows];
    const float* pr[kRows];
    float* ar[kRows];
    RowState* sr[kRows];
    for (int r = 0; r < nr; ++r) {
      const int64_t row = t * a.group + g0 + r;
      qr[r] = a.q + t * a.ld_q + (g0 + r) * hd;
      sr[r] = st + row;
      pr[r] = p[r];
      ar[r] = acc + row * hd;
    }
    kProbs[nr - 1](qr, kp, hd, scale, m, j0 == 0, sr, p, alpha);
    accumulate_rows(nr, vb, ldv, m, hd, pr, j0 == 0, alpha, ar);
  }
}

}  // namespace

void attention_tile(const AttnTile& a) {
  const int64_t hd = a.head_dim, rows = a.n_tok * a.group;
  if (hd % 16 != 0) return avx2::attention_tile(a);
  thread_local Scratch s;
  float* acc = s.acc.get(static_cast<size_t>(rows * hd));
  RowState* st = s.states(rows);
  float* kp = s.kp.get(static_cast<size_t>(kB * hd));
  float* vbuf = s.vbuf.get(static_cast<size_t>(kB * hd));
  float* tmp = s.tmp.get(static_cast<size_t>(kB * hd));
  int64_t max_n = 0;
  for (int64_t t = 0; t < a.n_tok; ++t) max_n = a.n_kv[t] > max_n ? a.n_kv[t] : max_n;
  for (int64_t j = kB; j < min64(max_n, kPrefetchBlocks * kB); j += kB) prefetch_block(a, j, min64(kB, max_n - j));
  for (int64_t j0 = 0; j0 < max_n; j0 += kB) {
    const int64_t jp = j0 + kPrefetchBlocks * kB;
    if (jp < max_n) prefetch_block(a, jp, min64(kB, max_n - jp));
    // Converted once per tile and block, then read by every row of the tile.
    const int64_t mb = min64(kB, max_n - j0);
    int64_t ldv = 0;
    pack_k(a, j0, mb, tmp, kp);
    const float* vb = v_rows(a, j0, mb, vbuf, &ldv);
    for (int64_t t = 0; t < a.n_tok; ++t)
      if (j0 < a.n_kv[t]) token_block(a, t, kp, vb, ldv, j0, min64(kB, a.n_kv[t] - j0), acc, st);
  }
  for (int64_t t = 0; t < a.n_tok; ++t)
    for (int64_t g = 0; g < a.group; ++g) {
      const int64_t r = t * a.group + g;
      finish_row(acc + r * hd, st[r], a.n_kv[t], hd, a.out + t * a.ld_out + g * hd);
    }
}

}  // namespace lfmd::kernels::avx512
