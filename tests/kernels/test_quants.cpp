// Quantization / dequantization: known values, round-trip bounds, and K-quant layouts checked
// against an independent element-by-element decoder written from the block layout description.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/ref/ref.h"
#include "tests/kernels/test_util.h"

using namespace lfmd::kernels;
using namespace lfmd::kernels::test;

namespace {

// ---- independent decoders: value of element e (0..255) of one super-block ----

// Q4_K/Q5_K 12-byte scale packing: bytes 0-3 hold scales 0-3 (low 6 bits) and the top 2 bits of
// scales 4-7; bytes 4-7 the same for mins; bytes 8-11 hold the low 4 bits of scale 4-7 (low
// nibble) and of min 4-7 (high nibble).
int k4_scale(const uint8_t* p, int j) {
  return j < 4 ? (p[j] & 0x3f) : ((p[8 + j - 4] & 0x0f) | ((p[j - 4] >> 6) << 4));
}
int k4_min(const uint8_t* p, int j) {
  return j < 4 ? (p[4 + j] & 0x3f) : ((p[8 + j - 4] >> 4) | ((p[4 + j - 4] >> 6) << 4));
}
// 4-bit code of element e: 64-element group g uses bytes 32g..32g+31, low nibbles first.
int k4_nibble(const uint8_t* qs, int e) {
  const int g = e / 64, w = e % 64;
  return w < 32 ? (qs[32 * g + w] & 0xf) : (qs[32 * g + w - 32] >> 4);
}

float decode_q4_K(const uint8_t* blk, int e) {
  const float d = fp16_to_fp32(static_cast<uint16_t>(blk[0] | blk[1] << 8));
  const float dmin = fp16_to_fp32(static_cast<uint16_t>(blk[2] | blk[3] << 8));
  const int j = e / 32;
  const float d1 = d * static_cast<float>(k4_scale(blk + 4, j));
  const float m1 = dmin * static_cast<float>(k4_min(blk + 4, j));
  return d1 * static_cast<float>(k4_nibble(blk + 16, e)) - m1;
}

float decode_q5_K(const uint8_t* blk, int e) {
  const float d = fp16_to_fp32(static_cast<uint16_t>(blk[0] | blk[1] << 8));
  const float dmin = fp16_to_fp32(static_cast<uint16_t>(blk[2] | blk[3] << 8));
  const int j = e / 32;
  const uint8_t* qh = blk + 16;   // 32 bytes: bit j of byte (e % 32) is the 5th bit
  const uint8_t* qs = blk + 48;
  const int q = k4_nibble(qs, e) + 16 * ((qh[e % 32] >> j) & 1);
  const float d1 = d * static_cast<float>(k4_scale(blk + 4, j));
  const float m1 = dmin * static_cast<float>(k4_min(blk + 4, j));
  return d1 * static_cast<float>(q) - m1;
}

float decode_q6_K(const uint8_t* blk, int e) {
  const uint8_t* ql = blk;         // 128 bytes
  const uint8_t* qh = blk + 128;   // 64 bytes
  const auto* sc = reinterpret_cast<const int8_t*>(blk + 192);  // 16 scales, one per 16 values
  const float d = fp16_to_fp32(static_cast<uint16_t>(blk[208] | blk[209] << 8));
  // Half h (128 values) uses ql[64h..], qh[32h..]; quarter k of the half: low/high nibble of
  // ql[l] (k = 0, 2) or ql[l + 32] (k = 1, 3), high 2 bits from bits 2k..2k+1 of qh[l].
  const int h = e / 128, k = (e % 128) / 32, l = e % 32;
  const uint8_t lbyte = ql[64 * h + l + 32 * (k & 1)];
  const int low = k < 2 ? (lbyte & 0xf) : (lbyte >> 4);
  const int high = (qh[32 * h + l] >> (2 * k)) & 3;
  const int q = (low | high << 4) - 32;
  return d * static_cast<float>(sc[e / 16]) * static_cast<float>(q);
}

uint16_t random_scale(std::mt19937& rng, float lo, float hi) {
  std::uniform_real_distribution<float> dist(lo, hi);
  return fp32_to_fp16(dist(rng));
}

void put16(uint8_t* p, uint16_t v) { std::memcpy(p, &v, 2); }

// Random super-blocks: random bytes everywhere, then sane fp16 scales.
std::vector<uint8_t> random_kblocks(std::mt19937& rng, DType t, int nblk) {
  const size_t bb = type_info(t).block_bytes;
  std::vector<uint8_t> v(bb * nblk);
  for (auto& b : v) b = static_cast<uint8_t>(rng());
  for (int i = 0; i < nblk; ++i) {
    uint8_t* blk = v.data() + bb * i;
    if (t == DType::Q6_K) {
      put16(blk + 208, random_scale(rng, 1e-4f, 2e-3f));
    } else {
      put16(blk, random_scale(rng, 1e-3f, 2e-2f));
      put16(blk + 2, random_scale(rng, 1e-3f, 2e-2f));
    }
  }
  return v;
}

}  // namespace

