// Helpers of the engine tests: run requests through an Engine and collect their tokens.
#pragma once

#include <doctest/doctest.h>

#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "engine/engine.h"

namespace lfmd::testing {

// A fresh directory under /tmp, removed with its contents at scope exit.
struct TempDir {
  std::string path;
  TempDir() {
    char t[] = "/tmp/lfmd-engine-test-XXXXXX";
    path = ::mkdtemp(t);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  std::vector<std::string> files() const {
    std::vector<std::string> out;
    for (const auto& e : std::filesystem::directory_iterator(path)) out.push_back(e.path().filename().string());
    std::sort(out.begin(), out.end());
    return out;
  }
};

struct Result {
  std::vector<int32_t> tokens;
  std::string finish;
  int64_t n_cached = -1;
};

// Reads a stream to its final event (30 s per event at most, so a hang fails instead of blocking).
inline Result collect(RequestStream& s) {
  Result r;
  for (;;) {
    auto e = s.pop(std::chrono::milliseconds(30000));
    REQUIRE(e.has_value());
    if (e->kind == TokenEvent::Kind::Token) {
      if (e->token >= 0) r.tokens.push_back(e->token);
      continue;
    }
    REQUIRE_MESSAGE(e->kind == TokenEvent::Kind::Done, e->error);
    r.finish = finish_reason_name(e->finish_reason);
    r.n_cached = e->n_cached;
    return r;
  }
}

inline std::vector<Result> run_all(Engine& engine, const std::vector<GenerateRequest>& reqs) {
  std::vector<std::shared_ptr<RequestStream>> streams;
  for (const auto& r : reqs) {
    streams.push_back(std::make_shared<RequestStream>());
    REQUIRE(engine.submit(r, streams.back()) != 0);
  }
  std::vector<Result> out;
  for (auto& s : streams) out.push_back(collect(*s));
  return out;
}

inline std::vector<int32_t> random_prompt(std::mt19937& rng, int n) {
  std::vector<int32_t> t{1};
  std::uniform_int_distribution<int32_t> d(300, 2000);
  while (static_cast<int>(t.size()) < n) t.push_back(d(rng));
  return t;
}

}  // namespace lfmd::testing
