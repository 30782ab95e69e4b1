// Repacked Q4_0 / Q8_0 / Q4_K matrices (kernels.h, kRepackRows): the packing round-trips, the
// reference matmul on packed rows equals ref::matmul_qact bit for bit, and every table's
// matmul_repacked agrees with it (relative L2 <= 1e-5) on random shapes with tail rows, row ranges
// starting at any group, 1..9 tokens, misaligned weights / activations / outputs, and extreme
// codes; each token alone gets the floats it got in the batch, the AVX-512 and AVX-VNNI tables
// equal the AVX2 one bit for bit, and every repacked Q4_0 and Q4_K kernel (x86 and Arm i8mm)
// follows one scalar float order bit for bit.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <thread>

#include "kernels/ref/ref.h"
#include "tests/kernels/test_util.h"

using namespace lfmd::kernels;
using namespace lfmd::kernels::test;

namespace {

void put16(uint8_t* p, uint16_t v) { std::memcpy(p, &v, 2); }

// Random quant bytes with sane fp16 scales (Q4_K: d and dmin; its 6-bit scales and mins random);
// `extreme`: every other byte 0xFF (Q4_0 / Q4_K nibbles 15 and Q4_K scales and mins 63, Q8_0
// value -1) or 0x80 (Q8_0 -128), the int16 worst cases.
std::vector<uint8_t> random_rows(std::mt19937& rng, DType t, int64_t rows, int64_t n_in, int extreme) {
  const size_t rb = row_bytes(t, n_in), bb = type_info(t).block_bytes;
  std::vector<uint8_t> w(rb * rows);
  std::uniform_real_distribution<float> dd(1e-3f, 1e-2f);
  for (auto& v : w) v = extreme == 1 ? 0xFF : extreme == 2 ? 0x80 : static_cast<uint8_t>(rng());
  const int64_t bs = type_info(t).block_size;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t b = 0; b < n_in / bs; ++b) {
      put16(w.data() + r * rb + b * bb, fp32_to_fp16(dd(rng)));
      if (t == DType::Q4_K) put16(w.data() + r * rb + b * bb + 2, fp32_to_fp16(dd(rng)));
    }
  return w;
}

// The float order of every table's repacked Q4_0 kernel (x86 and i8mm), in scalar: per row and
// token, acc = fma(float(exact int dot of the block), d_w * d_a, acc) over blocks from 0.
float repacked_q4_0_order(const uint8_t* row, const ref::BlockQ8_0* a, int64_t nb) {
  float acc = 0.0f;
  for (int64_t b = 0; b < nb; ++b) {
    ref::BlockQ4_0 w;
    std::memcpy(&w, row + b * sizeof(w), sizeof(w));
    int32_t s = 0;
    for (int j = 0; j < 16; ++j)
      s += ((w.qs[j] & 15) - 8) * a[b].qs[j] + ((w.qs[j] >> 4) - 8) * a[b].qs[j + 16];
    const float scale = fp16_to_fp32(w.d) * fp16_to_fp32(a[b].d);
    acc = std::fma(static_cast<float>(s), scale, acc);
  }
  return acc;
}

// The float order of every table's repacked Q4_K kernel (x86 and i8mm), in scalar: per row and
// token and super-block, exact integers isum = sum_j sc_j (q.a)_j and msum = sum_j m_j sum(a)_j,
// then acc = fma(float(isum), d_w * d_a, acc) and accm = fma(float(msum), dmin_w * d_a, accm);
// the result is acc - accm.
float repacked_q4_K_order(const uint8_t* row, const ref::BlockQ8_K* a, int64_t nb) {
  float acc = 0.0f, accm = 0.0f;
  for (int64_t b = 0; b < nb; ++b) {
    ref::BlockQ4_K w;
    std::memcpy(&w, row + b * sizeof(w), sizeof(w));
    int32_t isum = 0, msum = 0;
    for (int j = 0; j < 8; ++j) {
      uint8_t sc, m;
      ref::scale_min_k4(j, w.scales, &sc, &m);
      int32_t dot = 0;
      for (int l = 0; l < 32; ++l) {
        const uint8_t byte = w.qs[32 * (j / 2) + l];
        dot += ((j % 2) ? byte >> 4 : byte & 15) * a[b].qs[32 * j + l];
      }
      isum += sc * dot;
      msum += m * (a[b].bsums[2 * j] + a[b].bsums[2 * j + 1]);
    }
    acc = std::fma(static_cast<float>(isum), fp16_to_fp32(w.d) * a[b].d, acc);
    accm = std::fma(static_cast<float>(msum), fp16_to_fp32(w.dmin) * a[b].d, accm);
  }
  return acc - accm;
}

