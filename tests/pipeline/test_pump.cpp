// The event pump (server/pipeline/generation.h) against a scripted engine stream: text, tool
// calls, stop strings, cancel on disconnect, keep-alive ticks, errors, the flag decision.
#include <doctest/doctest.h>

#include <functional>
#include <vector>

#include "server/pipeline/generation.h"

namespace lfmd {
namespace {

TokenEvent tok(const std::string& text, int32_t id = 5) {
  TokenEvent e;
  e.token = id;
  e.text = text;
  return e;
}

TokenEvent done(FinishReason r = FinishReason::Stop, int64_t n_gen = 2) {
  TokenEvent e;
  e.kind = TokenEvent::Kind::Done;
  e.finish_reason = r;
  e.n_prompt = 7;
  e.n_generated = n_gen;
  e.n_cached = 3;
  return e;
}

// A generation over a stream the test fills; counts engine cancels.
struct Harness {
  Metrics metrics;
  HandoffConfig handoff;
  std::shared_ptr<RequestStream> stream = std::make_shared<RequestStream>();
  int cancels = 0;
  std::vector<OutputEvent> events;

  std::unique_ptr<Generation> make(std::function<void(GenerationSetup&)> tweak = nullptr) {
    GenerationSetup s;
    s.stream = stream;
    s.cancel = [this] { ++cancels; };
    s.metrics = &metrics;
    s.handoff = &handoff;
    s.parse.parse_tool_calls = false;
    if (tweak) tweak(s);
    return std::make_unique<Generation>(std::move(s));
  }
  EventSink collect() {
    return [this](const OutputEvent& e) {
      events.push_back(e);
      return true;
    };
  }
  static bool alive() { return true; }
};

TEST_CASE("pump: text then finish with usage") {
  Harness h;
  auto g = h.make();
  h.stream->push(tok("Hel"));
  h.stream->push(tok("lo"));
  h.stream->push(done());
  CHECK(g->pump(h.collect(), Harness::alive) == PumpEnd::Finished);
  REQUIRE(!h.events.empty());
  const OutputEvent& f = h.events.back();
  CHECK(f.kind == OutputEvent::Kind::Finish);
  CHECK(f.finish == OutputFinish::EndOfTurn);
  CHECK(f.content == "Hello");
  CHECK(f.usage.prompt_tokens == 7);
  CHECK(f.usage.completion_tokens == 2);
  CHECK(f.usage.cached_tokens == 3);
  std::string text;
  for (const auto& e : h.events) {
    if (e.kind == OutputEvent::Kind::Text) text += e.text;
  }
  CHECK(text == "Hello");
  CHECK(f.annotations["cloud_handoff"] == false);
  CHECK(h.cancels == 0);
}

TEST_CASE("pump: max_tokens reached is a length finish") {
  Harness h;
  auto g = h.make();
  h.stream->push(tok("a"));
  h.stream->push(done(FinishReason::Length, 1));
  g->pump(h.collect(), Harness::alive);
  CHECK(h.events.back().finish == OutputFinish::Length);
}

TEST_CASE("pump: a stop string ends the text and cancels the engine") {
  Harness h;
  auto g = h.make([](GenerationSetup& s) { s.parse.stop = {"STOP"}; });
  h.stream->push(tok("ab"));
  h.stream->push(tok("cST"));
  h.stream->push(tok("OPd"));
  h.stream->push(tok("ignored"));
  h.stream->push(done(FinishReason::Cancelled));
  CHECK(g->pump(h.collect(), Harness::alive) == PumpEnd::Finished);
  CHECK(h.cancels >= 1);
  CHECK(h.events.back().finish == OutputFinish::StopSequence);
  CHECK(h.events.back().content == "abc");
}

TEST_CASE("pump: tool calls become start / args / end events") {
  Harness h;
  auto g = h.make([](GenerationSetup& s) { s.parse.parse_tool_calls = true; });
  h.stream->push(tok("<|tool_call_start|>[get(city=\"Paris\")]<|tool_call_end|>"));
  h.stream->push(done());
  g->pump(h.collect(), Harness::alive);
  std::vector<OutputEvent::Kind> kinds;
  for (const auto& e : h.events) kinds.push_back(e.kind);
  using K = OutputEvent::Kind;
  CHECK(kinds == std::vector<K>{K::ToolCallStart, K::ToolCallArgs, K::ToolCallEnd, K::Finish});
  CHECK(h.events[0].name == "get");
  CHECK(h.events[1].text == R"({"city":"Paris"})");
  CHECK(h.events.back().finish == OutputFinish::ToolCalls);
  REQUIRE(h.events.back().tool_calls.size() == 1);
}

TEST_CASE("pump: a client that stops reading cancels the generation") {
  Harness h;
  auto g = h.make();
  h.stream->push(tok("x"));
  h.stream->push(tok("y"));
  const PumpEnd end = g->pump([](const OutputEvent&) { return false; }, Harness::alive);
  CHECK(end == PumpEnd::ClientGone);
  CHECK(h.cancels == 1);
  CHECK(h.metrics.disconnects == 1);
}

TEST_CASE("pump: a closed connection is noticed without any event") {
  Harness h;
  auto g = h.make();
  const PumpEnd end = g->pump(h.collect(), [] { return false; });
  CHECK(end == PumpEnd::ClientGone);
  CHECK(h.cancels == 1);
  CHECK(h.events.empty());
}

TEST_CASE("pump: a silent stream sends keep-alive ticks, then its answer") {
  Harness h;
  auto g = h.make([](GenerationSetup& s) {
    s.streaming = true;
    s.keepalive_ms = 1;
  });
  int ticks = 0;
  auto sink = [&](const OutputEvent& e) {
    if (e.kind == OutputEvent::Kind::KeepAlive && ++ticks == 2) {
      h.stream->push(tok("late"));  // the answer arrives only after two ticks
      h.stream->push(done());
    }
    h.events.push_back(e);
    return true;
  };
  CHECK(g->pump(sink, Harness::alive) == PumpEnd::Finished);
  CHECK(ticks == 2);
  CHECK(h.events.back().content == "late");
}

TEST_CASE("pump: no keep-alive ticks when not streaming") {
  Harness h;
  auto g = h.make([](GenerationSetup& s) { s.keepalive_ms = 1; });
  int polls = 0;
  // alive() is asked once per poll; the answer arrives after a few empty polls.
  auto alive = [&] {
    if (++polls == 5) h.stream->push(done());
    return true;
  };
  g->pump(h.collect(), alive);
  for (const auto& e : h.events) CHECK(e.kind != OutputEvent::Kind::KeepAlive);
}

TEST_CASE("pump: an engine error ends the answer with an error event") {
  Harness h;
  auto g = h.make();
  TokenEvent err;
  err.kind = TokenEvent::Kind::Error;
  err.error = "boom";
  h.stream->push(tok("a"));
  h.stream->push(err);
  CHECK(g->pump(h.collect(), Harness::alive) == PumpEnd::Failed);
  CHECK(h.events.back().kind == OutputEvent::Kind::Error);
  CHECK(h.events.back().text == "boom");
}

TEST_CASE("pump: flag mode marks a low-confidence answer and counts the decision") {
  for (double mean : {0.5, 0.9}) {
    Harness h;
    auto g = h.make([](GenerationSetup& s) { s.policy = {HandoffMode::Flag, 0.7}; });
    TokenEvent d = done();
    ConfidenceSummary cs;
    cs.n = 3;
    cs.entropy_confidence = {mean, mean, mean};
    d.confidence_summary = cs;
    h.stream->push(tok("a"));
    h.stream->push(d);
    g->pump(h.collect(), Harness::alive);
    const bool low = mean < 0.7;
    CHECK(h.events.back().annotations["cloud_handoff"] == low);
    CHECK(h.events.back().annotations["confidence"]["score"] == mean);
    const std::string text = h.metrics.render(EngineStats{});
    CHECK(text.find(std::string("decision=\"") + (low ? "handoff" : "local") + "\"} 1") !=
          std::string::npos);
  }
}

}  // namespace
}  // namespace lfmd
