// Scalar KernelTable: reference matmul (dequantize a row, float dot) and the small f32 ops.
// These define the semantics every ISA table is tested against.
#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/ref/ref.h"

namespace lfmd::kernels {

using namespace ref;

namespace ref {

float dot_f32(const float* a, const float* b, int64_t n) {
  float s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int k = 0; k < 8; ++k) s[k] += a[i + k] * b[i + k];
  for (int k = 0; i < n; ++i, ++k) s[k] += a[i] * b[i];
  return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

void matmul_qact(DType wt, const void* w, size_t w_row_bytes, int64_t r0, int64_t r1,
                 const float* x, int64_t ldx, int64_t n_in, int64_t n_tok, float* y, int64_t ldy) {
  const auto* wb = static_cast<const uint8_t*>(w);
  switch (act_quant_for(wt)) {
    case ActQuant::Q8_0: {
      std::vector<BlockQ8_0> a(static_cast<size_t>(n_in / QK));
      for (int64_t t = 0; t < n_tok; ++t) {
        quantize_act_q8_0(x + t * ldx, a.data(), n_in);
        for (int64_t r = r0; r < r1; ++r) {
          const void* row = wb + r * w_row_bytes;
          y[t * ldy + r] = wt == DType::Q4_0 ? dot_q4_0_q8_0(row, a.data(), n_in)
                                             : dot_q8_0_q8_0(row, a.data(), n_in);
        }
      }
      return;
    }
    case ActQuant::Q8_K: {
      std::vector<BlockQ8_K> a(static_cast<size_t>(n_in / QK_K));
      for (int64_t t = 0; t < n_tok; ++t) {
        quantize_act_q8_K(x + t * ldx, a.data(), n_in);
        for (int64_t r = r0; r < r1; ++r) {
          const void* row = wb + r * w_row_bytes;
          float v = 0.0f;
          if (wt == DType::Q4_K) v = dot_q4_K_q8_K(row, a.data(), n_in);
          if (wt == DType::Q5_K) v = dot_q5_K_q8_K(row, a.data(), n_in);
          if (wt == DType::Q6_K) v = dot_q6_K_q8_K(row, a.data(), n_in);
          y[t * ldy + r] = v;
        }
      }
      return;
    }
    case ActQuant::None: {
      PreparedActs acts;
      acts.x = x;
      acts.ldx = ldx;
      acts.n_in = n_in;
      acts.n_tok = n_tok;
      scalar_table().matmul(wt, w, w_row_bytes, r0, r1, acts, y, ldy);
      return;
    }
  }
}

// y = (x * scale) * w with scale = 1/sqrt(mean(x^2) + eps); squares summed in double.
void rmsnorm(const float* x, const float* w, int64_t n, float eps, float* y) {
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(x[i] * x[i]);
  const float mean = static_cast<float>(sum / static_cast<double>(n));
  const float scale = 1.0f / std::sqrt(mean + eps);
  for (int64_t i = 0; i < n; ++i) y[i] = (x[i] * scale) * w[i];
}

void rope_neox(float* x, int64_t n_heads, int64_t head_dim, int64_t pos, float freq_base) {
  const int64_t half = head_dim / 2;
  // Angles are the same for every head: cos/sin of theta_i, theta_{i+1} = theta_i * theta_scale.
  thread_local std::vector<float> cs;
  cs.resize(static_cast<size_t>(2 * half));
  const float theta_scale = std::pow(freq_base, -2.0f / static_cast<float>(head_dim));
  float theta = static_cast<float>(pos);
  for (int64_t i = 0; i < half; ++i) {
    cs[2 * i] = std::cos(theta);
    cs[2 * i + 1] = std::sin(theta);
    theta *= theta_scale;
  }
  for (int64_t h = 0; h < n_heads; ++h) {
    float* v = x + h * head_dim;
    for (int64_t i = 0; i < half; ++i) {
      const float c = cs[2 * i], s = cs[2 * i + 1];
      const float x0 = v[i], x1 = v[i + half];
      v[i] = x0 * c - x1 * s;
      v[i + half] = x0 * s + x1 * c;
    }
  }
}

void softmax(float* x, int64_t n, float scale) {
  float mx = -INFINITY;
  for (int64_t i = 0; i < n; ++i) {
    x[i] *= scale;
    mx = std::fmax(mx, x[i]);
  }
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - mx);
    sum += static_cast<double>(x[i]);
  }
  const float inv = static_cast<float>(1.0 / sum);
  for (int64_t i = 0; i < n; ++i) x[i] *= inv;
}

void swiglu(const float* gate, const float* up, int64_t n, float* out) {
  for (int64_t i = 0; i < n; ++i) {
    const float g = gate[i];
    out[i] = g / (1.0f + std::exp(-g)) * up[i];
  }
}

