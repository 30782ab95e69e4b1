// matmul of every table and weight type against the references, on odd shapes and misaligned
// pointers. Tolerances are relative L2 errors over each output vector y[t][r0..r1), where the
// denominator is sum_r max(exact_r^2, sum_i (w_ri x_ti)^2): the second term is the natural scale
// of rounding errors of a dot product and keeps single-row ranges with a near-zero result from
// producing meaningless ratios.
//   scalar table vs double-precision dot of the dequantized rows          <= 1e-5
//   float weights (F32/F16/BF16), any table vs scalar table               <= 1e-5
//   quantized weights, SIMD table vs ref::matmul_qact (same int8 acts)     <= 1e-5
//   quantized weights, any table vs scalar table (activation rounding)     <= 2e-2
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>

#include "kernels/ref/ref.h"
#include "tests/kernels/test_util.h"

using namespace lfmd::kernels;
using namespace lfmd::kernels::test;

namespace {

constexpr float kSentinel = 12345.0f;

void put16(uint8_t* p, uint16_t v) { std::memcpy(p, &v, 2); }

// `rows` rows of type t, n_in wide, written at dst (rb = row_bytes(t, n_in) apart).
// random_codes: quantized types get random bytes with sane fp16 scales instead of quantized floats.
void make_weights(std::mt19937& rng, DType t, int64_t rows, int64_t n_in, bool random_codes, uint8_t* dst) {
  const size_t rb = row_bytes(t, n_in);
  const TypeInfo& ti = type_info(t);
  const bool kquant = t == DType::Q4_K || t == DType::Q5_K || t == DType::Q6_K;
  std::uniform_real_distribution<float> dd(1e-3f, 1e-2f);
  for (int64_t r = 0; r < rows; ++r) {
    uint8_t* row = dst + r * rb;
    if (kquant || (random_codes && ti.block_size > 1)) {
      for (size_t i = 0; i < rb; ++i) row[i] = static_cast<uint8_t>(rng());
      for (int64_t b = 0; b < n_in / ti.block_size; ++b) {
        uint8_t* blk = row + b * ti.block_bytes;
        if (t == DType::Q6_K) {
          put16(blk + 208, fp32_to_fp16(dd(rng) * 0.1f));
        } else {
          put16(blk, fp32_to_fp16(dd(rng)));
          if (kquant) put16(blk + 2, fp32_to_fp16(dd(rng)));
        }
      }
    } else {
      std::vector<float> v = random_floats(rng, static_cast<size_t>(n_in));
      REQUIRE(quantize_row(t, v.data(), row, n_in));
    }
  }
}

struct Problem {
  DType t;
  int64_t n_in, rows, r0, r1, n_tok;
  size_t w_off, x_off;
  bool random_codes;
};

void run(const KernelTable& k, const Problem& p, const uint8_t* w, const float* x, int64_t ldx,
         float* y, int64_t ldy, size_t scratch_off) {
  PreparedActs acts;
  acts.x = x;
  acts.ldx = ldx;
  acts.n_in = p.n_in;
  acts.n_tok = p.n_tok;
  const size_t sb = k.acts_bytes(p.t, p.n_in, p.n_tok);
  OffsetBuffer scratch(sb, scratch_off);
  k.prepare_acts(p.t, acts, sb ? scratch.data() : nullptr);
  k.matmul(p.t, w, row_bytes(p.t, p.n_in), p.r0, p.r1, acts, y, ldy);
}

void check_problem(std::mt19937& rng, const Problem& p) {
  const std::string tname = type_info(p.t).name;
  CAPTURE(tname);
  CAPTURE(p.n_in);
  CAPTURE(p.r0);
  CAPTURE(p.r1);
  CAPTURE(p.n_tok);
  CAPTURE(p.random_codes);
  const size_t rb = row_bytes(p.t, p.n_in);
  OffsetBuffer wbuf(rb * p.rows, p.w_off);
  make_weights(rng, p.t, p.rows, p.n_in, p.random_codes, wbuf.data());
  const int64_t ldx = p.n_in + 5, ldy = p.rows + 3;
  OffsetFloats x(static_cast<size_t>(ldx * p.n_tok), p.x_off);
  std::vector<float> xv = random_floats(rng, static_cast<size_t>(ldx * p.n_tok));
  std::memcpy(x.data(), xv.data(), xv.size() * sizeof(float));
  const size_t ny = static_cast<size_t>(ldy * p.n_tok);

  // Double-precision reference from the dequantized rows.
  std::vector<float> deq(static_cast<size_t>(p.n_in));
  std::vector<float> exact(ny, 0.0f);
  std::vector<double> scale2(ny, 0.0);  // max(exact^2, sum of squared terms)
  for (int64_t r = p.r0; r < p.r1; ++r) {
    dequantize_row(p.t, wbuf.data() + r * rb, deq.data(), p.n_in);
    for (int64_t t = 0; t < p.n_tok; ++t) {
      double s = 0.0, s2 = 0.0;
      for (int64_t i = 0; i < p.n_in; ++i) {
        const double term = static_cast<double>(deq[i]) * x[t * ldx + i];
        s += term;
        s2 += term * term;
      }
      exact[t * ldy + r] = static_cast<float>(s);
      scale2[t * ldy + r] = std::max(s * s, s2);
    }
  }
  // Relative error of a[t][r0..r1) against b[t][r0..r1) with the denominator described above.
  auto err = [&](const std::vector<float>& a, const std::vector<float>& b, int64_t t) {
    double num = 0.0, den = 0.0;
    for (int64_t r = p.r0; r < p.r1; ++r) {
      const double d = static_cast<double>(a[t * ldy + r]) - b[t * ldy + r];
      num += d * d;
      den += scale2[t * ldy + r];
    }
    return std::sqrt(num / den);
  };
  std::vector<float> ys(ny, kSentinel);
  run(scalar_table(), p, wbuf.data(), x.data(), ldx, ys.data(), ldy, 0);
  const bool quant_acts = ref::act_quant_for(p.t) != ref::ActQuant::None;
  std::vector<float> yq(ny, kSentinel);
  if (quant_acts)
    ref::matmul_qact(p.t, wbuf.data(), rb, p.r0, p.r1, x.data(), ldx, p.n_in, p.n_tok, yq.data(), ldy);

  for (int64_t t = 0; t < p.n_tok; ++t) {
    CHECK(err(ys, exact, t) <= 1e-5);
    if (quant_acts) CHECK(err(yq, exact, t) <= 2e-2);
  }
  for (const KernelTable* k : all_tables()) {
    if (k == &scalar_table()) continue;
    const std::string iname = isa_name(k->isa);
    CAPTURE(iname);
    std::vector<float> y(ny, kSentinel);
    run(*k, p, wbuf.data(), x.data(), ldx, y.data(), ldy, 1 + p.w_off);
    for (int64_t t = 0; t < p.n_tok; ++t) {
      CHECK(err(y, ys, t) <= (quant_acts ? 2e-2 : 1e-5));
      if (quant_acts) CHECK(err(y, yq, t) <= 1e-5);
    }
    // Nothing outside rows [r0, r1) x tokens [0, n_tok) is written.
    int touched = 0;
    for (int64_t t = 0; t < p.n_tok; ++t)
      for (int64_t r = 0; r < ldy; ++r)
        if ((r < p.r0 || r >= p.r1) && y[t * ldy + r] != kSentinel) ++touched;
    CHECK(touched == 0);
  }
}

}  // namespace