// Repacked Q4_0 / Q4_K of table k bit for bit: full groups in the scalar order above, tail rows as
// the table's own file-layout matmul. (x86 and Arm tables thus give the same floats.)
void check_repacked_order(const KernelTable* k, DType t, const std::vector<uint8_t>& w,
                          int64_t rows, int64_t r0, int64_t r1, const PreparedActs& acts,
                          const std::vector<float>& y, int64_t ldy) {
  const int64_t n_in = acts.n_in, full = rows / kRepackRows * kRepackRows;
  const size_t rb = row_bytes(t, n_in);
  std::vector<ref::BlockQ8_0> a(static_cast<size_t>(n_in / ref::QK));
  std::vector<ref::BlockQ8_K> ak(static_cast<size_t>(n_in / ref::QK_K));
  std::vector<float> yt(static_cast<size_t>(ldy * acts.n_tok), 7.0f);
  if (r1 > full) k->matmul(t, w.data(), rb, std::max(r0, full), r1, acts, yt.data(), ldy);
  int bad = 0;
  for (int64_t tk = 0; tk < acts.n_tok; ++tk) {
    if (t == DType::Q4_K)
      ref::quantize_act_q8_K(acts.x + tk * acts.ldx, ak.data(), n_in);
    else
      ref::quantize_act_q8_0(acts.x + tk * acts.ldx, a.data(), n_in);
    for (int64_t r = r0; r < r1; ++r) {
      const uint8_t* row = w.data() + r * rb;
      const float want = r >= full          ? yt[tk * ldy + r]
                         : t == DType::Q4_K ? repacked_q4_K_order(row, ak.data(), n_in / ref::QK_K)
                                            : repacked_q4_0_order(row, a.data(), n_in / ref::QK);
      bad += std::memcmp(&want, &y[tk * ldy + r], sizeof(float)) != 0;
    }
  }
  CHECK(bad == 0);
}

