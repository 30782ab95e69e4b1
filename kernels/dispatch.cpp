// ISA tables and their selection (LFMD_ISA).
#include <cstring>
#include <initializer_list>

#include "kernels/ref/ref.h"

namespace lfmd::kernels {

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::Scalar: return "scalar";
    case Isa::Avx2: return "avx2";
    case Isa::Avx512: return "avx512";
    case Isa::AvxVnni: return "avxvnni";
    case Isa::Neon: return "neon";
    case Isa::NeonI8mm: return "i8mm";
  }
  return "unknown";
}

const KernelTable* kernel_table(Isa isa) {
  switch (isa) {
    case Isa::Scalar: return &scalar_table();
    case Isa::Avx2:
#if defined(LFMD_HAVE_AVX2)
      return avx2_table();
#else
      return nullptr;
#endif
    case Isa::Avx512:
#if defined(LFMD_HAVE_AVX512)
      return avx512_table();
#else
      return nullptr;
#endif
    case Isa::AvxVnni:
#if defined(LFMD_HAVE_AVXVNNI)
      return avxvnni_table();
#else
      return nullptr;
#endif
    case Isa::Neon:
#if defined(LFMD_HAVE_NEON)
      return neon_table();
#else
      return nullptr;
#endif
    case Isa::NeonI8mm:
#if defined(LFMD_HAVE_NEON)
      return neon_i8mm_table();
#else
      return nullptr;
#endif
  }
  return nullptr;
}

const KernelTable* select_kernels(const char* requested, const char** error) {
  if (error) *error = nullptr;
  if (requested == nullptr || requested[0] == '\0') {
    for (Isa isa : {Isa::Avx512, Isa::AvxVnni, Isa::Avx2, Isa::NeonI8mm, Isa::Neon}) {
      if (const KernelTable* t = kernel_table(isa)) return t;
    }
    return &scalar_table();
  }
  struct Named {
    const char* name;
    Isa isa;
    const char* missing;
  };
  static const Named kNames[] = {
      {"scalar", Isa::Scalar, "LFMD_ISA=scalar requested but this CPU/build lacks it"},
      {"avx2", Isa::Avx2, "LFMD_ISA=avx2 requested but this CPU/build lacks it"},
      {"avx512", Isa::Avx512, "LFMD_ISA=avx512 requested but this CPU/build lacks it"},
      {"avxvnni", Isa::AvxVnni, "LFMD_ISA=avxvnni requested but this CPU/build lacks it"},
      {"neon", Isa::Neon, "LFMD_ISA=neon requested but this CPU/build lacks it"},
      {"i8mm", Isa::NeonI8mm, "LFMD_ISA=i8mm requested but this CPU/build lacks it"},
  };
  for (const Named& n : kNames) {
    if (std::strcmp(requested, n.name) != 0) continue;
    const KernelTable* t = kernel_table(n.isa);
    if (!t && error) *error = n.missing;
    return t;
  }
  if (error) *error = "LFMD_ISA must be one of scalar, avx2, avx512, avxvnni, neon, i8mm";
  return nullptr;
}

}  // namespace lfmd::kernels
