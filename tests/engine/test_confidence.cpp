#include <doctest/doctest.h>

#include <cmath>
#include <random>
#include <vector>

#include "engine/confidence.h"

using namespace lfmd;

namespace {
// Straightforward oracle: softmax in long double over the unmasked ids.
TokenConfidence naive(const std::vector<float>& l, const std::vector<uint8_t>& mask, int32_t chosen) {
  long double mx = -INFINITY;
  size_t v = 0;
  for (size_t i = 0; i < l.size(); ++i)
    if (!mask[i]) mx = std::max<long double>(mx, l[i]), ++v;
  long double z = 0;
  for (size_t i = 0; i < l.size(); ++i)
    if (!mask[i]) z += std::exp(static_cast<long double>(l[i]) - mx);
  long double h = 0, p1 = 0, p2 = 0;
  for (size_t i = 0; i < l.size(); ++i) {
    if (mask[i]) continue;
    long double p = std::exp(static_cast<long double>(l[i]) - mx) / z;
    if (p > 0) h -= p * std::log(p);
    if (p > p1) p2 = p1, p1 = p;
    else if (p > p2) p2 = p;
  }
  TokenConfidence c;
  c.entropy_confidence = static_cast<double>(1 - h / std::log(static_cast<long double>(v)));
  c.logprob = static_cast<double>(l[chosen] - mx - std::log(z));
  c.margin = static_cast<double>(p1 - p2);
  return c;
}
}  // namespace

TEST_CASE("confidence: matches a long-double softmax on random 65536-id distributions with a mask") {
  std::mt19937 rng(7);
  std::normal_distribution<float> nd(0.0f, 3.0f);
  for (int trial = 0; trial < 4; ++trial) {
    const int64_t n = 65536;
    std::vector<float> l(n);
    std::vector<uint8_t> mask(n, 0);
    for (auto& x : l) x = nd(rng) * (trial + 1);
    for (int64_t i = n - 300; i < n; ++i) mask[i] = 1;  // padding rows
    l[n - 1] = 1e4f;                                     // masked: must not count
    const int32_t chosen = static_cast<int32_t>(rng() % (n - 300));
    TokenConfidence got = token_confidence(l.data(), mask.data(), n, chosen);
    TokenConfidence want = naive(l, mask, chosen);
    CHECK(got.entropy_confidence == doctest::Approx(want.entropy_confidence).epsilon(1e-9));
    CHECK(got.logprob == doctest::Approx(want.logprob).epsilon(1e-9));
    CHECK(got.margin == doctest::Approx(want.margin).epsilon(1e-9));
  }
}

TEST_CASE("confidence: uniform -> 0, one-hot -> 1, ties -> margin 0") {
  std::vector<float> u(1000, 0.5f);
  std::vector<uint8_t> mask(1000, 0);
  mask[3] = 1;
  u[3] = 100.0f;  // masked
  TokenConfidence c = token_confidence(u.data(), mask.data(), 1000, 0);
  CHECK(c.entropy_confidence == doctest::Approx(0.0).epsilon(1e-12));
  CHECK(c.logprob == doctest::Approx(-std::log(999.0)));
  CHECK(c.margin == doctest::Approx(0.0));
  std::vector<float> h(1000, -1e30f);
  h[5] = 0;
  c = token_confidence(h.data(), nullptr, 1000, 5);
  CHECK(c.entropy_confidence == doctest::Approx(1.0));
  CHECK(c.logprob == doctest::Approx(0.0));
  CHECK(c.margin == doctest::Approx(1.0));
}

TEST_CASE("confidence tracker: mean, sliding-window minimum and first value") {
  ConfidenceTracker t(nullptr, 0, 3);
  CHECK(std::isnan(t.summary().entropy_confidence.mean));
  const double xs[] = {0.9, 0.8, 0.1, 0.2, 0.3, 0.95, 0.9};
  for (double x : xs) t.add({x, -x, x / 2});
  ConfidenceSummary s = t.summary();
  CHECK(s.n == 7);
  CHECK(s.window == 3);
  CHECK(s.entropy_confidence.first == doctest::Approx(0.9));
  CHECK(s.entropy_confidence.mean == doctest::Approx((0.9 + 0.8 + 0.1 + 0.2 + 0.3 + 0.95 + 0.9) / 7));
  CHECK(s.entropy_confidence.min_window == doctest::Approx((0.1 + 0.2 + 0.3) / 3));  // windows: .6 .367 .2 .483 .717
  CHECK(s.logprob.min_window == doctest::Approx(-(0.95 + 0.9 + 0.3) / 3));  // minimum of -x windows
  CHECK(s.margin.first == doctest::Approx(0.45));
  // Fewer tokens than the window: the minimum is the mean.
  ConfidenceTracker u(nullptr, 0, 8);
  u.add({0.5, 0, 0});
  u.add({0.7, 0, 0});
  CHECK(u.summary().entropy_confidence.min_window == doctest::Approx(0.6));
}
