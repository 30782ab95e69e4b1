// Request validation for POST /v1/messages and /v1/messages/count_tokens (the Anthropic Messages
// API). Pure: JSON body -> MessagesRequest (a Conversation) or an ApiError. Never throws.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include "server/api/chat_request.h"
#include "server/pipeline/conversation.h"

namespace lfmd::api {

struct MessagesRequest : Conversation {
  std::string model;  // as sent (any string)
  bool stream = false;
  bool thinking = false;  // thinking.type "enabled" (thinking is parsed whenever the model thinks)
  int64_t thinking_budget = 0;
};

// Semantics:
// - model: a string, required. max_tokens: an integer >= 1, required unless count_tokens (a value
//   beyond the room left in the context is clamped by the pipeline, never refused).
// - system: a string or text blocks (cache_control ignored), joined with "\n\n".
// - messages: non-empty; role user | assistant | system (text only, appended to the system prompt:
//   Claude Code sends one); content a string or blocks. Text blocks of one
//   message are joined with "\n\n". user: text, tool_result (tool_use_id, content string or text
//   blocks, is_error -> "Error: " prefix) -> one "tool" message each, before the user's text;
//   assistant: text, tool_use (id, name, input object) -> tool_calls, thinking -> "thinking",
//   redacted_thinking ignored. image / document -> 400 unsupported; other types -> 400.
// - tools: entries with input_schema (type absent or "custom") become function tools (raw in the
//   Chat Completions shape for the template); server tools (other types) are ignored.
// - tool_choice {"type": auto|any|tool|none, "name", "disable_parallel_tool_use"}.
// - stop_sequences (at most 16 non-empty strings), temperature [0,1], top_p [0,1], top_k >= 0,
//   thinking {type enabled|disabled|adaptive, budget_tokens}, stream. metadata, service_tier,
//   context_management and unknown fields are ignored. lfmd: confidence_threshold in [0,1].
// Errors are 400 invalid_request_error with param = the field path (anthropic_messages words them).
std::variant<MessagesRequest, ApiError> parse_messages_request(std::string_view body,
                                                               const Limits& limits,
                                                               bool count_tokens = false);

}  // namespace lfmd::api
