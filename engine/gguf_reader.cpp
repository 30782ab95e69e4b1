// GGUF reader: mmap + a bounds-checked cursor. Every count is checked against the bytes left
// before anything is allocated, so a hostile header cannot make us allocate or read wildly.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>

#include "engine/gguf.h"

namespace lfmd::gguf {
namespace {

constexpr uint32_t kMagic = 0x46554747;  // "GGUF" little-endian
constexpr uint64_t kMaxStringBytes = 1ull << 30;
constexpr uint32_t kMaxDims = 4;

[[noreturn]] void fail(const std::string& msg) { throw FormatError(msg); }

// Reads little-endian values from [p, end), failing with a message on overrun.
class Cursor {
 public:
  Cursor(const uint8_t* begin, const uint8_t* end) : begin_(begin), p_(begin), end_(end) {}
  uint64_t pos() const { return static_cast<uint64_t>(p_ - begin_); }
  uint64_t left() const { return static_cast<uint64_t>(end_ - p_); }

  void need(uint64_t n, const char* what) const {
    if (n > left()) {
      fail("file truncated: " + std::string(what) + " at byte " + std::to_string(pos()) +
           " needs " + std::to_string(n) + " bytes, only " + std::to_string(left()) + " left");
    }
  }
  template <typename T>
  T read(const char* what) {
    need(sizeof(T), what);
    T v;
    std::memcpy(&v, p_, sizeof(T));
    p_ += sizeof(T);
    return v;
  }
  std::string read_string(const char* what) {
    uint64_t n = read<uint64_t>(what);
    if (n > kMaxStringBytes) fail(std::string(what) + ": string length " + std::to_string(n) + " is absurd");
    need(n, what);
    std::string s(reinterpret_cast<const char*>(p_), n);
    p_ += n;
    return s;
  }

