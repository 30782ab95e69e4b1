// Ollama's API (/api/chat, /api/generate, /api/tags, /api/show, /api/version, /api/ps) as a thin
// adapter over the pipeline: a chat or generate body becomes a Chat Completions body, validated
// by api::parse_chat_request into the same Conversation every protocol uses; the answer goes
// back as one JSON object or as NDJSON lines ({"done": false} deltas, then {"done": true} with
// done_reason and the durations in nanoseconds). Errors are {"error": "..."} with their status.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <variant>

#include "server/http.h"
#include "server/pipeline/pipeline.h"

namespace lfmd::ollama {

using json = nlohmann::ordered_json;

// The Chat Completions body of an Ollama /api/chat body (generate = false) or /api/generate body
// (generate = true; `raw` prompts are marked with "lfmd_raw_prompt"). Options map to sampling
// fields, `format` to response_format, tool calls' argument objects to JSON text, tool results to
// the preceding calls' ids. Pure; errors name Ollama's fields.
std::variant<json, api::ApiError> to_chat_body(const json& body, bool generate);

// The name a model is listed under ("NAME:latest" unless the id has a tag already).
std::string listed_name(const std::string& model_id);

http::Response chat(Pipeline& p, const std::string& model_id, const http::Request& req,
                    const http::AliveCheck& alive);
http::Response generate(Pipeline& p, const std::string& model_id, const http::Request& req,
                        const http::AliveCheck& alive);
http::Response tags(const Pipeline& p, const std::string& model_id);
http::Response show(const Pipeline& p, const std::string& model_id, const http::Request& req);
http::Response ps(Pipeline& p, const std::string& model_id);
http::Response version();

// {"error": message} with the error's status (and Retry-After).
http::Response error_response(const api::ApiError& e);

}  // namespace lfmd::ollama