TEST_CASE("matmul: all tables and weight types vs references") {
  std::mt19937 rng(20240611);
  const DType types[] = {DType::F32, DType::F16,  DType::BF16, DType::Q8_0,
                         DType::Q4_0, DType::Q4_K, DType::Q5_K, DType::Q6_K};
  const int64_t toks[] = {1, 2, 3, 5, 8, 17};
  size_t off = 0;
  for (DType t : types) {
    const int64_t bs = type_info(t).block_size;
    std::vector<int64_t> widths;
    if (bs == 1) widths = {1, 7, 8, 33, 100, 256};
    else if (bs == 32) widths = {32, 64, 96, 352};
    else widths = {256, 512, 1280};
    for (int64_t n_in : widths) {
      for (int64_t n_tok : toks) {
        for (int variant = 0; variant < 2; ++variant) {
          Problem p;
          p.t = t;
          p.n_in = n_in;
          p.rows = 23;
          p.r0 = variant ? 3 : 0;
          p.r1 = variant ? 16 : 23;  // 13 rows from 3 (odd count, not at 0) / all 23
          p.n_tok = n_tok;
          p.w_off = 1 + off % 3;
          p.x_off = 1 + (off / 3) % 3;
          p.random_codes = variant == 1;
          ++off;
          check_problem(rng, p);
        }
      }
    }
  }
}

