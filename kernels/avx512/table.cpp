// AVX-512 KernelTable: a copy of the AVX2 table (so its activations and file-layout matmuls
// follow any change there) with the repacked integer matmuls, the file-layout K-quant and Q8_0
// matmuls on AVX-512 VNNI, and attention on zmm (bit-identical to AVX2's).
#include "kernels/avx512/avx512.h"

namespace lfmd::kernels {

namespace {

KernelTable make_table(const KernelTable& avx2) {
  KernelTable t = avx2;
  t.isa = Isa::Avx512;
  // repack_bytes stays the AVX2 one: Q4_0 and Q4_K. Q8_0 keeps the file layout, whose kernel sums
  // in ggml's order: the oracle holds Q8_0 to llama.cpp's spread, which is 0 there (a repacked
  // order measured median rel L2 1.7e-2 on tiny Q8_0, outside it).
  t.matmul_repacked = avx512::matmul_repacked;
  t.matmul = avx512::matmul;  // K-quants, Q8_0 / float prefill on zmm; the rest AVX2
  t.attention_tile = avx512::attention_tile;  // same floats as AVX2's, two keys per zmm
  return t;
}

}  // namespace

const KernelTable* avx512_table() {
  static const bool ok = [] {
    __builtin_cpu_init();
    return avx2_table() != nullptr && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni");
  }();
  if (!ok) return nullptr;
  static const KernelTable table = make_table(*avx2_table());
  return &table;
}

}  // namespace lfmd::kernels