TEST_CASE("Q8_0 and Q4_0 quantize: known values") {
  std::vector<float> x(32, 0.0f);
  x[0] = 127.0f;
  x[1] = 2.5f;
  x[2] = -2.5f;
  x[3] = 0.5f;
  x[4] = -126.6f;
  ref::BlockQ8_0 b8;
  REQUIRE(quantize_row(DType::Q8_0, x.data(), &b8, 32));
  CHECK(int{b8.d} == 0x3c00);  // d = 127/127 = 1
  CHECK(b8.qs[0] == 127);
  CHECK(b8.qs[1] == 3);   // roundf: half away from zero
  CHECK(b8.qs[2] == -3);
  CHECK(b8.qs[3] == 1);
  CHECK(b8.qs[4] == -127);
  // Activation quantization rounds half to even (vroundps), like ggml's AVX2 quantize_row_q8_0.
  ref::BlockQ8_0 a8;
  ref::quantize_act_q8_0(x.data(), &a8, 32);
  CHECK(int{a8.d} == 0x3c00);
  CHECK(a8.qs[1] == 2);
  CHECK(a8.qs[2] == -2);
  CHECK(a8.qs[3] == 0);

  std::vector<float> y(32, 0.0f);
  y[0] = 3.0f;
  y[1] = -8.0f;  // signed max by magnitude -> d = -8 / -8 = 1
  y[2] = 7.4f;
  y[3] = 7.6f;   // 16.1 -> clamped to 15
  y[4] = -7.6f;
  y[16] = -0.6f;
  y[17] = 0.4f;
  ref::BlockQ4_0 b4;
  REQUIRE(quantize_row(DType::Q4_0, y.data(), &b4, 32));
  CHECK(int{b4.d} == 0x3c00);
  CHECK((b4.qs[0] & 0xf) == 11);
  CHECK((b4.qs[1] & 0xf) == 0);
  CHECK((b4.qs[2] & 0xf) == 15);
  CHECK((b4.qs[3] & 0xf) == 15);
  CHECK((b4.qs[4] & 0xf) == 0);   // -7.6 + 8.5 = 0.9 -> 0
  CHECK((b4.qs[0] >> 4) == 7);    // -0.6 + 8.5 = 7.9 -> 7
  CHECK((b4.qs[1] >> 4) == 8);
  CHECK((b4.qs[5] & 0xf) == 8);   // zero
  std::vector<float> out(32);
  dequantize_row(DType::Q4_0, &b4, out.data(), 32);
  CHECK(out[0] == 3.0f);
  CHECK(out[1] == -8.0f);
  CHECK(out[2] == 7.0f);
  CHECK(out[16] == -1.0f);
  // An all-zero block gets d = 0 and codes that dequantize to 0.
  std::vector<float> z(32, 0.0f);
  REQUIRE(quantize_row(DType::Q4_0, z.data(), &b4, 32));
  dequantize_row(DType::Q4_0, &b4, out.data(), 32);
  for (float v : out) CHECK(v == 0.0f);
  CHECK_FALSE(quantize_row(static_cast<DType>(3), z.data(), &b4, 32));  // Q4_1: not supported
}

