// POST /v1/responses request validation (server/api/responses_request.h): malformed bodies are
// 400s in OpenAI's error shape naming the field; valid items become the Conversation's messages.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "server/api/responses_request.h"

namespace lfmd::api {
namespace {

using json = nlohmann::ordered_json;

ResponsesRequest ok(const std::string& body) {
  auto r = parse_responses_request(body, Limits{});
  if (auto* e = std::get_if<ApiError>(&r)) FAIL_CHECK("unexpected error: " << e->body().dump());
  REQUIRE(std::holds_alternative<ResponsesRequest>(r));
  return std::get<ResponsesRequest>(std::move(r));
}

struct Bad {
  const char* body;
  const char* param;  // "" = null (the body as a whole)
};

const std::vector<Bad> kBad = {
    {"", ""},
    {"{", ""},
    {"[]", ""},
    {"{}", "input"},
    {R"({"input": 5})", "input"},
    {R"({"input": []})", "input"},
    {R"({"input": [5]})", "input[0]"},
    {R"({"input": [{}]})", "input[0].type"},
    {R"({"input": [{"type": "message", "role": "robot", "content": "x"}]})", "input[0].role"},
    {R"({"input": [{"role": "user"}]})", "input[0].content"},
    {R"({"input": [{"role": "user", "content": 7}]})", "input[0].content"},
    {R"({"input": [{"role": "user", "content": [{"type": "input_image", "image_url": "x"}]}]})",
     "input[0].content[0].type"},
    {R"({"input": [{"role": "user", "content": [{"type": "banana"}]}]})",
     "input[0].content[0].type"},
    {R"({"input": [{"role": "user", "content": [{"type": "input_text"}]}]})",
     "input[0].content[0].text"},
    {R"({"input": [{"role": "user", "content": [{"type": "refusal", "refusal": "no"}]}]})",
     "input[0].content[0].type"},
    {R"({"input": [{"type": "function_call", "name": "f", "arguments": "{}"}]})",
     "input[0].call_id"},
    {R"({"input": [{"type": "function_call", "call_id": "c", "arguments": "{}"}]})",
     "input[0].name"},
    {R"({"input": [{"type": "function_call", "call_id": "c", "name": "f", "arguments": "{"}]})",
     "input[0].arguments"},
    {R"({"input": [{"type": "function_call", "call_id": "c", "name": "f", "arguments": "[1]"}]})",
     "input[0].arguments"},
    {R"({"input": [{"type": "function_call", "call_id": "c", "name": "f", "arguments": {}}]})",
     "input[0].arguments"},
    {R"({"input": [{"type": "function_call_output", "call_id": "c"}]})", "input[0].output"},
    {R"({"input": [{"type": "function_call_output", "output": "x"}]})", "input[0].call_id"},
    {R"({"input": [{"type": "reasoning", "summary": 3}]})", "input[0].summary"},
    {R"({"input": [{"type": "item_reference", "id": "x"}]})", "input[0].type"},
    {R"({"input": "x", "instructions": 1})", "instructions"},
    {R"({"input": "x", "model": 1})", "model"},
    {R"({"input": "x", "stream": "yes"})", "stream"},
    {R"({"input": "x", "previous_response_id": "resp_1"})", "previous_response_id"},
    {R"({"input": "x", "conversation": "conv_1"})", "conversation"},
    {R"({"input": "x", "background": true})", "background"},
    {R"({"input": "x", "tools": {}})", "tools"},
    {R"({"input": "x", "tools": [{"name": "f"}]})", "tools[0].type"},
    {R"({"input": "x", "tools": [{"type": "function"}]})", "tools[0].name"},
    {R"({"input": "x", "tools": [{"type": "function", "name": "a b"}]})", "tools[0].name"},
    {R"({"input": "x", "tools": [{"type": "function", "name": "f"}, {"type": "function", "name": "f"}]})",
     "tools[1].name"},
    {R"({"input": "x", "tools": [{"type": "function", "name": "f", "parameters": []}]})",
     "tools[0].parameters"},
    {R"({"input": "x", "tools": [{"type": "function", "name": "f", "strict": 1}]})",
     "tools[0].strict"},
    {R"({"input": "x", "tool_choice": "required"})", "tool_choice"},
    {R"({"input": "x", "tool_choice": "sometimes"})", "tool_choice"},
    {R"({"input": "x", "tool_choice": {"type": "function", "name": "g"}})", "tool_choice"},
    {R"({"input": "x", "tool_choice": {"type": "web_search"}})", "tool_choice.type"},
    {R"({"input": "x", "tool_choice": 3})", "tool_choice"},
    {R"({"input": "x", "text": {"format": {"type": "xml"}}})", "text.format.type"},
    {R"({"input": "x", "text": {"format": {"type": "json_schema", "schema": {}}}})",
     "text.format.name"},
    {R"({"input": "x", "text": {"format": {"type": "json_schema", "name": "p"}}})",
     "text.format.schema"},
    {R"({"input": "x", "text": 1})", "text"},
    {R"({"input": "x", "max_output_tokens": 0})", "max_output_tokens"},
    {R"({"input": "x", "max_output_tokens": 2.5})", "max_output_tokens"},
    {R"({"input": "x", "temperature": 3})", "temperature"},
    {R"({"input": "x", "top_p": "1"})", "top_p"},
    {R"({"input": "x", "parallel_tool_calls": 1})", "parallel_tool_calls"},
    {R"({"input": "x", "handoff": "proxy"})", "handoff"},
    {R"({"input": "x", "confidence_threshold": 2})", "confidence_threshold"},
};

TEST_CASE("malformed bodies: 400 in OpenAI's error shape, naming the field") {
  CHECK(kBad.size() >= 30);
  for (const Bad& b : kBad) {
    CAPTURE(b.body);
    auto r = parse_responses_request(b.body, Limits{});
    REQUIRE(std::holds_alternative<ApiError>(r));
    const json body = std::get<ApiError>(r).body();
    CHECK(std::get<ApiError>(r).status == 400);
    CHECK(body["error"]["type"] == "invalid_request_error");
    CHECK(body["error"]["message"].get<std::string>().size() > 0);
    if (*b.param) {
      CHECK(body["error"]["param"] == b.param);
    } else {
      CHECK(body["error"]["param"].is_null());
    }
  }
}

TEST_CASE("a depth bomb is refused before parsing") {
  auto r = parse_responses_request(std::string(100000, '[') + std::string(100000, ']'), Limits{});
  REQUIRE(std::holds_alternative<ApiError>(r));
  CHECK(std::get<ApiError>(r).code == "invalid_json");
}

TEST_CASE("a string input is one user message; instructions come first as system") {
  const ResponsesRequest r =
      ok(R"({"model": "m", "input": "hi", "instructions": "be brief", "stream": true})");
  CHECK(r.messages.dump() ==
        R"([{"role":"system","content":"be brief"},{"role":"user","content":"hi"}])");
  CHECK(r.model == "m");
  CHECK(r.stream);
  CHECK(r.echo["instructions"] == "be brief");
}

TEST_CASE("message items: roles, parts joined, type optional") {
  const ResponsesRequest r = ok(R"({"input": [
    {"role": "developer", "content": "rules"},
    {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "a"}, {"type": "input_text", "text": "b"}]},
    {"type": "message", "role": "assistant", "id": "msg_1", "status": "completed",
     "content": [{"type": "output_text", "text": "ok", "annotations": []}]}]})");
  CHECK(
      r.messages.dump() ==
      R"([{"role":"system","content":"rules"},{"role":"user","content":"ab"},{"role":"assistant","content":"ok"}])");
}

