// AVX-VNNI KernelTable: a copy of the AVX2 table (so its attention, activations and file-layout
// matmuls follow any change there) with the repacked integer matmuls and the file-layout K-quant
// and Q8_0 (prefill) matmuls on 256-bit AVX-VNNI.
#include <cpuid.h>

#include "kernels/avxvnni/avxvnni.h"

namespace lfmd::kernels {

namespace {

KernelTable make_table(const KernelTable& avx2) {
  KernelTable t = avx2;
  t.isa = Isa::AvxVnni;
  // repack_bytes stays the AVX2 one: Q4_0 and Q4_K (Q8_0 keeps the file layout and ggml's order,
  // as in the AVX-512 table: kernels/avx512/table.cpp).
  t.matmul_repacked = avxvnni::matmul_repacked;
  t.matmul = avxvnni::matmul;  // K-quants (vpdpwssd), Q8_0 prefill (vpdpbusd); the rest AVX2
  return t;
}

// CPUID.(EAX=7, ECX=1):EAX bit 4. Not __builtin_cpu_supports("avxvnni"): clang 14 rejects the
// name and GCC 12's libgcc answers 0 on a CPU that has it (seen on an AMD EPYC host).
bool cpu_has_avxvnni() {
  unsigned a = 0, b = 0, c = 0, d = 0;
  return __get_cpuid_count(7, 1, &a, &b, &c, &d) != 0 && ((a >> 4) & 1u) != 0;
}

}  // namespace

const KernelTable* avxvnni_table() {
  // avx2_table() checks AVX2/FMA/F16C (and so the OS's ymm state) at run time.
  static const bool ok = avx2_table() != nullptr && cpu_has_avxvnni();
  if (!ok) return nullptr;
  static const KernelTable table = make_table(*avx2_table());
  return &table;
}

}  // namespace lfmd::kernels
