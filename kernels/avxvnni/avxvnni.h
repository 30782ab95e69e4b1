// AVX-VNNI table (kernels/avxvnni/): the AVX2 table with its repacked integer matmuls on the
// VEX-encoded 256-bit vpdpbusd (Alder Lake and later clients without AVX-512).
// Plain declarations only, so that code compiled without AVX-VNNI flags may include it.
#pragma once

#include "kernels/ref/ref.h"

namespace lfmd::kernels::avxvnni {

// KernelTable::matmul_repacked for Q4_0 / Q8_0 / Q4_K (Q8_0 kept like AVX2's, unused) with vpdpbusd on ymm (one 8-row group per
// vector); unprepared activations and tail rows go to the AVX2 kernels. Bit-identical to them.
void matmul_repacked(DType wt, const void* w, int64_t n_rows, int64_t r0, int64_t r1,
                     const PreparedActs& acts, float* y, int64_t ldy);

// KernelTable::matmul: file-layout Q4_K / Q5_K / Q6_K with vpdpwssd (kernels/avxvnni/
// matmul_kquant.cpp) and Q8_0 prefill with vpdpbusd (matmul_q8_0.cpp); other types, Q8_0 decode
// and unprepared activations go to the AVX2 table. Bit-identical.
void matmul(DType wt, const void* w, size_t w_row_bytes, int64_t r0, int64_t r1, const PreparedActs& acts,
            float* y, int64_t ldy);

}  // namespace lfmd::kernels::avxvnni
