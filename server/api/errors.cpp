// OpenAI-shaped error bodies and the fixed errors the server answers outside request parsing.
#include <limits>

#include "base/utf8.h"
#include "server/api/chat_request.h"

namespace lfmd::api {

namespace {

ApiError make(int status, std::string type, std::string message, std::string param,
              std::string code, int retry_after_s = 0) {
  ApiError e;
  e.status = status;
  e.type = std::move(type);
  e.message = std::move(message);
  e.param = std::move(param);
  e.code = std::move(code);
  e.retry_after_s = retry_after_s > 0 ? retry_after_s : 0;
  return e;
}


}  // namespace

nlohmann::ordered_json ApiError::body() const {
  nlohmann::ordered_json err = nlohmann::ordered_json::object();
  err["message"] = sanitize_for_message(message, std::numeric_limits<size_t>::max());
  err["type"] = sanitize_for_message(type, std::numeric_limits<size_t>::max());
  err["param"] = param.empty() ? nlohmann::ordered_json(nullptr)
                               : nlohmann::ordered_json(sanitize_for_message(param, 1024));
  err["code"] = code.empty() ? nlohmann::ordered_json(nullptr)
                             : nlohmann::ordered_json(sanitize_for_message(code, 1024));
  nlohmann::ordered_json out = nlohmann::ordered_json::object();
  out["error"] = std::move(err);
  return out;
}

std::string sanitize_for_message(std::string_view s, size_t max_bytes) {
  std::string out;
  out.reserve(s.size() < 256 ? s.size() : 256);
  size_t i = 0;
  while (i < s.size()) {
    size_t n = utf8_sequence_length(s, i);
    std::string_view piece = n ? s.substr(i, n) : std::string_view("\xEF\xBF\xBD");
    if (out.size() + piece.size() > max_bytes) {
      out += "...";
      return out;
    }
    out += piece;
    i += n ? n : 1;
  }
  return out;
}

std::string context_overflow_message(int64_t n_ctx, int64_t n_prompt, int64_t n_completion) {
  int64_t total = 0;
  if (__builtin_add_overflow(n_prompt, n_completion, &total)) {
    total =
        (n_prompt > 0) ? std::numeric_limits<int64_t>::max() : std::numeric_limits<int64_t>::min();
  }
  return "This model's maximum context length is " + std::to_string(n_ctx) +
         " tokens. However, you requested " + std::to_string(total) + " tokens (" +
         std::to_string(n_prompt) + " in the messages, " + std::to_string(n_completion) +
         " in the completion). Please reduce the length of the messages or completion.";
}

ApiError context_length_exceeded(int64_t n_ctx, int64_t n_prompt, int64_t n_completion) {
  return make(400, "invalid_request_error", context_overflow_message(n_ctx, n_prompt, n_completion),
              "messages", "context_length_exceeded");
}

ApiError kv_budget_exceeded(int64_t limit, int64_t n_prompt, uint64_t budget_bytes) {
  return make(400, "invalid_request_error",
              "This server's KV memory budget (" + std::to_string(budget_bytes >> 20) + " MiB, --kv-budget) holds at most " +
                  std::to_string(limit) + " tokens of one request. However, your messages have " + std::to_string(n_prompt) +
                  " tokens. Please reduce the length of the messages.",
              "messages", "context_length_exceeded");
}

ApiError invalid_request(std::string message, std::string param, std::string code) {
  return make(400, "invalid_request_error", std::move(message), std::move(param), std::move(code));
}

ApiError invalid_api_key() {
  return make(401, "authentication_error",
              "Incorrect API key provided. Pass the key configured for this server as "
              "'Authorization: Bearer <key>'.",
              "", "invalid_api_key");
}

ApiError missing_api_key() {
  return make(401, "authentication_error",
              "You didn't provide an API key. Pass it in an 'Authorization: Bearer <key>' "
              "header.",
              "", "missing_api_key");
}

ApiError model_not_found(std::string_view model) {
  return make(404, "invalid_request_error",
              "The model `" + sanitize_for_message(model) +
                  "` does not exist or you do not have access to it.",
              "model", "model_not_found");
}

ApiError route_not_found(std::string_view method, std::string_view path) {
  return make(404, "invalid_request_error",
              "Invalid URL (" + sanitize_for_message(method, 16) + " " +
                  sanitize_for_message(path, 256) + ")",
              "", "unknown_url");
}

ApiError method_not_allowed(std::string_view method, std::string_view path) {
  return make(405, "invalid_request_error",
              "Method " + sanitize_for_message(method, 16) + " is not allowed for " +
                  sanitize_for_message(path, 256),
              "", "method_not_allowed");
}

ApiError request_timeout() {
  return make(408, "invalid_request_error", "Timed out while reading the request.", "",
              "request_timeout");
}

ApiError body_too_large(size_t limit_bytes) {
  return make(413, "invalid_request_error",
              "Request too large: the limit is " + std::to_string(limit_bytes) + " bytes.", "",
              "request_too_large");
}

ApiError request_timeout(int seconds) {
  return make(408, "invalid_request_error",
              "Request timeout: the request was not received within " + std::to_string(seconds) +
                  " seconds (--request-timeout).",
              "", "request_timeout");
}

ApiError rate_limited(int retry_after_s) {
  return make(429, "requests",
              "Rate limit reached: too many concurrent requests. Please try again later.", "",
              "rate_limit_exceeded", retry_after_s);
}

ApiError shutting_down() {
  return make(503, "server_error", "The server is shutting down; this request was not started.", "",
              "server_shutting_down", 1);
}

ApiError model_loading(int retry_after_s) {
  return make(503, "server_error", "The model is still loading. Please try again shortly.", "",
              "model_loading", retry_after_s);
}

ApiError server_overloaded(int retry_after_s) {
  return make(503, "server_error",
              "The server is currently overloaded with other requests. Please try again later.", "",
              "server_overloaded", retry_after_s);
}

ApiError server_error(std::string_view detail) {
  std::string msg = "The server had an error while processing your request";
  if (!detail.empty()) msg += ": " + sanitize_for_message(detail, 512);
  msg += ".";
  return make(500, "server_error", std::move(msg), "", "");
}

}  // namespace lfmd::api
