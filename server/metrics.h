// Prometheus-style metrics of the HTTP side (requests, latencies); engine counters are read from
// Engine::stats() when /metrics is rendered.
#pragma once

#include <array>
#include <functional>
#include <atomic>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "server/http.h"

namespace lfmd {

class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds) : bounds_(std::move(bounds)), counts_(bounds_.size() + 1, 0) {}
  void observe(double v);
  // Appends "name_bucket{le=...} n" lines, name_sum and name_count.
  void render(const std::string& name, const std::string& help, std::string& out) const;

 private:
  std::vector<double> bounds_;
  mutable std::mutex mu_;
  std::vector<uint64_t> counts_;
  double sum_ = 0;
  uint64_t n_ = 0;
};

class Metrics {
 public:
  Metrics();
  void count_request(int status);
  Histogram ttft{{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}};   // seconds
  Histogram itl{{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1}};  // seconds
  std::atomic<int64_t> disconnects{0};  // generations stopped because the client went away
  // Cloud handoff: time from the upstream request to its whole answer (non-streaming) or its
  // first chunk (streaming), for calls that produced an answer or an HTTP error.
  Histogram upstream_latency{{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}};
  // Labelled counters: family is one of kLabelledFamilies (metrics.cpp), labels e.g.
  // `reason="timeout"` (label values from a fixed set, never client text).
  void count(const std::string& family, const std::string& labels);
  std::string render(const EngineStats& engine) const;
  // The HTTP server's connection counters, rendered when set (cmd_serve sets it).
  std::function<http::ConnectionStats()> connections;

 private:
  mutable std::mutex mu_;
  std::map<int, uint64_t> by_status_;
  std::map<std::string, std::map<std::string, uint64_t>> labelled_;
};

}  // namespace lfmd
