// Anthropic Messages (server/protocols/anthropic_messages.h, server/api/messages_request.h):
// request conversion and rejection, envelopes, stop reasons, errors, and the stream's events.
#include <doctest/doctest.h>

#include <string>
#include <utility>
#include <vector>

#include "server/api/messages_request.h"
#include "server/protocols/anthropic_messages.h"
#include "server/protocols/wire.h"

namespace lfmd::anthropic_messages {
namespace {

using K = OutputEvent::Kind;

OutputEvent ev(K kind, std::string text = {}, int index = -1) {
  OutputEvent e;
  e.kind = kind;
  e.text = std::move(text);
  e.index = index;
  return e;
}

OutputEvent finish_with_everything() {
  OutputEvent f = ev(K::Finish);
  f.finish = OutputFinish::ToolCalls;
  f.reasoning = "think";
  f.content = "Sure.";
  f.tool_calls = {{"call_abc", "get", R"({"a":1,"b":"x","c":[true,null]})"}};
  f.usage = {10, 5, 4, 1};
  f.annotations = {{"confidence", {{"score", 0.5}}}, {"cloud_handoff", false}};
  return f;
}

// A minimal SSE parser (event name + data), fed in arbitrary pieces.
struct Sse {
  std::string buf;
  std::vector<std::pair<std::string, std::string>> events;
  void feed(std::string_view bytes) {
    buf += bytes;
    for (size_t end; (end = buf.find("\n\n")) != std::string::npos;) {
      std::string frame = buf.substr(0, end), name, data;
      buf.erase(0, end + 2);
      size_t pos = 0;
      while (pos <= frame.size()) {
        size_t nl = frame.find('\n', pos);
        if (nl == std::string::npos) nl = frame.size();
        const std::string line = frame.substr(pos, nl - pos);
        if (line.rfind("event: ", 0) == 0) name = line.substr(7);
        if (line.rfind("data: ", 0) == 0) data += line.substr(6);
        pos = nl + 1;
      }
      events.emplace_back(name, data);
    }
  }
};

std::string scripted_stream() {
  StreamEncoder enc("msg_1", "m");
  std::string out = enc.start(12);
  OutputEvent call = ev(K::ToolCallStart, "", 0);
  call.id = "call_xyz";
  call.name = "get";
  OutputEvent fin = finish_with_everything();
  for (const OutputEvent& e :
       {ev(K::Reasoning, "a"), ev(K::Reasoning, "b"), ev(K::Text, "Hi \xC3\xA9"), ev(K::KeepAlive),
        call, ev(K::ToolCallArgs, R"({"a":1})", 0), ev(K::ToolCallEnd, "", 0), fin}) {
    out += enc.on(e);
  }
  return out;
}

TEST_CASE("stop reasons in Anthropic's words") {
  CHECK(std::string(stop_reason(OutputFinish::EndOfTurn)) == "end_turn");
  CHECK(std::string(stop_reason(OutputFinish::StopSequence)) == "stop_sequence");
  CHECK(std::string(stop_reason(OutputFinish::Length)) == "max_tokens");
  CHECK(std::string(stop_reason(OutputFinish::ToolCalls)) == "tool_use");
}

TEST_CASE("usage: input_tokens exclude the cached ones") {
  CHECK(
      wire::dump(usage({10, 5, 4, 0})) ==
      R"({"input_tokens":6,"cache_creation_input_tokens":0,"cache_read_input_tokens":4,"output_tokens":5})");
}

TEST_CASE("message: thinking, text and tool_use blocks with typed input; annotations appended") {
  CHECK(tool_use_id("call_abc") == "toolu_abc");
  const json m = message("msg_1", "claude-x", finish_with_everything());
  CHECK(
      wire::dump(m) ==
      R"({"id":"msg_1","type":"message","role":"assistant","model":"claude-x","content":[)"
      R"({"type":"thinking","thinking":"think","signature":"lfmd-unsigned"},{"type":"text","text":"Sure."},)"
      R"({"type":"tool_use","id":"toolu_abc","name":"get","input":{"a":1,"b":"x","c":[true,null]}}],)"
      R"("stop_reason":"tool_use","stop_sequence":null,"usage":{"input_tokens":6,"cache_creation_input_tokens":0,)"
      R"("cache_read_input_tokens":4,"output_tokens":5},"confidence":{"score":0.5},"cloud_handoff":false})");
  OutputEvent stop = ev(K::Finish);
  stop.finish = OutputFinish::StopSequence;
  stop.stop_sequence = "END";
  stop.content = "x";
  CHECK(message("m", "m", stop)["stop_sequence"] == "END");
  CHECK(message("m", "m", stop)["stop_reason"] == "stop_sequence");
  CHECK(message("m", "m", ev(K::Finish))["content"] == json::array());
}

TEST_CASE("errors: Anthropic's shape, types by status, a full queue is 529 overloaded_error") {
  const std::vector<std::tuple<api::ApiError, int, std::string>> cases = {
      {api::invalid_request("bad"), 400, "invalid_request_error"},
      {api::invalid_api_key(), 401, "authentication_error"},
      {api::route_not_found("POST", "/v1/messages/x"), 404, "not_found_error"},
      {api::rate_limited(1), 529, "overloaded_error"},
      {api::model_loading(2), 529, "overloaded_error"},
      {api::server_error("boom"), 500, "api_error"},
      {api::body_too_large(10), 413, "request_too_large"},
  };
  for (const auto& [e, status, type] : cases) {
    const http::Response r = error_response(e);
    CHECK(r.status == status);
    const json b = json::parse(r.body);
    CHECK(b["type"] == "error");
    CHECK(b["error"]["type"] == type);
    CHECK(b["error"]["message"].is_string());
    CHECK(b.size() == 2);
  }
  const http::Response r = error_response(api::rate_limited(3));
  REQUIRE(r.headers.size() == 1);
  CHECK(r.headers[0] == std::pair<std::string, std::string>{"Retry-After", "3"});
}

TEST_CASE("stream: one block per kind of output, signature before a thinking block stops") {
  Sse sse;
  sse.feed(scripted_stream());
  std::vector<std::string> seen;
  for (const auto& [name, data] : sse.events) {
    const json d = json::parse(data);
    CHECK(d["type"] == name);  // the event name repeats the data's type
    std::string s = name;
    if (d.contains("index")) s += " " + std::to_string(d["index"].get<int>());
    if (d.contains("delta") && d["delta"].contains("type"))
      s += " " + d["delta"]["type"].get<std::string>();
    if (d.contains("content_block")) s += " " + d["content_block"]["type"].get<std::string>();
    seen.push_back(s);
  }
  const std::vector<std::string> want = {"message_start",
                                         "content_block_start 0 thinking",
                                         "content_block_delta 0 thinking_delta",
                                         "content_block_delta 0 thinking_delta",
                                         "content_block_delta 0 signature_delta",
                                         "content_block_stop 0",
                                         "content_block_start 1 text",
                                         "content_block_delta 1 text_delta",
                                         "ping",
                                         "content_block_stop 1",
                                         "content_block_start 2 tool_use",
                                         "content_block_delta 2 input_json_delta",
                                         "content_block_stop 2",
                                         "message_delta",
                                         "message_stop"};
  CHECK(seen == want);
  const json start = json::parse(sse.events[0].second);
  CHECK(start["message"]["usage"]["input_tokens"] == 12);
  CHECK(start["message"]["content"] == json::array());
  CHECK(start["message"]["stop_reason"].is_null());
  const json tool = json::parse(sse.events[10].second)["content_block"];
  CHECK(wire::dump(tool) == R"({"type":"tool_use","id":"toolu_xyz","name":"get","input":{}})");
  const json md = json::parse(sse.events[13].second);
  CHECK(md["delta"]["stop_reason"] == "tool_use");
  CHECK(md["delta"]["stop_sequence"].is_null());
  CHECK(md["usage"]["output_tokens"] == 5);
  CHECK(md["usage"]["cache_read_input_tokens"] == 4);
  CHECK(md["cloud_handoff"] == false);
}

TEST_CASE("stream: text only; an engine error is an error event") {
  StreamEncoder enc("msg_2", "m");
  CHECK(enc.on(ev(K::Text, "")).empty());
  Sse sse;
  sse.feed(enc.on(ev(K::Text, "a")) + enc.on(ev(K::Error, "engine failed")));
  REQUIRE(sse.events.size() == 3);
  CHECK(sse.events[2].first == "error");
  const json e = json::parse(sse.events[2].second);
  CHECK(e["type"] == "error");
  CHECK(e["error"]["type"] == "api_error");
}

TEST_CASE("stream: split at every byte boundary, the same events") {
  const std::string all = scripted_stream();
  Sse whole;
  whole.feed(all);
  REQUIRE(whole.events.size() == 15);
  CHECK(whole.buf.empty());
  for (size_t i = 0; i <= all.size(); ++i) {
    Sse split;
    split.feed(std::string_view(all).substr(0, i));
    split.feed(std::string_view(all).substr(i));
    CHECK(split.events == whole.events);
  }
  Sse bytewise;
  for (char c : all) bytewise.feed(std::string_view(&c, 1));
  CHECK(bytewise.events == whole.events);
}

}  // namespace
}  // namespace lfmd::anthropic_messages