TEST_CASE(
    "function calls join the assistant message; outputs become tool messages; reasoning is "
    "thinking") {
  const ResponsesRequest r = ok(R"({"input": [
    {"role": "user", "content": "weather?"},
    {"type": "reasoning", "id": "rs_1", "summary": [], "content": [{"type": "reasoning_text", "text": "think"}],
     "encrypted_content": null},
    {"type": "function_call", "id": "fc_1", "call_id": "c1", "name": "w", "arguments": "{\"city\":\"Paris\"}"},
    {"type": "function_call", "call_id": "c2", "name": "t", "arguments": ""},
    {"type": "function_call_output", "call_id": "c1", "output": "sunny"},
    {"type": "function_call_output", "call_id": "c2", "output": [{"type": "input_text", "text": "noon"}]}]})");
  REQUIRE(r.messages.size() == 4);
  CHECK(
      r.messages[1].dump() ==
      R"({"role":"assistant","content":"","tool_calls":[)"
      R"({"id":"c1","type":"function","function":{"name":"w","arguments":{"city":"Paris"},"arguments_json":"{\"city\":\"Paris\"}"}},)"
      R"({"id":"c2","type":"function","function":{"name":"t","arguments":{},"arguments_json":""}}],"thinking":"think"})");
  CHECK(r.messages[2].dump() == R"({"role":"tool","content":"sunny","tool_call_id":"c1"})");
  CHECK(r.messages[3].dump() == R"({"role":"tool","content":"noon","tool_call_id":"c2"})");
}

