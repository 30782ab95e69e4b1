// AVX-512 VNNI table (kernels/avx512/): the AVX2 table with its integer matmuls replaced.
// Plain declarations only, so that code compiled without AVX-512 flags may include it.
#pragma once

#include "kernels/ref/ref.h"

namespace lfmd::kernels::avx512 {

// KernelTable::matmul_repacked for Q4_0 / Q8_0 / Q4_K (Q8_0 kept like AVX2's, unused) with vpdpbusd on zmm (two 8-row groups per
// vector); unprepared activations and tail rows go to the AVX2 kernels. Bit-identical to them.
void matmul_repacked(DType wt, const void* w, int64_t n_rows, int64_t r0, int64_t r1,
                     const PreparedActs& acts, float* y, int64_t ldy);

// KernelTable::matmul: file-layout Q4_K / Q5_K / Q6_K on zmm (vpmaddubsw + vpdpwssd,
// kernels/avx512/matmul_kquant.cpp), Q8_0 prefill (vpdpbusd, two rows per zmm, matmul_q8_0.cpp)
// and F32 / F16 / BF16 prefill (two rows per zmm FMA, matmul_float.cpp); other types, Q8_0 and
// float decode and unprepared activations go to the AVX2 table. Bit-identical to it.
void matmul(DType wt, const void* w, size_t w_row_bytes, int64_t r0, int64_t r1, const PreparedActs& acts,
            float* y, int64_t ldy);

// KernelTable::attention_tile: the AVX2 kernel's per-row float operations on zmm (two keys per
// zmm in the scores, up to four query rows per V pass, kernels/avx512/attention.cpp), bit-identical
// to it; head dims that are not a multiple of 16 go to the AVX2 kernel.
void attention_tile(const AttnTile& tile);

}  // namespace lfmd::kernels::avx512
