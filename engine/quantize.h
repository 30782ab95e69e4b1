// Model quantization (`lfmd quantize`, `lfmd convert --type`): which tensor gets which type for a
// file type (llama.cpp's mixes, e.g. Q4_K_M puts Q6_K on some attn_v / ffn_down layers and on the
// tied token embedding), and the streaming GGUF-to-GGUF conversion using the reference quantizers
// (blocks bit-identical with llama.cpp's quantizer without an importance matrix).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "kernels/kernels.h"

namespace lfmd {

class ThreadPool;

namespace quant {

// llama.cpp's `general.file_type` ids (llama_ftype) of the mixes lfmd can write.
enum class FileType : uint32_t {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q8_0 = 7,
  Q4_K_S = 14,
  Q4_K_M = 15,
  Q5_K_S = 16,
  Q5_K_M = 17,
  Q6_K = 18,
  BF16 = 32,
};

// "q4_k_m", "Q4_K_M", "f16", ... Returns false for unknown names.
bool parse_file_type(const std::string& s, FileType* out);
const char* file_type_name(FileType t);  // "Q4_K_M"
std::string file_type_list();            // "f32, f16, bf16, q8_0, q4_0, q4_k_s, ..."
kernels::DType base_type(FileType t);    // the type most tensors get (Q4_K for Q4_K_M)

// What the type rules need to know about a tensor and the model.
struct TensorDesc {
  std::string name;
  std::vector<int64_t> ne;  // ne[0] contiguous
  kernels::DType type;      // current type
};
struct ModelFacts {
  int64_t n_layer = 0;   // {arch}.block_count
  int64_t n_expert = 0;  // {arch}.expert_count (0 for dense models)
};

// The type of every tensor under file type `ft`, in the order given. Tensors that are not
// quantized (norms, 1-D tensors, router, conv kernels) keep their type. Throws std::runtime_error
// when llama.cpp would fall back to a type lfmd cannot write (Q5_0 / Q5_1 for rows that are not a
// multiple of 256).
std::vector<kernels::DType> choose_types(const std::vector<TensorDesc>& tensors, FileType ft,
                                         const ModelFacts& facts);

// Converts n_rows rows of n_per_row values from one type to another (via float32), or copies the
// bytes when the types are equal. pool may be null.
void convert_rows(kernels::DType from, const void* src, kernels::DType to, void* dst,
                  int64_t n_per_row, int64_t n_rows, ThreadPool* pool);

// Quantizes the GGUF `in` into `out` (written to a temporary file, then renamed). Metadata is
// copied, with general.file_type and general.quantization_version set. progress(bytes written, total).
void quantize_file(const std::string& in, const std::string& out, FileType ft, ThreadPool* pool,
                   const std::function<void(uint64_t, uint64_t)>& progress = {});

}  // namespace quant
}  // namespace lfmd