void check(std::mt19937& rng, DType t, int64_t n_in, int64_t rows, int64_t r0, int64_t r1, int64_t n_tok,
           size_t w_off, size_t x_off, int extreme) {
  CAPTURE(type_info(t).name);
  CAPTURE(n_in);
  CAPTURE(rows);
  CAPTURE(r0);
  CAPTURE(r1);
  CAPTURE(n_tok);
  CAPTURE(extreme);
  const size_t rb = row_bytes(t, n_in);
  const std::vector<uint8_t> w = random_rows(rng, t, rows, n_in, extreme);
  REQUIRE(ref::repack_bytes(t, n_in, rows) == w.size());
  OffsetBuffer packed(w.size(), w_off);
  ref::repack(t, w.data(), rb, n_in, rows, packed.data());
  // Round trip: every row of a full group unpacks to the original; tail rows are copied.
  std::vector<uint8_t> row(rb);
  const int64_t full = rows / kRepackRows * kRepackRows;
  for (int64_t r = 0; r < rows; ++r) {
    if (r < full) {
      ref::unpack_row(t, packed.data(), n_in, r, row.data());
      CHECK(std::memcmp(row.data(), w.data() + r * rb, rb) == 0);
    } else {
      CHECK(std::memcmp(packed.data() + r * rb, w.data() + r * rb, rb) == 0);
    }
    std::fill(row.begin(), row.end(), uint8_t{0xA5});
    unpack_repacked_row(t, packed.data(), n_in, rows, r, row.data());  // both kinds of row
    CHECK(std::memcmp(row.data(), w.data() + r * rb, rb) == 0);
  }
  const int64_t ldx = n_in + 3, ldy = rows + 5;
  OffsetFloats x(static_cast<size_t>(ldx * n_tok), x_off);
  std::vector<float> xv = random_floats(rng, static_cast<size_t>(ldx * n_tok));
  if (extreme) std::fill(xv.begin(), xv.end(), extreme == 1 ? 1.0f : -1.0f);  // quantizes to +-127
  std::memcpy(x.data(), xv.data(), xv.size() * sizeof(float));
  const size_t ny = static_cast<size_t>(ldy * n_tok);
  std::vector<float> want(ny, 7.0f), got_ref(ny, 7.0f);
  ref::matmul_qact(t, w.data(), rb, r0, r1, x.data(), ldx, n_in, n_tok, want.data(), ldy);
  ref::matmul_repacked_qact(t, packed.data(), rows, r0, r1, x.data(), ldx, n_in, n_tok, got_ref.data(), ldy);
  CHECK(std::memcmp(want.data(), got_ref.data(), ny * sizeof(float)) == 0);
  for (const KernelTable* k : all_tables()) {
    if (k->repack_bytes(t, n_in, rows) == 0) continue;
    CAPTURE(isa_name(k->isa));
    REQUIRE(k->repack_bytes(t, n_in, rows) == ref::repack_bytes(t, n_in, rows));
    OffsetBuffer kp(w.size(), w_off);
    k->repack(t, w.data(), rb, n_in, rows, kp.data());
    REQUIRE(std::memcmp(kp.data(), packed.data(), w.size()) == 0);
    std::vector<float> y(ny, 7.0f);
    PreparedActs acts;
    acts.x = x.data();
    acts.ldx = ldx;
    acts.n_in = n_in;
    acts.n_tok = n_tok;
    OffsetBuffer scratch(k->acts_bytes(t, n_in, n_tok), 1 + x_off);
    k->prepare_acts(t, acts, scratch.data());
    // Split like the thread pool does: [r0, mid) and [mid, r1) with mid on a group boundary.
    const int64_t mid = std::min(r1, (r0 + (r1 - r0) / 2) / kRepackRows * kRepackRows);
    if (mid > r0) k->matmul_repacked(t, kp.data(), rows, r0, mid, acts, y.data(), ldy);
    k->matmul_repacked(t, kp.data(), rows, std::max(mid, r0), r1, acts, y.data(), ldy);
    for (int64_t tk = 0; tk < n_tok; ++tk) {
      // Denominator: max(result^2, sum of squared terms) per row (a near-zero dot of large terms
      // carries the rounding of its terms).
      double num = 0, den = 0;
      std::vector<float> deq(static_cast<size_t>(n_in));
      for (int64_t r = r0; r < r1; ++r) {
        const double d = static_cast<double>(y[tk * ldy + r]) - want[tk * ldy + r];
        num += d * d;
        dequantize_row(t, w.data() + r * rb, deq.data(), n_in);
        double s2 = 0;
        for (int64_t i = 0; i < n_in; ++i) s2 += static_cast<double>(deq[i]) * x[tk * ldx + i] * deq[i] * x[tk * ldx + i];
        den += std::max(static_cast<double>(want[tk * ldy + r]) * want[tk * ldy + r], s2);
      }
      CHECK(std::sqrt(num / std::max(den, 1e-30)) <= 1e-5);
      // Nothing outside [r0, r1) is written.
      for (int64_t r = 0; r < rows; ++r)
        if (r < r0 || r >= r1) CHECK(y[tk * ldy + r] == 7.0f);
    }
    // Without prepared activations the kernel quantizes privately, same result.
    std::vector<float> y2(ny, 7.0f);
    PreparedActs plain = acts;
    plain.q = nullptr;
    k->matmul_repacked(t, kp.data(), rows, r0, r1, plain, y2.data(), ldy);
    CHECK(std::memcmp(y.data(), y2.data(), ny * sizeof(float)) == 0);
    // Batch invariance: each token alone gives the floats it got in the batch.
    for (int64_t tk = 0; tk < n_tok; ++tk) {
      PreparedActs one = acts;
      one.x = x.data() + tk * ldx;
      one.n_tok = 1;
      OffsetBuffer s1(k->acts_bytes(t, n_in, 1), 2);
      k->prepare_acts(t, one, s1.data());
      std::vector<float> y1(static_cast<size_t>(rows), 7.0f);
      k->matmul_repacked(t, kp.data(), rows, r0, r1, one, y1.data(), rows);
      CHECK(std::memcmp(y1.data() + r0, y.data() + tk * ldy + r0, (r1 - r0) * sizeof(float)) == 0);
    }
    if (t != DType::Q8_0 && k->isa != Isa::Scalar)
      check_repacked_order(k, t, w, rows, r0, r1, acts, y, ldy);
    // The AVX-512 and AVX-VNNI kernels repeat the AVX2 kernels' float operations: bit-identical
    // results (the AVX2 kernel handles repacked Q8_0 too, though its table keeps Q8_0 unpacked).
    if (k->isa == Isa::Avx512 || k->isa == Isa::AvxVnni) {
      const KernelTable* a2 = kernel_table(Isa::Avx2);
      REQUIRE(a2 != nullptr);
      std::vector<float> y3(ny, 7.0f);
      a2->matmul_repacked(t, kp.data(), rows, r0, r1, acts, y3.data(), ldy);
      CHECK(std::memcmp(y.data(), y3.data(), ny * sizeof(float)) == 0);
    }
  }
  // No x86 table repacks Q8_0 (its file-layout kernel sums in ggml's order), but all keep a
  // repacked Q8_0 kernel: the AVX-512 and AVX-VNNI ones equal the AVX2 one bit for bit.
  const KernelTable* a2 = kernel_table(Isa::Avx2);
  for (Isa vnni : {Isa::Avx512, Isa::AvxVnni}) {
    const KernelTable* a5 = kernel_table(vnni);
    if (t != DType::Q8_0 || !a2 || !a5) continue;
    PreparedActs acts;
    acts.x = x.data();
    acts.ldx = ldx;
    acts.n_in = n_in;
    acts.n_tok = n_tok;
    OffsetBuffer scratch(a5->acts_bytes(t, n_in, n_tok), x_off);
    a5->prepare_acts(t, acts, scratch.data());
    std::vector<float> y2(ny, 7.0f), y5(ny, 7.0f);
    a2->matmul_repacked(t, packed.data(), rows, r0, r1, acts, y2.data(), ldy);
    a5->matmul_repacked(t, packed.data(), rows, r0, r1, acts, y5.data(), ldy);
    CHECK(std::memcmp(y2.data(), y5.data(), ny * sizeof(float)) == 0);
  }
}

}  // namespace

