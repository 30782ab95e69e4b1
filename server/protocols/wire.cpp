#include "server/protocols/wire.h"

#include <random>

namespace lfmd::wire {

std::string dump(const nlohmann::ordered_json& j) {
  return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

std::string sse(const nlohmann::ordered_json& j) {
  return "data: " + dump(j) + "\n\n";
}

http::Response error_response(const api::ApiError& e) {
  http::Response r;
  r.status = e.status;
  r.body = e.body().dump();
  if (e.retry_after_s > 0) r.headers.emplace_back("Retry-After", std::to_string(e.retry_after_s));
  return r;
}

http::Response sse_response(const char* served_by) {
  http::Response r;
  r.content_type = "text/event-stream";
  r.headers.emplace_back("Cache-Control", "no-cache");
  r.headers.emplace_back("X-Accel-Buffering", "no");
  r.headers.emplace_back("x-lfmd-served-by", served_by);
  return r;
}

std::string random_hex(size_t n) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  static const char* hex = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < n; ++i) s += hex[rng() & 15];
  return s;
}

}  // namespace lfmd::wire
