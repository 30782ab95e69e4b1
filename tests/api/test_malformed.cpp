// The malformed-request table: every entry must be a 400 invalid_request_error naming the field.
#include "tests/api/api_test_util.h"

using namespace lfmd::api;
using namespace lfmd::api::test;

TEST_CASE("malformed: bad JSON and wrong top-level type") {
  run_bad_table({
      {"empty body", "", "", "parse error", "invalid_json"},
      {"whitespace body", "  \n ", "", "parse error", "invalid_json"},
      {"truncated", R"({"messages":[{"role":"user","con)", "", "line 1, column", "invalid_json"},
      {"truncated after colon", R"({"messages":)", "", "parse error", "invalid_json"},
      {"trailing comma", R"({"messages":[{"role":"user","content":"hi"}],})", "", "parse error",
       "invalid_json"},
      {"single quotes", R"({'messages': []})", "", "parse error", "invalid_json"},
      {"trailing garbage", with("") + " x", "", "parse error", "invalid_json"},
      {"NaN literal", with(R"("temperature": NaN)"), "", "parse error", "invalid_json"},
      {"Infinity literal", with(R"("temperature": Infinity)"), "", "parse error", "invalid_json"},
      {"float overflow", with(R"("temperature": 1e400)"), "", "number overflow", "invalid_json"},
      {"invalid UTF-8 in a string", msgs("[{\"role\":\"user\",\"content\":\"\xC3\x28\"}]"), "",
       "parse error", "invalid_json"},
      {"top-level array", R"([{"messages":[]}])", "", "must be a JSON object, got an array",
       "invalid_type"},
      {"top-level string", R"("hello")", "", "got a string", "invalid_type"},
      {"top-level null", "null", "", "got null", "invalid_type"},
      {"top-level number", "42", "", "got an integer", "invalid_type"},
      {"depth bomb (arrays)", std::string(100000, '['), "", "nested too deeply", "invalid_json"},
      {"depth bomb in an unknown field", with(R"("metadata":)" + nested(200)), "",
       "more than 128 levels", "invalid_json"},
      {"depth bomb of objects", with(R"("metadata":)" + nested_objects(300)), "",
       "nested too deeply", "invalid_json"},
  });
}