TEST_CASE("repack: AVX-512 / AVX-VNNI tables present on this CPU?") {
  if (kernel_table(Isa::Avx512) == nullptr)
    MESSAGE("no AVX-512 F/BW/VL/VNNI (or not an x86 build): the avx512 table is not tested");
  else
    MESSAGE("avx512 table tested against scalar and AVX2");
  if (kernel_table(Isa::AvxVnni) == nullptr)
    MESSAGE("no AVX-VNNI (or not an x86 build): the avxvnni table is not tested");
  else
    MESSAGE("avxvnni table tested against scalar and AVX2");
}

TEST_CASE("repack: only Q4_0 / Q8_0 / Q4_K, same size as the original") {
  for (DType t : {DType::F32, DType::F16, DType::BF16, DType::Q5_K, DType::Q6_K})
    CHECK(ref::repack_bytes(t, 256, 16) == 0);
  CHECK(ref::repack_bytes(DType::Q4_0, 64, 17) == row_bytes(DType::Q4_0, 64) * 17);
  CHECK(ref::repack_bytes(DType::Q4_K, 512, 17) == row_bytes(DType::Q4_K, 512) * 17);
  CHECK(scalar_table().repack_bytes(DType::Q4_0, 64, 16) == 0);  // the scalar table is the spec
}

