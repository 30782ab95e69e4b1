// The protocol-neutral request: what every wire protocol's adapter turns its body into, and all
// that the pipeline (prompt, grammar, sampling, handoff) reads. Plain data, no behaviour.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace lfmd {

struct ToolDef {
  std::string name;
  std::string description;            // "" when absent
  nlohmann::ordered_json parameters;  // the schema object, or {} when absent/null
  bool strict = false;
  nlohmann::ordered_json
      raw;  // the tool object in OpenAI's Chat Completions shape, for the template
};

enum class ToolChoice { Auto, None, Required, Named };

// `messages` is the chat-template input, one object per message, keys in this order:
//   {"role": "system"|"user"|"assistant"|"tool",
//    "content": string,                             text parts joined with "" (no separator)
//    "name": string,                                only when sent
//    "tool_calls": [{"id": string, "type": "function",
//                    "function": {"name": string,
//                                 "arguments": object,         parsed ("" -> {})
//                                 "arguments_json": string}}], the arguments text as sent
//                                                   only for assistant, only when non-empty
//    "tool_call_id": string,                        only for tool
//    "thinking": string}                            assistant reasoning sent back, when any
struct Conversation {
  nlohmann::ordered_json messages = nlohmann::ordered_json::array();
  std::vector<ToolDef> tools;
  bool has_tools = false;                                               // tools non-empty
  nlohmann::ordered_json tools_json = nlohmann::ordered_json::array();  // raw of each tool
  ToolChoice tool_choice = ToolChoice::Auto;
  std::string tool_choice_name;  // for Named
  bool parallel_tool_calls = true;
  std::string response_format = "text";  // text | json_object | json_schema
  nlohmann::ordered_json json_schema;    // the schema, or {} when absent
  std::string json_schema_name;
  bool json_schema_strict = false;
  std::optional<int64_t> max_tokens;  // new tokens at most; none = the room left in the context
  double temperature = 1.0;
  double top_p = 1.0;
  int32_t top_k = 0;  // 0 = off
  double min_p = 0.0;
  double presence_penalty = 0.0;
  double frequency_penalty = 0.0;
  double repetition_penalty = 1.0;
  std::optional<uint64_t> seed;                       // none = a random seed
  std::vector<std::pair<int32_t, float>> logit_bias;  // token id -> bias, in the order sent
  bool logprobs = false;
  int32_t top_logprobs = 0;
  std::vector<std::string> stop;  // stop strings (never part of the output)
  // Thinking (<think>...</think> at the start of the answer) stays in the text instead of going to
  // reasoning events (llama-server's reasoning_format "none").
  bool raw_reasoning = false;
  // Legacy completions: this text is the whole prompt (BOS added as the vocabulary says), no
  // chat template; messages and tools are then unused.
  std::optional<std::string> raw_prompt;
  // lfmd extensions: "confidence_threshold" (number in [0,1]) and "handoff" (any JSON).
  nlohmann::ordered_json extra = nlohmann::ordered_json::object();
};

}  // namespace lfmd