TEST_CASE("malformed: messages") {
  run_bad_table({
      {"messages missing", R"({"model":"x"})", "messages", "Missing required parameter: 'messages'",
       "missing_required_parameter"},
      {"messages null", R"({"messages":null})", "messages", "Missing required", ""},
      {"messages a string", msgs(R"("hi")"), "messages",
       "'messages' must be an array, got a string", "invalid_type"},
      {"messages empty", msgs("[]"), "messages", "non-empty array", "empty_array"},
      {"message not an object", msgs("[5]"), "messages[0]", "must be an object, got an integer",
       "invalid_type"},
      {"message without role", msgs(R"([{"content":"hi"}])"), "messages[0].role",
       "Missing required parameter: 'messages[0].role'", "missing_required_parameter"},
      {"role not a string", msgs(R"([{"role":5,"content":"hi"}])"), "messages[0].role",
       "must be a string", "invalid_type"},
      {"unknown role", msgs(R"([{"role":"robot","content":"hi"}])"), "messages[0].role",
       "'robot'. Supported values are", "invalid_value"},
      {"deprecated function role", msgs(R"([{"role":"function","name":"f","content":"x"}])"),
       "messages[0].role", "'function' is not supported", "unsupported_value"},
      {"user without content", msgs(R"([{"role":"user"}])"), "messages[0].content",
       "Missing required parameter: 'messages[0].content'", "missing_required_parameter"},
      {"user content null", msgs(R"([{"role":"user","content":null}])"), "messages[0].content",
       "Missing required", ""},
      {"content a number", msgs(R"([{"role":"user","content":42}])"), "messages[0].content",
       "a string or an array of content parts, got an integer", "invalid_type"},
      {"content empty parts", msgs(R"([{"role":"user","content":[]}])"), "messages[0].content",
       "must not be an empty array", "empty_array"},
      {"image part", msgs(R"([{"role":"user","content":[{"type":"text","text":"a"},
          {"type":"image_url","image_url":{"url":"http://x/y.png"}}]}])"),
       "messages[0].content[1].type", "'image_url' are not supported", "unsupported_value"},
      {"audio part", msgs(R"([{"role":"user","content":[{"type":"input_audio",
          "input_audio":{"data":"AAAA","format":"wav"}}]}])"),
       "messages[0].content[0].type", "'input_audio' are not supported", "unsupported_value"},
      {"part not an object", msgs(R"([{"role":"user","content":["hi"]}])"),
       "messages[0].content[0]", "must be an object", "invalid_type"},
      {"part without type", msgs(R"([{"role":"user","content":[{"text":"hi"}]}])"),
       "messages[0].content[0].type", "Missing required", "missing_required_parameter"},
      {"text part without text", msgs(R"([{"role":"user","content":[{"type":"text"}]}])"),
       "messages[0].content[0].text", "Missing required", "missing_required_parameter"},
      {"text part text a number", msgs(R"([{"role":"user","content":[{"type":"text","text":1}]}])"),
       "messages[0].content[0].text", "must be a string", "invalid_type"},
      {"unknown part type", msgs(R"([{"role":"user","content":[{"type":"video","text":"x"}]}])"),
       "messages[0].content[0].type", "'video'. Supported values are: 'text'", "invalid_value"},
      {"refusal part from user",
       msgs(R"([{"role":"user","content":[{"type":"refusal","refusal":"no"}]}])"),
       "messages[0].content[0].type", "'refusal'", "invalid_value"},
      {"assistant null content without tool_calls",
       msgs(R"([{"role":"user","content":"a"},{"role":"assistant","content":null}])"),
       "messages[1].content", "may be null only when 'tool_calls' is given",
       "missing_required_parameter"},
      {"assistant null content, empty tool_calls",
       msgs(R"([{"role":"assistant","content":null,"tool_calls":[]}])"), "messages[0].content",
       "Missing required", ""},
      {"name not a string", msgs(R"([{"role":"user","content":"a","name":5}])"), "messages[0].name",
       "must be a string", "invalid_type"},
      {"tool without tool_call_id", msgs(R"([{"role":"tool","content":"42"}])"),
       "messages[0].tool_call_id", "Missing required", "missing_required_parameter"},
      {"tool_call_id a number", msgs(R"([{"role":"tool","content":"42","tool_call_id":7}])"),
       "messages[0].tool_call_id", "must be a string", "invalid_type"},
      {"tool without content", msgs(R"([{"role":"tool","tool_call_id":"c1"}])"),
       "messages[0].content", "Missing required", "missing_required_parameter"},
      {"too many messages",
       [] {
         std::string a = "[";
         for (int i = 0; i < 4097; ++i)
           a += std::string(i ? "," : "") + R"({"role":"user","content":""})";
         return msgs(a + "]");
       }(),
       "messages", "at most 4096", "array_above_max_length"},
  });
}

namespace {
// An assistant message whose single tool call has the given JSON members (id, type, function).
std::string call_msg(const std::string& call) {
  return msgs(
      R"([{"role":"user","content":"q"},{"role":"assistant","content":null,"tool_calls":[)" + call +
      "]}]");
}
}  // namespace

TEST_CASE("malformed: assistant tool_calls") {
  const std::string p = "messages[1].tool_calls[0]";
  run_bad_table({
      {"tool_calls not an array",
       msgs(R"([{"role":"assistant","content":"x","tool_calls":{"id":"a"}}])"),
       "messages[0].tool_calls", "must be an array", "invalid_type"},
      {"call not an object", call_msg(R"("call")"), p, "must be an object", "invalid_type"},
      {"call without id",
       call_msg(R"({"type":"function","function":{"name":"f","arguments":"{}"}})"), p + ".id",
       "Missing required", "missing_required_parameter"},
      {"call of type custom",
       call_msg(R"({"id":"c","type":"custom","function":{"name":"f","arguments":"{}"}})"),
       p + ".type", "must be 'function'", "unsupported_value"},
      {"call without function", call_msg(R"({"id":"c","type":"function"})"), p + ".function",
       "Missing required", "missing_required_parameter"},
      {"function without name",
       call_msg(R"({"id":"c","type":"function","function":{"arguments":"{}"}})"),
       p + ".function.name", "Missing required", "missing_required_parameter"},
      {"arguments invalid JSON",
       call_msg(R"({"id":"c","type":"function","function":{"name":"f","arguments":"{\"a\": 1"}})"),
       p + ".function.arguments", "not valid JSON", "invalid_value"},
      {"arguments an array",
       call_msg(R"({"id":"c","type":"function","function":{"name":"f","arguments":"[1,2]"}})"),
       p + ".function.arguments", "must be a JSON-encoded object, got an array", "invalid_value"},
      {"arguments a number",
       call_msg(R"({"id":"c","type":"function","function":{"name":"f","arguments":5}})"),
       p + ".function.arguments", "got an integer", "invalid_type"},
      {"arguments nested too deep",
       call_msg(R"({"id":"c","type":"function","function":{"name":"f","arguments":")" +
                nested(100) + R"("}})"),
       p + ".function.arguments", "nested more than 64 levels", "invalid_value"},
  });
}

