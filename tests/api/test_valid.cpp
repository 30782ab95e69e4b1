// Accepted requests: defaults, every field, normalised messages, aliases, edge values.
#include "tests/api/api_test_util.h"

using namespace lfmd::api;
using namespace lfmd::api::test;

TEST_CASE("valid: minimal request gets the defaults") {
  ChatRequest r = parse_ok(R"({"model":"lfm2","messages":[{"role":"user","content":"hi"}]})");
  CHECK(r.model == "lfm2");
  CHECK(r.messages == json::parse(R"([{"role":"user","content":"hi"}])"));
  CHECK_FALSE(r.has_tools);
  CHECK(r.tools.empty());
  CHECK(r.tools_json == json::array());
  CHECK(r.tool_choice == ToolChoice::Auto);
  CHECK(r.parallel_tool_calls);
  CHECK(r.response_format == "text");
  CHECK_FALSE(r.stream);
  CHECK_FALSE(r.include_usage);
  CHECK_FALSE(r.max_tokens.has_value());
  CHECK(r.temperature == 1.0);
  CHECK(r.top_p == 1.0);
  CHECK(r.top_k == 0);
  CHECK(r.min_p == 0.0);
  CHECK(r.presence_penalty == 0.0);
  CHECK(r.frequency_penalty == 0.0);
  CHECK(r.repetition_penalty == 1.0);
  CHECK_FALSE(r.seed.has_value());
  CHECK(r.logit_bias.empty());
  CHECK_FALSE(r.logprobs);
  CHECK(r.top_logprobs == 0);
  CHECK(r.stop.empty());
  CHECK(r.n == 1);
  CHECK(r.extra == json::object());
}

TEST_CASE("valid: model may be absent, any string is kept") {
  CHECK(parse_ok(R"({"messages":[{"role":"user","content":"hi"}]})").model == "");
  CHECK(parse_ok(R"({"model":"gpt-4o","messages":[{"role":"user","content":"x"}]})").model ==
        "gpt-4o");
  CHECK(parse_ok(R"({"model":"my/IDE model:latest","messages":[{"role":"user","content":""}]})")
            .model == "my/IDE model:latest");
}

