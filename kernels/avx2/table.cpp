// AVX2 KernelTable: matmul dispatch, tile walking, and the small ops (attention vectorized,
// the rest shared with the scalar reference for now).
#include <cpuid.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/avx2/common.h"

namespace lfmd::kernels::avx2 {

void run_tiles(const TileSet& tiles, const MatCtx& c, int64_t r0, int64_t r1, int64_t n_tok) {
  if (n_tok == 1) {
    int64_t r = r0;
    const int nr = tiles.decode_nr;
    for (; r + nr <= r1; r += nr) tiles.fn[nr - 1][0](c, r, 0);
    for (; r < r1; ++r) tiles.fn[0][0](c, r, 0);
    return;
  }
  // Rows in chunks of ~128 KiB of weights, so they stay in L2 while every token group reads them.
  const int64_t chunk =
      std::clamp<int64_t>(static_cast<int64_t>((128u << 10) / std::max<size_t>(c.rb, 1)), 8, 1024) & ~int64_t{3};
  for (int64_t rc = r0; rc < r1; rc += chunk) {
    const int64_t re = std::min(r1, rc + chunk);
    for (int64_t t0 = 0; t0 < n_tok; t0 += tiles.multi_nt) {
      const int nt = static_cast<int>(std::min<int64_t>(tiles.multi_nt, n_tok - t0));
      const int nr = tiles.multi_nr;
      int64_t r = rc;
      for (; r + nr <= re; r += nr) tiles.fn[nr - 1][nt - 1](c, r, t0);
      for (; r < re; ++r) tiles.fn[0][nt - 1](c, r, t0);
    }
  }
}

namespace {

size_t acts_bytes(DType wt, int64_t n_in, int64_t n_tok) {
  switch (ref::act_quant_for(wt)) {
    case ref::ActQuant::Q8_0: return q8_0_acts_bytes(n_in, n_tok);
    case ref::ActQuant::Q8_K: return q8_K_acts_bytes(n_in, n_tok);
    case ref::ActQuant::None: return 0;
  }
  return 0;
}

void prepare_acts(DType wt, PreparedActs& acts, void* scratch) {
  switch (ref::act_quant_for(wt)) {
    case ref::ActQuant::Q8_0: q8_0_prepare(acts, scratch); return;
    case ref::ActQuant::Q8_K: q8_K_prepare(acts, scratch); return;
    case ref::ActQuant::None: return;
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
    case ref::ActQuant::Q8_0: matmul_q8_0(wt, c, r0, r1); return;
    case ref::ActQuant::Q8_K: matmul_kquant(wt, c, r0, r1); return;
    case ref::ActQuant::None: matmul_float(wt, c, r0, r1); return;
  }
}

void matmul_repacked_entry(DType wt, const void* w, int64_t n_rows, int64_t r0, int64_t r1,
                           const PreparedActs& acts, float* y, int64_t ldy) {
  if (r1 <= r0 || acts.n_tok <= 0) return;
  PreparedActs own;
  const PreparedActs* a = prepared(wt, acts, own);
  const MatCtx c{static_cast<const uint8_t*>(w), row_bytes(wt, acts.n_in), a, a->q, y, ldy};
  matmul_repacked(wt, c, n_rows, r0, r1);
}

// Q4_0 is repacked (its interleaved kernel sums as llama.cpp's repacked AVX2 Q4_0 path does), and
// so is Q4_K (llama.cpp repacks it too, into its own order; integer sums are exact, only the float
// accumulation differs). Q8_0 keeps the file layout, whose kernel is bit-identical to ggml's AVX2
// Q8_0 dot (llama.cpp does not repack Q8_0 on x86, so a repacked order would leave its oracle for
// no reason but speed).
size_t repack_bytes(DType wt, int64_t n_in, int64_t n_rows) {
  return wt == DType::Q4_0 || wt == DType::Q4_K ? ref::repack_bytes(wt, n_in, n_rows) : 0;
}

const KernelTable kTable{
    Isa::Avx2,     acts_bytes,   prepare_acts,   matmul,
    repack_bytes, ref::repack, matmul_repacked_entry,  ref::rmsnorm,
    ref::rope_neox, ref::softmax, swiglu,        ref::sigmoid,   conv_step,
    attention_tile,
};

}  // namespace

const KernelTable* table() { return &kTable; }

}  // namespace lfmd::kernels::avx2

namespace lfmd::kernels {

const KernelTable* avx2_table() {
  static const bool ok = [] {
    __builtin_cpu_init();
    // F16C from CPUID leaf 1 (ECX bit 29): clang 14's __builtin_cpu_supports has no "f16c".
    unsigned a = 0, b = 0, c = 0, d = 0;
    const bool f16c = __get_cpuid(1, &a, &b, &c, &d) && (c & (1u << 29));
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && f16c;
  }();
  return ok ? avx2::table() : nullptr;
}

}  // namespace lfmd::kernels
