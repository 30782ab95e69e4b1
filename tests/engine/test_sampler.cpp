#include <doctest/doctest.h>

#include <vector>

#include "engine/sampler.h"

using namespace lfmd;

TEST_CASE("sampler: greedy takes the argmax, lowest id on ties, never a masked id") {
  SamplingParams p;
  p.temperature = 0;
  p.repetition_penalty = 1;
  std::vector<uint8_t> mask = {0, 0, 1, 0};
  Sampler s(p, &mask);
  std::vector<float> l = {1, 3, 9, 3};
  CHECK(s.sample(l.data(), 4) == 1);
}

TEST_CASE("sampler: same seed, same draws; min_p removes unlikely tokens") {
  SamplingParams p;
  p.temperature = 1;
  p.min_p = 0.5f;
  p.repetition_penalty = 1;
  p.seed = 42;
  std::vector<float> base = {0.0f, 0.1f, -20.0f, 0.2f};
  Sampler a(p, nullptr), b(p, nullptr);
  for (int i = 0; i < 200; ++i) {
    std::vector<float> la = base, lb = base;
    int32_t x = a.sample(la.data(), 4), y = b.sample(lb.data(), 4);
    CHECK(x == y);
    CHECK(x != 2);  // p(2)/p_max is ~1e-9 < min_p
  }
}
