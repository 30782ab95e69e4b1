// One opened model behind an lfmd_model handle: the loaded weights, one Engine (the scheduler
// every thread's completions share) and the server's Pipeline over it. C++ only; lib/capi.cpp
// turns it into the C interface of include/lfmd.h.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>

#include "engine/engine.h"
#include "server/metrics.h"
#include "server/pipeline/pipeline.h"

namespace lfmd::capi {

// A failure with the lfmd_status it maps to (include/lfmd.h) and one line of text.
struct Failure : std::runtime_error {
  Failure(int status, const std::string& what) : std::runtime_error(what), status(status) {}
  int status;
};

// (text bytes, length, token id or -1, user data) -> non-zero cancels; as lfmd_token_callback.
using TokenCallback = int (*)(const char*, size_t, int32_t, void*);

class Session {
 public:
  // Loads `model` (path, "org/name[:QUANT]" or "lfmd:demo") with the options JSON of lfmd_open.
  // Throws Failure (LFMD_ERR_REQUEST for bad options, LFMD_ERR_MODEL for the model).
  Session(const std::string& model, const std::string& options_json);
  ~Session();

  // One Chat Completions request body -> the result JSON of lfmd_complete. Returns LFMD_OK or
  // LFMD_CANCELLED with *result set; throws Failure otherwise.
  int complete(const std::string& request_json, TokenCallback cb, void* user, std::string* result);
  void cancel_all();  // every running completion ends within one step
  void reset();       // cancel_all and a fresh scheduler (empty prefix cache)
  void shutdown();    // cancel_all and stop admitting (before close)

 private:
  // The scheduler and the pipeline over it; a completion keeps its runtime alive until it ends,
  // so reset() can swap in a fresh one while cancelled completions drain.
  struct Runtime {
    Metrics metrics;
    std::unique_ptr<Engine> engine;
    std::unique_ptr<Pipeline> pipeline;
  };
  struct Call;
  std::shared_ptr<Runtime> make_runtime();
  std::shared_ptr<Runtime> runtime();
  void attach(Call* call, std::shared_ptr<Generation> gen);

  std::unique_ptr<LoadedModel> model_;
  EngineOptions engine_opt_;
  PipelineOptions pipeline_opt_;
  std::mutex mu_;  // guards rt_ and calls_
  std::shared_ptr<Runtime> rt_;
  std::set<Call*> calls_;  // running completions (for cancel_all)
};

}  // namespace lfmd::capi