void sigmoid(const float* x, int64_t n, float* out) {
  for (int64_t i = 0; i < n; ++i) out[i] = 1.0f / (1.0f + std::exp(-x[i]));
}

void conv_step(const float* const* hist, const float* cur, const float* kernel, int64_t L,
               int64_t n, float* out) {
  for (int64_t c = 0; c < n; ++c) {
    float s = 0.0f;
    for (int64_t k = 0; k + 1 < L; ++k) s += kernel[c * L + k] * hist[k][c];
    s += kernel[c * L + L - 1] * cur[c];
    out[c] = s;
  }
}

// One query row of attention_tile, the spec: per key block (its K/V rows as f32, see
// attn_kv_rows), scores q.k_j * scale, the new running max, the old sum and accumulator rescaled
// by exp(old max - new max) (not on the first block), exp(score - max) summed in double and
// accumulated with the values.
static void attention_row(const AttnTile& a, const float* q, int64_t n, float* out) {
  const int64_t hd = a.head_dim;
  std::vector<float> acc(static_cast<size_t>(hd), 0.0f);
  thread_local std::vector<float> kbuf, vbuf;  // [kAttnKeyBlock][hd] converted rows
  kbuf.resize(static_cast<size_t>(kAttnKeyBlock * hd));
  vbuf.resize(static_cast<size_t>(kAttnKeyBlock * hd));
  float s[kAttnKeyBlock];
  float mx = -INFINITY;
  double sum = 0.0;
  for (int64_t j0 = 0; j0 < n; j0 += kAttnKeyBlock) {
    const int64_t m = std::min(kAttnKeyBlock, n - j0);
    int64_t ldk = 0, ldv = 0;
    const float* kb = attn_kv_rows(a, a.k_blocks, j0, m, kbuf.data(), &ldk);
    const float* vb = attn_kv_rows(a, a.v_blocks, j0, m, vbuf.data(), &ldv);
    float bmx = mx;
    for (int64_t i = 0; i < m; ++i) {
      s[i] = dot_f32(q, kb + i * ldk, hd) * a.scale;
      bmx = std::fmax(bmx, s[i]);
    }
    if (j0 > 0) {
      const float alpha = std::exp(mx - bmx);
      sum *= static_cast<double>(alpha);
      for (int64_t d = 0; d < hd; ++d) acc[d] *= alpha;
    }
    mx = bmx;
    double bsum = 0.0;
    for (int64_t i = 0; i < m; ++i) bsum += static_cast<double>(s[i] = std::exp(s[i] - mx));
    sum += bsum;
    for (int64_t i = 0; i < m; ++i) {
      const float* vj = vb + i * ldv;
      for (int64_t d = 0; d < hd; ++d) acc[d] += s[i] * vj[d];
    }
  }
  const float inv = n > 0 ? static_cast<float>(1.0 / sum) : 0.0f;
  for (int64_t d = 0; d < hd; ++d) out[d] = acc[d] * inv;
}

void attention_tile(const AttnTile& a) {
  for (int64_t t = 0; t < a.n_tok; ++t) {
    for (int64_t g = 0; g < a.group; ++g) {
      attention_row(a, a.q + t * a.ld_q + g * a.head_dim, a.n_kv[t], a.out + t * a.ld_out + g * a.head_dim);
    }
  }
}

}  // namespace ref

namespace {

size_t scalar_acts_bytes(DType, int64_t, int64_t) { return 0; }
void scalar_prepare_acts(DType, PreparedActs&, void*) {}

void scalar_matmul(DType wt, const void* w, size_t w_row_bytes, int64_t r0, int64_t r1,
                   const PreparedActs& acts, float* y, int64_t ldy) {
  thread_local std::vector<float> row;
  row.resize(static_cast<size_t>(acts.n_in));
  const auto* wb = static_cast<const uint8_t*>(w);
  for (int64_t r = r0; r < r1; ++r) {
    dequantize_row(wt, wb + r * w_row_bytes, row.data(), acts.n_in);
    for (int64_t t = 0; t < acts.n_tok; ++t)
      y[t * ldy + r] = dot_f32(row.data(), acts.x + t * acts.ldx, acts.n_in);
  }
}

const KernelTable kScalar{
    Isa::Scalar,     scalar_acts_bytes, scalar_prepare_acts, scalar_matmul,
    // The scalar table is the spec: it keeps every weight in its file layout (no repacking).
    [](DType, int64_t, int64_t) -> size_t { return 0; }, nullptr, nullptr, ref::rmsnorm,
    ref::rope_neox,  ref::softmax,      ref::swiglu,         ref::sigmoid,  ref::conv_step,
    ref::attention_tile,
};

}  // namespace

const KernelTable& scalar_table() { return kScalar; }

}  // namespace lfmd::kernels
