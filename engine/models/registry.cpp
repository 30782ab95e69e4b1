// general.architecture -> model constructor. Adding an architecture = one file + one line here.
#include "engine/models/models.h"

namespace lfmd {
namespace {

struct Entry {
  const char* arch;
  ModelFactory make;
};
constexpr Entry kRegistry[] = {
    {"lfm2", &make_lfm2},
    {"lfm2moe", &make_lfm2},
};

}  // namespace

ModelFactory find_model_factory(const std::string& arch) {
  for (const Entry& e : kRegistry) {
    if (arch == e.arch) return e.make;
  }
  return nullptr;
}

std::vector<std::string> supported_architectures() {
  std::vector<std::string> out;
  for (const Entry& e : kRegistry) out.emplace_back(e.arch);
  return out;
}

}  // namespace lfmd
