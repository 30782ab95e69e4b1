// POST /v1/completions (OpenAI's legacy text completions): a raw prompt, no chat template.
// prompt: a string or a list of strings (one choice each, in order); max_tokens (default 16, beyond
// the room left: clamped), stop, temperature, top_p, seed, penalties, logit_bias, logprobs (0..5
// alternatives), echo, stream (+ stream_options.include_usage). suffix is a 400: LFM2 has no
// fill-in-the-middle tokens. n and best_of: 1 only.
#pragma once

#include <string>

#include "server/http.h"
#include "server/pipeline/pipeline.h"

namespace lfmd::openai_completions {

http::Response handle(Pipeline& pipeline, const std::string& model_id, const http::Request& req,
                      const http::AliveCheck& alive);

// The request, validated (exposed for tests).
struct Request {
  Conversation conv;                 // raw_prompt set per prompt; sampling and limits
  std::vector<std::string> prompts;  // at least one
  bool echo = false;
  bool stream = false;
  bool include_usage = false;
};
std::variant<Request, api::ApiError> parse(std::string_view body);

// Legacy logprobs {"tokens","token_logprobs","top_logprobs","text_offset"} from the pipeline's
// Chat-shaped entries; offsets count from `offset0` bytes.
nlohmann::ordered_json legacy_logprobs(const nlohmann::ordered_json& entries, size_t offset0);

}  // namespace lfmd::openai_completions
