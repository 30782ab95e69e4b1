// Error bodies and the fixed server errors (context overflow, auth, 404, 413, 429, 503, 500).
#include "tests/api/api_test_util.h"

using namespace lfmd::api;
using namespace lfmd::api::test;

TEST_CASE("errors: body() shape, null param and code") {
  ApiError e = invalid_request("bad thing");
  json b = e.body();
  CHECK(
      b.dump() ==
      R"({"error":{"message":"bad thing","type":"invalid_request_error",)"
        R"("param":null,"code":null}})");
  ApiError f = invalid_request("x", "messages[0].role", "invalid_value");
  CHECK(f.body()["error"]["param"] == "messages[0].role");
  CHECK(f.body()["error"]["code"] == "invalid_value");
  CHECK(f.status == 400);
}

TEST_CASE("errors: context overflow uses OpenAI's wording") {
  CHECK(context_overflow_message(4096, 4000, 500) ==
        "This model's maximum context length is 4096 tokens. However, you requested 4500 tokens "
        "(4000 in the messages, 500 in the completion). Please reduce the length of the messages "
        "or completion.");
  ApiError e = context_length_exceeded(8192, 64, 8192);
  CHECK(e.status == 400);
  CHECK(e.type == "invalid_request_error");
  CHECK(e.param == "messages");
  CHECK(e.code == "context_length_exceeded");
  CHECK(e.message.find("However, you requested 8256 tokens (64 in the messages, 8192 in the "
                       "completion).") != std::string::npos);
  // saturates instead of overflowing
  CHECK(context_overflow_message(1, INT64_MAX, 5).find("requested 9223372036854775807 tokens") !=
        std::string::npos);
}

TEST_CASE("errors: authentication") {
  ApiError a = invalid_api_key();
  CHECK(a.status == 401);
  CHECK(a.type == "authentication_error");
  CHECK(a.code == "invalid_api_key");
  CHECK(a.message.find("Incorrect API key provided") == 0);
  ApiError m = missing_api_key();
  CHECK(m.status == 401);
  CHECK(m.type == "authentication_error");
  CHECK(m.message.find("Authorization: Bearer") != std::string::npos);
}

TEST_CASE("errors: not found, method, timeout, too large") {
  ApiError m = model_not_found("gpt-9");
  CHECK(m.status == 404);
  CHECK(m.type == "invalid_request_error");
  CHECK(m.code == "model_not_found");
  CHECK(m.param == "model");
  CHECK(m.message == "The model `gpt-9` does not exist or you do not have access to it.");
  ApiError r = route_not_found("POST", "/v1/chat/completion");
  CHECK(r.status == 404);
  CHECK(r.message == "Invalid URL (POST /v1/chat/completion)");
  CHECK(method_not_allowed("GET", "/v1/chat/completions").status == 405);
  CHECK(request_timeout().status == 408);
  ApiError t = body_too_large(1 << 20);
  CHECK(t.status == 413);
  CHECK(t.code == "request_too_large");
  CHECK(t.message.find("1048576 bytes") != std::string::npos);
}

TEST_CASE("errors: overload and faults carry retry hints") {
  ApiError r = rate_limited(3);
  CHECK(r.status == 429);
  CHECK(r.type == "requests");
  CHECK(r.code == "rate_limit_exceeded");
  CHECK(r.retry_after_s == 3);
  ApiError l = model_loading(5);
  CHECK(l.status == 503);
  CHECK(l.type == "server_error");
  CHECK(l.code == "model_loading");
  CHECK(l.retry_after_s == 5);
  CHECK(server_overloaded(-4).retry_after_s == 0);
  ApiError s = server_error("kv cache allocation failed");
  CHECK(s.status == 500);
  CHECK(s.type == "server_error");
  CHECK(s.code.empty());
  CHECK(s.body()["error"]["code"].is_null());
  CHECK(s.message.find("kv cache allocation failed") != std::string::npos);
}

TEST_CASE("errors: echoed client text is sanitised and cut") {
  CHECK(sanitize_for_message("plain") == "plain");
  CHECK(sanitize_for_message("a\xFF"
                             "b") ==
        "a\xEF\xBF\xBD"
        "b");
  CHECK(sanitize_for_message("\xC0\xAF") == "\xEF\xBF\xBD\xEF\xBF\xBD");  // overlong
  CHECK(sanitize_for_message("\xED\xA0\x80") ==
        "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // surrogate
  CHECK(sanitize_for_message("\xE6\x97\xA5") == "\xE6\x97\xA5");
  CHECK(sanitize_for_message("abcdef", 3) == "abc...");
  CHECK(sanitize_for_message("ab\xE6\x97\xA5", 4) == "ab...");  // never splits a character
  ApiError nf = model_not_found(
      "bad\xFF"
      "name");
  CHECK_NOTHROW((void)nf.body().dump());
  ApiError raw = invalid_request("raw \xFE bytes", "p\xFF");
  std::string dumped;
  CHECK_NOTHROW(dumped = raw.body().dump());
  CHECK(dumped.find("\\ufffd") == std::string::npos);  // UTF-8 kept as UTF-8 in the dump
  CHECK(dumped.find("\xEF\xBF\xBD") != std::string::npos);
}

TEST_CASE("errors: parse error messages stay short and valid UTF-8") {
  // An unterminated 1 MB string: nlohmann's message quotes the token; we cut it.
  std::string body = R"({"messages":[{"role":"user","content":")" + std::string(1 << 20, 'a');
  auto res = parse_chat_request(body, test_limits());
  REQUIRE(std::holds_alternative<ApiError>(res));
  const ApiError& e = std::get<ApiError>(res);
  CHECK(e.code == "invalid_json");
  CHECK(e.message.size() < 600);
  CHECK(e.message.find("line 1, column") != std::string::npos);
  // Invalid UTF-8 inside the JSON text: still a clean 400.
  auto res2 = parse_chat_request("{\"messages\":\"\xFF\xFE\"}", test_limits());
  REQUIRE(std::holds_alternative<ApiError>(res2));
  CHECK_NOTHROW((void)std::get<ApiError>(res2).body().dump());
}

TEST_CASE("errors: echoed enum values are cut") {
  std::string role(10000, 'r');
  auto res =
      parse_chat_request(msgs(R"([{"role":")" + role + R"(","content":"x"}])"), test_limits());
  REQUIRE(std::holds_alternative<ApiError>(res));
  CHECK(std::get<ApiError>(res).message.size() < 300);
}