// Bit identity with ggml's K-quant quantizers is tested against llama.cpp itself
// (tests/integration/test_quantize.py); here: error bounds and all-zero / constant blocks.
TEST_CASE("K-quant quantize round trip") {
  std::mt19937 rng(11);
  for (DType t : {DType::Q4_K, DType::Q5_K, DType::Q6_K}) {
    CAPTURE(type_info(t).name);
    const int n = 1024;
    std::vector<float> x = random_floats(rng, n, -2.0f, 2.0f), y(n);
    std::vector<uint8_t> q(row_bytes(t, n));
    REQUIRE(quantize_row(t, x.data(), q.data(), n));
    dequantize_row(t, q.data(), y.data(), n);
    // rms error ~ step/sqrt(12); steps: 4/15, 4/31, 4/63 of the range
    const double bound = t == DType::Q4_K ? 0.09 : t == DType::Q5_K ? 0.045 : 0.022;
    CHECK(rel_l2(y.data(), x.data(), n) < bound);
    std::vector<float> z(256, 0.0f), c(256, 0.75f), out(256);
    REQUIRE(quantize_row(t, z.data(), q.data(), 256));
    dequantize_row(t, q.data(), out.data(), 256);
    for (float v : out) CHECK(v == 0.0f);
    REQUIRE(quantize_row(t, c.data(), q.data(), 256));
    dequantize_row(t, q.data(), out.data(), 256);
    for (float v : out) CHECK(std::fabs(v - 0.75f) < 0.01f);
  }
}

TEST_CASE("Q8_0 / Q4_0 round trip error bounds") {
  std::mt19937 rng(42);
  for (int n : {32, 64, 320, 4096}) {
    for (bool outliers : {false, true}) {
      std::vector<float> x = random_floats(rng, n, -3.0f, 3.0f);
      if (outliers)
        for (int i = 0; i < n; i += 37) x[i] *= 10.0f;
      std::vector<uint8_t> q8(row_bytes(DType::Q8_0, n)), q4(row_bytes(DType::Q4_0, n));
      REQUIRE(quantize_row(DType::Q8_0, x.data(), q8.data(), n));
      REQUIRE(quantize_row(DType::Q4_0, x.data(), q4.data(), n));
      std::vector<float> y8(n), y4(n);
      dequantize_row(DType::Q8_0, q8.data(), y8.data(), n);
      dequantize_row(DType::Q4_0, q4.data(), y4.data(), n);
      int bad8 = 0, bad4 = 0;
      for (int b = 0; b < n / 32; ++b) {
        float amax = 0.0f;
        for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[32 * b + j]));
        for (int j = 0; j < 32; ++j) {
          const int i = 32 * b + j;
          // half a step, plus the fp16 rounding of d (2^-11 relative) times the largest code
          if (std::fabs(y8[i] - x[i]) > 0.5f * amax / 127.0f + amax * 0.0005f) ++bad8;
          // one step (the positive end clamps at code 15 = +7 steps)
          if (std::fabs(y4[i] - x[i]) > 1.0f * amax / 8.0f + amax * 0.0005f) ++bad4;
        }
      }
      CHECK(bad8 == 0);
      CHECK(bad4 == 0);
      if (!outliers) {
        // uniform data: rms error ~ step / sqrt(12)
        CHECK(rel_l2(y8.data(), x.data(), n) < 0.006);
        CHECK(rel_l2(y4.data(), x.data(), n) < 0.08);
      }
    }
  }
}