TEST_CASE("malformed: tools") {
  std::string deep_params = R"({"type":"object","properties":{"x":)" + nested_objects(70) + "}}";
  std::string big_desc(70000, 'd');
  std::string many_tools = "[";
  for (int i = 0; i < 257; ++i) {
    many_tools += std::string(i ? "," : "") + R"({"type":"function","function":{"name":"f)" +
                  std::to_string(i) + R"("}})";
  }
  many_tools += "]";
  run_bad_table({
      {"tools an object", with(R"("tools":{"type":"function"})"), "tools", "must be an array",
       "invalid_type"},
      {"tool a string", with(R"("tools":["f"])"), "tools[0]", "must be an object", "invalid_type"},
      {"tool type retrieval", with(R"("tools":[{"type":"retrieval","function":{"name":"f"}}])"),
       "tools[0].type", "Only tools of type 'function'", "unsupported_value"},
      {"tool without function", with(R"("tools":[{"type":"function"}])"), "tools[0].function",
       "Missing required", "missing_required_parameter"},
      {"function not an object", with(R"("tools":[{"type":"function","function":"f"}])"),
       "tools[0].function", "must be an object", "invalid_type"},
      {"tool without name", with(R"("tools":[{"type":"function","function":{"description":"d"}}])"),
       "tools[0].function.name", "Missing required", "missing_required_parameter"},
      {"tool name with a space",
       with(R"("tools":[{"type":"function","function":{"name":"my tool"}}])"),
       "tools[0].function.name", "'my tool'. Expected 1 to 64 characters", "invalid_value"},
      {"tool name empty", with(R"("tools":[{"type":"function","function":{"name":""}}])"),
       "tools[0].function.name", "Expected 1 to 64", "invalid_value"},
      {"tool name 65 chars",
       with(R"("tools":[{"type":"function","function":{"name":")" + std::string(65, 'a') +
            R"("}}])"),
       "tools[0].function.name", "Expected 1 to 64", "invalid_value"},
      {"duplicate tool names", with(R"("tools":[{"type":"function","function":{"name":"get"}},
                        {"type":"function","function":{"name":"get"}}])"),
       "tools[1].function.name", "Duplicate tool name 'get' in tools[0] and tools[1]",
       "invalid_value"},
      {"parameters a string",
       with(R"("tools":[{"type":"function","function":{"name":"f","parameters":"{}"}}])"),
       "tools[0].function.parameters", "must be an object, got a string", "invalid_type"},
      {"parameters an array",
       with(R"("tools":[{"type":"function","function":{"name":"f","parameters":[]}}])"),
       "tools[0].function.parameters", "must be an object, got an array", "invalid_type"},
      {"parameters too deep",
       with(R"("tools":[{"type":"function","function":{"name":"f","parameters":)" + deep_params +
            "}}]"),
       "tools[0].function.parameters", "nested more than 64 levels", "invalid_value"},
      {"parameters too large",
       with(R"("tools":[{"type":"function","function":{"name":"f","parameters":{"description":")" +
            big_desc + R"("}}}])"),
       "tools[0].function.parameters", "too large", "invalid_value"},
      {"description a number",
       with(R"("tools":[{"type":"function","function":{"name":"f","description":1}}])"),
       "tools[0].function.description", "must be a string", "invalid_type"},
      {"strict a string",
       with(R"("tools":[{"type":"function","function":{"name":"f","strict":"yes"}}])"),
       "tools[0].function.strict", "must be a boolean", "invalid_type"},
      {"too many tools", with(R"("tools":)" + many_tools), "tools", "at most 256",
       "array_above_max_length"},
  });
}

