// parse_messages_request (server/api/messages_request.h): Anthropic bodies -> Conversation, and
// malformed bodies -> a 4xx in Anthropic's error shape, never a crash.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "server/api/messages_request.h"
#include "server/protocols/anthropic_messages.h"

namespace lfmd::api {
namespace {

using json = nlohmann::ordered_json;

MessagesRequest ok(const std::string& body, bool count = false) {
  auto r = parse_messages_request(body, Limits{}, count);
  if (auto* e = std::get_if<ApiError>(&r)) FAIL_CHECK(body << " -> " << e->message);
  REQUIRE(std::holds_alternative<MessagesRequest>(r));
  return std::get<MessagesRequest>(r);
}

const std::string kHead = R"({"model":"claude-x","max_tokens":10,)";

TEST_CASE("malformed bodies: 400 with param and Anthropic's error shape") {
  const std::vector<std::string> bad = {
      "",
      "{",
      "[]",
      "null",
      "42",
      R"("s")",
      "{\"model\":",
      std::string(300, '[') + std::string(300, ']'),
      R"({"max_tokens":10,"messages":[{"role":"user","content":"hi"}]})",            // no model
      R"({"model":1,"max_tokens":10,"messages":[{"role":"user","content":"hi"}]})",  // model type
      R"({"model":"m","messages":[{"role":"user","content":"hi"}]})",  // no max_tokens
      R"({"model":"m","max_tokens":0,"messages":[{"role":"user","content":"hi"}]})",
      R"({"model":"m","max_tokens":-5,"messages":[{"role":"user","content":"hi"}]})",
      R"({"model":"m","max_tokens":2.5,"messages":[{"role":"user","content":"hi"}]})",
      R"({"model":"m","max_tokens":"10","messages":[{"role":"user","content":"hi"}]})",
      kHead + R"("messages":[]})",
      kHead + R"("messages":{}})",
      kHead + "\"x\":1}",
      kHead + R"("messages":[1]})",
      kHead + R"("messages":[{"content":"hi"}]})",
      kHead + R"("messages":[{"role":"tool","content":"hi"}]})",
      kHead + R"("messages":[{"role":"user"}]})",
      kHead + R"("messages":[{"role":"user","content":5}]})",
      kHead + R"("messages":[{"role":"user","content":[]}]})",
      kHead + R"("messages":[{"role":"user","content":[{"text":"a"}]}]})",
      kHead + R"("messages":[{"role":"user","content":[{"type":"text"}]}]})",
      kHead + R"("messages":[{"role":"user","content":[{"type":"image","source":{}}]}]})",
      kHead + R"("messages":[{"role":"user","content":[{"type":"document","source":{}}]}]})",
      kHead + R"("messages":[{"role":"user","content":[{"type":"video"}]}]})",
      kHead + R"("messages":[{"role":"user","content":[{"type":"tool_result","content":"x"}]}]})",
      kHead +
          R"("messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":[{"type":"image"}]}]}]})",
      kHead +
          R"("messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","is_error":"yes"}]}]})",
      kHead +
          R"("messages":[{"role":"assistant","content":[{"type":"tool_use","name":"f","input":{}}]}]})",
      kHead +
          R"("messages":[{"role":"assistant","content":[{"type":"tool_use","id":"t","name":"f","input":"{}"}]}]})",
      kHead +
          R"("messages":[{"role":"assistant","content":[{"type":"tool_use","id":"t","name":"","input":{}}]}]})",
      kHead + R"("messages":[{"role":"assistant","content":[{"type":"thinking"}]}]})",
      kHead + R"("messages":[{"role":"user","content":"hi"}],"system":5})",
      kHead + R"("messages":[{"role":"user","content":"hi"}],"system":[{"type":"image"}]})",
      kHead + R"("messages":[{"role":"user","content":"hi"}],"tools":{}})",
      kHead + R"("messages":[{"role":"user","content":"hi"}],"tools":[{"name":"f"}]})",
      kHead +
          R"("messages":[{"role":"user","content":"hi"}],"tools":[{"name":"bad name","input_schema":{}}]})",
      kHead +
          R"("messages":[{"role":"user","content":"hi"}],"tools":[{"name":"f","input_schema":[]}]})",
      kHead +
          R"("messages":[{"role":"user","content":"hi"}],"tools":[{"name":"f","input_schema":{}},{"name":"f","input_schema":{}}]})",
      kHead + R"("messages":[{"role":"user","content":"hi"}],"tool_choice":"auto"})",
      kHead + R"("messages":[{"role":"user","content":"hi"}],"tool_choice":{"type":"any"}})",
      kHead + R"("messages":[{"role":"user","content":"hi"}],"tool_choice":{"type":"whatever"}})",
      kHead +
          R"("messages":[{"role":"user","content":"hi"}],"tools":[{"name":"f","input_schema":{}}],"tool_choice":{"type":"tool","name":"g"}})",
      kHead +
          R"("messages":[{"role":"user","content":"hi"}],"tools":[{"name":"f","input_schema":{}}],"tool_choice":{"type":"tool"}})",
      kHead + R"("messages":[{"role":"user","content":"hi"}],"stop_sequences":"x"})",
      kHead + R"("messages":[{"role":"user","content":"hi"}],"stop_sequences":[""]})",
      kHead + R"("messages":[{"role":"user","content":"hi"}],"stop_sequences":[1]})",
      kHead + R"("messages":[{"role":"user","content":"hi"}],"temperature":1.5})",
      kHead + R"("messages":[{"role":"user","content":"hi"}],"top_p":"1"})",
      kHead + R"("messages":[{"role":"user","content":"hi"}],"top_k":-1})",
      kHead + R"("messages":[{"role":"user","content":"hi"}],"thinking":{"type":"sometimes"}})",
      kHead + R"("messages":[{"role":"user","content":"hi"}],"thinking":true})",
      kHead + R"("messages":[{"role":"user","content":"hi"}],"stream":"yes"})",
      "{\"model\":\"m\",\"max_tokens\":10,\"messages\":[{\"role\":\"user\",\"content\":\"\xff\"}]}",
  };
  CHECK(bad.size() >= 30);
  for (const std::string& body : bad) {
    auto r = parse_messages_request(body, Limits{});
    const ApiError* e = std::get_if<ApiError>(&r);
    if (!e) {
      FAIL_CHECK("accepted: " << body);
      continue;
    }
    CHECK_MESSAGE(e->status == 400, body);
    const json b = json::parse(anthropic_messages::error_response(*e).body);
    CHECK(b["type"] == "error");
    CHECK(b["error"]["type"] == "invalid_request_error");
    CHECK(!b["error"]["message"].get<std::string>().empty());
  }
}

TEST_CASE("a Claude Code shaped body becomes the conversation the template renders") {
  const MessagesRequest r = ok(R"({"model":"claude-sonnet-4-5","max_tokens":32000,"stream":true,
    "system":[{"type":"text","text":"You are X."},{"type":"text","text":"Be brief.","cache_control":{"type":"ephemeral"}}],
    "messages":[
      {"role":"user","content":[{"type":"text","text":"<reminder>"},{"type":"text","text":"list files"}]},
      {"role":"system","content":[{"type":"text","text":"Env: linux"}]},
      {"role":"assistant","content":[{"type":"thinking","thinking":"use ls","signature":"sig"},
        {"type":"redacted_thinking","data":"zz"},{"type":"text","text":"Listing."},
        {"type":"tool_use","id":"toolu_1","name":"Bash","input":{"command":"ls","timeout":5}}]},
      {"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":[{"type":"text","text":"a.txt"}]},
        {"type":"tool_result","tool_use_id":"toolu_2","content":"denied","is_error":true},{"type":"text","text":"go on"}]}],
    "tools":[{"name":"Bash","description":"Run","input_schema":{"type":"object","properties":{"command":{"type":"string"}}}},
             {"type":"web_search_20250305","name":"web_search","max_uses":5}],
    "tool_choice":{"type":"auto","disable_parallel_tool_use":true},
    "thinking":{"type":"enabled","budget_tokens":1024},"metadata":{"user_id":"u"},
    "context_management":{"edits":[]},"service_tier":"auto","stop_sequences":["END"],
    "temperature":0.5,"top_p":0.9,"top_k":40})");
  CHECK(r.model == "claude-sonnet-4-5");
  CHECK(r.max_tokens == 32000);
  CHECK(r.stream);
  CHECK(r.thinking);
  CHECK(r.thinking_budget == 1024);
  const json want = json::parse(R"([
    {"role":"system","content":"You are X.\n\nBe brief.\n\nEnv: linux"},
    {"role":"user","content":"<reminder>\n\nlist files"},
    {"role":"assistant","content":"Listing.","tool_calls":[{"id":"toolu_1","type":"function","function":
      {"name":"Bash","arguments":{"command":"ls","timeout":5},"arguments_json":"{\"command\":\"ls\",\"timeout\":5}"}}],
     "thinking":"use ls"},
    {"role":"tool","content":"a.txt","tool_call_id":"toolu_1"},
    {"role":"tool","content":"Error: denied","tool_call_id":"toolu_2"},
    {"role":"user","content":"go on"}])");
  CHECK(r.messages.dump() == want.dump());
  REQUIRE(r.tools.size() == 1);  // the server tool is ignored
  CHECK(r.has_tools);
  CHECK(
      r.tools[0].raw.dump() ==
      R"({"type":"function","function":{"name":"Bash","description":"Run","parameters":{"type":"object","properties":{"command":{"type":"string"}}}}})");
  CHECK(r.tools_json.size() == 1);
  CHECK(r.tool_choice == ToolChoice::Auto);
  CHECK_FALSE(r.parallel_tool_calls);
  CHECK(r.stop == std::vector<std::string>{"END"});
  CHECK(r.temperature == 0.5);
  CHECK(r.top_p == 0.9);
  CHECK(r.top_k == 40);
}

TEST_CASE("tool_choice any / tool / none; count_tokens needs no max_tokens") {
  const std::string tools =
      R"("tools":[{"name":"f","input_schema":{}}],"messages":[{"role":"user","content":"hi"}],)";
  CHECK(ok(kHead + tools + R"("tool_choice":{"type":"any"}})").tool_choice == ToolChoice::Required);
  const MessagesRequest named = ok(kHead + tools + R"("tool_choice":{"type":"tool","name":"f"}})");
  CHECK(named.tool_choice == ToolChoice::Named);
  CHECK(named.tool_choice_name == "f");
  CHECK(ok(kHead + tools + R"("tool_choice":{"type":"none"}})").tool_choice == ToolChoice::None);
  const MessagesRequest c =
      ok(R"({"model":"m","messages":[{"role":"user","content":"hi"}]})", true);
  CHECK_FALSE(c.max_tokens.has_value());
  CHECK(ok(R"({"model":"m","max_tokens":1,"messages":[{"role":"assistant","content":"x"}]})")
            .messages[0]["content"] == "x");
}

}  // namespace
}  // namespace lfmd::api
