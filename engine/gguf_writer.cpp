// GGUF v3 writer: metadata is serialised as it is set; tensor data is streamed by a callback.
#include <cerrno>
#include <cstring>
#include <system_error>

#include "engine/gguf.h"
#include "engine/temp_path.h"

namespace lfmd::gguf {
namespace {

template <typename T>
void put(std::vector<uint8_t>& b, T v) {
  const size_t n = b.size();
  b.resize(n + sizeof(T));
  std::memcpy(b.data() + n, &v, sizeof(T));
}
void put_string(std::vector<uint8_t>& b, const std::string& s) {
  put<uint64_t>(b, s.size());
  b.insert(b.end(), s.begin(), s.end());
}

}  // namespace

void Writer::begin_kv(const std::string& key, ValueType t) {
  for (const auto& k : keys_) {
    if (k == key) throw std::invalid_argument("gguf writer: duplicate key " + key);
  }
  keys_.push_back(key);
  put_string(kv_bytes_, key);
  put<uint32_t>(kv_bytes_, static_cast<uint32_t>(t));
  ++n_kv_;
}

void Writer::set_u32(const std::string& key, uint32_t v) {
  begin_kv(key, ValueType::U32);
  put(kv_bytes_, v);
  if (key == "general.alignment") alignment_ = v;
}
void Writer::set_i32(const std::string& key, int32_t v) { begin_kv(key, ValueType::I32); put(kv_bytes_, v); }
void Writer::set_f32(const std::string& key, float v) { begin_kv(key, ValueType::F32); put(kv_bytes_, v); }
void Writer::set_bool(const std::string& key, bool v) { begin_kv(key, ValueType::BOOL); put<uint8_t>(kv_bytes_, v ? 1 : 0); }
void Writer::set_string(const std::string& key, const std::string& v) { begin_kv(key, ValueType::STRING); put_string(kv_bytes_, v); }

void Writer::set_array_string(const std::string& key, const std::vector<std::string>& v) {
  begin_kv(key, ValueType::ARRAY);
  put<uint32_t>(kv_bytes_, static_cast<uint32_t>(ValueType::STRING));
  put<uint64_t>(kv_bytes_, v.size());
  for (const auto& s : v) put_string(kv_bytes_, s);
}
void Writer::set_array_i32(const std::string& key, const std::vector<int32_t>& v) {
  begin_kv(key, ValueType::ARRAY);
  put<uint32_t>(kv_bytes_, static_cast<uint32_t>(ValueType::I32));
  put<uint64_t>(kv_bytes_, v.size());
  for (int32_t x : v) put(kv_bytes_, x);
}
void Writer::set_array_u32(const std::string& key, const std::vector<uint32_t>& v) {
  begin_kv(key, ValueType::ARRAY);
  put<uint32_t>(kv_bytes_, static_cast<uint32_t>(ValueType::U32));
  put<uint64_t>(kv_bytes_, v.size());
  for (uint32_t x : v) put(kv_bytes_, x);
}
void Writer::set_array_f32(const std::string& key, const std::vector<float>& v) {
  begin_kv(key, ValueType::ARRAY);
  put<uint32_t>(kv_bytes_, static_cast<uint32_t>(ValueType::F32));
  put<uint64_t>(kv_bytes_, v.size());
  for (float x : v) put(kv_bytes_, x);
}

void Writer::set_value(const std::string& key, const Value& v) {
  auto put_scalar = [&](ValueType t, int64_t i, double f) {
    switch (t) {
      case ValueType::U8: case ValueType::I8: case ValueType::BOOL: put<uint8_t>(kv_bytes_, static_cast<uint8_t>(i)); break;
      case ValueType::U16: case ValueType::I16: put<uint16_t>(kv_bytes_, static_cast<uint16_t>(i)); break;
      case ValueType::U32: case ValueType::I32: put<uint32_t>(kv_bytes_, static_cast<uint32_t>(i)); break;
      case ValueType::U64: case ValueType::I64: put<uint64_t>(kv_bytes_, static_cast<uint64_t>(i)); break;
      case ValueType::F32: put<float>(kv_bytes_, static_cast<float>(f)); break;
      case ValueType::F64: put<double>(kv_bytes_, f); break;
      default: break;
    }
  };
  begin_kv(key, v.type);
  if (v.type == ValueType::STRING) {
    put_string(kv_bytes_, v.s);
  } else if (v.type == ValueType::ARRAY) {
    put<uint32_t>(kv_bytes_, static_cast<uint32_t>(v.elem_type));
    put<uint64_t>(kv_bytes_, v.array_size());
    for (const auto& s : v.arr_str) put_string(kv_bytes_, s);
    for (int64_t x : v.arr_int) put_scalar(v.elem_type, x, 0);
    for (double x : v.arr_float) put_scalar(v.elem_type, 0, x);
  } else {
    put_scalar(v.type, v.i, v.f);
  }
  if (key == "general.alignment") alignment_ = static_cast<uint32_t>(v.u);
}

void Writer::add_tensor(const std::string& name, kernels::DType type, const std::vector<int64_t>& ne) {
  if (ne.empty() || ne.size() > 4) throw std::invalid_argument("gguf writer: bad rank for " + name);
  const kernels::TypeInfo& info = kernels::type_info(type);
  if (ne[0] % info.block_size != 0) {
    throw std::invalid_argument("gguf writer: " + name + " row length " + std::to_string(ne[0]) +
                                " is not a multiple of the " + info.name + " block size");
  }
  uint64_t n = 1;
  for (int64_t d : ne) n *= static_cast<uint64_t>(d);
  tensors_.push_back({name, type, ne, n / info.block_size * info.block_bytes});
}

void Writer::write(const std::string& path,
                   const std::function<void(size_t, const ByteSink&)>& emit) const {
  std::vector<uint8_t> head;
  put<uint32_t>(head, 0x46554747);
  put<uint32_t>(head, 3);
  put<uint64_t>(head, tensors_.size());
  put<uint64_t>(head, n_kv_);
  head.insert(head.end(), kv_bytes_.begin(), kv_bytes_.end());
  uint64_t offset = 0;
  std::vector<uint64_t> offsets;
  for (const auto& t : tensors_) {
    put_string(head, t.name);
    put<uint32_t>(head, static_cast<uint32_t>(t.ne.size()));
    for (int64_t d : t.ne) put<uint64_t>(head, static_cast<uint64_t>(d));
    put<uint32_t>(head, static_cast<uint32_t>(t.type));
    put<uint64_t>(head, offset);
    offsets.push_back(offset);
    offset = (offset + t.nbytes + alignment_ - 1) / alignment_ * alignment_;
  }
  head.resize((head.size() + alignment_ - 1) / alignment_ * alignment_, 0);

  const std::string tmp = unique_temp_path(path);  // each writer renames a whole file of its own
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) throw std::system_error(errno, std::generic_category(), "cannot create " + tmp);
  auto check = [&](bool ok) {
    if (!ok) {
      int e = errno;
      std::fclose(f);
      std::remove(tmp.c_str());
      throw std::system_error(e, std::generic_category(), "write failed for " + tmp);
    }
  };
  check(std::fwrite(head.data(), 1, head.size(), f) == head.size());
  static const uint8_t zeros[64] = {};
  for (size_t i = 0; i < tensors_.size(); ++i) {
    uint64_t written = 0;
    ByteSink sink = [&](const void* p, size_t n) {
      check(std::fwrite(p, 1, n, f) == n);
      written += n;
    };
    try {
      emit(i, sink);
    } catch (...) {
      std::fclose(f);
      std::remove(tmp.c_str());
      throw;
    }
    if (written != tensors_[i].nbytes) {
      std::fclose(f);
      std::remove(tmp.c_str());
      throw std::logic_error("gguf writer: tensor " + tensors_[i].name + " got " + std::to_string(written) +
                             " bytes, expected " + std::to_string(tensors_[i].nbytes));
    }
    uint64_t pad = (alignment_ - written % alignment_) % alignment_;
    if (i + 1 < tensors_.size()) check(std::fwrite(zeros, 1, pad, f) == pad);
  }
  check(std::fflush(f) == 0);
  check(std::fclose(f) == 0);
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    int e = errno;
    std::remove(tmp.c_str());
    throw std::system_error(e, std::generic_category(), "cannot rename " + tmp + " to " + path);
  }
}

}  // namespace lfmd::gguf