TEST_CASE("malformed: tool_choice and parallel_tool_calls") {
  const std::string tools = R"("tools":[{"type":"function","function":{"name":"get_weather"}}])";
  run_bad_table({
      {"unknown string", with(tools + R"(,"tool_choice":"always")"), "tool_choice",
       "'always'. Supported values are", "invalid_value"},
      {"required without tools", with(R"("tool_choice":"required")"), "tool_choice",
       "'required' but no 'tools'", "invalid_value"},
      {"named without tools",
       with(R"("tool_choice":{"type":"function","function":{"name":"get_weather"}})"),
       "tool_choice", "no 'tools' were given", "invalid_value"},
      {"named tool missing",
       with(tools + R"(,"tool_choice":{"type":"function","function":{"name":"get_time"}})"),
       "tool_choice", "'get_time', which is not in 'tools'", "invalid_value"},
      {"tool_choice a number", with(tools + R"(,"tool_choice":1)"), "tool_choice",
       "a string or an object", "invalid_type"},
      {"allowed_tools type", with(tools + R"(,"tool_choice":{"type":"allowed_tools"})"),
       "tool_choice.type", "of type 'function' are supported", "unsupported_value"},
      {"object without function", with(tools + R"(,"tool_choice":{"type":"function"})"),
       "tool_choice.function", "Missing required", "missing_required_parameter"},
      {"function without name", with(tools + R"(,"tool_choice":{"type":"function","function":{}})"),
       "tool_choice.function.name", "Missing required", "missing_required_parameter"},
      {"parallel_tool_calls a string", with(R"("parallel_tool_calls":"yes")"),
       "parallel_tool_calls", "must be a boolean", "invalid_type"},
  });
}

TEST_CASE("malformed: response_format") {
  run_bad_table({
      {"a string", with(R"("response_format":"json")"), "response_format", "must be an object",
       "invalid_type"},
      {"unknown type", with(R"("response_format":{"type":"xml"})"), "response_format.type",
       "'xml'. Supported values are", "invalid_value"},
      {"missing type", with(R"("response_format":{})"), "response_format.type", "Missing required",
       "missing_required_parameter"},
      {"json_schema missing", with(R"("response_format":{"type":"json_schema"})"),
       "response_format.json_schema", "Missing required", "missing_required_parameter"},
      {"schema a string",
       with(R"("response_format":{"type":"json_schema","json_schema":{"name":"x","schema":"{}"}})"),
       "response_format.json_schema.schema", "must be an object", "invalid_type"},
      {"schema too deep",
       with(R"("response_format":{"type":"json_schema","json_schema":{"name":"x","schema":)" +
            nested_objects(80) + "}}"),
       "response_format.json_schema.schema", "nested more than 64", "invalid_value"},
      {"bad schema name",
       with(R"("response_format":{"type":"json_schema","json_schema":{"name":"my schema"}})"),
       "response_format.json_schema.name", "Expected 1 to 64", "invalid_value"},
      {"strict a string",
       with(
           R"("response_format":{"type":"json_schema",
                "json_schema":{"name":"x","strict":"true"}})"),
       "response_format.json_schema.strict", "must be a boolean", "invalid_type"},
  });
}

TEST_CASE("malformed: sampling numbers") {
  run_bad_table({
      {"temperature -1", with(R"("temperature":-1)"), "temperature",
       "'temperature' must be a number between 0 and 2, got -1", "invalid_value"},
      {"temperature 2.5", with(R"("temperature":2.5)"), "temperature", "got 2.5", "invalid_value"},
      {"temperature as string", with(R"("temperature":"0.7")"), "temperature",
       "'temperature' must be a number, got a string", "invalid_type"},
      {"temperature as bool", with(R"("temperature":true)"), "temperature", "got a boolean",
       "invalid_type"},
      {"temperature as array", with(R"("temperature":[1])"), "temperature", "got an array",
       "invalid_type"},
      {"top_p 1.5", with(R"("top_p":1.5)"), "top_p", "between 0 and 1, got 1.5", "invalid_value"},
      {"top_p negative", with(R"("top_p":-0.1)"), "top_p", "between 0 and 1", "invalid_value"},
      {"top_k negative", with(R"("top_k":-1)"), "top_k", "integer between 0 and 2147483647, got -1",
       "invalid_value"},
      {"top_k decimal", with(R"("top_k":1.5)"), "top_k", "must be an integer, got 1.5",
       "invalid_type"},
      {"top_k over int32", with(R"("top_k":3000000000)"), "top_k", "got 3000000000",
       "invalid_value"},
      {"min_p 2", with(R"("min_p":2)"), "min_p", "between 0 and 1", "invalid_value"},
      {"presence_penalty 3", with(R"("presence_penalty":3)"), "presence_penalty",
       "between -2 and 2, got 3", "invalid_value"},
      {"frequency_penalty -2.5", with(R"("frequency_penalty":-2.5)"), "frequency_penalty",
       "between -2 and 2", "invalid_value"},
      {"frequency_penalty string", with(R"("frequency_penalty":"0")"), "frequency_penalty",
       "got a string", "invalid_type"},
      {"repetition_penalty 0", with(R"("repetition_penalty":0)"), "repetition_penalty",
       "greater than 0 and at most 10", "invalid_value"},
      {"repetition_penalty 11", with(R"("repetition_penalty":11)"), "repetition_penalty",
       "greater than 0 and at most 10, got 11", "invalid_value"},
      {"seed decimal", with(R"("seed":1.5)"), "seed", "must be an integer", "invalid_type"},
      {"seed string", with(R"("seed":"42")"), "seed", "got a string", "invalid_type"},
      {"seed above int64", with(R"("seed":18446744073709551615)"), "seed",
       "between -9223372036854775808 and 9223372036854775807", "invalid_value"},
      {"n = 9", with(R"("n":9)"), "n", "At most n=8 is supported, got n=9", "unsupported_value"},
      {"n = 0", with(R"("n":0)"), "n", "must be an integer between 1", "invalid_value"},
      {"n huge", with(R"("n":100000000000)"), "n", "At most n=8 is supported", "unsupported_value"},
      {"n string", with(R"("n":"1")"), "n", "got a string", "invalid_type"},
      {"confidence_threshold 2", with(R"("confidence_threshold":2)"), "confidence_threshold",
       "between 0 and 1", "invalid_value"},
      {"model a number", with(R"("model":5)"), "model", "'model' must be a string", "invalid_type"},
  });
}