TEST_CASE("matmul: long rows (row chunking) and single-row ranges") {
  std::mt19937 rng(77);
  for (DType t : {DType::F32, DType::Q4_0, DType::Q8_0, DType::Q6_K}) {
    const int64_t n_in = t == DType::F32 ? 4100 : 16384;
    for (int64_t n_tok : {1, 6}) {
      check_problem(rng, Problem{t, n_in, 21, 1, 20, n_tok, 2, 1, false});
      check_problem(rng, Problem{t, n_in, 21, 7, 8, n_tok, 3, 2, false});
    }
  }
}

TEST_CASE("matmul: results independent of row split; prepared acts optional and shareable") {
  std::mt19937 rng(3);
  const int64_t n_in = 512, rows = 37;
  for (const KernelTable* k : all_tables()) {
    for (DType t : {DType::F16, DType::Q4_0, DType::Q8_0, DType::Q4_K, DType::Q5_K, DType::Q6_K}) {
      const std::string iname = isa_name(k->isa);
    CAPTURE(iname);
      CAPTURE(type_info(t).name);
      for (int64_t n_tok : {1, 7}) {
        const size_t rb = row_bytes(t, n_in);
        std::vector<uint8_t> w(rb * rows);
        make_weights(rng, t, rows, n_in, false, w.data());
        std::vector<float> x = random_floats(rng, static_cast<size_t>(n_in * n_tok));
        PreparedActs acts;
        acts.x = x.data();
        acts.ldx = n_in;
        acts.n_in = n_in;
        acts.n_tok = n_tok;
        std::vector<uint8_t> scratch(k->acts_bytes(t, n_in, n_tok) + 1);
        k->prepare_acts(t, acts, scratch.data());
        std::vector<float> full(static_cast<size_t>(rows * n_tok)), split(full.size()), raw(full.size());
        k->matmul(t, w.data(), rb, 0, rows, acts, full.data(), rows);
        // "Threads": disjoint ranges of odd sizes sharing the prepared activations.
        for (int64_t r0 : {0, 5, 18, 19, 30}) {
          const int64_t r1 = r0 == 30 ? rows : r0 == 0 ? 5 : r0 == 5 ? 18 : r0 == 18 ? 19 : 30;
          k->matmul(t, w.data(), rb, r0, r1, acts, split.data(), rows);
        }
        CHECK(std::memcmp(full.data(), split.data(), full.size() * sizeof(float)) == 0);
        // Without prepare_acts the kernel quantizes privately, with the same result.
        PreparedActs plain = acts;
        plain.q = nullptr;
        k->matmul(t, w.data(), rb, 0, rows, plain, raw.data(), rows);
        CHECK(std::memcmp(full.data(), raw.data(), full.size() * sizeof(float)) == 0);
        // Activations prepared for a type with the same activation format serve this type too.
        const DType partner = t == DType::Q4_0 ? DType::Q8_0 : t == DType::Q8_0 ? DType::Q4_0
                              : t == DType::Q4_K ? DType::Q6_K : t == DType::Q6_K ? DType::Q5_K
                              : t == DType::Q5_K ? DType::Q4_K : t;
        PreparedActs other = plain;
        std::vector<uint8_t> scratch2(k->acts_bytes(partner, n_in, n_tok) + 3);
        REQUIRE(k->acts_bytes(partner, n_in, n_tok) == k->acts_bytes(t, n_in, n_tok));
        k->prepare_acts(partner, other, scratch2.data() + 3);
        k->matmul(t, w.data(), rb, 0, rows, other, raw.data(), rows);
        CHECK(std::memcmp(full.data(), raw.data(), full.size() * sizeof(float)) == 0);
      }
    }
  }
}

