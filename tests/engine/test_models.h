// Random-weight test models generated once per test binary into a private directory (removed at
// exit): model_path("tiny-moe") etc., Q8_0 unless another type is named, fixed seed.
#pragma once

#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "engine/testmodel/generator.h"

namespace lfmd::testing {

struct TempModels {
  std::string dir = "/tmp/lfmd-engine-test-" + std::to_string(::getpid());
  std::vector<std::string> files;
  ~TempModels() {
    for (const auto& f : files) ::unlink(f.c_str());
    ::rmdir(dir.c_str());
  }
  std::string get(const char* preset, kernels::DType type) {
    ::mkdir(dir.c_str(), 0755);
    std::string p = dir + "/" + preset + "-" + kernels::type_info(type).name + ".gguf";
    if (::access(p.c_str(), F_OK) != 0) {
      write_test_model(*find_test_model_preset(preset), type, 11, p, nullptr);
      files.push_back(p);
    }
    return p;
  }
};

inline std::string model_path(const char* preset, kernels::DType type = kernels::DType::Q8_0) {
  static TempModels models;
  return models.get(preset, type);
}

}  // namespace lfmd::testing
