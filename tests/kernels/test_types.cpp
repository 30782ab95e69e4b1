// Type table, fp16 and bf16 conversions, ISA selection.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <string>

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>
#elif defined(__aarch64__)
#include <sys/auxv.h>  // getauxval, HWCAP_ASIMDDP, HWCAP_ASIMDHP
#endif

#include "tests/kernels/test_util.h"

using namespace lfmd::kernels;
using namespace lfmd::kernels::test;

namespace {

#if defined(__x86_64__)
bool have_f16c() {  // CPUID leaf 1, ECX bit 29 (clang 14's __builtin_cpu_supports lacks "f16c")
  unsigned a = 0, b = 0, c = 0, d = 0;
  return __get_cpuid(1, &a, &b, &c, &d) && (c & (1u << 29));
}
__attribute__((target("f16c"))) uint16_t hw_to_f16(float f) { return _cvtss_sh(f, 0); }
__attribute__((target("f16c"))) float hw_to_f32(uint16_t h) { return _cvtsh_ss(h); }
#endif

}  // namespace

TEST_CASE("type_info and row_bytes") {
  CHECK(type_info(3) == nullptr);
  CHECK(type_info(15) == nullptr);
  REQUIRE(type_info(12) != nullptr);
  CHECK(std::string(type_info(DType::Q4_K).name) == "Q4_K");
  CHECK(type_info(DType::Q4_0).block_size == 32);
  CHECK(type_info(DType::Q4_0).block_bytes == 18);
  CHECK(type_info(DType::Q8_0).block_bytes == 34);
  CHECK(type_info(DType::Q4_K).block_bytes == 144);
  CHECK(type_info(DType::Q5_K).block_bytes == 176);
  CHECK(type_info(DType::Q6_K).block_bytes == 210);
  CHECK(type_info(DType::BF16).block_bytes == 2);
  CHECK(row_bytes(DType::F32, 7) == 28);
  CHECK(row_bytes(DType::F16, 7) == 14);
  CHECK(row_bytes(DType::Q4_0, 2048) == 64 * 18);
  CHECK(row_bytes(DType::Q6_K, 2048) == 8 * 210);
}

TEST_CASE("fp16 known values") {
  CHECK(fp32_to_fp16(1.0f) == 0x3c00);
  CHECK(fp32_to_fp16(-2.0f) == 0xc000);
  CHECK(fp32_to_fp16(0.0f) == 0x0000);
  CHECK(fp32_to_fp16(-0.0f) == 0x8000);
  CHECK(fp32_to_fp16(65504.0f) == 0x7bff);
  CHECK(fp32_to_fp16(65519.99f) == 0x7bff);
  CHECK(fp32_to_fp16(65520.0f) == 0x7c00);  // tie with an odd mantissa rounds up to inf
  CHECK(fp32_to_fp16(INFINITY) == 0x7c00);
  CHECK(fp32_to_fp16(-INFINITY) == 0xfc00);
  CHECK(fp32_to_fp16(std::ldexp(1.0f, -24)) == 0x0001);         // smallest subnormal
  CHECK(fp32_to_fp16(std::ldexp(1.0f, -25)) == 0x0000);         // tie -> even (0)
  CHECK(fp32_to_fp16(std::ldexp(1.5f, -25)) == 0x0001);
  CHECK(fp32_to_fp16(std::ldexp(3.0f, -25)) == 0x0002);         // 1.5 units: tie -> even (2)
  CHECK(fp32_to_fp16(std::ldexp(1.0f, -14)) == 0x0400);         // smallest normal
  CHECK(fp32_to_fp16(std::ldexp(1023.5f, -24)) == 0x0400);      // rounds up into the normals
  CHECK(fp32_to_fp16(1.0f + std::ldexp(1.0f, -11)) == 0x3c00);  // tie -> even
  CHECK(fp32_to_fp16(1.0f + std::ldexp(3.0f, -11)) == 0x3c02);  // tie -> even (up)
  const uint16_t nan = fp32_to_fp16(NAN);
  CHECK((nan & 0x7c00) == 0x7c00);
  CHECK((nan & 0x03ff) != 0);
  CHECK(fp16_to_fp32(0x3c00) == 1.0f);
  CHECK(fp16_to_fp32(0x7bff) == 65504.0f);
  CHECK(fp16_to_fp32(0x0001) == std::ldexp(1.0f, -24));
  CHECK(fp16_to_fp32(0x03ff) == std::ldexp(1023.0f, -24));
  CHECK(fp16_to_fp32(0x8000) == 0.0f);
  CHECK(std::signbit(fp16_to_fp32(0x8000)));
  CHECK(std::isinf(fp16_to_fp32(0xfc00)));
  CHECK(std::isnan(fp16_to_fp32(0x7e00)));
  CHECK(std::isnan(fp16_to_fp32(0x7c01)));
}