TEST_CASE("float types round trip") {
  std::mt19937 rng(7);
  std::vector<float> x = random_floats(rng, 77, -100.0f, 100.0f), y(77);
  std::vector<uint8_t> buf(77 * 4 + 3);
  for (DType t : {DType::F32, DType::F16, DType::BF16}) {
    REQUIRE(quantize_row(t, x.data(), buf.data() + 1, 77));  // odd address on purpose
    dequantize_row(t, buf.data() + 1, y.data(), 77);
    for (int i = 0; i < 77; ++i) {
      const float expect = t == DType::F32 ? x[i]
                           : t == DType::F16 ? fp16_to_fp32(fp32_to_fp16(x[i]))
                                             : bf16_to_fp32(fp32_to_bf16(x[i]));
      CHECK(y[i] == expect);
    }
  }
}

TEST_CASE("K-quant dequantization matches the layout description (random blocks)") {
  std::mt19937 rng(99);
  for (DType t : {DType::Q4_K, DType::Q5_K, DType::Q6_K}) {
    const int nblk = 3;
    std::vector<uint8_t> w = random_kblocks(rng, t, nblk);
    std::vector<float> y(256 * nblk);
    dequantize_row(t, w.data(), y.data(), 256 * nblk);
    const size_t bb = type_info(t).block_bytes;
    int bad = 0;
    for (int i = 0; i < nblk; ++i) {
      for (int e = 0; e < 256; ++e) {
        const uint8_t* blk = w.data() + bb * i;
        const float expect = t == DType::Q4_K ? decode_q4_K(blk, e)
                             : t == DType::Q5_K ? decode_q5_K(blk, e)
                                                : decode_q6_K(blk, e);
        if (f32_bits(expect) != f32_bits(y[256 * i + e])) ++bad;
      }
    }
    CHECK_MESSAGE(bad == 0, type_info(t).name);
  }
}

TEST_CASE("K-quant hand-built blocks") {
  // Q4_K: d = 1, dmin = 0.5; scale j = j + 1, min j = 2j; code of element e = e % 16.
  {
    uint8_t blk[144] = {};
    put16(blk, 0x3c00);
    put16(blk + 2, 0x3800);
    auto set = [&](int j, int sc, int m) {  // 6-bit packing, written from the layout rule
      if (j < 4) {
        blk[4 + j] = static_cast<uint8_t>((blk[4 + j] & 0xc0) | sc);
        blk[8 + j] = static_cast<uint8_t>((blk[8 + j] & 0xc0) | m);
      } else {
        blk[12 + j - 4] = static_cast<uint8_t>((sc & 0xf) | ((m & 0xf) << 4));
        blk[4 + j - 4] = static_cast<uint8_t>(blk[4 + j - 4] | ((sc >> 4) << 6));
        blk[8 + j - 4] = static_cast<uint8_t>(blk[8 + j - 4] | ((m >> 4) << 6));
      }
    };
    for (int j = 0; j < 8; ++j) set(j, j == 7 ? 63 : j + 1, j == 6 ? 63 : 2 * j + 17 * (j >= 4));
    for (int e = 0; e < 256; ++e) {
      const int g = e / 64, w = e % 64;
      uint8_t& byte = blk[16 + 32 * g + w % 32];
      byte = static_cast<uint8_t>(w < 32 ? (byte & 0xf0) | (e % 16) : (byte & 0x0f) | ((e % 16) << 4));
    }
    float y[256];
    dequantize_row(DType::Q4_K, blk, y, 256);
    for (int e = 0; e < 256; ++e) {
      const int j = e / 32;
      const int sc = j == 7 ? 63 : j + 1, m = j == 6 ? 63 : 2 * j + 17 * (j >= 4);
      CHECK(y[e] == static_cast<float>(sc * (e % 16)) - 0.5f * static_cast<float>(m));
    }
  }
  // Q5_K: as above with the 5th bit set on odd elements; d = 2, dmin = 0.
  {
    uint8_t blk[176] = {};
    put16(blk, 0x4000);
    for (int j = 0; j < 4; ++j) blk[4 + j] = static_cast<uint8_t>(j + 1);       // scales 0-3
    for (int j = 4; j < 8; ++j) blk[12 + j - 4] = static_cast<uint8_t>(j + 1);  // scales 4-7
    for (int e = 0; e < 256; ++e) {
      const int g = e / 64, w = e % 64;
      uint8_t& byte = blk[48 + 32 * g + w % 32];
      byte = static_cast<uint8_t>(w < 32 ? (byte & 0xf0) | (e % 16) : (byte & 0x0f) | ((e % 16) << 4));
      if (e % 2) blk[16 + e % 32] = static_cast<uint8_t>(blk[16 + e % 32] | (1 << (e / 32)));
    }
    float y[256];
    dequantize_row(DType::Q5_K, blk, y, 256);
    for (int e = 0; e < 256; ++e) {
      const int q = e % 16 + 16 * (e % 2);
      CHECK(y[e] == 2.0f * static_cast<float>((e / 32 + 1) * q));
    }
  }
  // Q6_K: d = 0.25, scale of sub-block j (16 values) = j - 8, code of element e = (5e) % 64.
  {
    uint8_t blk[210] = {};
    put16(blk + 208, 0x3400);
    for (int j = 0; j < 16; ++j) blk[192 + j] = static_cast<uint8_t>(static_cast<int8_t>(j - 8));
    for (int e = 0; e < 256; ++e) {
      const int u = (5 * e) % 64, h = e / 128, k = (e % 128) / 32, l = e % 32;
      uint8_t& lb = blk[64 * h + l + 32 * (k & 1)];
      lb = static_cast<uint8_t>(k < 2 ? (lb & 0xf0) | (u & 0xf) : (lb & 0x0f) | ((u & 0xf) << 4));
      blk[128 + 32 * h + l] = static_cast<uint8_t>(blk[128 + 32 * h + l] | ((u >> 4) << (2 * k)));
    }
    float y[256];
    dequantize_row(DType::Q6_K, blk, y, 256);
    for (int e = 0; e < 256; ++e)
      CHECK(y[e] == 0.25f * static_cast<float>((e / 16 - 8) * ((5 * e) % 64 - 32)));
  }
}

