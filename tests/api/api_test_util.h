// Shared helpers for the server/api tests: body builders and the malformed-request table runner.
#pragma once

#include <doctest/doctest.h>

#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "server/api/chat_request.h"

namespace lfmd::api::test {

using json = nlohmann::ordered_json;

inline Limits test_limits() {
  Limits l;
  l.max_tokens_cap = 4096;
  l.n_vocab = 65536;
  return l;
}

// A valid minimal body plus `extra` top-level members ("" for none).
inline std::string with(std::string_view extra) {
  std::string s = R"({"model":"lfm2","messages":[{"role":"user","content":"hi"}])";
  if (!extra.empty()) s += ",";
  s += extra;
  s += "}";
  return s;
}

// A body with the given messages array and optional extra members.
inline std::string msgs(std::string_view array, std::string_view extra = "") {
  std::string s = R"({"model":"lfm2","messages":)";
  s += array;
  if (!extra.empty()) s += ",";
  s += extra;
  s += "}";
  return s;
}

inline std::string nested(size_t depth, char open = '[', char close = ']') {
  return std::string(depth, open) + std::string(depth, close);
}

// {"a":{"a":...{}...}} with `depth` object levels.
inline std::string nested_objects(size_t depth) {
  std::string s;
  for (size_t i = 0; i + 1 < depth; ++i) s += R"({"a":)";
  s += "{}";
  s += std::string(depth - 1, '}');
  return s;
}

struct Bad {
  std::string name;
  std::string body;
  std::string param;   // expected ApiError.param ("" = null)
  std::string substr;  // expected part of the message
  std::string code;    // expected code; "" = not checked
};

inline ChatRequest parse_ok(const std::string& body, const Limits& limits = test_limits()) {
  auto res = parse_chat_request(body, limits);
  if (auto* e = std::get_if<ApiError>(&res)) {
    FAIL_CHECK("unexpected error: " << e->message << " (param " << e->param << ")");
    return ChatRequest{};
  }
  return std::get<ChatRequest>(std::move(res));
}

inline void run_bad_table(const std::vector<Bad>& table, const Limits& limits = test_limits()) {
  for (const Bad& c : table) {
    INFO("case: " << c.name);
    auto res = parse_chat_request(c.body, limits);
    const ApiError* e = std::get_if<ApiError>(&res);
    CHECK_MESSAGE(e != nullptr, "accepted a malformed request");
    if (!e) continue;
    CHECK(e->status == 400);
    CHECK(e->type == "invalid_request_error");
    CHECK(e->param == c.param);
    CHECK_MESSAGE(e->message.find(c.substr) != std::string::npos, "message: " << e->message);
    if (!c.code.empty()) CHECK(e->code == c.code);
    std::string dumped;
    CHECK_NOTHROW(dumped = e->body().dump());
    CHECK(dumped.find("\"invalid_request_error\"") != std::string::npos);
  }
}

}  // namespace lfmd::api::test
