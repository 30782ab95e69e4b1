// SHA-256 (FIPS 180-4), incremental, for verifying downloads against the Hub's LFS oid.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace lfmd::hub {

class Sha256 {
 public:
  Sha256();
  void update(const void* data, size_t n);
  std::string hex();  // finishes; lower-case 64 hex digits

 private:
  void block(const uint8_t* p);
  uint32_t h_[8];
  uint8_t buf_[64];
  size_t used_ = 0;
  uint64_t bytes_ = 0;
};

// SHA-256 of a whole file as hex; throws std::runtime_error when it cannot be read.
std::string sha256_file(const std::string& path);

}  // namespace lfmd::hub