TEST_CASE("valid: every field set") {
  ChatRequest r = parse_ok(R"({
    "model": "LFM2-1.2B",
    "messages": [{"role":"system","content":"be brief"},{"role":"user","content":"weather?"}],
    "tools": [{"type":"function","function":{"name":"get_weather","description":"Weather now",
               "parameters":{"type":"object","properties":{"city":{"type":"string"}},
                             "required":["city"]},"strict":true}},
              {"type":"function","function":{"name":"ns.get-time_2"}}],
    "tool_choice": {"type":"function","function":{"name":"get_weather"}},
    "parallel_tool_calls": false,
    "response_format": {"type":"json_schema","json_schema":{"name":"answer","strict":true,
                        "schema":{"type":"object","properties":{"a":{"type":"integer"}}}}},
    "stream": true, "stream_options": {"include_usage": true},
    "max_tokens": 100, "max_completion_tokens": 200,
    "temperature": 0.2, "top_p": 0.9, "top_k": 40, "min_p": 0.05,
    "presence_penalty": -1.5, "frequency_penalty": 2, "repetition_penalty": 1.1,
    "seed": 1234, "logit_bias": {"15": -100, "0": 100, "65535": 2.5},
    "logprobs": true, "top_logprobs": 20,
    "stop": ["\n\n", "END", "<|im_end|>", "x"], "n": 1,
    "confidence_threshold": 0.75, "handoff": {"mode": "auto"}
  })");
  CHECK(r.model == "LFM2-1.2B");
  CHECK(r.messages.size() == 2);
  REQUIRE(r.tools.size() == 2);
  CHECK(r.has_tools);
  CHECK(r.tools[0].name == "get_weather");
  CHECK(r.tools[0].description == "Weather now");
  CHECK(r.tools[0].parameters["required"] == json::parse(R"(["city"])"));
  CHECK(r.tools[0].strict);
  CHECK(r.tools[0].raw["function"]["name"] == "get_weather");
  CHECK(r.tools[1].name == "ns.get-time_2");
  CHECK(r.tools[1].parameters == json::object());
  CHECK(r.tools[1].description == "");
  CHECK(r.tools_json.size() == 2);
  CHECK(r.tools_json[1] == r.tools[1].raw);
  CHECK(r.tool_choice == ToolChoice::Named);
  CHECK(r.tool_choice_name == "get_weather");
  CHECK_FALSE(r.parallel_tool_calls);
  CHECK(r.response_format == "json_schema");
  CHECK(r.json_schema_name == "answer");
  CHECK(r.json_schema_strict);
  CHECK(r.json_schema["properties"]["a"]["type"] == "integer");
  CHECK(r.stream);
  CHECK(r.include_usage);
  CHECK(r.max_tokens == 200);  // max_completion_tokens wins
  CHECK(r.temperature == doctest::Approx(0.2));
  CHECK(r.top_p == doctest::Approx(0.9));
  CHECK(r.top_k == 40);
  CHECK(r.min_p == doctest::Approx(0.05));
  CHECK(r.presence_penalty == doctest::Approx(-1.5));
  CHECK(r.frequency_penalty == 2.0);
  CHECK(r.repetition_penalty == doctest::Approx(1.1));
  CHECK(r.seed == 1234u);
  REQUIRE(r.logit_bias.size() == 3);
  CHECK(r.logit_bias[0] == std::pair<int32_t, float>{15, -100.f});
  CHECK(r.logit_bias[1] == std::pair<int32_t, float>{0, 100.f});
  CHECK(r.logit_bias[2] == std::pair<int32_t, float>{65535, 2.5f});
  CHECK(r.logprobs);
  CHECK(r.top_logprobs == 20);
  CHECK(r.stop == std::vector<std::string>{"\n\n", "END", "<|im_end|>", "x"});
  CHECK(r.n == 1);
  CHECK(r.extra["confidence_threshold"] == 0.75);
  CHECK(r.extra["handoff"] == json::parse(R"({"mode":"auto"})"));
}

TEST_CASE("valid: unknown fields are ignored, whatever their type") {
  ChatRequest r = parse_ok(with(R"("user":"u1","metadata":{"k":"v"},"store":true,
      "prompt_cache_key":"abc","reasoning_effort":"low","service_tier":"auto","functions":5,
      "modalities":["text"],"audio":null,"prediction":{"type":"content","content":"x"},
      "web_search_options":{},"verbosity":"low","safety_identifier":7)"));
  CHECK(r.messages.size() == 1);
  CHECK(r.extra == json::object());
}

TEST_CASE("valid: unknown members inside messages and stream_options are ignored") {
  ChatRequest r = parse_ok(msgs(R"([{"role":"user","content":"a","weird":[1,2],"audio":null},
      {"role":"assistant","content":"b","refusal":null,"annotations":[]}])",
                                R"("stream":true,"stream_options":{"include_obfuscation":false})"));
  CHECK(r.messages[0] == json::parse(R"({"role":"user","content":"a"})"));
  CHECK(r.messages[1] == json::parse(R"({"role":"assistant","content":"b"})"));
  CHECK_FALSE(r.include_usage);
}

TEST_CASE("valid: an assistant's reasoning_content goes back to the template as thinking") {
  ChatRequest r = parse_ok(msgs(R"([{"role":"user","content":"a"},
      {"role":"assistant","content":"b","reasoning_content":"hmm"}])"));
  CHECK(r.messages[1] == json::parse(R"({"role":"assistant","content":"b","thinking":"hmm"})"));
  CHECK_FALSE(r.raw_reasoning);
  CHECK(parse_ok(msgs(R"([{"role":"user","content":"a"}])", R"("reasoning_format":"none")")).raw_reasoning);
}