TEST_CASE("repack: matmul on packed rows, random shapes") {
  std::mt19937 rng(2024);
  for (DType t : {DType::Q4_0, DType::Q8_0}) {
    for (int64_t n_in : {32, 64, 96, 544, 2048}) {
      for (int64_t rows : {8, 13, 16, 37, 64}) {
        for (int64_t n_tok : {1, 2, 3, 4, 5, 9}) {
          const int64_t groups = rows / kRepackRows;
          std::uniform_int_distribution<int64_t> gdist(0, groups);
          const int64_t r0 = gdist(rng) * kRepackRows;
          const int64_t r0c = std::min(r0, rows - 1);
          std::uniform_int_distribution<int64_t> edist(r0c + 1, rows);
          const int64_t r1 = edist(rng);
          check(rng, t, n_in, rows, r0c / kRepackRows * kRepackRows, r1, n_tok, rng() % 7, rng() % 5, 0);
        }
      }
    }
  }
}

TEST_CASE("repack: Q4_K matmul on packed rows, random shapes") {
  std::mt19937 rng(77);
  for (int64_t n_in : {256, 512, 1280}) {
    for (int64_t rows : {8, 13, 16, 37, 64}) {
      for (int64_t n_tok : {1, 2, 3, 4, 5, 9}) {
        const int64_t groups = rows / kRepackRows;
        const int64_t r0 = std::uniform_int_distribution<int64_t>(0, groups)(rng) * kRepackRows;
        const int64_t r0c = std::min(r0, rows - 1);
        const int64_t r1 = std::uniform_int_distribution<int64_t>(r0c + 1, rows)(rng);
        check(rng, DType::Q4_K, n_in, rows, r0c / kRepackRows * kRepackRows, r1, n_tok, rng() % 7,
              rng() % 5, 0);
      }
    }
  }
}

TEST_CASE("repack: ranges over several L2 row chunks (multi-token path)") {
  // Q8_0 n_in 4096: 3 groups per 128 KiB chunk (the AVX-512 kernel takes pairs: 2); Q4_0 and
  // Q4_K: 7 (6).
  std::mt19937 rng(9);
  for (DType t : {DType::Q4_0, DType::Q8_0, DType::Q4_K})
    for (int64_t n_tok : {1, 6}) check(rng, t, 4096, 333, 8, 333, n_tok, 1, 2, 0);
}

TEST_CASE("repack: extreme codes (int16 accumulation bounds)") {
  std::mt19937 rng(5);
  for (DType t : {DType::Q4_0, DType::Q8_0, DType::Q4_K})
    for (int extreme : {1, 2})
      for (int64_t n_tok : {1, 4, 6}) check(rng, t, 256, 24, 0, 24, n_tok, 3, 1, extreme);
}