 private:
  const uint8_t* begin_;
  const uint8_t* p_;
  const uint8_t* end_;
};

size_t scalar_size(ValueType t) {
  switch (t) {
    case ValueType::U8: case ValueType::I8: case ValueType::BOOL: return 1;
    case ValueType::U16: case ValueType::I16: return 2;
    case ValueType::U32: case ValueType::I32: case ValueType::F32: return 4;
    case ValueType::U64: case ValueType::I64: case ValueType::F64: return 8;
    default: return 0;
  }
}

// Reads one scalar of type t into (i, u, f). Returns false for non-scalars.
void read_scalar(Cursor& c, ValueType t, int64_t& i, uint64_t& u, double& f, const char* what) {
  switch (t) {
    case ValueType::U8: u = c.read<uint8_t>(what); i = static_cast<int64_t>(u); break;
    case ValueType::I8: i = c.read<int8_t>(what); u = static_cast<uint64_t>(i); break;
    case ValueType::U16: u = c.read<uint16_t>(what); i = static_cast<int64_t>(u); break;
    case ValueType::I16: i = c.read<int16_t>(what); u = static_cast<uint64_t>(i); break;
    case ValueType::U32: u = c.read<uint32_t>(what); i = static_cast<int64_t>(u); break;
    case ValueType::I32: i = c.read<int32_t>(what); u = static_cast<uint64_t>(i); break;
    case ValueType::U64: u = c.read<uint64_t>(what); i = static_cast<int64_t>(u); break;
    case ValueType::I64: i = c.read<int64_t>(what); u = static_cast<uint64_t>(i); break;
    case ValueType::BOOL: {
      uint8_t b = c.read<uint8_t>(what);
      if (b > 1) fail(std::string(what) + ": bool value " + std::to_string(b) + " is not 0 or 1");
      i = b; u = b;
      break;
    }
    case ValueType::F32: f = c.read<float>(what); break;
    case ValueType::F64: f = c.read<double>(what); break;
    default: fail(std::string(what) + ": not a scalar type");
  }
}

bool valid_value_type(uint32_t t) { return t <= static_cast<uint32_t>(ValueType::F64); }

}  // namespace

const char* value_type_name(ValueType t) {
  static const char* names[] = {"u8", "i8", "u16", "i16", "u32", "i32", "f32",
                                "bool", "string", "array", "u64", "i64", "f64"};
  auto i = static_cast<uint32_t>(t);
  return i < 13 ? names[i] : "unknown";
}

std::string ggml_type_name(uint32_t t) {
  static const char* names[] = {"F32", "F16", "Q4_0", "Q4_1", "Q4_2", "Q4_3", "Q5_0", "Q5_1",
                                "Q8_0", "Q8_1", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "Q8_K",
                                "IQ2_XXS", "IQ2_XS", "IQ3_XXS", "IQ1_S", "IQ4_NL", "IQ3_S",
                                "IQ2_S", "IQ4_XS", "I8", "I16", "I32", "I64", "F64", "IQ1_M",
                                "BF16", "Q4_0_4_4", "Q4_0_4_8", "Q4_0_8_8", "TQ1_0", "TQ2_0"};
  if (t < sizeof(names) / sizeof(names[0])) return names[t];
  return "type " + std::to_string(t);
}

bool Value::is_integer() const {
  return type != ValueType::F32 && type != ValueType::F64 && type != ValueType::STRING &&
         type != ValueType::ARRAY;
}
bool Value::is_float() const { return type == ValueType::F32 || type == ValueType::F64; }
size_t Value::array_size() const {
  return arr_str.size() + arr_int.size() + arr_float.size();
}

std::string TensorInfo::shape_string() const {
  std::string s = "[";
  for (uint32_t d = 0; d < n_dims; ++d) s += (d ? ", " : "") + std::to_string(ne[d]);
  return s + "]";
}

Reader::Reader(const std::string& path) : path_(path) {
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) throw std::system_error(errno, std::generic_category(), "cannot open " + path);
  struct stat st {};
  if (::fstat(fd_, &st) != 0) {
    int e = errno;
    ::close(fd_);
    throw std::system_error(e, std::generic_category(), "cannot stat " + path);
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd_);
    throw FormatError(path + " is not a regular file");
  }
  size_ = static_cast<uint64_t>(st.st_size);
  if (size_ < 4) {
    ::close(fd_);
    throw FormatError("file truncated: " + std::to_string(size_) + " bytes, not even a GGUF magic");
  }
  void* m = ::mmap(nullptr, size_, PROT_READ, MAP_SHARED, fd_, 0);
  if (m == MAP_FAILED) {
    int e = errno;
    ::close(fd_);
    throw std::system_error(e, std::generic_category(), "cannot mmap " + path);
  }
  base_ = static_cast<const uint8_t*>(m);
  try {
    parse();
  } catch (...) {
    ::munmap(const_cast<uint8_t*>(base_), size_);
    ::close(fd_);
    throw;
  }
}

Reader::~Reader() {
  if (base_) ::munmap(const_cast<uint8_t*>(base_), size_);
  if (fd_ >= 0) ::close(fd_);
}

