// Responses envelopes and named SSE events (server/protocols/openai_responses.h): the response
// object, output items, the event sequence of a scripted OutputEvent stream, and its framing
// read back by an SSE parser fed in pieces split at every byte.
#include <doctest/doctest.h>

#include <string>
#include <utility>
#include <vector>

#include "server/protocols/openai_responses.h"
#include "server/protocols/wire.h"

namespace lfmd::openai_responses {
namespace {

using K = OutputEvent::Kind;

Envelope env() {
  return Envelope{"resp_abc", 1700000000, "m", json::object()};
}

OutputEvent ev(K kind, std::string text = "", int index = -1, std::string id = "",
               std::string name = "") {
  OutputEvent e;
  e.kind = kind;
  e.text = std::move(text);
  e.index = index;
  e.id = std::move(id);
  e.name = std::move(name);
  return e;
}

OutputEvent finish(OutputFinish f, std::string content, std::string reasoning = "",
                   std::vector<output::ToolCall> calls = {}) {
  OutputEvent e = ev(K::Finish);
  e.finish = f;
  e.content = std::move(content);
  e.reasoning = std::move(reasoning);
  e.tool_calls = std::move(calls);
  e.usage = {10, 5, 4, 2};
  return e;
}

// A minimal SSE reader: (event name, data) pairs; comments skipped. Independent of the server's.
struct SseEvents {
  std::string buf;
  std::vector<std::pair<std::string, std::string>> out;
  int comments = 0;
  void feed(const std::string& bytes) {
    buf += bytes;
    for (size_t end; (end = buf.find("\n\n")) != std::string::npos;) {
      const std::string block = buf.substr(0, end);
      buf.erase(0, end + 2);
      std::string name, data;
      size_t p = 0;
      while (p < block.size()) {
        size_t nl = block.find('\n', p);
        if (nl == std::string::npos) nl = block.size();
        const std::string line = block.substr(p, nl - p);
        if (line.rfind("event: ", 0) == 0) name = line.substr(7);
        if (line.rfind("data: ", 0) == 0) data += line.substr(6);
        if (line.rfind(":", 0) == 0) ++comments;
        p = nl + 1;
      }
      if (!data.empty()) out.emplace_back(name, data);
    }
  }
};

// thinking, text, two tool calls, a keep-alive in between, then the end.
std::vector<OutputEvent> script() {
  return {ev(K::Reasoning, "hmm "),
          ev(K::Reasoning, "ok"),
          ev(K::KeepAlive),
          ev(K::Text, "Hé"),
          ev(K::Text, "llo"),
          ev(K::ToolCallStart, "", 0, "call_1", "f"),
          ev(K::ToolCallArgs, "{\"a\":1}", 0),
          ev(K::ToolCallEnd, "", 0),
          ev(K::ToolCallStart, "", 1, "call_2", "g"),
          ev(K::ToolCallArgs, "{}", 1),
          ev(K::ToolCallEnd, "", 1),
          finish(OutputFinish::ToolCalls, "Héllo", "hmm ok",
                 {{"call_1", "f", "{\"a\":1}"}, {"call_2", "g", "{}"}})};
}

std::string run(const std::vector<OutputEvent>& events) {
  EventStream es(env());
  std::string s = es.start();
  for (const auto& e : events) s += es.feed(e);
  return s;
}

TEST_CASE("usage in Responses' words") {
  CHECK(wire::dump(usage({10, 5, 4, 2})) ==
        R"({"input_tokens":10,"input_tokens_details":{"cached_tokens":4},"output_tokens":5,)"
        R"("output_tokens_details":{"reasoning_tokens":2},"total_tokens":15})");
}

TEST_CASE("response object: status, incomplete details, echoed request fields") {
  Envelope e = env();
  e.echo = {{"instructions", "be brief"}, {"max_output_tokens", 9}, {"tool_choice", "none"}};
  const json r = response(e, "incomplete", json::array(), usage({1, 2, 0, 0}));
  CHECK(r["id"] == "resp_abc");
  CHECK(r["object"] == "response");
  CHECK(r["created_at"] == 1700000000);
  CHECK(r["incomplete_details"].dump() == R"({"reason":"max_output_tokens"})");
  CHECK(r["error"].is_null());
  CHECK(r["instructions"] == "be brief");
  CHECK(r["max_output_tokens"] == 9);
  CHECK(r["tool_choice"] == "none");
  CHECK(r["text"].dump() == R"({"format":{"type":"text"}})");
  CHECK(r["usage"]["total_tokens"] == 3);
  CHECK(response(env(), "completed", json::array(), nullptr)["incomplete_details"].is_null());
}

TEST_CASE("output items: reasoning, message, function calls") {
  const json items = output_items(env(), script().back());
  CHECK(
      wire::dump(items) ==
      R"([{"type":"reasoning","id":"rs_abc_0","summary":[],"content":[{"type":"reasoning_text","text":"hmm ok"}]},)"
      R"({"type":"message","id":"msg_abc_1","status":"completed","role":"assistant","content":[)"
      R"({"type":"output_text","text":"Héllo","annotations":[],"logprobs":[]}]},)"
      R"({"type":"function_call","id":"fc_abc_2","call_id":"call_1","name":"f","arguments":"{\"a\":1}","status":"completed"},)"
      R"({"type":"function_call","id":"fc_abc_3","call_id":"call_2","name":"g","arguments":"{}","status":"completed"}])");
  // Blank text beside tool calls is no message; no output at all is one empty message.
  CHECK(
      output_items(env(), finish(OutputFinish::ToolCalls, " \n", "", {{"c", "f", "{}"}})).size() ==
      1);
  const json empty = output_items(env(), finish(OutputFinish::Length, ""));
  REQUIRE(empty.size() == 1);
  CHECK(empty[0]["status"] == "incomplete");
  CHECK(empty[0]["content"][0]["text"] == "");
}

TEST_CASE("event sequence of a scripted stream; the final response holds the streamed items") {
  SseEvents sse;
  sse.feed(run(script()));
  std::vector<std::string> types;
  for (size_t i = 0; i < sse.out.size(); ++i) {
    const json d = json::parse(sse.out[i].second);
    CHECK(d["type"] == sse.out[i].first);
    CHECK(d["sequence_number"] == i);
    types.push_back(sse.out[i].first);
  }
  const std::vector<std::string> want = {"response.created",
                                         "response.in_progress",
                                         "response.output_item.added",
                                         "response.content_part.added",
                                         "response.reasoning_text.delta",
                                         "response.reasoning_text.delta",
                                         "response.reasoning_text.done",
                                         "response.content_part.done",
                                         "response.output_item.done",
                                         "response.output_item.added",
                                         "response.content_part.added",
                                         "response.output_text.delta",
                                         "response.output_text.delta",
                                         "response.output_text.done",
                                         "response.content_part.done",
                                         "response.output_item.done",
                                         "response.output_item.added",
                                         "response.function_call_arguments.delta",
                                         "response.function_call_arguments.done",
                                         "response.output_item.done",
                                         "response.output_item.added",
                                         "response.function_call_arguments.delta",
                                         "response.function_call_arguments.done",
                                         "response.output_item.done",
                                         "response.completed"};
  CHECK(types == want);
  CHECK(sse.comments == 1);  // the keep-alive
  const json done = json::parse(sse.out.back().second)["response"];
  CHECK(done["status"] == "completed");
  CHECK(done["usage"]["input_tokens_details"]["cached_tokens"] == 4);
  CHECK(done["output"] == output_items(env(), script().back()));  // streamed == non-streamed
}

TEST_CASE("length ends with response.incomplete; an error with response.failed") {
  SseEvents a;
  a.feed(run({ev(K::Text, "abc"), finish(OutputFinish::Length, "abc")}));
  const json inc = json::parse(a.out.back().second);
  CHECK(inc["type"] == "response.incomplete");
  CHECK(inc["response"]["incomplete_details"]["reason"] == "max_output_tokens");
  CHECK(inc["response"]["output"][0]["status"] == "incomplete");
  SseEvents b;
  b.feed(run({ev(K::Text, "a"), ev(K::Error, "engine fault")}));
  const json failed = json::parse(b.out.back().second);
  CHECK(failed["type"] == "response.failed");
  CHECK(failed["response"]["status"] == "failed");
  CHECK(failed["response"]["error"]["message"] == "engine fault");
}

TEST_CASE("blank text before a tool call opens no message; an empty answer is one empty message") {
  SseEvents a;
  a.feed(run({ev(K::Text, "\n"), ev(K::ToolCallStart, "", 0, "c", "f"),
              ev(K::ToolCallArgs, "{}", 0), ev(K::ToolCallEnd, "", 0),
              finish(OutputFinish::ToolCalls, "\n", "", {{"c", "f", "{}"}})}));
  const json r = json::parse(a.out.back().second)["response"];
  REQUIRE(r["output"].size() == 1);
  CHECK(r["output"][0]["type"] == "function_call");
  SseEvents b;
  b.feed(run({finish(OutputFinish::EndOfTurn, "")}));
  const json e = json::parse(b.out.back().second)["response"];
  REQUIRE(e["output"].size() == 1);
  CHECK(e["output"][0]["type"] == "message");
}

TEST_CASE("SSE framing survives a split at every byte boundary") {
  const std::string all = run(script());
  SseEvents whole;
  whole.feed(all);
  REQUIRE(whole.out.size() == 25);
  for (size_t i = 0; i < whole.out.size(); ++i) {  // each frame: one JSON object naming its event
    const json d = json::parse(whole.out[i].second, nullptr, /*allow_exceptions=*/false);
    REQUIRE_MESSAGE(d.is_object(), whole.out[i].second);
    CHECK(d["type"] == whole.out[i].first);
    CHECK(d["sequence_number"] == i);
  }
  for (size_t i = 0; i <= all.size(); ++i) {
    SseEvents split;
    split.feed(all.substr(0, i));
    split.feed(all.substr(i));
    REQUIRE_MESSAGE(split.out == whole.out, "split at byte " << i);
    CHECK(split.buf.empty());
  }
  SseEvents bytewise;
  for (char c : all) bytewise.feed(std::string(1, c));
  CHECK(bytewise.out == whole.out);
}

}  // namespace
}  // namespace lfmd::openai_responses
