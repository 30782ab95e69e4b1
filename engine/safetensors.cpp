#include "engine/safetensors.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>

namespace lfmd::hf {

using json = nlohmann::json;

int64_t StTensor::n_elements() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::string StTensor::shape_string() const {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

namespace {

[[noreturn]] void bad(const std::string& path, const std::string& what) {
  throw std::runtime_error(path + ": " + what);
}

kernels::DType dtype_of(const std::string& path, const std::string& name, const std::string& dt) {
  if (dt == "F32") return kernels::DType::F32;
  if (dt == "F16") return kernels::DType::F16;
  if (dt == "BF16") return kernels::DType::BF16;
  bad(path, "tensor '" + name + "' has dtype " + dt + " (supported: F32, F16, BF16)");
}

}  // namespace

SafetensorsFile::SafetensorsFile(const std::string& path) : path_(path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) bad(path, std::string("cannot open: ") + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || st.st_size < 8) {
    ::close(fd);
    bad(path, "not a safetensors file (shorter than its 8-byte header length)");
  }
  size_ = static_cast<uint64_t>(st.st_size);
  void* m = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (m == MAP_FAILED) bad(path, std::string("cannot map: ") + std::strerror(errno));
  base_ = static_cast<const uint8_t*>(m);
  uint64_t hlen;
  std::memcpy(&hlen, base_, 8);
  if (hlen > size_ - 8 || hlen > (100u << 20))
    bad(path, "header length " + std::to_string(hlen) + " runs past the end of the file");
  const uint64_t data0 = 8 + hlen, data_size = size_ - data0;
  json h;
  try {
    h = json::parse(reinterpret_cast<const char*>(base_ + 8),
                    reinterpret_cast<const char*>(base_ + data0));
  } catch (const json::exception&) {
    bad(path, "header is not valid JSON");
  }
  if (!h.is_object()) bad(path, "header is not a JSON object");
  for (const auto& [name, v] : h.items()) {
    if (name == "__metadata__") continue;
    try {
      StTensor t;
      t.name = name;
      t.file = path;
      t.type = dtype_of(path, name, v.at("dtype").get<std::string>());
      for (const auto& d : v.at("shape")) {
        const int64_t x = d.get<int64_t>();
        if (x < 0 || x > (int64_t{1} << 40)) bad(path, "tensor '" + name + "' has a bad dimension");
        t.shape.push_back(x);
      }
      const uint64_t b = v.at("data_offsets").at(0).get<uint64_t>(),
                     e = v.at("data_offsets").at(1).get<uint64_t>();
      if (b > e || e > data_size)
        bad(path, "tensor '" + name + "' data runs past the end of the file");
      const uint64_t want =
          static_cast<uint64_t>(t.n_elements()) * (t.type == kernels::DType::F32 ? 4 : 2);
      if (e - b != want)
        bad(path, "tensor '" + name + "' " + t.shape_string() + " has " + std::to_string(e - b) +
                      " bytes, expected " + std::to_string(want));
      t.data = base_ + data0 + b;
      t.nbytes = e - b;
      tensors_.push_back(std::move(t));
    } catch (const json::exception&) {
      bad(path, "tensor '" + name + "' has a malformed header entry");
    }
  }
}

SafetensorsFile::~SafetensorsFile() {
  if (base_) ::munmap(const_cast<uint8_t*>(base_), size_);
}

Checkpoint::Checkpoint(const std::string& dir) {
  std::vector<std::string> files;
  const std::string index = dir + "/model.safetensors.index.json";
  if (std::ifstream in(index); in) {
    std::stringstream ss;
    ss << in.rdbuf();
    try {
      const json j = json::parse(ss.str());
      for (const auto& [name, f] : j.at("weight_map").items()) {
        const std::string file = f.get<std::string>();
        if (file.find('/') != std::string::npos)
          bad(index, "shard name '" + file + "' is not a plain file name");
        if (std::find(files.begin(), files.end(), file) == files.end()) files.push_back(file);
      }
    } catch (const json::exception&) {
      bad(index, "not a valid index (expected {\"weight_map\": {name: file}})");
    }
  } else {
    DIR* d = ::opendir(dir.c_str());
    if (!d)
      throw std::runtime_error(dir +
                               ": cannot open the checkpoint directory: " + std::strerror(errno));
    while (dirent* e = ::readdir(d)) {
      const std::string n = e->d_name;
      if (n.size() > 12 && n.compare(n.size() - 12, 12, ".safetensors") == 0) files.push_back(n);
    }
    ::closedir(d);
  }
  std::sort(files.begin(), files.end());
  if (files.empty()) throw std::runtime_error(dir + ": no *.safetensors files");
  for (const auto& f : files) {
    files_.push_back(std::make_unique<SafetensorsFile>(dir + "/" + f));
    for (const auto& t : files_.back()->tensors()) {
      if (!by_name_.emplace(t.name, &t).second)
        throw std::runtime_error(dir + ": tensor '" + t.name + "' is in two files");
    }
  }
}

const StTensor* Checkpoint::find(const std::string& name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : it->second;
}

}  // namespace lfmd::hf