TEST_CASE("valid: null optional fields are the same as absent") {
  ChatRequest r = parse_ok(with(R"("temperature":null,"top_p":null,"max_tokens":null,
      "max_completion_tokens":null,"stop":null,"tools":null,"tool_choice":null,"seed":null,
      "logit_bias":null,"logprobs":null,"top_logprobs":null,"n":null,"stream":null,
      "stream_options":null,"response_format":null,"parallel_tool_calls":null,"model":null,
      "user":null)"));
  CHECK(r.temperature == 1.0);
  CHECK_FALSE(r.max_tokens.has_value());
  CHECK(r.stop.empty());
  CHECK_FALSE(r.has_tools);
  CHECK(r.tool_choice == ToolChoice::Auto);
  CHECK_FALSE(r.stream);
  CHECK(r.response_format == "text");
  CHECK(r.model == "");
}

TEST_CASE("valid: content parts are joined with no separator") {
  ChatRequest r = parse_ok(msgs(R"([
      {"role":"system","content":[{"type":"text","text":"You are "},
                                  {"type":"text","text":"terse."}]},
      {"role":"user","content":[{"type":"text","text":"line1\n"},{"type":"text","text":"line2"}]},
      {"role":"assistant","content":[{"type":"text","text":"ok "},
                                     {"type":"refusal","refusal":"no"}]},
      {"role":"user","content":[{"type":"text","text":""}]}])"));
  CHECK(r.messages[0]["content"] == "You are terse.");
  CHECK(r.messages[1]["content"] == "line1\nline2");
  CHECK(r.messages[2]["content"] == "ok no");
  CHECK(r.messages[3]["content"] == "");
}

TEST_CASE("valid: developer becomes system, name is kept") {
  ChatRequest r = parse_ok(msgs(R"([{"role":"developer","content":"rules"},
      {"role":"user","content":"hi","name":"alice"}])"));
  CHECK(r.messages[0] == json::parse(R"({"role":"system","content":"rules"})"));
  CHECK(r.messages[1] == json::parse(R"({"role":"user","content":"hi","name":"alice"})"));
}

TEST_CASE("valid: tool_calls round trip keeps parsed arguments and the original string") {
  ChatRequest r = parse_ok(msgs(R"([
      {"role":"user","content":"weather in Paris and time?"},
      {"role":"assistant","content":null,"tool_calls":[
        {"id":"call_1","type":"function","function":{"name":"get_weather",
          "arguments":"{\"city\": \"Paris\", \"n\": 2}"}},
        {"id":"call_2","type":"function","function":{"name":"get_time","arguments":""}}]},
      {"role":"tool","tool_call_id":"call_1","content":"{\"temp\": 21}"},
      {"role":"tool","tool_call_id":"call_2","name":"get_time",
       "content":[{"type":"text","text":"12:00"}]},
      {"role":"assistant","content":"It is 21C and noon."}])"));
  REQUIRE(r.messages.size() == 5);
  const json& a = r.messages[1];
  CHECK(a["role"] == "assistant");
  CHECK(a["content"] == "");
  REQUIRE(a["tool_calls"].size() == 2);
  const json& c0 = a["tool_calls"][0];
  CHECK(c0["id"] == "call_1");
  CHECK(c0["type"] == "function");
  CHECK(c0["function"]["name"] == "get_weather");
  CHECK(c0["function"]["arguments"] == json::parse(R"({"city":"Paris","n":2})"));
  CHECK(c0["function"]["arguments_json"] == "{\"city\": \"Paris\", \"n\": 2}");
  CHECK(a["tool_calls"][1]["function"]["arguments"] == json::object());
  CHECK(a["tool_calls"][1]["function"]["arguments_json"] == "");
  CHECK(r.messages[2] ==
        json::parse(R"({"role":"tool","content":"{\"temp\": 21}","tool_call_id":"call_1"})"));
  CHECK(r.messages[3] ==
        json::parse(
            R"({"role":"tool","content":"12:00","name":"get_time","tool_call_id":"call_2"})"));
  // The exact key order of a normalised assistant message.
  std::vector<std::string> keys;
  for (const auto& [k, v] : a.items()) keys.push_back(k);
  CHECK(keys == std::vector<std::string>{"role", "content", "tool_calls"});
}

TEST_CASE("valid: tool_calls leniency (no type, object arguments, missing arguments)") {
  ChatRequest r = parse_ok(msgs(R"([{"role":"assistant","tool_calls":[
      {"id":"a","function":{"name":"f","arguments":{"x":[1,{"y":null}]}}},
      {"id":"b","type":"function","function":{"name":"g"}}],"content":"thinking"}])"));
  const json& calls = r.messages[0]["tool_calls"];
  CHECK(r.messages[0]["content"] == "thinking");
  CHECK(calls[0]["function"]["arguments"] == json::parse(R"({"x":[1,{"y":null}]})"));
  CHECK(json::parse(calls[0]["function"]["arguments_json"].get<std::string>()) ==
        calls[0]["function"]["arguments"]);
  CHECK(calls[1]["function"]["arguments"] == json::object());
  CHECK(calls[1]["function"]["arguments_json"] == "{}");
}