TEST_CASE("a function call after assistant text joins that message") {
  const ResponsesRequest r = ok(R"({"input": [{"role": "user", "content": "x"},
    {"role": "assistant", "content": "Let me look."},
    {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"}]})");
  REQUIRE(r.messages.size() == 2);
  CHECK(r.messages[1]["content"] == "Let me look.");
  CHECK(r.messages[1]["tool_calls"].size() == 1);
}

TEST_CASE("flat function tools become Chat-shaped tools; other tool types are ignored") {
  const ResponsesRequest r = ok(R"({"input": "x", "tools": [
    {"type": "function", "name": "exec", "description": "run", "parameters": {"type": "object"}, "strict": true},
    {"type": "web_search"}, {"type": "namespace", "name": "multi", "tools": []}, {"type": "custom", "name": "c"}],
    "tool_choice": {"type": "function", "name": "exec"}, "parallel_tool_calls": false})");
  REQUIRE(r.tools.size() == 1);
  CHECK(r.has_tools);
  CHECK(r.tools[0].strict);
  CHECK(
      r.tools[0].raw.dump() ==
      R"({"type":"function","function":{"name":"exec","description":"run","parameters":{"type":"object"}}})");
  CHECK(r.tools_json.size() == 1);
  CHECK(r.tool_choice == ToolChoice::Named);
  CHECK(r.tool_choice_name == "exec");
  CHECK_FALSE(r.parallel_tool_calls);
  CHECK(r.echo["tools"].size() == 1);
  CHECK(r.echo["tool_choice"].dump() == R"({"type":"function","name":"exec"})");
}

TEST_CASE("text.format, sampling, and ignored fields") {
  const ResponsesRequest r =
      ok(R"({"input": "x", "store": false, "include": ["reasoning.encrypted_content"],
    "reasoning": {"summary": "auto"}, "prompt_cache_key": "k", "client_metadata": {"a": 1}, "metadata": {},
    "user": "u", "stream_options": {"include_obfuscation": false}, "some_future_field": [1],
    "text": {"format": {"type": "json_schema", "name": "person", "schema": {"type": "object"}, "strict": true}},
    "max_output_tokens": 64, "temperature": 0.5, "top_p": 0.9})");
  CHECK(r.response_format == "json_schema");
  CHECK(r.json_schema_name == "person");
  CHECK(r.json_schema.dump() == R"({"type":"object"})");
  CHECK(r.json_schema_strict);
  CHECK(r.max_tokens == 64);
  CHECK(r.temperature == 0.5);
  CHECK(r.top_p == 0.9);
  CHECK(r.echo["text"]["format"]["name"] == "person");
  CHECK(ok(R"({"input": "x", "text": {"format": {"type": "json_object"}}})").response_format ==
        "json_object");
  CHECK(
      ok(R"({"input": "x", "background": false, "previous_response_id": null})").messages.size() ==
      1);
}

}  // namespace
}  // namespace lfmd::api
