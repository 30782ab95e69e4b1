// /v1/chat/completions, /v1/models, /health and /metrics on top of the engine's submit/cancel.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>

#include "engine/engine.h"
#include "server/chat_prompt.h"
#include "server/constraints.h"
#include "server/handoff.h"
#include "server/http.h"
#include "server/metrics.h"

namespace lfmd {

struct ChatServiceOptions {
  std::string model_id;            // what /v1/models lists and responses echo
  int keepalive_ms = 5000;         // SSE ": ping" interval while nothing else is sent
  bool test_hooks = false;         // accept the lfmd_* test fields of chat_routes.cpp (tests only)
  std::string forced_output;       // test hooks: every request emits exactly this text
  HandoffConfig handoff;           // confidence policy and cloud upstream (server/handoff.h)
};

class ChatService {
 public:
  ChatService(Engine& engine, const LoadedModel& model, ChatServiceOptions opt, Metrics& metrics);
  // Route handlers (http::Handler signature).
  http::Response chat_completions(const http::Request& req, const http::AliveCheck& alive);
  http::Response list_models(const http::Request& req, const http::AliveCheck&) { return models(req, false); }
  http::Response get_model(const http::Request& req, const http::AliveCheck&) { return models(req, true); }
  http::Response metrics_text(const http::Request& req, const http::AliveCheck& alive);

 private:
  http::Response models(const http::Request& req, bool single);

  Engine& engine_;
  const LoadedModel& model_;
  ChatServiceOptions opt_;
  Metrics& metrics_;
  std::unique_ptr<ChatPrompt> prompt_;
  std::unique_ptr<ConstraintFactory> constraints_;
  int64_t created_;
};

// The JSON body and status of an API error, as an HTTP response.
http::Response error_response(const api::ApiError& e);

}  // namespace lfmd