TEST_CASE("valid: empty tool_calls on an assistant with content is dropped") {
  ChatRequest r = parse_ok(msgs(R"([{"role":"assistant","content":"hi","tool_calls":[]}])"));
  CHECK(r.messages[0] == json::parse(R"({"role":"assistant","content":"hi"})"));
}

TEST_CASE("valid: tool_calls on a non-assistant message are ignored") {
  ChatRequest r = parse_ok(msgs(R"([{"role":"user","content":"hi","tool_calls":"junk"}])"));
  CHECK(r.messages[0] == json::parse(R"({"role":"user","content":"hi"})"));
}

TEST_CASE("valid: max_tokens and max_completion_tokens are aliases") {
  CHECK(parse_ok(with(R"("max_tokens":64)")).max_tokens == 64);
  CHECK(parse_ok(with(R"("max_completion_tokens":65)")).max_tokens == 65);
  CHECK(parse_ok(with(R"("max_tokens":1,"max_completion_tokens":4096)")).max_tokens == 4096);
  CHECK(parse_ok(with(R"("max_completion_tokens":7,"max_tokens":9)")).max_tokens == 7);
  CHECK(parse_ok(with(R"("max_tokens":4096)")).max_tokens == 4096);  // == cap is fine
  CHECK(parse_ok(with(R"("max_tokens":1)")).max_tokens == 1);
}

TEST_CASE("valid: seed takes the int64 range, negatives by two's complement") {
  CHECK(parse_ok(with(R"("seed":0)")).seed == 0u);
  CHECK(parse_ok(with(R"("seed":-1)")).seed == UINT64_MAX);
  CHECK(parse_ok(with(R"("seed":-9223372036854775808)")).seed == (uint64_t{1} << 63));
  CHECK(parse_ok(with(R"("seed":9223372036854775807)")).seed == INT64_MAX);
}