// The engine prepares disjoint token ranges on different threads (kernels.h prepare_acts): a
// range prepared alone into scratch + t0 * acts_tok_stride() must give the whole prepare's bytes.
TEST_CASE("prepare_acts: token ranges prepared apart give the bytes of one prepare") {
  std::mt19937 rng(5);
  const int64_t n_tok = 9;
  for (const KernelTable* k : all_tables()) {
    for (DType t : {DType::F16, DType::Q4_0, DType::Q8_0, DType::Q4_K, DType::Q6_K}) {
      for (int64_t n_in : {256, 768}) {
        const std::string iname = isa_name(k->isa);
        CAPTURE(iname);
        CAPTURE(type_info(t).name);
        const size_t stride = acts_tok_stride(*k, t, n_in), bytes = k->acts_bytes(t, n_in, n_tok);
        if (bytes == 0) {
          CHECK(stride == 0);
          continue;
        }
        REQUIRE(stride % 64 == 0);
        REQUIRE(bytes == 64 + stride * n_tok);
        std::vector<float> x = random_floats(rng, static_cast<size_t>(n_in * n_tok));
        PreparedActs whole{x.data(), n_in, n_in, n_tok, nullptr};
        std::vector<uint8_t> a(bytes + 64), b(bytes + 64);
        uint8_t* a0 = a.data() + (64 - reinterpret_cast<uintptr_t>(a.data()) % 64) % 64;
        uint8_t* b0 = b.data() + (64 - reinterpret_cast<uintptr_t>(b.data()) % 64) % 64;
        k->prepare_acts(t, whole, a0);
        CHECK(whole.q == a0);
        for (auto [t0, t1] : {std::pair<int64_t, int64_t>{0, 4}, {4, 5}, {5, 9}}) {
          PreparedActs part{x.data() + t0 * n_in, n_in, n_in, t1 - t0, nullptr};
          k->prepare_acts(t, part, b0 + t0 * stride);
          CHECK(part.q == b0 + t0 * stride);
        }
        CHECK(std::memcmp(a0, b0, stride * n_tok) == 0);
      }
    }
  }
}