TEST_CASE("fp16 exhaustive round trip") {
  int bad = 0;
  for (uint32_t h = 0; h < 65536; ++h) {
    const float f = fp16_to_fp32(static_cast<uint16_t>(h));
    if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff)) {
      if (!std::isnan(f)) ++bad;
      continue;
    }
    if (fp32_to_fp16(f) != h) ++bad;
  }
  CHECK(bad == 0);
}

#if defined(__x86_64__)
TEST_CASE("fp16 conversions match F16C") {
  if (!have_f16c()) return;
  int bad = 0;
  for (uint32_t h = 0; h < 65536; ++h) {
    const float a = fp16_to_fp32(static_cast<uint16_t>(h)), b = hw_to_f32(static_cast<uint16_t>(h));
    if (f32_bits(a) != f32_bits(b)) ++bad;  // NaN payloads included
  }
  CHECK(bad == 0);
  // fp32 -> fp16: every half value and its neighbourhood (ties, +-1 ulp), plus random patterns.
  bad = 0;
  auto check = [&](uint32_t u) {
    const float f = bits_f32(u);
    if (fp32_to_fp16(f) != hw_to_f16(f)) ++bad;
  };
  for (uint32_t h = 0; h < 0x7c00; ++h) {
    const uint32_t lo = f32_bits(fp16_to_fp32(static_cast<uint16_t>(h)));
    const uint32_t hi = f32_bits(fp16_to_fp32(static_cast<uint16_t>(h + 1)));
    const uint32_t mid = lo + (hi - lo) / 2;  // exact tie (both are floats with the same spacing)
    for (uint32_t u : {lo, lo + 1, mid - 1, mid, mid + 1, hi - 1}) {
      check(u);
      check(u | 0x80000000u);
    }
  }
  std::mt19937 rng(1234);
  for (int i = 0; i < 2000000; ++i) check(static_cast<uint32_t>(rng()));
  for (uint32_t u : {0x7f800000u, 0x7f800001u, 0x7fc00000u, 0x7fffffffu, 0xff812345u, 0x00000001u})
    check(u);
  CHECK(bad == 0);
}
#endif

TEST_CASE("bf16 conversions") {
  CHECK(fp32_to_bf16(1.0f) == 0x3f80);
  CHECK(fp32_to_bf16(bits_f32(0x3f808000u)) == 0x3f80);  // tie, even stays
  CHECK(fp32_to_bf16(bits_f32(0x3f818000u)) == 0x3f82);  // tie, odd rounds up
  CHECK(fp32_to_bf16(bits_f32(0x3f808001u)) == 0x3f81);
  CHECK(fp32_to_bf16(bits_f32(0xbf807fffu)) == 0xbf80);
  CHECK(fp32_to_bf16(INFINITY) == 0x7f80);
  CHECK(fp32_to_bf16(bits_f32(0x7f7fffffu)) == 0x7f80);  // max float rounds to inf
  CHECK(fp32_to_bf16(bits_f32(0x7f800001u)) == 0x7fc0);  // signalling NaN made quiet
  CHECK(fp32_to_bf16(bits_f32(0xffc12345u)) == 0xffc1);
  CHECK(bf16_to_fp32(0x3f80) == 1.0f);
  CHECK(bf16_to_fp32(0xc040) == -3.0f);
  int bad = 0;
  for (uint32_t h = 0; h < 65536; ++h) {
    const float f = bf16_to_fp32(static_cast<uint16_t>(h));
    if (std::isnan(f)) continue;
    if (fp32_to_bf16(f) != h) ++bad;
  }
  CHECK(bad == 0);
}