TEST_CASE("valid: range boundaries are inclusive where documented") {
  ChatRequest lo = parse_ok(with(R"("temperature":0,"top_p":0,"min_p":0,"presence_penalty":-2,
      "frequency_penalty":-2,"repetition_penalty":0.0001,"top_k":0,"top_logprobs":0)"));
  CHECK(lo.temperature == 0.0);
  CHECK(lo.top_p == 0.0);
  CHECK(lo.repetition_penalty == doctest::Approx(0.0001));
  ChatRequest hi = parse_ok(with(R"("temperature":2,"top_p":1,"min_p":1,"presence_penalty":2,
      "frequency_penalty":2.0,"repetition_penalty":10,"top_k":2147483647,
      "logprobs":true,"top_logprobs":20)"));
  CHECK(hi.temperature == 2.0);
  CHECK(hi.repetition_penalty == 10.0);
  CHECK(hi.top_k == 2147483647);
  CHECK(hi.top_logprobs == 20);
}

TEST_CASE("valid: integers accepted for float fields") {
  ChatRequest r = parse_ok(with(R"("temperature":1,"top_p":1,"logit_bias":{"3":-5})"));
  CHECK(r.temperature == 1.0);
  CHECK(r.logit_bias[0] == std::pair<int32_t, float>{3, -5.f});
}

TEST_CASE("valid: logprobs without top_logprobs, and top_logprobs 0 alone") {
  ChatRequest a = parse_ok(with(R"("logprobs":true)"));
  CHECK(a.logprobs);
  CHECK(a.top_logprobs == 0);
  ChatRequest b = parse_ok(with(R"("top_logprobs":0)"));
  CHECK_FALSE(b.logprobs);
}

TEST_CASE("valid: logit_bias keys with leading zeros and the vocabulary edge") {
  ChatRequest r = parse_ok(with(R"("logit_bias":{"007":1,"65535":-1})"));
  REQUIRE(r.logit_bias.size() == 2);
  CHECK(r.logit_bias[0].first == 7);
  CHECK(r.logit_bias[1].first == 65535);
  CHECK(parse_ok(with(R"("logit_bias":{})")).logit_bias.empty());
}

TEST_CASE("valid: stop as a string, an array, or an empty array") {
  CHECK(parse_ok(with(R"("stop":"###")")).stop == std::vector<std::string>{"###"});
  CHECK(parse_ok(with(R"("stop":["a","b"])")).stop == std::vector<std::string>{"a", "b"});
  CHECK(parse_ok(with(R"("stop":[])")).stop.empty());
  std::string s256(256, 'z');
  CHECK(parse_ok(with(R"("stop":")" + s256 + "\"")).stop[0].size() == 256);
}

TEST_CASE("valid: tool_choice strings") {
  const std::string tools = R"("tools":[{"type":"function","function":{"name":"f"}}])";
  CHECK(parse_ok(with(R"("tool_choice":"none")")).tool_choice == ToolChoice::None);
  CHECK(parse_ok(with(R"("tool_choice":"auto")")).tool_choice == ToolChoice::Auto);
  CHECK(parse_ok(with(tools + R"(,"tool_choice":"required")")).tool_choice == ToolChoice::Required);
  CHECK(parse_ok(with(tools + R"(,"tool_choice":"none")")).tool_choice == ToolChoice::None);
}

TEST_CASE("valid: tools [] means no tools") {
  ChatRequest r = parse_ok(with(R"("tools":[],"tool_choice":"auto")"));
  CHECK_FALSE(r.has_tools);
  CHECK(r.tools_json == json::array());
}

TEST_CASE("valid: tool without type and with null parameters") {
  ChatRequest r = parse_ok(with(R"("tools":[{"function":{"name":"ping","parameters":null}}])"));
  REQUIRE(r.tools.size() == 1);
  CHECK(r.tools[0].parameters == json::object());
  CHECK(r.tools[0].raw == json::parse(R"({"function":{"name":"ping","parameters":null}})"));
}

TEST_CASE("valid: response_format variants") {
  CHECK(parse_ok(with(R"("response_format":{"type":"text"})")).response_format == "text");
  ChatRequest jo = parse_ok(with(R"("response_format":{"type":"json_object"})"));
  CHECK(jo.response_format == "json_object");
  CHECK(jo.json_schema.is_null());
  ChatRequest js = parse_ok(with(R"("response_format":{"type":"json_schema","json_schema":{}})"));
  CHECK(js.response_format == "json_schema");
  CHECK(js.json_schema == json::object());
  CHECK(js.json_schema_name == "");
  CHECK_FALSE(js.json_schema_strict);
}

TEST_CASE("valid: stream with and without include_usage") {
  ChatRequest a = parse_ok(with(R"("stream":true)"));
  CHECK(a.stream);
  CHECK_FALSE(a.include_usage);
  ChatRequest b = parse_ok(with(R"("stream":true,"stream_options":{"include_usage":false})"));
  CHECK_FALSE(b.include_usage);
  ChatRequest c = parse_ok(with(R"("stream":false)"));
  CHECK_FALSE(c.stream);
}

TEST_CASE("valid: 1 MB strings within limits are accepted") {
  const std::string mb(1 << 20, 'x');
  ChatRequest r =
      parse_ok(msgs(R"([{"role":"system","content":")" + mb + R"("},
      {"role":"user","content":[{"type":"text","text":")" +
                        mb + R"("}]}])",
                    R"("tools":[{"type":"function","function":{"name":"f","description":")" + mb +
                        R"("}}],"user":")" + mb + "\""));
  CHECK(r.messages[0]["content"].get_ref<const std::string&>().size() == mb.size());
  CHECK(r.messages[1]["content"].get_ref<const std::string&>().size() == mb.size());
  CHECK(r.tools[0].description.size() == mb.size());
}