namespace {

// Token counts of the repacked GEMV bench: 1, or LFMD_BENCH_NTOK=1,2,3,4,8 (a batched decode step's
// experts see a few tokens each).
std::vector<int64_t> bench_token_counts() {
  std::vector<int64_t> n;
  if (const char* e = getenv("LFMD_BENCH_NTOK"))
    for (const char* p = e; *p;) {
      char* end = nullptr;
      const long v = std::strtol(p, &end, 10);
      if (end == p) break;
      if (v > 0) n.push_back(v);
      p = *end ? end + 1 : end;
    }
  if (n.empty()) n.push_back(1);
  return n;
}

// Weights of one bench case: `copies` copies of one matrix in the file layout and repacked.
struct BenchWeights {
  DType t;
  int64_t n_in, rows;
  size_t rb, wbytes;
  int copies;
  bool packs;
  std::vector<uint8_t> all, packed;
};

// Prints the best time of one table, weight layout and token count, 1 and 2 threads splitting the
// rows (the second thread is started per run, which the 2-thread figures include).
void bench_gemv(const KernelTable* k, const BenchWeights& bw, bool repacked, int64_t n_tok,
                std::mt19937& rng) {
  const DType t = bw.t;
  const int64_t n_in = bw.n_in, rows = bw.rows;
  std::vector<float> x = random_floats(rng, static_cast<size_t>(n_in * n_tok));
  std::vector<float> y(static_cast<size_t>(rows * n_tok));
  PreparedActs acts{x.data(), n_in, n_in, n_tok, nullptr};
  std::vector<uint8_t> scratch(k->acts_bytes(t, n_in, n_tok));
  k->prepare_acts(t, acts, scratch.data());
  for (int nth : {1, 2}) {
    double best = 1e30;
    for (int rep = 0; rep < (bw.copies == 1 ? 200 : 4 * bw.copies); ++rep) {
      const size_t o = (rep % bw.copies) * bw.wbytes;
      auto part = [&](int64_t r0, int64_t r1) {
        if (repacked)
          k->matmul_repacked(t, bw.packed.data() + o, rows, r0, r1, acts, y.data(), rows);
        else
          k->matmul(t, bw.all.data() + o, bw.rb, r0, r1, acts, y.data(), rows);
      };
      const auto t0 = std::chrono::steady_clock::now();
      if (nth == 1) {
        part(0, rows);
      } else {
        std::thread th([&] { part(rows / 2, rows); });
        part(0, rows / 2);
        th.join();
      }
      best = std::min(best,
                      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    std::printf("%-6s %-4s %-8s n_tok=%lld threads=%d %7.3f ms %6.2f GB/s %6.1f GMAC/s\n",
                isa_name(k->isa), type_info(t).name, repacked ? "repacked" : "file",
                static_cast<long long>(n_tok), nth, best * 1e3,
                static_cast<double>(bw.wbytes) / best * 1e-9,
                static_cast<double>(n_in * rows * n_tok) / best * 1e-9);
  }
}

}  // namespace

// Manual benchmark: ./lfmd_kernel_tests -tc="bench: repacked*" --no-skip. AVX2, AVX-512 and
// AVX-VNNI tables, Q4_0 / Q8_0 / Q4_K / Q6_K / F16 / BF16 GEMV (n_in 2048, 5632 rows) from DRAM
// (weights cycled over copies > L3; LFMD_BENCH_HOT=1: one copy, from cache), file layout vs
// repacked where the table repacks, 1 and 2 threads splitting the rows; best of several runs.
TEST_CASE("bench: repacked GEMV vs file layout" * doctest::skip()) {
  std::mt19937 rng(1);
  for (Isa isa : {Isa::Avx2, Isa::Avx512, Isa::AvxVnni}) {
    const KernelTable* k = kernel_table(isa);
    if (!k) continue;
    for (DType t : {DType::Q4_0, DType::Q8_0, DType::Q4_K, DType::Q6_K, DType::F16, DType::BF16}) {
      BenchWeights bw{t, 2048, 5632, 0, 0, 1, false, {}, {}};
      bw.packs = k->repack_bytes(t, bw.n_in, bw.rows) > 0;  // Q6_K, floats: the file layout only
      bw.rb = row_bytes(t, bw.n_in);
      bw.wbytes = bw.rb * bw.rows;
      if (!getenv("LFMD_BENCH_HOT"))
        bw.copies = static_cast<int>(std::max<size_t>(2, (256u << 20) / bw.wbytes));
      std::vector<uint8_t> w = random_rows(rng, t, bw.rows, bw.n_in, 0);
      bw.all.resize(bw.wbytes * bw.copies);
      bw.packed.resize(bw.wbytes * bw.copies);
      for (int c = 0; c < bw.copies; ++c) {
        std::memcpy(bw.all.data() + c * bw.wbytes, w.data(), bw.wbytes);
        if (bw.packs)
          k->repack(t, w.data(), bw.rb, bw.n_in, bw.rows, bw.packed.data() + c * bw.wbytes);
      }
      for (int64_t n_tok : bench_token_counts())
        for (int repacked = 0; repacked < (bw.packs ? 2 : 1); ++repacked)
          bench_gemv(k, bw, repacked != 0, n_tok, rng);
    }
  }
}