TEST_CASE("malformed: max_tokens and max_completion_tokens") {
  run_bad_table({
      {"zero", with(R"("max_tokens":0)"), "max_tokens", "integer between 1 and", "invalid_value"},
      {"negative", with(R"("max_tokens":-5)"), "max_tokens", "got -5", "invalid_value"},
      {"decimal", with(R"("max_tokens":10.5)"), "max_tokens", "must be an integer, got 10.5",
       "invalid_type"},
      {"integral decimal", with(R"("max_tokens":100.0)"), "max_tokens", "must be an integer",
       "invalid_type"},
      {"exponent", with(R"("max_tokens":1e3)"), "max_tokens", "must be an integer", "invalid_type"},
      {"string", with(R"("max_tokens":"100")"), "max_tokens", "got a string", "invalid_type"},
      {"bool", with(R"("max_tokens":true)"), "max_tokens", "got a boolean", "invalid_type"},
      {"over the cap", with(R"("max_tokens":5000)"), "max_tokens",
       "max_tokens is too large: 5000. This model supports at most 4096 completion tokens, "
       "whereas you provided 5000.",
       "invalid_value"},
      {"int64 max", with(R"("max_tokens":9223372036854775807)"), "max_tokens", "too large",
       "invalid_value"},
      {"beyond uint64", with(R"("max_tokens":99999999999999999999)"), "max_tokens",
       "integer between 1 and 9223372036854775807", "invalid_value"},
      {"negative beyond int64", with(R"("max_tokens":-99999999999999999999)"), "max_tokens",
       "integer between 1", "invalid_value"},
      {"max_completion_tokens over the cap", with(R"("max_completion_tokens":4097)"),
       "max_completion_tokens", "max_completion_tokens is too large: 4097", "invalid_value"},
      {"max_completion_tokens negative", with(R"("max_completion_tokens":-1)"),
       "max_completion_tokens", "got -1", "invalid_value"},
      {"bad max_tokens next to a good alias", with(R"("max_tokens":-1,"max_completion_tokens":10)"),
       "max_tokens", "got -1", "invalid_value"},
  });
}