TEST_CASE("valid: nesting at the limits is accepted") {
  // parameters nested exactly 64 levels; the whole body stays under 128.
  ChatRequest r = parse_ok(with(R"("tools":[{"type":"function","function":{"name":"f",
      "parameters":)" + nested_objects(64) +
                                "}}]"));
  CHECK(r.tools[0].parameters.is_object());
  // 120 levels in an ignored field is under the body limit.
  CHECK(parse_ok(with(R"("metadata":)" + nested(120))).messages.size() == 1);
  // brackets inside strings do not count
  CHECK(parse_ok(msgs(R"([{"role":"user","content":")" + std::string(1000, '[') + R"("}])"))
            .messages[0]["content"]
            .get_ref<const std::string&>()
            .size() == 1000);
}

TEST_CASE("valid: duplicate keys, last value wins") {
  ChatRequest r = parse_ok(with(R"("temperature":0.1,"temperature":0.3)"));
  CHECK(r.temperature == doctest::Approx(0.3));
}

TEST_CASE("valid: UTF-8 text and escapes survive") {
  ChatRequest r =
      parse_ok(msgs(R"([{"role":"user","content":"h\u00e9llo \ud83d\ude00 — 日本 \"q\" \\ \n"}])"));
  CHECK(r.messages[0]["content"] == "h\xC3\xA9llo \xF0\x9F\x98\x80 — 日本 \"q\" \\ \n");
}

TEST_CASE("valid: byte-order mark and surrounding whitespace") {
  CHECK(parse_ok("\xEF\xBB\xBF  " + with("") + " \n").messages.size() == 1);
}

TEST_CASE("valid: a realistic agent history") {
  ChatRequest r = parse_ok(R"({
    "model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":true},
    "messages":[
      {"role":"developer","content":"You are a coding agent."},
      {"role":"user","content":[{"type":"text","text":"List files"}]},
      {"role":"assistant","content":"","tool_calls":[{"id":"call_abc","type":"function",
        "function":{"name":"shell","arguments":"{\"cmd\":[\"ls\",\"-la\"]}"}}]},
      {"role":"tool","tool_call_id":"call_abc","content":"a.txt\nb.txt"},
      {"role":"assistant","content":"Two files."},
      {"role":"user","content":"thanks"}],
    "tools":[{"type":"function","function":{"name":"shell","description":"run",
      "parameters":{"type":"object","properties":{"cmd":{"type":"array","items":{"type":"string"}}},
      "required":["cmd"],"additionalProperties":false},"strict":true}}],
    "tool_choice":"auto","parallel_tool_calls":true,"temperature":0,"max_completion_tokens":1024,
    "store":false,"metadata":{"session":"1"}})");
  CHECK(r.messages.size() == 6);
  CHECK(r.messages[0]["role"] == "system");
  CHECK(r.messages[2]["tool_calls"][0]["function"]["arguments"]["cmd"][1] == "-la");
  CHECK(r.has_tools);
  CHECK(r.include_usage);
  CHECK(r.max_tokens == 1024);
}

