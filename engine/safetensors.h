// Reader of Hugging Face safetensors checkpoints (memory-mapped; one file or several shards with
// model.safetensors.index.json). Files are untrusted: every header field and offset is checked.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "kernels/kernels.h"

namespace lfmd::hf {

struct StTensor {
  std::string name;
  kernels::DType type;         // F32, F16 or BF16 (other dtypes are refused)
  std::vector<int64_t> shape;  // row-major, last dimension contiguous (torch order)
  const uint8_t* data = nullptr;
  uint64_t nbytes = 0;
  std::string file;  // for messages
  int64_t n_elements() const;
  std::string shape_string() const;  // "[2048, 1, 3]"
};

// One .safetensors file: 8-byte little-endian header length, a JSON header
// {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {...}}, then the data.
class SafetensorsFile {
 public:
  explicit SafetensorsFile(
      const std::string& path);  // throws std::runtime_error naming the problem
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;
  const std::vector<StTensor>& tensors() const { return tensors_; }

 private:
  std::string path_;
  const uint8_t* base_ = nullptr;
  uint64_t size_ = 0;
  std::vector<StTensor> tensors_;
};

// All tensors of a checkpoint directory: the shards named by model.safetensors.index.json, else
// every *.safetensors file. A name present in two files is an error.
class Checkpoint {
 public:
  explicit Checkpoint(const std::string& dir);
  const StTensor* find(const std::string& name) const;
  const std::map<std::string, const StTensor*>& all() const { return by_name_; }

 private:
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::map<std::string, const StTensor*> by_name_;
};

}  // namespace lfmd::hf