TEST_CASE("isa names and selection") {
  CHECK(std::string(isa_name(Isa::Scalar)) == "scalar");
  CHECK(std::string(isa_name(Isa::Avx2)) == "avx2");
  CHECK(std::string(isa_name(Isa::Avx512)) == "avx512");
  CHECK(std::string(isa_name(Isa::AvxVnni)) == "avxvnni");
  CHECK(std::string(isa_name(Isa::Neon)) == "neon");
  CHECK(std::string(isa_name(Isa::NeonI8mm)) == "i8mm");
  CHECK(kernel_table(Isa::Scalar) == &scalar_table());
  CHECK(scalar_table().isa == Isa::Scalar);
  const char* err = "untouched";
  const KernelTable* best = select_kernels(nullptr, &err);
  REQUIRE(best != nullptr);
  CHECK(err == nullptr);
  CHECK(select_kernels("", &err) == best);
  CHECK(select_kernels("scalar", &err) == &scalar_table());
  for (Isa isa : {Isa::Avx2, Isa::Avx512, Isa::AvxVnni, Isa::Neon, Isa::NeonI8mm}) {
    const KernelTable* t = kernel_table(isa);
    err = nullptr;
    const KernelTable* s = select_kernels(isa_name(isa), &err);
    CHECK(s == t);
    if (t) {
      CHECK(t->isa == isa);
      CHECK(err == nullptr);
      CHECK(best != &scalar_table());
    } else {
      REQUIRE(err != nullptr);
      CHECK(std::string(err) == std::string("LFMD_ISA=") + isa_name(isa) + " requested but this CPU/build lacks it");
    }
  }
#if defined(__x86_64__)
  CHECK(kernel_table(Isa::Neon) == nullptr);
  CHECK(kernel_table(Isa::NeonI8mm) == nullptr);
  __builtin_cpu_init();
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && have_f16c();
  CHECK((kernel_table(Isa::Avx2) != nullptr) == avx2);
  const bool avx512 = avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni");
  MESSAGE("x86-64 CPU with AVX-512 F/BW/VL/VNNI: " << avx512);
  CHECK((kernel_table(Isa::Avx512) != nullptr) == avx512);
  unsigned a = 0, b = 0, c = 0, d = 0;  // AVX-VNNI: CPUID.(7, 1):EAX bit 4
  const bool avxvnni = avx2 && __get_cpuid_count(7, 1, &a, &b, &c, &d) && ((a >> 4) & 1u);
  MESSAGE("x86-64 CPU with AVX-VNNI: " << avxvnni);
  CHECK((kernel_table(Isa::AvxVnni) != nullptr) == avxvnni);
  if (avx2) CHECK(best->isa == (avx512 ? Isa::Avx512 : avxvnni ? Isa::AvxVnni : Isa::Avx2));
#endif
#if defined(__aarch64__)
  // NEON kernels need the dot-product and fp16 extensions (e.g. qemu -cpu cortex-a72 lacks both).
  CHECK(kernel_table(Isa::Avx2) == nullptr);
  CHECK(kernel_table(Isa::Avx512) == nullptr);
  CHECK(kernel_table(Isa::AvxVnni) == nullptr);
  const unsigned long hw = getauxval(AT_HWCAP);
  const bool neon = (hw & HWCAP_ASIMDDP) && (hw & HWCAP_ASIMDHP);
  MESSAGE("aarch64 CPU with dotprod+fp16: " << neon);
  CHECK((kernel_table(Isa::Neon) != nullptr) == neon);
  // The i8mm table also needs HWCAP2_I8MM (bit 13; qemu -cpu max has it, cortex-a76 does not).
  const bool i8mm = neon && ((getauxval(AT_HWCAP2) >> 13) & 1u);
  MESSAGE("aarch64 CPU with i8mm: " << i8mm << "; selected: " << std::string(isa_name(best->isa)));
  CHECK((kernel_table(Isa::NeonI8mm) != nullptr) == i8mm);
  CHECK(best->isa == (i8mm ? Isa::NeonI8mm : neon ? Isa::Neon : Isa::Scalar));
#endif
  err = nullptr;
  CHECK(select_kernels("avx1024", &err) == nullptr);
  CHECK(err != nullptr);
}