TEST_CASE("malformed: logprobs and logit_bias") {
  std::string many = "{";
  for (int i = 0; i < 1025; ++i) many += (i ? ",\"" : "\"") + std::to_string(i) + "\":1";
  many += "}";
  run_bad_table({
      {"logprobs a string", with(R"("logprobs":"true")"), "logprobs", "must be a boolean",
       "invalid_type"},
      {"top_logprobs 21", with(R"("logprobs":true,"top_logprobs":21)"), "top_logprobs",
       "between 0 and 20, got 21", "invalid_value"},
      {"top_logprobs negative", with(R"("logprobs":true,"top_logprobs":-1)"), "top_logprobs",
       "got -1", "invalid_value"},
      {"top_logprobs without logprobs", with(R"("top_logprobs":5)"), "top_logprobs",
       "requires 'logprobs' to be true", "invalid_value"},
      {"top_logprobs with logprobs false", with(R"("logprobs":false,"top_logprobs":2)"),
       "top_logprobs", "requires 'logprobs'", "invalid_value"},
      {"logit_bias an array", with(R"("logit_bias":[1,2])"), "logit_bias", "must be an object",
       "invalid_type"},
      {"logit_bias word key", with(R"("logit_bias":{"hello":5})"), "logit_bias",
       "'hello' is not a token id", "invalid_value"},
      {"logit_bias negative id", with(R"("logit_bias":{"-1":5})"), "logit_bias", "not a token id",
       "invalid_value"},
      {"logit_bias id == n_vocab", with(R"("logit_bias":{"65536":5})"), "logit_bias",
       "Token id 65536 in 'logit_bias' is out of range: valid ids are 0 to 65535", "invalid_value"},
      {"logit_bias huge id", with(R"("logit_bias":{"99999999999999999999":5})"), "logit_bias",
       "not a token id", "invalid_value"},
      {"logit_bias value 101", with(R"("logit_bias":{"5":101})"), "logit_bias",
       "between -100 and 100, got 101", "invalid_value"},
      {"logit_bias value -100.5", with(R"("logit_bias":{"5":-100.5})"), "logit_bias",
       "between -100 and 100", "invalid_value"},
      {"logit_bias value string", with(R"("logit_bias":{"5":"1"})"), "logit_bias", "got a string",
       "invalid_type"},
      {"logit_bias too many", with(R"("logit_bias":)" + many), "logit_bias", "at most 1024",
       "array_above_max_length"},
  });
}

TEST_CASE("malformed: stop, stream, stream_options") {
  run_bad_table({
      {"stop a number", with(R"("stop":5)"), "stop", "a string or an array of strings",
       "invalid_type"},
      {"five stop strings", with(R"("stop":["a","b","c","d","e"])"), "stop",
       "at most 4 strings, got 5", "array_above_max_length"},
      {"empty stop string in array", with(R"("stop":["a",""])"), "stop[1]",
       "must not be an empty string", "invalid_value"},
      {"empty stop string", with(R"("stop":"")"), "stop", "must not be an empty string",
       "invalid_value"},
      {"stop entry a number", with(R"("stop":["a",7])"), "stop[1]", "must be a string",
       "invalid_type"},
      {"stop string too long", with(R"("stop":")" + std::string(257, 's') + "\""), "stop",
       "too long: 257 bytes; at most 256", "invalid_value"},
      {"stream a string", with(R"("stream":"true")"), "stream", "must be a boolean",
       "invalid_type"},
      {"stream a number", with(R"("stream":1)"), "stream", "got an integer", "invalid_type"},
      {"stream_options without stream", with(R"("stream_options":{"include_usage":true})"),
       "stream_options", "only allowed when 'stream' is true", "invalid_value"},
      {"stream_options with stream false",
       with(R"("stream":false,"stream_options":{"include_usage":true})"), "stream_options",
       "only allowed when 'stream' is true", "invalid_value"},
      {"stream_options a string", with(R"("stream":true,"stream_options":"usage")"),
       "stream_options", "must be an object", "invalid_type"},
      {"include_usage a string", with(R"("stream":true,"stream_options":{"include_usage":"yes"})"),
       "stream_options.include_usage", "must be a boolean", "invalid_type"},
  });
}

TEST_CASE("malformed: custom limits are honoured") {
  Limits l = test_limits();
  l.max_messages = 2;
  l.max_stop = 1;
  l.max_tokens_cap = 16;
  l.n_vocab = 10;
  l.max_top_logprobs = 5;
  run_bad_table(
      {
          {"3 messages over 2",
           msgs(R"([{"role":"user","content":"a"},{"role":"assistant","content":"b"},
                    {"role":"user","content":"c"}])"),
           "messages", "at most 2", "array_above_max_length"},
          {"2 stops over 1", with(R"("stop":["a","b"])"), "stop", "at most 1 strings",
           "array_above_max_length"},
          {"max_tokens over 16", with(R"("max_tokens":17)"), "max_tokens",
           "supports at most 16 completion tokens", "invalid_value"},
          {"token id 10 with n_vocab 10", with(R"("logit_bias":{"10":1})"), "logit_bias",
           "valid ids are 0 to 9", "invalid_value"},
          {"top_logprobs 6 over 5", with(R"("logprobs":true,"top_logprobs":6)"), "top_logprobs",
           "between 0 and 5", "invalid_value"},
      },
      l);
}