// Batch invariance inside each table: a token's floats do not depend on the other tokens of its
// call (tile width, position in the tile). The AVX-512 / AVX-VNNI tables repeat the AVX2 table's
// float operations: equal to it bit for bit. Random shapes with tail rows and misaligned data.
TEST_CASE("matmul: batch invariance in each table; AVX-512 / AVX-VNNI equal AVX2 bit for bit") {
  std::mt19937 rng(9);
  const KernelTable* a2 = kernel_table(Isa::Avx2);
  for (DType t : {DType::F32, DType::F16, DType::BF16, DType::Q4_0, DType::Q8_0, DType::Q4_K,
                  DType::Q5_K, DType::Q6_K}) {
    const std::string tname = type_info(t).name;
    CAPTURE(tname);
    const int64_t bs = type_info(t).block_size;
    for (int iter = 0; iter < 6; ++iter) {
      // Float rows: every other shape a multiple of 8 (the AVX-512 prefill kernel), else a tail.
      const int64_t n_in = bs == 1 ? 8 * (1 + static_cast<int64_t>(rng() % 40))
                                         + (iter % 2 ? 1 + rng() % 7 : 0)
                                   : bs * (1 + static_cast<int64_t>(rng() % 5));
      const int64_t rows = 1 + rng() % 40, n_tok = 1 + rng() % 19;
      const int64_t r0 = rng() % rows, r1 = r0 + 1 + rng() % (rows - r0);
      CAPTURE(n_in);
      CAPTURE(rows);
      CAPTURE(n_tok);
      const size_t rb = row_bytes(t, n_in);
      OffsetBuffer w(rb * rows, 1 + iter % 3);
      make_weights(rng, t, rows, n_in, iter % 2 == 1, w.data());
      const int64_t ldx = n_in + 3, ldy = rows + 1;
      std::vector<float> x = random_floats(rng, static_cast<size_t>(ldx * n_tok));
      std::vector<float> ya2;
      for (const KernelTable* k : all_tables()) {
        const std::string iname = isa_name(k->isa);
        CAPTURE(iname);
        const Problem p{t, n_in, rows, r0, r1, n_tok, 0, 0, false};
        std::vector<float> y(static_cast<size_t>(ldy * n_tok), kSentinel);
        run(*k, p, w.data(), x.data(), ldx, y.data(), ldy, 1);
        for (int64_t tk = 0; tk < n_tok; ++tk) {
          Problem one = p;
          one.n_tok = 1;
          std::vector<float> y1(static_cast<size_t>(ldy), kSentinel);
          run(*k, one, w.data(), x.data() + tk * ldx, ldx, y1.data(), ldy, 2);
          CHECK(std::memcmp(y1.data() + r0, y.data() + tk * ldy + r0, (r1 - r0) * sizeof(float)) == 0);
        }
        if (k == a2) ya2 = y;
        if ((k->isa == Isa::Avx512 || k->isa == Isa::AvxVnni) && !ya2.empty())
          CHECK(std::memcmp(y.data(), ya2.data(), y.size() * sizeof(float)) == 0);
      }
    }
  }
}

// Manual benchmark: ./lfmd_kernel_tests -tc="bench*" --no-skip. Weights are cycled over several
// copies (> L3) so that they stream from DRAM; 1 and 2 threads split the rows; best of several runs.
TEST_CASE("bench: GEMV / small-batch matmul, n_in=2048, 5632 rows" * doctest::skip()) {
  std::mt19937 rng(1);
  const int64_t n_in = 2048, rows = 5632;
  for (DType t : {DType::Q4_0, DType::Q8_0, DType::Q4_K, DType::Q6_K, DType::F16}) {
    const size_t rb = row_bytes(t, n_in), wbytes = rb * rows;
    const int copies = static_cast<int>(std::max<size_t>(2, (96u << 20) / wbytes));
    std::vector<uint8_t> w(wbytes * copies);
    make_weights(rng, t, rows, n_in, true, w.data());
    for (int c = 1; c < copies; ++c) std::memcpy(w.data() + c * wbytes, w.data(), wbytes);
    for (int64_t n_tok : {1, 64}) {
      std::vector<float> x = random_floats(rng, static_cast<size_t>(n_in * n_tok));
      std::vector<float> y(static_cast<size_t>(rows * n_tok));
      for (const KernelTable* k : all_tables()) {
        for (int nth : {1, 2}) {
          if (k->isa == Isa::Scalar && (nth == 2 || n_tok > 1)) continue;
          PreparedActs acts;
          acts.x = x.data();
          acts.ldx = n_in;
          acts.n_in = n_in;
          acts.n_tok = n_tok;
          std::vector<uint8_t> scratch(k->acts_bytes(t, n_in, n_tok));
          double best = 1e30;
          const int reps = k->isa == Isa::Scalar ? 2 : n_tok > 1 ? 4 : 3 * copies;
          for (int rep = 0; rep < reps; ++rep) {
            const uint8_t* wc = w.data() + (rep % copies) * wbytes;
            const auto t0 = std::chrono::steady_clock::now();
            k->prepare_acts(t, acts, scratch.data());
            if (nth == 1) {
              k->matmul(t, wc, rb, 0, rows, acts, y.data(), rows);
            } else {
              std::thread th([&] { k->matmul(t, wc, rb, rows / 2, rows, acts, y.data(), rows); });
              k->matmul(t, wc, rb, 0, rows / 2, acts, y.data(), rows);
              th.join();
            }
            const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            best = std::min(best, sec);
          }
          std::printf("%-6s %-4s n_tok=%2lld threads=%d %8.3f ms %6.2f GB/s weights %6.1f GMAC/s\n",
                      isa_name(k->isa), type_info(t).name, static_cast<long long>(n_tok), nth, best * 1e3,
                      static_cast<double>(wbytes) / best * 1e-9,
                      static_cast<double>(n_in * rows * n_tok) / best * 1e-9);
        }
      }
    }
  }
}

