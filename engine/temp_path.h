// Temporary file names for writers that rename a whole file into place.
#pragma once

#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <string>

namespace lfmd {

// `path`.tmp.<pid>.<n>: unique per process and call, so two writers of one path (two processes
// making the demo model, two threads, two pulls) never write into the same temporary file.
inline std::string unique_temp_path(const std::string& path) {
  static std::atomic<uint64_t> n_calls{0};
  return path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(n_calls++);
}

}  // namespace lfmd