void Reader::parse() {
  Cursor c(base_, base_ + size_);
  uint32_t magic = c.read<uint32_t>("magic");
  if (magic != kMagic) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "not a GGUF file (magic 0x%08x, expected 0x%08x \"GGUF\")",
                  magic, kMagic);
    fail(buf);
  }
  version_ = c.read<uint32_t>("version");
  if (version_ != 2 && version_ != 3) fail("unsupported GGUF version " + std::to_string(version_) + " (supported: 2, 3)");
  uint64_t n_tensors = c.read<uint64_t>("tensor count");
  uint64_t n_kv = c.read<uint64_t>("metadata count");
  // Each KV needs >= 8 (key len) + 4 (type) + 1 bytes; each tensor info >= 8 + 4 + 8 + 4 + 8.
  if (n_kv > c.left() / 13) {
    fail("file truncated or corrupt: metadata count " + std::to_string(n_kv) + " needs more than the " +
         std::to_string(c.left()) + " bytes left");
  }
  if (n_tensors > c.left() / 32) {
    fail("file truncated or corrupt: tensor count " + std::to_string(n_tensors) + " needs more than the " +
         std::to_string(c.left()) + " bytes left");
  }

  for (uint64_t k = 0; k < n_kv; ++k) {
    std::string key = c.read_string("metadata key");
    if (kv_.count(key)) fail("duplicate metadata key '" + key + "'");
    uint32_t vt = c.read<uint32_t>("metadata value type");
    if (!valid_value_type(vt)) fail("metadata key '" + key + "' has invalid value type " + std::to_string(vt));
    Value v;
    v.type = static_cast<ValueType>(vt);
    const std::string what = "metadata '" + key + "'";
    if (v.type == ValueType::STRING) {
      v.s = c.read_string(what.c_str());
    } else if (v.type == ValueType::ARRAY) {
      uint32_t et = c.read<uint32_t>(what.c_str());
      if (!valid_value_type(et) || et == static_cast<uint32_t>(ValueType::ARRAY)) {
        fail(what + ": invalid array element type " + std::to_string(et));
      }
      v.elem_type = static_cast<ValueType>(et);
      uint64_t n = c.read<uint64_t>(what.c_str());
      size_t es = v.elem_type == ValueType::STRING ? 8 : scalar_size(v.elem_type);
      if (n > c.left() / es) fail(what + ": array of " + std::to_string(n) + " elements runs past the end of the file");
      if (v.elem_type == ValueType::STRING) {
        v.arr_str.reserve(n);
        for (uint64_t j = 0; j < n; ++j) v.arr_str.push_back(c.read_string(what.c_str()));
      } else if (v.elem_type == ValueType::F32 || v.elem_type == ValueType::F64) {
        v.arr_float.resize(n);
        int64_t i; uint64_t u;
        for (uint64_t j = 0; j < n; ++j) read_scalar(c, v.elem_type, i, u, v.arr_float[j], what.c_str());
      } else {
        v.arr_int.resize(n);
        uint64_t u; double f;
        for (uint64_t j = 0; j < n; ++j) read_scalar(c, v.elem_type, v.arr_int[j], u, f, what.c_str());
      }
    } else {
      read_scalar(c, v.type, v.i, v.u, v.f, what.c_str());
    }
    key_order_.push_back(key);
    kv_.emplace(std::move(key), std::move(v));
  }

  uint64_t alignment = 32;
  if (const Value* a = find("general.alignment")) {
    if (!a->is_integer() || a->u == 0 || (a->u & (a->u - 1)) != 0 || a->u > (1u << 20)) {
      fail("general.alignment must be a power of two up to 1 MiB");
    }
    alignment = a->u;
  }

  tensors_.reserve(n_tensors);
  for (uint64_t t = 0; t < n_tensors; ++t) {
    TensorInfo ti;
    ti.name = c.read_string("tensor name");
    const std::string what = "tensor '" + ti.name + "'";
    if (tensor_index_.count(ti.name)) fail("duplicate " + what);
    ti.n_dims = c.read<uint32_t>(what.c_str());
    if (ti.n_dims == 0 || ti.n_dims > kMaxDims) fail(what + " has " + std::to_string(ti.n_dims) + " dimensions (1..4 allowed)");
    uint64_t n_el = 1;
    for (uint32_t d = 0; d < ti.n_dims; ++d) {
      uint64_t ne = c.read<uint64_t>(what.c_str());
      if (ne == 0 || ne > (1ull << 40)) fail(what + ": dimension " + std::to_string(d) + " = " + std::to_string(ne) + " is out of range");
      if (__builtin_mul_overflow(n_el, ne, &n_el) || n_el > (1ull << 48)) fail(what + ": element count overflows");
      ti.ne[d] = static_cast<int64_t>(ne);
    }
    uint32_t type = c.read<uint32_t>(what.c_str());
    const kernels::TypeInfo* info = kernels::type_info(type);
    if (!info) fail(what + " has unsupported type " + ggml_type_name(type) + " (supported: F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q5_K, Q6_K)");
    ti.type = static_cast<kernels::DType>(type);
    if (ti.ne[0] % info->block_size != 0) {
      fail(what + ": row length " + std::to_string(ti.ne[0]) + " is not a multiple of the " + info->name + " block size " + std::to_string(info->block_size));
    }
    uint64_t blocks = n_el / static_cast<uint64_t>(info->block_size);
    if (__builtin_mul_overflow(blocks, static_cast<uint64_t>(info->block_bytes), &ti.nbytes)) fail(what + ": byte size overflows");
    ti.offset = c.read<uint64_t>(what.c_str());
    if (ti.offset % alignment != 0) fail(what + ": data offset " + std::to_string(ti.offset) + " is not aligned to " + std::to_string(alignment));
    tensor_index_[ti.name] = tensors_.size();
    tensors_.push_back(std::move(ti));
  }

  uint64_t header_end = c.pos();
  data_offset_ = (header_end + alignment - 1) / alignment * alignment;
  if (data_offset_ > size_) fail("file truncated: data section would start at byte " + std::to_string(data_offset_) + " past the end (" + std::to_string(size_) + ")");
  uint64_t data_size = size_ - data_offset_;
  for (TensorInfo& ti : tensors_) {
    uint64_t end;
    if (__builtin_add_overflow(ti.offset, ti.nbytes, &end) || end > data_size) {
      fail("tensor '" + ti.name + "' data [" + std::to_string(ti.offset) + ", +" + std::to_string(ti.nbytes) +
           ") runs past the end of the file (data section is " + std::to_string(data_size) + " bytes)");
    }
    ti.data = base_ + data_offset_ + ti.offset;
  }
}

