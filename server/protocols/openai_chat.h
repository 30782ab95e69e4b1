// POST /v1/chat/completions: the OpenAI Chat Completions adapter. Parses the body into a
// Conversation (server/api/chat_request.h), runs it through the pipeline, and turns its output
// events into chat.completion bodies or chat.completion.chunk SSE frames.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "server/api/chat_request.h"
#include "server/http.h"
#include "server/pipeline/output_event.h"
#include "server/pipeline/pipeline.h"

namespace lfmd::openai_chat {

using json = nlohmann::ordered_json;

http::Response handle(Pipeline& pipeline, const std::string& model_id, const http::Request& req,
                      const http::AliveCheck& alive);

// ---- Envelope builders (pure; unit-tested) ----

// What every object of one answer shares.
struct Envelope {
  std::string id;       // "chatcmpl-..."
  int64_t created = 0;  // unix seconds
  std::string model;
  bool include_usage = false;  // stream_options.include_usage: chunks carry "usage": null
};

const char* finish_reason(OutputFinish f);  // "stop" | "length" | "tool_calls"
json usage(const Usage& u);  // prompt/completion/total, cached (and reasoning, when any) tokens
// {"id","object":"chat.completion.chunk","created","model","choices":[{index, delta, logprobs,
// finish_reason}]} (+ "usage": null when include_usage).
json chunk(const Envelope& e, json delta, const json& finish, const json& logprobs = nullptr,
           int index = 0);
// The delta of one text / tool-call event (output::to_delta's shape).
json delta(const OutputEvent& ev);
// The upstream's chunk re-framed as ours: our id / created, choices as sent (the first delta
// gets role "assistant" when it has none), usage passed through. model: the upstream's, else ours.
json reframe_chunk(const Envelope& e, const json& up, bool first);
// The upstream's chat.completion re-enveloped with our id and creation time.
json cloud_completion(const Envelope& e, const json& up);
// The final annotations (confidence, cloud_handoff, handoff_error) appended to `j`.
void annotate(json& j, const json& annotations);

}  // namespace lfmd::openai_chat