TEST_CASE("activation quantization Q8_K") {
  std::mt19937 rng(5);
  std::vector<float> x = random_floats(rng, 512, -2.0f, 2.0f);
  x[300] = -5.0f;  // block 1's extreme is negative: iscale = -127/max is then positive
  x[10] = 3.0f;    // block 0's extreme is positive: d < 0
  ref::BlockQ8_K a[2];
  ref::quantize_act_q8_K(x.data(), a, 512);
  CHECK(a[1].qs[300 - 256] == -127);  // the extreme always maps to -127
  CHECK(a[1].d == doctest::Approx(5.0f / 127.0f));
  CHECK(a[0].qs[10] == -127);
  CHECK(a[0].d == doctest::Approx(-3.0f / 127.0f));
  for (int b = 0; b < 2; ++b) {
    for (int g = 0; g < 16; ++g) {
      int s = 0;
      for (int l = 0; l < 16; ++l) s += a[b].qs[16 * g + l];
      CHECK(a[b].bsums[g] == s);
    }
    for (int j = 0; j < 256; ++j) CHECK(std::fabs(a[b].d * a[b].qs[j] - x[256 * b + j]) <= std::fabs(a[b].d) * 0.5001f);
  }
  std::vector<float> z(256, 0.0f);
  ref::quantize_act_q8_K(z.data(), a, 256);
  CHECK(a[0].d == 0.0f);
  CHECK(a[0].bsums[3] == 0);
}