// Manual benchmark of the prefill tiles: ./lfmd_kernel_tests -tc="bench: prefill*" --no-skip.
// One thread, 64 tokens, an LFM2-350M ffn_down shape (4608 -> 1024; LFMD_BENCH_ROWS=64: weights
// that stay in L1/L2, the kernels' own speed); the tables take turns in each repetition (same
// machine load), best of 9.
TEST_CASE("bench: prefill matmul, 64 tokens, n_in=4608, 1024 rows" * doctest::skip()) {
  std::mt19937 rng(1);
  const int64_t n_in = 4608, rows = getenv("LFMD_BENCH_ROWS") ? atoi(getenv("LFMD_BENCH_ROWS")) : 1024, n_tok = 64;
  std::vector<const KernelTable*> tabs;
  for (Isa isa : {Isa::Avx2, Isa::Avx512, Isa::AvxVnni})
    if (const KernelTable* k = kernel_table(isa)) tabs.push_back(k);
  for (DType t : {DType::Q8_0, DType::Q4_K, DType::Q5_K, DType::Q6_K, DType::F16, DType::BF16}) {
    const size_t rb = row_bytes(t, n_in);
    std::vector<uint8_t> w(rb * rows);
    make_weights(rng, t, rows, n_in, true, w.data());
    std::vector<float> x = random_floats(rng, static_cast<size_t>(n_in * n_tok)), y(static_cast<size_t>(rows * n_tok));
    PreparedActs acts;
    acts.x = x.data();
    acts.ldx = n_in;
    acts.n_in = n_in;
    acts.n_tok = n_tok;
    std::vector<uint8_t> scratch(tabs[0]->acts_bytes(t, n_in, n_tok));
    tabs[0]->prepare_acts(t, acts, scratch.data());  // same prepared form in every x86 table
    // Q4_K also repacked (the form the x86 tables load it in); one packing serves all of them.
    std::vector<uint8_t> packed(t == DType::Q4_K ? rb * rows : 0);
    if (!packed.empty()) tabs[0]->repack(t, w.data(), rb, n_in, rows, packed.data());
    for (int rp = 0; rp < (packed.empty() ? 1 : 2); ++rp) {
      std::vector<double> best(tabs.size(), 1e30);
      for (int rep = 0; rep < 9; ++rep)
        for (size_t i = 0; i < tabs.size(); ++i) {
          const auto t0 = std::chrono::steady_clock::now();
          if (rp) tabs[i]->matmul_repacked(t, packed.data(), rows, 0, rows, acts, y.data(), rows);
          else tabs[i]->matmul(t, w.data(), rb, 0, rows, acts, y.data(), rows);
          best[i] = std::min(best[i], std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
        }
      for (size_t i = 0; i < tabs.size(); ++i)
        std::printf("%-7s %-4s %-8s %8.3f ms %6.1f GMAC/s  (%.2fx avx2)\n", isa_name(tabs[i]->isa), type_info(t).name,
                    rp ? "repacked" : "file", best[i] * 1e3, static_cast<double>(n_in * rows * n_tok) / best[i] * 1e-9,
                    best[0] / best[i]);
    }
  }
}
