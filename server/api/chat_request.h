// Request validation for POST /v1/chat/completions and the OpenAI-shaped error bodies the server
// sends. Pure functions over the raw body: no I/O, no model, no globals. Never throws.
#pragma once

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "server/pipeline/conversation.h"

namespace lfmd::api {

// One error answer. body() is {"error":{"message","type","param","code"}}; an empty param or code
// is written as null. `message` is always valid UTF-8 (echoed client text is sanitised and cut).
struct ApiError {
  int status = 400;
  std::string type = "invalid_request_error";
  std::string message;
  std::string param;      // "" -> null; else the field path, e.g. "messages[2].content[0].type"
  std::string code;       // "" -> null
  int retry_after_s = 0;  // > 0: the server adds "Retry-After: N" (429 / 503)
  nlohmann::ordered_json body() const;
};

struct Limits {
  size_t max_messages = 4096;
  size_t max_tools = 256;  // also caps tool_calls per assistant message
  size_t max_stop = 4;
  size_t max_stop_len = 256;       // bytes per stop string
  int64_t max_tokens_cap = 32768;  // the caller sets it to the context length
  int32_t max_top_logprobs = 20;
  size_t max_logit_bias = 1024;          // entries
  int32_t n_vocab = 65536;               // the caller sets it; logit_bias ids must be < n_vocab
  size_t max_tool_schema_bytes = 65536;  // serialised size of one tool's parameters / json_schema
  size_t max_json_depth = 64;            // nesting of one free-form JSON value (schema, arguments)
  size_t max_body_depth = 128;  // nesting of the whole body, checked before parsing (depth bomb)
};

using lfmd::ToolChoice;
using lfmd::ToolDef;

// A Chat Completions request: the conversation (server/pipeline/conversation.h; developer
// messages become "system", a null/absent assistant content with tool_calls becomes "") plus the
// fields only this protocol has.
inline constexpr int32_t kMaxChoices = 8;  // n: choices per request

struct ChatRequest : Conversation {
  std::string model;  // as sent; "" when absent or null
  bool stream = false;
  bool include_usage = false;
  int32_t n = 1;
};

// Parses and validates a chat-completions body. Returns the request or a 400 ApiError
// (type invalid_request_error, param = field path, code one of invalid_json, invalid_type,
// invalid_value, missing_required_parameter, empty_array, array_above_max_length,
// unsupported_value). Never throws, never crashes, on any input.
//
// Semantics where OpenAI is silent or lenient clients matter:
// - Unknown fields are ignored. A null optional field is the same as an absent one.
// - Duplicate JSON keys: the last value wins.
// - model: any string; may be absent.
// - max_tokens and max_completion_tokens are aliases; both are validated (integer 1..cap);
//   when both are sent, max_completion_tokens wins.
// - Integers must be JSON integers (2.0 is rejected); numbers must be JSON numbers (no strings,
//   booleans; NaN/Infinity are not JSON).
// - top_p in [0,1] (OpenAI accepts 0), repetition_penalty in (0,10], top_k >= 0, min_p in [0,1].
// - seed: int64 range; negative values map to uint64 by two's complement.
// - n: 1..kMaxChoices. top_logprobs > 0 needs logprobs=true (0 is accepted without it).
// - stop: a non-empty string, or an array (possibly empty) of non-empty strings.
// - stream_options (non-null) needs stream=true, as OpenAI; only include_usage is read.
// - tools: [] is accepted (no tools). Only type "function"; names [A-Za-z0-9_.-]{1,64}, unique.
// - tool_choice "auto"/"none" are accepted without tools; "required" and named need tools, and a
//   named tool must exist.
// - Assistant content may be null/absent only with non-empty tool_calls. Tool messages need
//   tool_call_id; it is not matched against earlier calls (agents trim histories).
// - Content parts: "text" everywhere, "refusal" for assistant; image/audio/file parts -> 400.
// - extra: "confidence_threshold" (number in [0,1]) and "handoff" (any JSON) are copied here.
std::variant<ChatRequest, ApiError> parse_chat_request(std::string_view body, const Limits& limits);

// The body as a JSON object, or the 400 every route answers for it: nested deeper than
// max_depth (checked before parsing: a depth bomb never reaches the parser), not JSON (code
// invalid_json), not an object (invalid_type).
std::variant<nlohmann::ordered_json, ApiError> parse_json_object(std::string_view body, size_t max_depth = 128);

// ---- Errors the server answers outside request validation ----

// "This model's maximum context length is N tokens. However, you requested M tokens (X in the
// messages, Y in the completion). Please reduce the length of the messages or completion."
// with M = X + Y (saturating).
std::string context_overflow_message(int64_t n_ctx, int64_t n_prompt, int64_t n_completion);

// 400 invalid_request_error, param "messages", code "context_length_exceeded".
ApiError context_length_exceeded(int64_t n_ctx, int64_t n_prompt, int64_t n_completion);
// 400 context_length_exceeded for a prompt that the server's KV memory budget can never hold.
ApiError kv_budget_exceeded(int64_t limit, int64_t n_prompt, uint64_t budget_bytes);
// 400 invalid_request_error with the given param/code.
ApiError invalid_request(std::string message, std::string param = "", std::string code = "");
// 401 authentication_error, code "invalid_api_key". The key itself is never echoed.
ApiError invalid_api_key();
// 401 authentication_error, code "missing_api_key" (no Authorization: Bearer header).
ApiError missing_api_key();
// 404 invalid_request_error, param "model", code "model_not_found".
ApiError model_not_found(std::string_view model);
// 404 invalid_request_error, code "unknown_url": "Invalid URL (POST /v1/foo)".
ApiError route_not_found(std::string_view method, std::string_view path);
// 405 invalid_request_error, code "method_not_allowed".
ApiError method_not_allowed(std::string_view method, std::string_view path);
// 408 invalid_request_error, code "request_timeout" (body/header read timeout).
ApiError request_timeout();
// 413 invalid_request_error, code "request_too_large" (body or headers over the limit).
ApiError body_too_large(size_t limit_bytes);
// 408: the request's headers and body did not all arrive within the deadline.
ApiError request_timeout(int seconds);
// 503 server_error, code "server_shutting_down", Retry-After: 1 (graceful stop; never started).
ApiError shutting_down();
// 429 type "requests", code "rate_limit_exceeded" (OpenAI's own type for request-rate limits).
ApiError rate_limited(int retry_after_s);
// 503 server_error, code "model_loading" (also /health while loading).
ApiError model_loading(int retry_after_s);
// 503 server_error, code "server_overloaded" (queue full).
ApiError server_overloaded(int retry_after_s);
// 500 server_error, code null. Only for real faults.
ApiError server_error(std::string_view detail);

// Valid UTF-8 copy of `s` (bad bytes -> U+FFFD), cut to at most `max_bytes` on a character
// boundary with "..." appended when cut. For echoing client text in messages.
std::string sanitize_for_message(std::string_view s, size_t max_bytes = 128);

}  // namespace lfmd::api
