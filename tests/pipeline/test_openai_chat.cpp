// Chat Completions envelopes (server/protocols/openai_chat.h): the shapes clients parse.
#include <doctest/doctest.h>

#include "server/pipeline/handoff.h"
#include "server/protocols/openai_chat.h"
#include "server/protocols/wire.h"

namespace lfmd::openai_chat {
namespace {

const Envelope kEnv{"chatcmpl-1", 1700000000, "m", false};

TEST_CASE("finish reasons in OpenAI's words") {
  CHECK(std::string(finish_reason(OutputFinish::EndOfTurn)) == "stop");
  CHECK(std::string(finish_reason(OutputFinish::StopSequence)) == "stop");
  CHECK(std::string(finish_reason(OutputFinish::Length)) == "length");
  CHECK(std::string(finish_reason(OutputFinish::ToolCalls)) == "tool_calls");
}

TEST_CASE("chunk: fields in order, usage null only with include_usage") {
  CHECK(
      wire::dump(chunk(kEnv, {{"content", "hi"}}, nullptr)) ==
      R"({"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":"m",)"
      R"("choices":[{"index":0,"delta":{"content":"hi"},"logprobs":null,"finish_reason":null}]})");
  Envelope e = kEnv;
  e.include_usage = true;
  const json c = chunk(e, json::object(), "stop");
  CHECK(c.contains("usage"));
  CHECK(c["usage"].is_null());
  CHECK(c["choices"][0]["finish_reason"] == "stop");
}

TEST_CASE("usage counts total and cached tokens") {
  CHECK(
      wire::dump(usage({10, 5, 4})) ==
      R"({"prompt_tokens":10,"completion_tokens":5,"total_tokens":15,"prompt_tokens_details":{"cached_tokens":4}})");
}

TEST_CASE("delta of tool-call events") {
  OutputEvent start;
  start.kind = OutputEvent::Kind::ToolCallStart;
  start.index = 1;
  start.id = "call_x";
  start.name = "f";
  CHECK(
      wire::dump(delta(start)) ==
      R"({"tool_calls":[{"index":1,"id":"call_x","type":"function","function":{"name":"f","arguments":""}}]})");
  OutputEvent args;
  args.kind = OutputEvent::Kind::ToolCallArgs;
  args.index = 1;
  args.text = "{}";
  CHECK(wire::dump(delta(args)) == R"({"tool_calls":[{"index":1,"function":{"arguments":"{}"}}]})");
}

TEST_CASE("reframe_chunk: our id and time, the upstream's choices, a role on the first delta") {
  const json up = json::parse(
      R"({"id":"up-9","object":"chat.completion.chunk","created":5,"model":"gpt-x",)"
      R"("choices":[{"index":0,"delta":{"content":"a"},"finish_reason":null}],"usage":{"total_tokens":3}})");
  const json first = reframe_chunk(kEnv, up, true);
  CHECK(first["id"] == "chatcmpl-1");
  CHECK(first["created"] == 1700000000);
  CHECK(first["model"] == "gpt-x");
  CHECK(wire::dump(first["choices"][0]["delta"]) == R"({"role":"assistant","content":"a"})");
  CHECK(first["choices"][0]["logprobs"].is_null());
  CHECK(first["usage"]["total_tokens"] == 3);
  CHECK_FALSE(reframe_chunk(kEnv, up, false)["choices"][0]["delta"].contains("role"));
  const json no_model = reframe_chunk(kEnv, json::parse(R"({"choices":[7]})"), true);
  CHECK(no_model["model"] == "m");
  CHECK(no_model["choices"].empty());  // a choice that is not an object is dropped
}

TEST_CASE("cloud_completion re-envelopes the upstream's answer; annotate appends in order") {
  const json up = json::parse(
      R"({"id":"up","model":"gpt-x","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},)"
      R"("finish_reason":"stop"}],"usage":{"prompt_tokens":1}})");
  json body = cloud_completion(kEnv, up);
  annotate(body, {{"confidence", {{"score", 0.5}}}, {"cloud_handoff", true}});
  CHECK(
      wire::dump(body) ==
      R"({"id":"chatcmpl-1","object":"chat.completion","created":1700000000,"model":"gpt-x","choices":[{"index":0,)"
      R"("message":{"role":"assistant","content":"hi"},"logprobs":null,"finish_reason":"stop"}],)"
      R"("usage":{"prompt_tokens":1},"confidence":{"score":0.5},"cloud_handoff":true})");
}

TEST_CASE("error_response carries status, body and Retry-After") {
  const http::Response r = wire::error_response(api::rate_limited(3));
  CHECK(r.status == 429);
  REQUIRE(r.headers.size() == 1);
  CHECK(r.headers[0].first == "Retry-After");
  CHECK(r.headers[0].second == "3");
  CHECK(json::parse(r.body)["error"]["code"] == "rate_limit_exceeded");
}

TEST_CASE(
    "a Chat Completions stream read back split at every byte boundary gives the same chunks") {
  Envelope e = kEnv;
  e.include_usage = true;
  OutputEvent call;
  call.kind = OutputEvent::Kind::ToolCallStart;
  call.index = 0;
  call.id = "call_1";
  call.name = "f";
  const std::vector<json> chunks = {chunk(e, {{"role", "assistant"}, {"content", ""}}, nullptr),
                                    chunk(e, {{"reasoning_content", "th\u00e9"}}, nullptr),
                                    chunk(e, {{"content", "a\n\nb: c"}}, nullptr),
                                    chunk(e, delta(call), nullptr),
                                    chunk(e, json::object(), "tool_calls")};
  std::string stream;
  std::vector<std::string> want;
  for (const auto& c : chunks) {
    stream += wire::sse(c);
    want.push_back(wire::dump(c));
  }
  stream += ": ping\n\ndata: [DONE]\n\n";
  want.push_back("[DONE]");
  for (size_t cut = 0; cut <= stream.size(); ++cut) {
    SseReader r;
    std::vector<std::string> got;
    for (const std::string& piece : {stream.substr(0, cut), stream.substr(cut)}) {
      r.feed(piece);
      while (auto d = r.next()) got.push_back(*d);
    }
    REQUIRE(got == want);
  }
}

}  // namespace
}  // namespace lfmd::openai_chat
