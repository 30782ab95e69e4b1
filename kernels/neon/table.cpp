// NEON KernelTables (AArch64 with the dot-product and half-precision extensions; the second one
// also with i8mm for repacked Q4_0 and Q4_K): matmul dispatch, tile walking and runtime
// detection. rope, softmax and sigmoid are the scalar reference's (as in
// the AVX2 table), so both SIMD tables evaluate the same float expressions.
#include <sys/auxv.h>

#include <algorithm>
#include <vector>

#include "kernels/neon/common.h"

#ifndef HWCAP_ASIMDHP
#define HWCAP_ASIMDHP (1UL << 10)
#endif
#ifndef HWCAP2_I8MM
#define HWCAP2_I8MM (1UL << 13)
#endif
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1UL << 20)
#endif

namespace lfmd::kernels::neon {

void run_tiles(const Tiles& tiles, const MatCtx& c, int64_t r0, int64_t r1, int64_t n_tok) {
  if (n_tok == 1) {
    for (int64_t r = r0; r < r1; ++r) tiles.fn[0](c, r, 0);
    return;
  }
  // Rows in chunks of ~128 KiB of weights, so they stay in L2 while every token group reads them.
  const int64_t chunk =
      std::clamp<int64_t>(static_cast<int64_t>((128u << 10) / std::max<size_t>(c.rb, 1)), 8, 1024);
  for (int64_t rc = r0; rc < r1; rc += chunk) {
    const int64_t re = std::min(r1, rc + chunk);
    for (int64_t t0 = 0; t0 < n_tok; t0 += tiles.max_nt) {
      const int nt = static_cast<int>(std::min<int64_t>(tiles.max_nt, n_tok - t0));
      for (int64_t r = rc; r < re; ++r) tiles.fn[nt - 1](c, r, t0);
    }
  }
}

namespace {

size_t acts_bytes(DType wt, int64_t n_in, int64_t n_tok) {
  switch (ref::act_quant_for(wt)) {
    case ref::ActQuant::Q8_0:
      return q8_0_acts_bytes(n_in, n_tok);
    case ref::ActQuant::Q8_K:
      return q8_K_acts_bytes(n_in, n_tok);
    case ref::ActQuant::None:
      return 0;
  }
  return 0;
}

void prepare_acts(DType wt, PreparedActs& acts, void* scratch) {
  switch (ref::act_quant_for(wt)) {
    case ref::ActQuant::Q8_0:
      q8_0_prepare(acts, scratch);
      return;
    case ref::ActQuant::Q8_K:
      q8_K_prepare(acts, scratch);
      return;
    case ref::ActQuant::None:
      return;
  }
}

// `acts`, or when the caller did not prepare them, a private copy quantized into `own` (same
// result, repeated per call).
const PreparedActs* prepared(DType wt, const PreparedActs& acts, PreparedActs& own) {
  if (acts.q != nullptr) return &acts;
  const size_t need = acts_bytes(wt, acts.n_in, acts.n_tok);
  if (need == 0) return &acts;
  thread_local std::vector<uint8_t> scratch;
  scratch.resize(need);
  own = acts;
  prepare_acts(wt, own, scratch.data());
  return &own;
}

void matmul(DType wt, const void* w, size_t w_row_bytes, int64_t r0, int64_t r1,
            const PreparedActs& acts, float* y, int64_t ldy) {
  if (r1 <= r0 || acts.n_tok <= 0) return;
  PreparedActs own;
  const PreparedActs* a = prepared(wt, acts, own);
  const MatCtx c{static_cast<const uint8_t*>(w), w_row_bytes, a, a->q, y, ldy};
  switch (ref::act_quant_for(wt)) {
    case ref::ActQuant::Q8_0:
      matmul_q8_0(wt, c, r0, r1);
      return;
    case ref::ActQuant::Q8_K:
      matmul_kquant(wt, c, r0, r1);
      return;
    case ref::ActQuant::None:
      matmul_float(wt, c, r0, r1);
      return;
  }
}

// The dotprod table keeps weights in their file layout.
size_t no_repack(DType, int64_t, int64_t) { return 0; }

const KernelTable kTable{
    Isa::Neon,    acts_bytes,     prepare_acts, matmul,       no_repack, nullptr, nullptr,
    rmsnorm,      ref::rope_neox, ref::softmax, swiglu,       ref::sigmoid,
    conv_step,    attention_tile,
};

// The i8mm table repacks Q4_0 and Q4_K, as the x86 tables do (its smmla kernels sum in their
// repacked kernels' float order); Q8_0 and the other K-quants keep the file layout and the dotprod
// kernels.
size_t repack_bytes_i8mm(DType wt, int64_t n_in, int64_t n_rows) {
  return wt == DType::Q4_0 || wt == DType::Q4_K ? ref::repack_bytes(wt, n_in, n_rows) : 0;
}

void matmul_repacked(DType wt, const void* w, int64_t n_rows, int64_t r0, int64_t r1,
                     const PreparedActs& acts, float* y, int64_t ldy) {
  if (r1 <= r0 || acts.n_tok <= 0) return;
  PreparedActs own;
  const PreparedActs* a = prepared(wt, acts, own);
  const MatCtx c{static_cast<const uint8_t*>(w), row_bytes(wt, acts.n_in), a, a->q, y, ldy};
  matmul_repacked_i8mm(wt, c, n_rows, r0, r1);
}

const KernelTable kTableI8mm{
    Isa::NeonI8mm, acts_bytes,     prepare_acts, matmul,       repack_bytes_i8mm, ref::repack,
    matmul_repacked, rmsnorm,      ref::rope_neox, ref::softmax, swiglu,          ref::sigmoid,
    conv_step,    attention_tile,
};

}  // namespace

}  // namespace lfmd::kernels::neon

namespace lfmd::kernels {

bool neon_supported() {
  // The table is compiled for armv8.2-a+dotprod+fp16: both extensions must be present.
  static const bool ok = [] {
    const unsigned long hw = getauxval(AT_HWCAP);
    return (hw & HWCAP_ASIMDDP) != 0 && (hw & HWCAP_ASIMDHP) != 0;
  }();
  return ok;
}

const KernelTable* neon_table() {
  return neon_supported() ? &neon::kTable : nullptr;
}

bool neon_i8mm_supported() {
  static const bool ok = neon_supported() && (getauxval(AT_HWCAP2) & HWCAP2_I8MM) != 0;
  return ok;
}

const KernelTable* neon_i8mm_table() {
  return neon_i8mm_supported() ? &neon::kTableI8mm : nullptr;
}

}  // namespace lfmd::kernels
