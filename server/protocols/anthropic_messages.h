// POST /v1/messages and /v1/messages/count_tokens: the Anthropic Messages adapter. Parses the body
// into a Conversation (server/api/messages_request.h), runs it through the pipeline, and turns its
// output events into one message body or the named SSE events of a message stream.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "server/api/chat_request.h"
#include "server/http.h"
#include "server/pipeline/output_event.h"
#include "server/pipeline/pipeline.h"

namespace lfmd::anthropic_messages {

using json = nlohmann::ordered_json;

http::Response handle(Pipeline& pipeline, const std::string& model_id, const http::Request& req,
                      const http::AliveCheck& alive);
http::Response count_tokens(Pipeline& pipeline, const http::Request& req);

// ---- Envelope builders (pure; unit-tested) ----

// Thinking blocks carry this signature: lfmd cannot sign, and ignores signatures sent back.
inline constexpr const char* kThinkingSignature = "lfmd-unsigned";

// end_turn | max_tokens | stop_sequence | tool_use
const char* stop_reason(OutputFinish f);
// {"input_tokens": prompt - cached, "cache_creation_input_tokens": 0, "cache_read_input_tokens":
//  cached, "output_tokens"}
json usage(const Usage& u);
// The tool_use id of a pipeline tool call id: "call_X" -> "toolu_X".
std::string tool_use_id(const std::string& call_id);
// The content blocks of a finished answer: thinking, text, tool_use (input as an object).
json content_blocks(const OutputEvent& finish);
// The whole message body (+ lfmd's confidence annotations as extra fields).
json message(const std::string& id, const std::string& model, const OutputEvent& finish);

// An error in Anthropic's shape: {"type":"error","error":{"type","message"}}. Types by status:
// 400/408/413 invalid_request_error (413 request_too_large), 401 authentication_error, 403
// permission_error, 404 not_found_error, 429 (the engine's queue is full) and 503 -> HTTP 529
// overloaded_error (retried by the SDKs), other 5xx api_error.
json error_body(const api::ApiError& e);
http::Response error_response(const api::ApiError& e);

// "event: TYPE\ndata: JSON\n\n"
std::string sse_event(const std::string& type, const json& data);

// Turns one answer's OutputEvents into Messages stream events. Blocks open and close as the kind
// of output changes (thinking, text, one block per tool call); a thinking block gets a
// signature_delta before it stops. Pure: returns the bytes to write.
class StreamEncoder {
 public:
  StreamEncoder(std::string id, std::string model) : id_(std::move(id)), model_(std::move(model)) {}
  // message_start, with the prompt's length as input_tokens (the final counts come in
  // message_delta).
  std::string start(int64_t prompt_tokens) const;
  std::string on(const OutputEvent& ev);

 private:
  enum class Block { None, Text, Thinking, Tool };
  std::string open(Block b, json content_block);
  std::string close();

  std::string id_, model_;
  Block open_ = Block::None;
  int index_ = -1;  // of the open (or last) block
};

}  // namespace lfmd::anthropic_messages
