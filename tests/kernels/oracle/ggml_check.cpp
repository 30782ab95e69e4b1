// Manual oracle check (not part of any CMake target): lfmd kernels against ggml's own functions
// from a prebuilt llama.cpp (libggml-base.so + libggml-cpu-haswell.so, the AVX2 variant that
// llama.cpp picks on Zen 3). Checks: fp16/bf16 conversions, dequantize_row_* and
// quantize_row_{q4_0,q8_0}_ref bit-identical, activation quantization identical to ggml's
// quantize_row_q8_0 / q8_K, and integer dots vs ggml_vec_dot_*_q8_* (printed as rel L2).
//
// Build (after `cmake --build build-kern --target lfmd_kernels`), with L = the folder holding the
// prebuilt ggml libraries (e.g. node_modules/@node-llama-cpp/linux-x64/bins/linux-x64):
//   g++ -std=c++20 -O2 -I. tests/kernels/oracle/ggml_check.cpp build-kern/kernels/liblfmd_kernels.a
//       -L$L -lggml-cpu-haswell -lggml-base -Wl,-rpath,$L -o /tmp/ggml_check   (one line)
// Expected: every line says identical / bit-identical, and "lfmd-avx2 0" for every dot.
#include <cstdio>
#include <cstring>
#include <cmath>
#include <random>
#include <vector>
#include "kernels/kernels.h"
#include "kernels/ref/ref.h"
using namespace lfmd::kernels;
extern "C" {
void dequantize_row_q4_0(const void*, float*, int64_t);
void dequantize_row_q8_0(const void*, float*, int64_t);
void dequantize_row_q4_K(const void*, float*, int64_t);
void dequantize_row_q5_K(const void*, float*, int64_t);
void dequantize_row_q6_K(const void*, float*, int64_t);
void quantize_row_q4_0_ref(const float*, void*, int64_t);
void quantize_row_q8_0_ref(const float*, void*, int64_t);
void quantize_row_q8_0(const float*, void*, int64_t);
void quantize_row_q8_K(const float*, void*, int64_t);
void ggml_vec_dot_q4_0_q8_0(int, float*, size_t, const void*, size_t, const void*, size_t, int);
void ggml_vec_dot_q8_0_q8_0(int, float*, size_t, const void*, size_t, const void*, size_t, int);
void ggml_vec_dot_q4_K_q8_K(int, float*, size_t, const void*, size_t, const void*, size_t, int);
void ggml_vec_dot_q5_K_q8_K(int, float*, size_t, const void*, size_t, const void*, size_t, int);
void ggml_vec_dot_q6_K_q8_K(int, float*, size_t, const void*, size_t, const void*, size_t, int);
float ggml_fp16_to_fp32(uint16_t);
uint16_t ggml_fp32_to_fp16(float);
float ggml_bf16_to_fp32(uint16_t);
uint16_t ggml_fp32_to_bf16(float);
void ggml_cpu_init(void);
}
static void put16(uint8_t* p, uint16_t v) { memcpy(p, &v, 2); }
int main() {
  ggml_cpu_init();
  std::mt19937 rng(123);
  std::uniform_real_distribution<float> u(-1, 1), dd(1e-3f, 2e-2f);
  int bad = 0;
  // fp16 / bf16
  for (uint32_t h = 0; h < 65536; ++h) {
    float a = fp16_to_fp32(h), b = ggml_fp16_to_fp32(h);
    if (memcmp(&a, &b, 4) && !(std::isnan(a) && std::isnan(b))) ++bad;
    a = bf16_to_fp32(h); b = ggml_bf16_to_fp32(h);
    if (memcmp(&a, &b, 4)) ++bad;
  }
  for (int i = 0; i < 4000000; ++i) {
    uint32_t x = rng(); float f; memcpy(&f, &x, 4);
    if (std::isnan(f)) continue;
    if (fp32_to_fp16(f) != ggml_fp32_to_fp16(f)) ++bad;
    if (fp32_to_bf16(f) != ggml_fp32_to_bf16(f)) ++bad;
  }
  printf("fp16/bf16 mismatches: %d\n", bad);
  const int n = 4096;
  // dequantize
  struct T { DType t; void (*f)(const void*, float*, int64_t); };
  for (T t : {T{DType::Q4_0, dequantize_row_q4_0}, T{DType::Q8_0, dequantize_row_q8_0}, T{DType::Q4_K, dequantize_row_q4_K},
              T{DType::Q5_K, dequantize_row_q5_K}, T{DType::Q6_K, dequantize_row_q6_K}}) {
    const TypeInfo& ti = type_info(t.t);
    std::vector<uint8_t> w(row_bytes(t.t, n));
    for (auto& b : w) b = rng();
    for (int b = 0; b < n / ti.block_size; ++b) {
      uint8_t* blk = w.data() + b * ti.block_bytes;
      if (t.t == DType::Q6_K) put16(blk + 208, fp32_to_fp16(dd(rng)));
      else { put16(blk, fp32_to_fp16(dd(rng))); if (ti.block_size == 256) put16(blk + 2, fp32_to_fp16(dd(rng))); }
    }
    std::vector<float> a(n), b(n);
    dequantize_row(t.t, w.data(), a.data(), n);
    t.f(w.data(), b.data(), n);
    printf("dequant %s: %s\n", ti.name, memcmp(a.data(), b.data(), n * 4) ? "MISMATCH" : "bit-identical");
  }
  // quantize refs + activation quantization
  std::vector<float> x(n);
  for (auto& v : x) v = u(rng) * (rng() % 7 == 0 ? 5.f : 1.f);
  for (int i = 0; i < n; i += 97) x[i] = 0.5f * (i % 3) ;  // some ties
  {
    std::vector<uint8_t> a(row_bytes(DType::Q4_0, n)), b(a.size());
    quantize_row(DType::Q4_0, x.data(), a.data(), n); quantize_row_q4_0_ref(x.data(), b.data(), n);
    printf("quantize Q4_0: %s\n", a == b ? "identical" : "MISMATCH");
    std::vector<uint8_t> c(row_bytes(DType::Q8_0, n)), d(c.size());
    quantize_row(DType::Q8_0, x.data(), c.data(), n); quantize_row_q8_0_ref(x.data(), d.data(), n);
    printf("quantize Q8_0: %s\n", c == d ? "identical" : "MISMATCH");
    ref::quantize_act_q8_0(x.data(), reinterpret_cast<ref::BlockQ8_0*>(c.data()), n); quantize_row_q8_0(x.data(), d.data(), n);
    printf("act Q8_0 vs ggml AVX2 quantize_row_q8_0: %s\n", c == d ? "identical" : "MISMATCH");
    std::vector<ref::BlockQ8_K> k1(n / 256), k2(n / 256);
    ref::quantize_act_q8_K(x.data(), k1.data(), n); quantize_row_q8_K(x.data(), k2.data(), n);
    printf("act Q8_K vs ggml quantize_row_q8_K: %s\n", memcmp(k1.data(), k2.data(), k1.size() * sizeof(ref::BlockQ8_K)) ? "MISMATCH" : "identical");
  }
  // dots: ggml vec_dot vs our ref and AVX2 matmul
  const KernelTable* avx = kernel_table(Isa::Avx2);
  for (DType t : {DType::Q4_0, DType::Q8_0, DType::Q4_K, DType::Q5_K, DType::Q6_K}) {
    const TypeInfo& ti = type_info(t);
    const int rows = 64;
    const size_t rb = row_bytes(t, n);
    std::vector<uint8_t> w(rb * rows);
    for (auto& b : w) b = rng();
    for (int r = 0; r < rows; ++r)
      for (int b = 0; b < n / ti.block_size; ++b) {
        uint8_t* blk = w.data() + r * rb + b * ti.block_bytes;
        if (t == DType::Q6_K) put16(blk + 208, fp32_to_fp16(dd(rng)));
        else { put16(blk, fp32_to_fp16(dd(rng))); if (ti.block_size == 256) put16(blk + 2, fp32_to_fp16(dd(rng))); }
      }
    std::vector<float> yg(rows), yr(rows), ya(rows);
    const bool k = ti.block_size == 256;
    std::vector<uint8_t> q(k ? n / 256 * 292 : n / 32 * 34);
    if (k) quantize_row_q8_K(x.data(), q.data(), n); else quantize_row_q8_0(x.data(), q.data(), n);
    ref::matmul_qact(t, w.data(), rb, 0, rows, x.data(), n, n, 1, yr.data(), rows);
    PreparedActs acts; acts.x = x.data(); acts.ldx = n; acts.n_in = n; acts.n_tok = 1;
    std::vector<uint8_t> scratch(avx->acts_bytes(t, n, 1));
    avx->prepare_acts(t, acts, scratch.data());
    avx->matmul(t, w.data(), rb, 0, rows, acts, ya.data(), rows);
    double er = 0, ea = 0, den = 0;
    for (int r = 0; r < rows; ++r) {
      const void* row = w.data() + r * rb;
      switch (t) {
        case DType::Q4_0: ggml_vec_dot_q4_0_q8_0(n, &yg[r], 0, row, 0, q.data(), 0, 1); break;
        case DType::Q8_0: ggml_vec_dot_q8_0_q8_0(n, &yg[r], 0, row, 0, q.data(), 0, 1); break;
        case DType::Q4_K: ggml_vec_dot_q4_K_q8_K(n, &yg[r], 0, row, 0, q.data(), 0, 1); break;
        case DType::Q5_K: ggml_vec_dot_q5_K_q8_K(n, &yg[r], 0, row, 0, q.data(), 0, 1); break;
        default: ggml_vec_dot_q6_K_q8_K(n, &yg[r], 0, row, 0, q.data(), 0, 1); break;
      }
      er += (yr[r] - yg[r]) * (double)(yr[r] - yg[r]); ea += (ya[r] - yg[r]) * (double)(ya[r] - yg[r]); den += yg[r] * (double)yg[r];
    }
    printf("dot %s: rel L2 vs ggml AVX2 vec_dot: ref %.3g  lfmd-avx2 %.3g\n", ti.name, sqrt(er / den), sqrt(ea / den));
  }
}