// Every table's prepared Q8_K activations are the reference's bytes: the largest magnitude found
// first wins a tie between +m and -m, an all-zero block has d = 0, and bsums are exact.
TEST_CASE("activation quantization Q8_K: prepared form of every table equals the reference") {
  std::mt19937 rng(9);
  const int64_t n = 1024, n_tok = 3;
  std::vector<float> x = random_floats(rng, static_cast<size_t>(n * n_tok), -2.0f, 2.0f);
  x[17] = -4.0f, x[200] = 4.0f;          // tie: the first (negative) one sets the sign
  x[256 + 9] = 3.0f, x[256 + 250] = -3.0f;
  for (int64_t i = 512; i < 768; ++i) x[i] = 0.0f;  // an all-zero block
  x[n + 255] = 6.0f;                                  // the extreme in a block's last element
  std::vector<ref::BlockQ8_K> want(static_cast<size_t>(n / 256 * n_tok));
  for (int64_t t = 0; t < n_tok; ++t) ref::quantize_act_q8_K(x.data() + t * n, want.data() + t * (n / 256), n);
  for (const KernelTable* k : all_tables()) {
    const size_t stride = acts_tok_stride(*k, DType::Q4_K, n);
    if (stride == 0) continue;
    CAPTURE(std::string(isa_name(k->isa)));
    PreparedActs acts{x.data(), n, n, n_tok, nullptr};
    std::vector<uint8_t> scratch(k->acts_bytes(DType::Q4_K, n, n_tok));
    k->prepare_acts(DType::Q4_K, acts, scratch.data());
    for (int64_t t = 0; t < n_tok; ++t)
      for (int64_t b = 0; b < n / 256; ++b) {
        const auto& got = reinterpret_cast<const ref::BlockQ8_K*>(static_cast<const uint8_t*>(acts.q) + t * stride)[b];
        const auto& ref_blk = want[static_cast<size_t>(t * (n / 256) + b)];
        CAPTURE(t);
        CAPTURE(b);
        CHECK(got.d == ref_blk.d);
        CHECK(std::memcmp(got.qs, ref_blk.qs, sizeof(got.qs)) == 0);
        CHECK(std::memcmp(got.bsums, ref_blk.bsums, sizeof(got.bsums)) == 0);
      }
  }
}

TEST_CASE("integer dot references agree with the f32 dot of dequantized rows") {
  std::mt19937 rng(11);
  const int n = 1024;
  std::vector<float> x = random_floats(rng, n);
  std::vector<ref::BlockQ8_0> a8(n / 32);
  std::vector<ref::BlockQ8_K> ak(n / 256);
  ref::quantize_act_q8_0(x.data(), a8.data(), n);
  ref::quantize_act_q8_K(x.data(), ak.data(), n);
  std::vector<float> wf = random_floats(rng, n), row(n);
  for (DType t : {DType::Q4_0, DType::Q8_0, DType::Q4_K, DType::Q5_K, DType::Q6_K}) {
    std::vector<uint8_t> w;
    if (t == DType::Q4_0 || t == DType::Q8_0) {
      w.resize(row_bytes(t, n));
      quantize_row(t, wf.data(), w.data(), n);
    } else {
      w = random_kblocks(rng, t, n / 256);
    }
    dequantize_row(t, w.data(), row.data(), n);
    double exact = 0.0, mag = 0.0;
    for (int i = 0; i < n; ++i) {
      exact += static_cast<double>(row[i]) * x[i];
      mag += std::fabs(static_cast<double>(row[i]) * x[i]);
    }
    float got = 0.0f;
    switch (t) {
      case DType::Q4_0: got = ref::dot_q4_0_q8_0(w.data(), a8.data(), n); break;
      case DType::Q8_0: got = ref::dot_q8_0_q8_0(w.data(), a8.data(), n); break;
      case DType::Q4_K: got = ref::dot_q4_K_q8_K(w.data(), ak.data(), n); break;
      case DType::Q5_K: got = ref::dot_q5_K_q8_K(w.data(), ak.data(), n); break;
      default: got = ref::dot_q6_K_q8_K(w.data(), ak.data(), n); break;
    }
    // Activation rounding: at most half a step (amax/254) per element.
    CHECK_MESSAGE(std::fabs(got - exact) <= 0.01 * mag, type_info(t).name);
  }
}