TEST_CASE("valid: assistant content next to tool_calls is kept") {
  ChatRequest r = parse_ok(msgs(R"([{"role":"assistant","content":"Let me check.","tool_calls":[
      {"id":"c","type":"function","function":{"name":"f","arguments":"{}"}}]}])"));
  CHECK(r.messages[0]["content"] == "Let me check.");
  CHECK(r.messages[0]["tool_calls"].size() == 1);
}

TEST_CASE("valid: normalised tool message key order") {
  ChatRequest r =
      parse_ok(msgs(R"([{"tool_call_id":"c9","content":"42","name":"calc","role":"tool"}])"));
  std::vector<std::string> keys;
  for (const auto& [k, v] : r.messages[0].items()) keys.push_back(k);
  CHECK(keys == std::vector<std::string>{"role", "content", "name", "tool_call_id"});
}

TEST_CASE("valid: extensions land in extra") {
  ChatRequest r = parse_ok(with(R"("confidence_threshold":0,"handoff":[1,"two",{"three":3}])"));
  CHECK(r.extra["confidence_threshold"] == 0.0);
  CHECK(r.extra["handoff"] == json::parse(R"([1,"two",{"three":3}])"));
}

TEST_CASE("valid: the same body parses to the same request") {
  const std::string body = with(R"("tools":[{"type":"function","function":{"name":"f",
      "parameters":{"type":"object"}}}],"tool_choice":"required","seed":5,"stop":["a"])");
  ChatRequest a = parse_ok(body), b = parse_ok(body);
  CHECK(a.messages == b.messages);
  CHECK(a.tools_json == b.tools_json);
  CHECK(a.seed == b.seed);
  CHECK(a.tool_choice == ToolChoice::Required);
}

TEST_CASE("valid: counts exactly at the limits") {
  std::string m = "[";
  for (int i = 0; i < 4096; ++i)
    m += std::string(i ? "," : "") + R"({"role":"user","content":"x"})";
  CHECK(parse_ok(msgs(m + "]")).messages.size() == 4096);
  std::string t = "[";
  for (int i = 0; i < 256; ++i) {
    t += std::string(i ? "," : "") + R"({"type":"function","function":{"name":"t)" +
         std::to_string(i) + R"("}})";
  }
  CHECK(parse_ok(with(R"("tools":)" + t + "]")).tools.size() == 256);
  std::string lb = "{";
  for (int i = 0; i < 1024; ++i) lb += (i ? ",\"" : "\"") + std::to_string(i) + "\":1";
  CHECK(parse_ok(with(R"("logit_bias":)" + lb + "}")).logit_bias.size() == 1024);
  CHECK(parse_ok(with(R"("stop":["a","b","c","d"])")).stop.size() == 4);
}

TEST_CASE("valid: tool schema exactly at the size limit") {
  // {"description":"ddd..."} serialised is 18 bytes of overhead + the string.
  const std::string desc(65536 - 18, 'd');
  ChatRequest r = parse_ok(with(R"("tools":[{"type":"function","function":{"name":"f",
      "parameters":{"description":")" +
                                desc + R"("}}}])"));
  CHECK(r.tools[0].parameters.dump().size() == 65536);
}

TEST_CASE("valid: json_schema name pattern and a schema with $ref and booleans") {
  ChatRequest r = parse_ok(with(R"("response_format":{"type":"json_schema","json_schema":{
      "name":"Person_v-2","strict":false,"schema":{"$defs":{"a":{"type":"string"}},
      "type":"object","properties":{"p":{"$ref":"#/$defs/a"}},"additionalProperties":false}}})"));
  CHECK(r.json_schema_name == "Person_v-2");
  CHECK(r.json_schema["additionalProperties"] == false);
}
