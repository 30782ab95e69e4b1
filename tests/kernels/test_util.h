// Helpers shared by the kernel tests: seeded random data, misaligned buffers, error metrics.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/kernels.h"

namespace lfmd::kernels::test {

// A byte buffer whose data() is `offset` bytes past a 64-byte boundary.
class OffsetBuffer {
 public:
  OffsetBuffer(size_t bytes, size_t offset) : storage_(bytes + 128) {
    const auto base = reinterpret_cast<uintptr_t>(storage_.data());
    data_ = storage_.data() + ((64 - base % 64) % 64) + offset;
  }
  uint8_t* data() { return data_; }

 private:
  std::vector<uint8_t> storage_;
  uint8_t* data_;
};

// Floats starting `offset` floats past a 64-byte boundary.
class OffsetFloats {
 public:
  OffsetFloats(size_t n, size_t offset) : buf_(n * sizeof(float) + 64, offset * sizeof(float)) {}
  float* data() { return reinterpret_cast<float*>(buf_.data()); }
  float& operator[](size_t i) { return data()[i]; }

 private:
  OffsetBuffer buf_;
};

inline std::vector<float> random_floats(std::mt19937& rng, size_t n, float lo = -1.0f, float hi = 1.0f) {
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

// ||a - b|| / ||b|| over n values with the given strides (0-norm reference -> absolute).
inline double rel_l2(const float* a, const float* b, int64_t n, int64_t stride = 1) {
  double num = 0.0, den = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const double d = static_cast<double>(a[i * stride]) - static_cast<double>(b[i * stride]);
    num += d * d;
    den += static_cast<double>(b[i * stride]) * b[i * stride];
  }
  return den > 0.0 ? std::sqrt(num / den) : std::sqrt(num);
}
inline double rel_l2(const std::vector<float>& a, const std::vector<double>& b) {
  double num = 0.0, den = 0.0;
  for (size_t i = 0; i < b.size(); ++i) {
    const double d = static_cast<double>(a[i]) - b[i];
    num += d * d;
    den += b[i] * b[i];
  }
  return den > 0.0 ? std::sqrt(num / den) : std::sqrt(num);
}

inline uint32_t f32_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
inline float bits_f32(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// Every table this build and CPU can run (scalar first).
inline std::vector<const KernelTable*> all_tables() {
  std::vector<const KernelTable*> v{&scalar_table()};
  for (Isa isa : {Isa::Avx2, Isa::Avx512, Isa::AvxVnni, Isa::Neon, Isa::NeonI8mm})
    if (const KernelTable* t = kernel_table(isa)) v.push_back(t);
  return v;
}

}  // namespace lfmd::kernels::test
