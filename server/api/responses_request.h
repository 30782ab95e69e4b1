// Request validation for POST /v1/responses (OpenAI Responses API): the body -> a Conversation
// plus the fields only Responses has, or a 400 in OpenAI's error shape. Pure, never throws.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <variant>

#include "server/api/chat_request.h"
#include "server/pipeline/conversation.h"

namespace lfmd::api {

struct ResponsesRequest : Conversation {
  std::string model;  // as sent; "" when absent
  bool stream = false;
  // What the response object echoes back, in OpenAI's order: instructions, max_output_tokens,
  // parallel_tool_calls, temperature, text, tool_choice, tools (flat function tools only), top_p.
  nlohmann::ordered_json echo = nlohmann::ordered_json::object();
};

// Semantics (see also parse_chat_request for the shared rules: null == absent, integer and
// number checks, tool names, schema limits):
// - input: a string (one user message) or a non-empty list of items. Items: "message" (the type
//   may be omitted when "role" is set; roles system/developer -> system, user, assistant; content
//   a string or parts input_text / output_text / text, refusal for assistant), "function_call"
//   (call_id, name, arguments JSON text) -> tool_calls of an assistant message (consecutive calls,
//   and calls right after an assistant message, join that message), "function_call_output"
//   (call_id, output string or text parts) -> a tool message, "reasoning" (content reasoning_text
//   or summary summary_text; encrypted_content ignored) -> the next assistant message's
//   "thinking". Other item types (item_reference, ...) -> 400.
// - instructions: the first system message.
// - tools: flat function tools (name, description, parameters, strict); other types (web_search,
//   namespace, custom, local_shell, ...) are ignored and never called.
// - tool_choice: auto | none | required | {"type": "function", "name"}.
// - text.format: {type: text | json_object | json_schema (name, schema, strict)}.
// - max_output_tokens: 1..cap; temperature [0,2]; top_p [0,1]; parallel_tool_calls; stream.
// - previous_response_id, conversation: 400 (nothing is stored: send the whole conversation).
//   background: true -> 400. handoff "proxy" -> 400 (the upstream speaks Chat Completions).
// - Ignored: store, include, reasoning, prompt_cache_key, client_metadata, metadata, user,
//   stream_options, truncation, service_tier, safety_identifier and unknown fields.
std::variant<ResponsesRequest, ApiError> parse_responses_request(std::string_view body,
                                                                 const Limits& limits);

}  // namespace lfmd::api
