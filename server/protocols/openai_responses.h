// POST /v1/responses: the OpenAI Responses adapter. Parses the body into a Conversation
// (server/api/responses_request.h), runs it through the pipeline, and turns its output events
// into one "response" object or named SSE events (response.created ... response.completed).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>

#include "server/http.h"
#include "server/pipeline/output_event.h"
#include "server/pipeline/pipeline.h"

namespace lfmd::openai_responses {

using json = nlohmann::ordered_json;

http::Response handle(Pipeline& pipeline, const std::string& model_id, const http::Request& req,
                      const http::AliveCheck& alive);

// ---- Envelope builders (pure; unit-tested) ----

struct Envelope {
  std::string id;       // "resp_<hex>"; item ids are "<prefix>_<hex>_<n>" with the same hex
  int64_t created = 0;  // unix seconds
  std::string model;
  json echo = json::object();  // ResponsesRequest::echo
};

// {"input_tokens", "input_tokens_details": {"cached_tokens"}, "output_tokens",
//  "output_tokens_details": {"reasoning_tokens"}, "total_tokens"}
json usage(const Usage& u);
// The response object. status: in_progress | completed | incomplete | failed; `usage` null until
// the end; incomplete_details {"reason": "max_output_tokens"} when incomplete; error when failed.
json response(const Envelope& e, const std::string& status, json output, json usage,
              const json& error = nullptr);
// The output items of a finished answer: reasoning (when any), message (when text, or when
// nothing else), function_call per tool call. Length marks the message "incomplete".
json output_items(const Envelope& e, const OutputEvent& finish);

// Turns one generation's events into SSE frames ("event: T\ndata: {...}\n\n"), numbering them.
// Items open and close as the event kind changes; the final event carries the items streamed.
class EventStream {
 public:
  explicit EventStream(Envelope e) : env_(std::move(e)) {}
  std::string start();                      // response.created + response.in_progress
  std::string feed(const OutputEvent& ev);  // "" when nothing is sent
  const json& output() const { return output_; }

 private:
  enum class Open { None, Message, Reasoning, Call };
  std::string frame(json data);
  std::string open_item(Open kind, const OutputEvent& ev);
  std::string close_item(bool incomplete);
  std::string finish(const OutputEvent& ev);

  Envelope env_;
  int64_t seq_ = 0;
  json output_ = json::array();  // finished items
  Open open_ = Open::None;
  json item_;            // the open item
  std::string text_;     // its text / arguments so far
  std::string pending_;  // blank text not yet sent (no message is open)
};

}  // namespace lfmd::openai_responses
