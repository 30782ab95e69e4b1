// Reference of the repacked Q4_0 / Q8_0 / Q4_K layouts (kernels.h, kRepackRows): packing,
// unpacking, and the matmul on packed rows with quantized activations (the spec the SIMD kernels
// are tested on).
#include <cstring>

#include "kernels/ref/ref.h"

namespace lfmd::kernels::ref {

namespace {

// Quant bytes per block of a repackable Q4_0 / Q8_0 type; 0 for the others.
int quant_bytes(DType wt) { return wt == DType::Q4_0 ? 16 : wt == DType::Q8_0 ? 32 : 0; }

// One Q4_K super-block of 8 rows (blk[r] = row r's block) to / from the packed form of 1152 bytes.
void pack_q4_K(const uint8_t* const* blk, uint8_t* d) {
  for (int r = 0; r < kRepackRows; ++r) {
    std::memcpy(d + 2 * r, blk[r], 2);           // d
    std::memcpy(d + 16 + 2 * r, blk[r] + 2, 2);  // dmin
    for (int k = 0; k < 12; ++k) d[32 + 8 * k + r] = blk[r][4 + k];
    for (int u = 0; u < 32; ++u) std::memcpy(d + 128 + 32 * u + 4 * r, blk[r] + 16 + 4 * u, 4);
  }
}

void unpack_q4_K(const uint8_t* p, int r, uint8_t* blk) {
  std::memcpy(blk, p + 2 * r, 2);
  std::memcpy(blk + 2, p + 16 + 2 * r, 2);
  for (int k = 0; k < 12; ++k) blk[4 + k] = p[32 + 8 * k + r];
  for (int u = 0; u < 32; ++u) std::memcpy(blk + 16 + 4 * u, p + 128 + 32 * u + 4 * r, 4);
}

}  // namespace

size_t repack_bytes(DType wt, int64_t n_in, int64_t n_rows) {
  if (wt == DType::Q4_K)
    return n_in % QK_K == 0 ? row_bytes(wt, n_in) * static_cast<size_t>(n_rows) : 0;
  if (quant_bytes(wt) == 0 || n_in % QK != 0) return 0;
  return row_bytes(wt, n_in) * static_cast<size_t>(n_rows);
}

size_t repack_group_bytes(DType wt, int64_t n_in) { return row_bytes(wt, n_in) * kRepackRows; }

void repack(DType wt, const void* src, size_t src_row_bytes, int64_t n_in, int64_t n_rows, void* dst) {
  if (wt == DType::Q4_K) {
    const int64_t nb = n_in / QK_K, groups = n_rows / kRepackRows;
    const auto* s = static_cast<const uint8_t*>(src);
    auto* d = static_cast<uint8_t*>(dst);
    for (int64_t g = 0; g < groups; ++g) {
      for (int64_t b = 0; b < nb; ++b, d += kRepackRows * sizeof(BlockQ4_K)) {
        const uint8_t* blk[kRepackRows];
        for (int r = 0; r < kRepackRows; ++r)
          blk[r] = s + (g * kRepackRows + r) * src_row_bytes + b * sizeof(BlockQ4_K);
        pack_q4_K(blk, d);
      }
    }
    const size_t rb = row_bytes(wt, n_in);
    for (int64_t r = groups * kRepackRows; r < n_rows; ++r, d += rb)
      std::memcpy(d, s + r * src_row_bytes, rb);
    return;
  }
  const int qb = quant_bytes(wt);
  const size_t bb = 2 + static_cast<size_t>(qb);  // original block bytes
  const int64_t nb = n_in / QK, groups = n_rows / kRepackRows;
  const auto* s = static_cast<const uint8_t*>(src);
  auto* d = static_cast<uint8_t*>(dst);
  for (int64_t g = 0; g < groups; ++g) {
    for (int64_t b = 0; b < nb; ++b) {
      for (int64_t r = 0; r < kRepackRows; ++r) {
        const uint8_t* blk = s + (g * kRepackRows + r) * src_row_bytes + b * bb;
        std::memcpy(d + 2 * r, blk, 2);
        for (int u = 0; u < qb / 4; ++u) std::memcpy(d + 16 + u * 32 + 4 * r, blk + 2 + 4 * u, 4);
      }
      d += kRepackRows * bb;
    }
  }
  const size_t rb = row_bytes(wt, n_in);
  for (int64_t r = groups * kRepackRows; r < n_rows; ++r, d += rb) std::memcpy(d, s + r * src_row_bytes, rb);
}

void unpack_row(DType wt, const void* packed, int64_t n_in, int64_t row, void* dst) {
  if (wt == DType::Q4_K) {
    const size_t rb = row_bytes(wt, n_in), gb = kRepackRows * sizeof(BlockQ4_K);
    const int64_t nb = n_in / QK_K;
    const auto* p = static_cast<const uint8_t*>(packed) + (row / kRepackRows) * kRepackRows * rb;
    for (int64_t b = 0; b < nb; ++b)
      unpack_q4_K(p + b * gb, static_cast<int>(row % kRepackRows),
                  static_cast<uint8_t*>(dst) + b * sizeof(BlockQ4_K));
    return;
  }
  const int qb = quant_bytes(wt);
  const size_t bb = 2 + static_cast<size_t>(qb), rb = row_bytes(wt, n_in);
  const int64_t nb = n_in / QK, g = row / kRepackRows, r = row % kRepackRows;
  const auto* p = static_cast<const uint8_t*>(packed) + g * kRepackRows * rb;
  auto* d = static_cast<uint8_t*>(dst);
  for (int64_t b = 0; b < nb; ++b, p += kRepackRows * bb, d += bb) {
    std::memcpy(d, p + 2 * r, 2);
    for (int u = 0; u < qb / 4; ++u) std::memcpy(d + 2 + 4 * u, p + 16 + u * 32 + 4 * r, 4);
  }
}

void matmul_repacked_qact(DType wt, const void* w, int64_t n_rows, int64_t r0, int64_t r1, const float* x,
                          int64_t ldx, int64_t n_in, int64_t n_tok, float* y, int64_t ldy) {
  const size_t rb = row_bytes(wt, n_in);
  const int64_t full = n_rows / kRepackRows * kRepackRows;
  std::vector<BlockQ8_0> a(static_cast<size_t>(n_in / QK));
  std::vector<BlockQ8_K> ak(static_cast<size_t>(n_in / QK_K));
  std::vector<uint8_t> row(rb);
  for (int64_t t = 0; t < n_tok; ++t) {
    if (wt == DType::Q4_K)
      quantize_act_q8_K(x + t * ldx, ak.data(), n_in);
    else
      quantize_act_q8_0(x + t * ldx, a.data(), n_in);
    for (int64_t r = r0; r < r1; ++r) {
      const uint8_t* src;
      if (r < full) {
        unpack_row(wt, w, n_in, r, row.data());
        src = row.data();
      } else {
        src = static_cast<const uint8_t*>(w) + r * rb;  // tail rows: groups are also rb per row
      }
      y[t * ldy + r] = wt == DType::Q4_K   ? dot_q4_K_q8_K(src, ak.data(), n_in)
                       : wt == DType::Q4_0 ? dot_q4_0_q8_0(src, a.data(), n_in)
                                           : dot_q8_0_q8_0(src, a.data(), n_in);
    }
  }
}

}  // namespace lfmd::kernels::ref

namespace lfmd::kernels {

// Rows in whole groups are interleaved (ref::unpack_row); the rows after the last full group keep
// the original format and follow the groups (ref::repack).
void unpack_repacked_row(DType wt, const void* packed, int64_t n_in, int64_t n_rows, int64_t row, void* dst) {
  const int64_t full = n_rows / kRepackRows * kRepackRows;
  if (row < full) {
    ref::unpack_row(wt, packed, n_in, row, dst);
    return;
  }
  const size_t rb = row_bytes(wt, n_in);
  std::memcpy(dst, static_cast<const uint8_t*>(packed) + static_cast<size_t>(row) * rb, rb);
}

}  // namespace lfmd::kernels