const Value* Reader::find(const std::string& key) const {
  auto it = kv_.find(key);
  return it == kv_.end() ? nullptr : &it->second;
}

std::optional<std::string> Reader::get_string_opt(const std::string& key) const {
  const Value* v = find(key);
  if (!v) return std::nullopt;
  if (v->type != ValueType::STRING) fail("metadata '" + key + "' should be a string, is " + value_type_name(v->type));
  return v->s;
}
std::string Reader::get_string(const std::string& key) const {
  auto v = get_string_opt(key);
  if (!v) fail("missing metadata key '" + key + "'");
  return *v;
}
std::optional<uint64_t> Reader::get_uint_opt(const std::string& key) const {
  const Value* v = find(key);
  if (!v) return std::nullopt;
  if (!v->is_integer() || v->type == ValueType::BOOL) fail("metadata '" + key + "' should be an integer, is " + value_type_name(v->type));
  if (v->i < 0 && (v->type == ValueType::I8 || v->type == ValueType::I16 || v->type == ValueType::I32 || v->type == ValueType::I64)) {
    fail("metadata '" + key + "' is negative (" + std::to_string(v->i) + ")");
  }
  return v->u;
}
uint64_t Reader::get_uint(const std::string& key) const {
  auto v = get_uint_opt(key);
  if (!v) fail("missing metadata key '" + key + "'");
  return *v;
}
std::optional<double> Reader::get_float_opt(const std::string& key) const {
  const Value* v = find(key);
  if (!v) return std::nullopt;
  if (!v->is_float()) fail("metadata '" + key + "' should be a float, is " + value_type_name(v->type));
  return v->f;
}
double Reader::get_float(const std::string& key) const {
  auto v = get_float_opt(key);
  if (!v) fail("missing metadata key '" + key + "'");
  return *v;
}
std::optional<bool> Reader::get_bool_opt(const std::string& key) const {
  const Value* v = find(key);
  if (!v) return std::nullopt;
  if (v->type != ValueType::BOOL) fail("metadata '" + key + "' should be a bool, is " + value_type_name(v->type));
  return v->u != 0;
}

const TensorInfo* Reader::tensor(const std::string& name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

}  // namespace lfmd::gguf
