// Thinking at the start of an answer and LFM2.5's bare call lists
// (server/output/reasoning_stage.cpp): the same result whatever the piece boundaries.
#include <doctest/doctest.h>

#include "harness.h"

namespace lfmd::output::test {
namespace {

Options opts(std::vector<std::string> bare = {}, std::vector<std::string> stop = {}) {
  Options o = make_opts(std::move(stop), true);
  o.bare_call_tools = std::move(bare);
  return o;
}

// The run of `text` whole, and checks that every two-piece cut and the byte-by-byte feed agree.
Run run_all_splits(const std::string& text, const Options& o) {
  const Run whole = run_whole(text, o);
  CHECK_MESSAGE(whole.shape_error.empty(), whole.shape_error);
  std::vector<size_t> bytes;
  for (size_t i = 1; i < text.size(); ++i) bytes.push_back(i);
  std::vector<std::vector<size_t>> cuts = {bytes};
  for (size_t i = 1; i < text.size(); ++i) cuts.push_back({i});
  for (const auto& c : cuts) {
    const Run r = run_pieces(text, c, o);
    CHECK_MESSAGE(r.shape_error.empty(), r.shape_error);
    CHECK(r.content == whole.content);
    CHECK(r.reasoning == whole.reasoning);
    CHECK(r.calls == whole.calls);
    CHECK(r.finish == whole.finish);
  }
  return whole;
}

TEST_CASE("reasoning: thinking then text") {
  const Run r = run_all_splits("<think>plan: say hi\n</think>\n\nHello there", opts());
  CHECK(r.reasoning == "plan: say hi\n");
  CHECK(r.content == "Hello there");
  CHECK(r.finish == "stop");
}

TEST_CASE("reasoning: white space before <think> and a marked tool call after it") {
  const Run r =
      run_all_splits("\n <think>use f</think><|tool_call_start|>[f(x=1)]<|tool_call_end|>", opts());
  CHECK(r.reasoning == "use f");
  CHECK(r.content.empty());
  REQUIRE(r.calls.size() == 1);
  CHECK(r.calls[0].name == "f");
  CHECK(r.finish == "tool_calls");
}

TEST_CASE("reasoning: thinking only, and unterminated thinking (max_tokens) stay reasoning") {
  CHECK(run_all_splits("<think>only this</think>", opts()).reasoning == "only this");
  const Run cut = run_all_splits("<think>still thinking é", opts());
  CHECK(cut.reasoning == "still thinking é");
  CHECK(cut.content.empty());
}

TEST_CASE("reasoning: not a <think> start, or turned off, is plain content") {
  CHECK(run_all_splits("<thin", opts()).content == "<thin");
  CHECK(run_all_splits("<thinking>x</thinking>", opts()).content == "<thinking>x</thinking>");
  CHECK(run_all_splits("a <think>b</think>", opts()).content == "a <think>b</think>");
  Options raw = opts();
  raw.parse_reasoning = false;
  const Run r = run_all_splits("<think>x</think>y", raw);
  CHECK(r.content == "<think>x</think>y");
  CHECK(r.reasoning.empty());
}

TEST_CASE("bare calls: a whole-answer call list naming offered tools is tool calls") {
  const Run r = run_all_splits("<think>t</think>[f(x=1), g()]", opts({"f", "g"}));
  CHECK(r.reasoning == "t");
  CHECK(r.content.empty());
  REQUIRE(r.calls.size() == 2);
  CHECK(r.calls[0].args == R"({"x":1})");
  CHECK(r.calls[1].name == "g");
  CHECK(r.finish == "tool_calls");
  CHECK(r.message["content"].is_null());
}

TEST_CASE("bare calls: anything else stays content") {
  CHECK(run_all_splits("[f(x=1), g()]", opts({"f"})).content == "[f(x=1), g()]");  // g not offered
  CHECK(run_all_splits("[f(x=1)] and more", opts({"f"})).content == "[f(x=1)] and more");
  CHECK(run_all_splits("[1, 2, 3]", opts({"f"})).content == "[1, 2, 3]");
  CHECK(run_all_splits("[f(x=1)]", opts()).content == "[f(x=1)]");  // no bare-call tools
  CHECK(run_all_splits("See [the docs](x)", opts({"f"})).content == "See [the docs](x)");
}

TEST_CASE("bare calls: content starting with '[' is held until decided, other text is not") {
  StreamParser p(opts({"f"}));
  CHECK(p.feed("[f(x=").empty());
  CHECK(p.feed("1)]").empty());
  const auto ev = p.finish();
  REQUIRE(ev.size() == 2);
  CHECK(ev[0].kind == Event::ToolCallBegin);
  StreamParser q(opts({"f"}));
  const auto early = q.feed("[1, ");  // cannot be a call list: released at once
  REQUIRE(early.size() == 1);
  CHECK(early[0].text == "[1, ");
}

TEST_CASE("bare calls: a stop string ends the held list and decides it") {
  const Run r = run_all_splits("[f(x=1)]END ignored", opts({"f"}, {"END"}));
  REQUIRE(r.calls.size() == 1);
  CHECK(r.content.empty());
}

}  // namespace
}  // namespace lfmd::output::test
