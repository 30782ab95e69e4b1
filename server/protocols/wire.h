// Small pieces every protocol adapter shares: JSON bodies, SSE frames, error responses, ids.
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <string>

#include "server/api/chat_request.h"
#include "server/http.h"

namespace lfmd::wire {

// The JSON text of `j`; bytes that are not UTF-8 (a logprob entry holding part of a character)
// become U+FFFD instead of making the serializer throw (the raw bytes travel in "bytes").
std::string dump(const nlohmann::ordered_json& j);
// "data: <json>\n\n"
std::string sse(const nlohmann::ordered_json& j);
// An OpenAI error body with its status (and Retry-After when set).
http::Response error_response(const api::ApiError& e);
// 200 text/event-stream with no-cache / no-buffering headers and x-lfmd-served-by.
http::Response sse_response(const char* served_by);
// n random lowercase hex digits (response ids).
std::string random_hex(size_t n);

}  // namespace lfmd::wire
