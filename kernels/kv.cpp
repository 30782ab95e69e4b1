// KV cache element types: row sizes and conversions (scalar; exact with ggml's reference code).
#include <cstring>
#include <initializer_list>

#include "kernels/kernels.h"

namespace lfmd::kernels {

namespace {

DType dtype_of(KvType t) {
  switch (t) {
    case KvType::F16:
      return DType::F16;
    case KvType::Q8_0:
      return DType::Q8_0;
    case KvType::F32:
      break;
  }
  return DType::F32;
}

}  // namespace

const char* kv_type_name(KvType t) {
  switch (t) {
    case KvType::F16:
      return "f16";
    case KvType::Q8_0:
      return "q8_0";
    case KvType::F32:
      break;
  }
  return "f32";
}

bool parse_kv_type(const char* name, KvType* out) {
  for (KvType t : {KvType::F32, KvType::F16, KvType::Q8_0}) {
    if (std::strcmp(name, kv_type_name(t)) == 0) {
      *out = t;
      return true;
    }
  }
  return false;
}

size_t kv_row_bytes(KvType t, int64_t n) {
  return row_bytes(dtype_of(t), n);
}

void kv_store_row(KvType t, const float* src, void* dst, int64_t n) {
  quantize_row(dtype_of(t), src, dst, n);
}

void kv_load_rows(KvType t, const void* src, size_t row_bytes, int64_t m, int64_t n, float* dst) {
  const auto* s = static_cast<const uint8_t*>(src);
  for (int64_t i = 0; i < m; ++i) dequantize_row(dtype_of(t), s + i * row_bytes, dst + i * n, n);
}

const float* attn_kv_rows(const AttnTile& a, const uint8_t* const* blocks, int64_t j0, int64_t m,
                          float* scratch, int64_t* ld) {
  const uint8_t* row0 =
      blocks[j0 / kKvBlockTokens] + (j0 % kKvBlockTokens) * a.row_bytes + a.head_offset;
  if (a.kv_type == KvType::F32) {
    *ld = static_cast<int64_t>(a.row_bytes / sizeof(float));
    return reinterpret_cast<const float*>(row0);
  }
  kv_load_rows(a.kv_type, row0, a.row_bytes, m, a.head_dim, scratch);
  *ld = a.head_dim;
  return scratch;
}

}  // namespace lfmd::kernels
