// Small f32 ops: every table vs the scalar table, and the scalar table vs a straightforward
// double-precision recomputation.
#include <doctest/doctest.h>

#include <cmath>
#include <string>

#include "tests/kernels/test_util.h"

using namespace lfmd::kernels;
using namespace lfmd::kernels::test;

namespace {

// Other tables vs scalar: element-wise ops may use other exp/FMA orders.
constexpr double kIsaTol = 1e-6;

// A copy of v starting `off` floats past a 64-byte boundary (ISA tables get unaligned pointers).
struct Unaligned {
  Unaligned(const std::vector<float>& v, size_t off) : buf(v.size() + 1, off) {
    if (!v.empty()) std::memcpy(buf.data(), v.data(), v.size() * sizeof(float));
  }
  float* data() { return buf.data(); }
  OffsetFloats buf;
};

}  // namespace

TEST_CASE("rmsnorm") {
  std::mt19937 rng(1);
  for (int64_t n : {1, 7, 64, 1000, 2048}) {
    std::vector<float> x = random_floats(rng, n, -4.0f, 4.0f), w = random_floats(rng, n, 0.5f, 1.5f);
    const float eps = 1e-5f;
    std::vector<double> expect(n);
    double ss = 0.0;
    for (int64_t i = 0; i < n; ++i) ss += static_cast<double>(x[i]) * x[i];
    const double inv = 1.0 / std::sqrt(ss / n + eps);
    for (int64_t i = 0; i < n; ++i) expect[i] = x[i] * inv * w[i];
    std::vector<float> ys(n);
    scalar_table().rmsnorm(x.data(), w.data(), n, eps, ys.data());
    CHECK(rel_l2(ys, expect) < 1e-6);
    for (const KernelTable* k : all_tables()) {
      Unaligned xu(x, 1), wu(w, 2), y(std::vector<float>(n), 3), inplace(x, 1);
      k->rmsnorm(xu.data(), wu.data(), n, eps, y.data());
      k->rmsnorm(inplace.data(), wu.data(), n, eps, inplace.data());  // y may alias x
      CHECK(rel_l2(y.data(), ys.data(), n) < kIsaTol);
      CHECK(rel_l2(inplace.data(), y.data(), n) == 0.0);
    }
  }
}

TEST_CASE("rope_neox") {
  std::mt19937 rng(2);
  for (int64_t hd : {2, 64, 128}) {
    for (int64_t pos : {0, 1, 17, 1000, 32767}) {
      const int64_t nh = 3;
      const float base = 1000000.0f;
      std::vector<float> x = random_floats(rng, nh * hd);
      // Angles by the documented float recurrence, rotation in double.
      std::vector<double> expect(nh * hd);
      const float ts = std::pow(base, -2.0f / static_cast<float>(hd));
      float theta = static_cast<float>(pos);
      for (int64_t i = 0; i < hd / 2; ++i) {
        const double c = std::cos(static_cast<double>(theta)), s = std::sin(static_cast<double>(theta));
        for (int64_t h = 0; h < nh; ++h) {
          const double x0 = x[h * hd + i], x1 = x[h * hd + i + hd / 2];
          expect[h * hd + i] = x0 * c - x1 * s;
          expect[h * hd + i + hd / 2] = x0 * s + x1 * c;
        }
        theta *= ts;
      }
      std::vector<float> ys = x;
      scalar_table().rope_neox(ys.data(), nh, hd, pos, base);
      CHECK(rel_l2(ys, expect) < 1e-6);
      for (const KernelTable* k : all_tables()) {
        std::vector<float> y = x;
        k->rope_neox(y.data(), nh, hd, pos, base);
        CHECK(rel_l2(y.data(), ys.data(), nh * hd) < kIsaTol);
      }
    }
  }
  // Position 0 is the identity; small positions follow the exact angles pos * base^(-2i/hd).
  std::vector<float> x = random_floats(rng, 64), y = x;
  scalar_table().rope_neox(y.data(), 1, 64, 0, 10000.0f);
  CHECK(rel_l2(y.data(), x.data(), 64) == 0.0);
  y = x;
  scalar_table().rope_neox(y.data(), 1, 64, 3, 10000.0f);
  for (int i = 0; i < 32; ++i) {
    const double th = 3.0 * std::pow(10000.0, -2.0 * i / 64.0);
    CHECK(y[i] == doctest::Approx(x[i] * std::cos(th) - x[i + 32] * std::sin(th)).epsilon(1e-5));
  }
}

