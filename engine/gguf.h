// GGUF v2/v3 reader (memory-mapped, every offset/size/count checked against the file size with
// overflow-safe arithmetic) and a streaming writer. Files are untrusted input.
#pragma once

#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/kernels.h"

namespace lfmd::gguf {

// Thrown for any malformed, truncated or unsupported file; what() is one line naming the problem.
struct FormatError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

enum class ValueType : uint32_t {
  U8 = 0, I8 = 1, U16 = 2, I16 = 3, U32 = 4, I32 = 5, F32 = 6, BOOL = 7,
  STRING = 8, ARRAY = 9, U64 = 10, I64 = 11, F64 = 12,
};
const char* value_type_name(ValueType t);
// ggml's name for any ggml type id (also ones lfmd does not support), e.g. "Q4_1", or "type 99".
std::string ggml_type_name(uint32_t ggml_type);

// One metadata value. Integers (and bools) live in `i`/`u`, floats in `f`, strings in `s`;
// arrays keep their element type and one of the three vectors.
struct Value {
  ValueType type = ValueType::U8;
  ValueType elem_type = ValueType::U8;  // for ARRAY
  int64_t i = 0;
  uint64_t u = 0;
  double f = 0;
  std::string s;
  std::vector<std::string> arr_str;
  std::vector<int64_t> arr_int;
  std::vector<double> arr_float;

  bool is_integer() const;
  bool is_float() const;
  size_t array_size() const;
};

struct TensorInfo {
  std::string name;
  uint32_t n_dims = 0;
  int64_t ne[4] = {1, 1, 1, 1};  // ne[0] is the contiguous dimension
  kernels::DType type = kernels::DType::F32;
  uint64_t offset = 0;           // relative to the data section
  uint64_t nbytes = 0;
  const uint8_t* data = nullptr; // into the mapping
  int64_t n_elements() const { return ne[0] * ne[1] * ne[2] * ne[3]; }
  std::string shape_string() const;  // "[2048, 65536]" (ne order)
};

class Reader {
 public:
  // Maps and validates `path`. Throws FormatError (or std::system_error for I/O).
  explicit Reader(const std::string& path);
  ~Reader();
  Reader(const Reader&) = delete;
  Reader& operator=(const Reader&) = delete;

  uint32_t version() const { return version_; }
  uint64_t file_size() const { return size_; }
  uint64_t data_offset() const { return data_offset_; }
  const std::string& path() const { return path_; }

  const Value* find(const std::string& key) const;
  const std::vector<std::string>& keys() const { return key_order_; }
  // Typed getters: throw FormatError naming the key when missing (for the non-optional ones)
  // or of the wrong type.
  std::string get_string(const std::string& key) const;
  std::optional<std::string> get_string_opt(const std::string& key) const;
  uint64_t get_uint(const std::string& key) const;
  std::optional<uint64_t> get_uint_opt(const std::string& key) const;
  double get_float(const std::string& key) const;
  std::optional<double> get_float_opt(const std::string& key) const;
  std::optional<bool> get_bool_opt(const std::string& key) const;

  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo* tensor(const std::string& name) const;

  // Bytes of the tensor data section (for residency reports); start of the mapping.
  const uint8_t* base() const { return base_; }

 private:
  void parse();
  std::string path_;
  int fd_ = -1;
  const uint8_t* base_ = nullptr;
  uint64_t size_ = 0;
  uint32_t version_ = 0;
  uint64_t data_offset_ = 0;
  std::map<std::string, Value> kv_;
  std::vector<std::string> key_order_;
  std::vector<TensorInfo> tensors_;
  std::map<std::string, size_t> tensor_index_;
};

// Streaming writer: declare metadata and tensors, then write() emits the header and asks a
// callback for each tensor's bytes in declaration order (so multi-GB files never sit in memory).
class Writer {
 public:
  void set_u32(const std::string& key, uint32_t v);
  void set_i32(const std::string& key, int32_t v);
  void set_f32(const std::string& key, float v);
  void set_bool(const std::string& key, bool v);
  void set_string(const std::string& key, const std::string& v);
  void set_array_string(const std::string& key, const std::vector<std::string>& v);
  void set_array_i32(const std::string& key, const std::vector<int32_t>& v);
  void set_array_u32(const std::string& key, const std::vector<uint32_t>& v);
  void set_array_f32(const std::string& key, const std::vector<float>& v);
  // Copies a value read by Reader (any type).
  void set_value(const std::string& key, const Value& v);

  // shape in ne order (ne[0] contiguous). Throws if ne[0] is not a multiple of the block size.
  void add_tensor(const std::string& name, kernels::DType type, const std::vector<int64_t>& ne);
  size_t n_tensors() const { return tensors_.size(); }
  uint64_t tensor_bytes(size_t i) const { return tensors_[i].nbytes; }

  // Writes `path` (via a temporary file of this process and call, then rename, so a crash never
  // leaves a half file behind and concurrent writers of one path do not collide).
  // emit(i, out) must write exactly tensor_bytes(i) bytes for tensor i by calling out(ptr, n).
  using ByteSink = std::function<void(const void*, size_t)>;
  void write(const std::string& path,
             const std::function<void(size_t index, const ByteSink& out)>& emit) const;

 private:
  struct PendingTensor {
    std::string name;
    kernels::DType type;
    std::vector<int64_t> ne;
    uint64_t nbytes;
  };
  void begin_kv(const std::string& key, ValueType t);
  std::vector<uint8_t> kv_bytes_;
  uint64_t n_kv_ = 0;
  std::vector<std::string> keys_;
  std::vector<PendingTensor> tensors_;
  uint32_t alignment_ = 32;
};

}  // namespace lfmd::gguf
