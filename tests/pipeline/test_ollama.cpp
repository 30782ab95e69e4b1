// Ollama request conversion (server/protocols/ollama.h): an Ollama chat / generate body becomes
// the Chat Completions body the pipeline's validator reads; errors name Ollama's fields.
#include <doctest/doctest.h>

#include <string>

#include "server/api/chat_request.h"
#include "server/protocols/ollama.h"

namespace lfmd::ollama {
namespace {

json ok(const json& body, bool generate = false) {
  auto r = to_chat_body(body, generate);
  if (auto* e = std::get_if<api::ApiError>(&r)) FAIL("rejected: " << e->message);
  return std::get<json>(r);
}

api::ApiError bad(const json& body, bool generate = false) {
  auto r = to_chat_body(body, generate);
  REQUIRE(std::holds_alternative<api::ApiError>(r));
  return std::get<api::ApiError>(r);
}

TEST_CASE("options map to sampling fields; runtime options are ignored") {
  const json out = ok({{"model", "m"},
                       {"messages", json::array({{{"role", "user"}, {"content", "hi"}}})},
                       {"options",
                        {{"temperature", 0.5},
                         {"top_p", 0.9},
                         {"top_k", 40},
                         {"seed", 7},
                         {"repeat_penalty", 1.1},
                         {"stop", "END"},
                         {"num_predict", 12},
                         {"num_ctx", 8192}}}});
  CHECK(out["temperature"] == 0.5);
  CHECK(out["top_p"] == 0.9);
  CHECK(out["top_k"] == 40);
  CHECK(out["seed"] == 7);
  CHECK(out["repetition_penalty"] == 1.1);
  CHECK(out["stop"] == json::array({"END"}));
  CHECK(out["max_tokens"] == 12);
  CHECK_FALSE(out.contains("num_ctx"));
  // -1 / -2: no limit (the room left in the context).
  CHECK_FALSE(ok({{"model", "m"}, {"messages", json::array()}, {"options", {{"num_predict", -1}}}})
                  .contains("max_tokens"));
  CHECK(
      bad({{"model", "m"}, {"messages", json::array()}, {"options", {{"num_predict", 0}}}}).param ==
      "options.num_predict");
}

TEST_CASE("format: json and a schema") {
  const json msgs = json::array({{{"role", "user"}, {"content", "hi"}}});
  CHECK(ok({{"model", "m"}, {"messages", msgs}, {"format", "json"}})["response_format"]["type"] ==
        "json_object");
  const json schema = {{"type", "object"}, {"properties", {{"a", {{"type", "integer"}}}}}};
  const json rf = ok({{"model", "m"}, {"messages", msgs}, {"format", schema}})["response_format"];
  CHECK(rf["type"] == "json_schema");
  CHECK(rf["json_schema"]["schema"] == schema);
  CHECK(bad({{"model", "m"}, {"messages", msgs}, {"format", "yaml"}}).param == "format");
}

TEST_CASE("tool calls: object arguments become JSON text, results answer their call") {
  const json body = {
      {"model", "m"},
      {"messages",
       json::array(
           {{{"role", "user"}, {"content", "weather?"}},
            {{"role", "assistant"},
             {"content", ""},
             {"tool_calls",
              json::array({{{"function", {{"name", "a"}, {"arguments", {{"x", 1}}}}}},
                           {{"function", {{"name", "b"}, {"arguments", json::object()}}}}})}},
            {{"role", "tool"}, {"content", "B"}, {"tool_name", "b"}},
            {{"role", "tool"}, {"content", "A"}}})}};
  const json out = ok(body);
  const json& calls = out["messages"][1]["tool_calls"];
  REQUIRE(calls.size() == 2);
  CHECK(calls[0]["function"]["arguments"] == "{\"x\":1}");
  CHECK(calls[0]["type"] == "function");
  CHECK(out["messages"][2]["tool_call_id"] == calls[1]["id"]);  // by tool_name
  CHECK(out["messages"][3]["tool_call_id"] == calls[0]["id"]);  // the one left
  // And the validator accepts the result.
  CHECK(
      std::holds_alternative<api::ChatRequest>(api::parse_chat_request(out.dump(), api::Limits{})));
}

TEST_CASE("generate: system + prompt, or a raw prompt; unsupported fields are 400s") {
  const json out = ok({{"model", "m"}, {"prompt", "hi"}, {"system", "be brief"}}, true);
  CHECK(out["messages"] == json::array({{{"role", "system"}, {"content", "be brief"}},
                                        {{"role", "user"}, {"content", "hi"}}}));
  CHECK(ok({{"model", "m"}, {"prompt", "hi"}, {"raw", true}}, true)["lfmd_raw_prompt"] == "hi");
  CHECK(bad({{"model", "m"}, {"prompt", "x"}, {"suffix", "y"}}, true).param == "suffix");
  CHECK(bad({{"model", "m"}, {"prompt", "x"}, {"images", {"aGk="}}}, true).param == "images");
  CHECK(bad({{"model", "m"}, {"prompt", "x"}, {"raw", "yes"}}, true).param == "raw");
  CHECK(bad({{"prompt", "x"}}, true).param == "model");
}

TEST_CASE("listed names carry a tag") {
  CHECK(listed_name("lfm2") == "lfm2:latest");
  CHECK(listed_name("lfm2:q4") == "lfm2:q4");
}

}  // namespace
}  // namespace lfmd::ollama