TEST_CASE("softmax") {
  std::mt19937 rng(3);
  for (int64_t n : {1, 2, 9, 100, 4096}) {
    for (float scale : {1.0f, 0.125f}) {
      std::vector<float> x = random_floats(rng, n, -20.0f, 20.0f);
      std::vector<double> expect(n);
      double mx = -1e300, sum = 0.0;
      for (int64_t i = 0; i < n; ++i) mx = std::max(mx, static_cast<double>(x[i]) * scale);
      for (int64_t i = 0; i < n; ++i) sum += std::exp(static_cast<double>(x[i]) * scale - mx);
      for (int64_t i = 0; i < n; ++i) expect[i] = std::exp(static_cast<double>(x[i]) * scale - mx) / sum;
      std::vector<float> ys = x;
      scalar_table().softmax(ys.data(), n, scale);
      CHECK(rel_l2(ys, expect) < 1e-6);
      for (const KernelTable* k : all_tables()) {
        std::vector<float> y = x;
        k->softmax(y.data(), n, scale);
        CHECK(rel_l2(y.data(), ys.data(), n) < kIsaTol);
      }
    }
  }
}

TEST_CASE("swiglu and sigmoid") {
  std::mt19937 rng(4);
  for (int64_t n : {1, 5, 8, 33, 1024}) {
    std::vector<float> g = random_floats(rng, n, -12.0f, 12.0f), u = random_floats(rng, n, -3.0f, 3.0f);
    std::vector<double> es(n), eg(n);
    for (int64_t i = 0; i < n; ++i) {
      const double s = 1.0 / (1.0 + std::exp(-static_cast<double>(g[i])));
      es[i] = s;
      eg[i] = g[i] * s * u[i];
    }
    std::vector<float> ys(n), yg(n);
    scalar_table().sigmoid(g.data(), n, ys.data());
    scalar_table().swiglu(g.data(), u.data(), n, yg.data());
    CHECK(rel_l2(ys, es) < 1e-6);
    CHECK(rel_l2(yg, eg) < 1e-6);
    for (const KernelTable* k : all_tables()) {
      Unaligned gu(g, 1), uu(u, 3), a(std::vector<float>(n), 2), b(std::vector<float>(n), 1);
      k->sigmoid(gu.data(), n, a.data());
      k->swiglu(gu.data(), uu.data(), n, b.data());
      CHECK(rel_l2(a.data(), ys.data(), n) < kIsaTol);
      CHECK(rel_l2(b.data(), yg.data(), n) < kIsaTol);
    }
  }
}

TEST_CASE("conv_step") {
  std::mt19937 rng(5);
  for (int64_t L : {1, 2, 3, 4}) {
    for (int64_t n : {1, 7, 64, 1030}) {
      std::vector<std::vector<float>> hist;
      std::vector<const float*> hp;
      for (int64_t k = 0; k + 1 < L; ++k) hist.push_back(random_floats(rng, n));
      for (auto& h : hist) hp.push_back(h.data());
      std::vector<float> cur = random_floats(rng, n), ker = random_floats(rng, n * L);
      std::vector<double> expect(n);
      for (int64_t c = 0; c < n; ++c) {
        double s = 0.0;
        for (int64_t k = 0; k < L; ++k) s += static_cast<double>(ker[c * L + k]) * (k + 1 < L ? hist[k][c] : cur[c]);
        expect[c] = s;
      }
      std::vector<float> ys(n);
      scalar_table().conv_step(hp.data(), cur.data(), ker.data(), L, n, ys.data());
      CHECK(rel_l2(ys, expect) < 1e-6);
      for (const KernelTable* k : all_tables()) {
        std::vector<Unaligned> hu;
        hu.reserve(hist.size());  // no reallocation: the pointers below stay valid
        std::vector<const float*> hup;
        for (const auto& h : hist) hu.emplace_back(h, 1 + hu.size() % 3);
        for (auto& h : hu) hup.push_back(h.data());
        Unaligned cu(cur, 2), ku(ker, 3), y(std::vector<float>(n), 1);
        k->conv_step(hup.data(), cu.data(), ku.data(), L, n, y.data());
        CHECK(rel_l2(y.data(), ys.data(), n) < kIsaTol);
      }
    }
  }
}
