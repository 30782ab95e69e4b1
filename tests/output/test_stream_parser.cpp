// StreamParser API behaviour, randomized mixing of markup fragments, and a linear-cost check.
#include <doctest/doctest.h>

#include <chrono>

#include "tests/output/harness.h"

namespace lfmd::output::test {
namespace {

#define S "<|tool_call_start|>"
#define E "<|tool_call_end|>"

TEST_CASE("events: content as it becomes certain, one Begin + Args per call") {
  StreamParser p(make_opts({"</stop>"}));
  auto ev = p.feed("Hello <");
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].kind == Event::Content);
  CHECK(ev[0].text == "Hello ");  // "<" may start the marker or the stop string
  ev = p.feed("|tool_call_start|>[get_weather(city=\"Par");
  CHECK(ev.empty());  // the block is held until its end marker
  ev = p.feed("is\"), f()]<|tool_call_end|>Done");
  REQUIRE(ev.size() == 5);
  CHECK(ev[0].kind == Event::ToolCallBegin);
  CHECK(ev[0].index == 0);
  CHECK(ev[0].id == "call_0");
  CHECK(ev[0].name == "get_weather");
  CHECK(ev[0].text.empty());
  CHECK(ev[0].raw == S "[get_weather(city=\"Paris\"), f()]" E);
  CHECK(ev[1].kind == Event::ToolCallArgs);
  CHECK(ev[1].index == 0);
  CHECK(ev[1].name.empty());
  CHECK(ev[1].text == R"({"city":"Paris"})");
  CHECK(ev[2].kind == Event::ToolCallBegin);
  CHECK(ev[2].index == 1);
  CHECK(ev[2].raw.empty());
  CHECK(ev[3].text == "{}");
  CHECK(ev[4].kind == Event::Content);
  CHECK(ev[4].text == "Done");
  CHECK(p.finish().empty());
  CHECK(p.finish_reason(false) == "tool_calls");
  CHECK(p.finish_reason(true) == "tool_calls");
  CHECK(p.message().dump() ==
        R"({"role":"assistant","content":"Hello Done","tool_calls":[)"
        R"({"id":"call_0","type":"function","function":{"name":"get_weather",)"
        R"("arguments":"{\"city\":\"Paris\"}"}},)"
        R"({"id":"call_1","type":"function","function":{"name":"f","arguments":"{}"}}]})");
}

TEST_CASE("to_delta gives the OpenAI chunk deltas") {
  StreamParser p(make_opts());
  auto ev = p.feed("Hi " S "[f(a=1)]" E);
  REQUIRE(ev.size() == 3);
  CHECK(to_delta(ev[0]).dump() == R"({"content":"Hi "})");
  CHECK(to_delta(ev[1]).dump() == R"({"tool_calls":[{"index":0,"id":"call_0","type":"function",)"
                                  R"("function":{"name":"f","arguments":""}}]})");
  CHECK(to_delta(ev[2]).dump() ==
        R"({"tool_calls":[{"index":0,"function":{"arguments":"{\"a\":1}"}}]})");
}

TEST_CASE("stop string: stops, drops the rest, ignores later input") {
  StreamParser p(make_opts({"###"}));
  auto ev = p.feed("abc#");
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].text == "abc");
  ev = p.feed("#");
  CHECK(ev.empty());
  CHECK(!p.stopped());
  ev = p.feed("#tail");
  CHECK(ev.empty());
  CHECK(p.stopped());
  CHECK(p.done());
  CHECK(p.feed("more").empty());
  CHECK(p.finish().empty());
  CHECK(p.content() == "abc");
  CHECK(p.finish_reason(false) == "stop");
  CHECK(p.finish_reason(true) == "stop");
}

TEST_CASE("finish_reason and message without calls") {
  StreamParser p(make_opts());
  p.feed("partial <|tool_ca");
  auto ev = p.finish();
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].text == "<|tool_ca");
  CHECK(p.finish_reason(true) == "length");
  CHECK(p.finish_reason(false) == "stop");
  CHECK(p.message().dump() == R"({"role":"assistant","content":"partial <|tool_ca"})");
  StreamParser q(make_opts());
  q.finish();
  CHECK(q.message().dump() == R"({"role":"assistant","content":""})");
}

TEST_CASE("content is null when only whitespace accompanies tool calls") {
  StreamParser p(make_opts());
  p.feed("\n" S "[f()]" E "\n");
  p.finish();
  CHECK(p.content() == "\n\n");
  CHECK(p.message()["content"].is_null());
}

TEST_CASE("UTF-8: never half a code point, U+FFFD for an incomplete tail") {
  StreamParser p(make_opts());
  const std::string s = "\xF0\x9F\x8E\x89";  // U+1F389
  CHECK(p.feed(s.substr(0, 1)).empty());
  CHECK(p.feed(s.substr(1, 2)).empty());
  auto ev = p.feed(s.substr(3) + "\xE4\xB8");
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].text == s);
  ev = p.finish();
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].text == "\xEF\xBF\xBD");
  StreamParser q(make_opts({"x"}));
  ev = q.feed("a\xE4\xB8x");  // stop right after a broken sequence
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].text == "a\xEF\xBF\xBD");
}

TEST_CASE("default call ids are call_ + 24 alphanumerics and distinct") {
  StreamParser p;
  p.feed(S "[f(), g()]" E);
  p.finish();
  REQUIRE(p.tool_calls().size() == 2);
  for (const auto& c : p.tool_calls()) {
    CHECK(c.id.size() == 29);
    CHECK(c.id.rfind("call_", 0) == 0);
  }
  CHECK(p.tool_calls()[0].id != p.tool_calls()[1].id);
}

// Random outputs made of markup fragments, call syntax and text.
std::string random_output(std::mt19937& rng) {
  static const std::vector<std::string> frags = {S,
                                                 E,
                                                 S,
                                                 E,
                                                 "<|tool_call",
                                                 "_start|>",
                                                 "<|",
                                                 "|>",
                                                 "<",
                                                 "[",
                                                 "]",
                                                 "(",
                                                 ")",
                                                 "{",
                                                 "}",
                                                 "f(",
                                                 "g.h(",
                                                 "a=1",
                                                 "b=\"x\"",
                                                 "c='y'",
                                                 ", ",
                                                 "=",
                                                 "\"",
                                                 "'",
                                                 "\\",
                                                 "True",
                                                 "None",
                                                 "1e5",
                                                 "-2.5",
                                                 "[f(a=1)]",
                                                 "[g()]",
                                                 "{\"name\": \"f\", \"arguments\": {\"k\": [1]}}",
                                                 "é",
                                                 "世界",
                                                 "🎉",
                                                 " ",
                                                 "\n",
                                                 "text",
                                                 "STOP",
                                                 "ST",
                                                 "OP",
                                                 "END"};
  static const std::vector<std::string> blocks = {
      S "[f(a=1)]" E, S "[g.h(b=\"x\", c=[1, {'k': None}]), f()]" E,
      S "{\"name\": \"f\", \"arguments\": \"{}\"}" E, S "[f(s=\"é<|\")]" E};
  std::string s;
  const int n = static_cast<int>(rng() % 30);
  for (int i = 0; i < n; ++i)
    s += rng() % 8 == 0 ? blocks[rng() % blocks.size()] : frags[rng() % frags.size()];
  return s;
}

TEST_CASE("fuzz: no exception, no lost bytes, same result however split") {
  std::mt19937 rng(12345);
  int with_calls = 0, stopped = 0;
  for (int iter = 0; iter < 3000; ++iter) {
    const std::string text = random_output(rng);
    const bool with_stop = iter % 3 == 0;
    const bool tools = iter % 7 != 0;
    const Options o = make_opts(with_stop ? std::vector<std::string>{"STOP", "<|tool_call_end|>x"}
                                          : std::vector<std::string>{},
                                tools);
    INFO("text: " << text);
    const Run whole = run_whole(text, o);
    CHECK(whole.shape_error == "");
    if (whole.stopped) {
      ++stopped;
      // What was emitted is a prefix of the input, followed there by a stop string.
      CHECK(text.compare(0, whole.replay.size(), whole.replay) == 0);
      const std::string rest = text.substr(whole.replay.size());
      CHECK((rest.rfind("STOP", 0) == 0 || rest.rfind("<|tool_call_end|>x", 0) == 0));
    } else {
      CHECK(whole.replay == text);
    }
    if (!whole.calls.empty()) ++with_calls;
    for (const auto& c : whole.calls)
      CHECK(!nlohmann::json::parse(c.args, nullptr, false).is_discarded());
    for (int k = 0; k < 4; ++k) {
      const Run split = run_pieces(text, random_cuts(text.size(), k == 0 ? 1 : 7, rng), o);
      CHECK(split.shape_error == "");
      CHECK(split.content == whole.content);
      CHECK(split.replay == whole.replay);
      CHECK(split.calls == whole.calls);
      CHECK(split.finish == whole.finish);
      CHECK(split.stopped == whole.stopped);
    }
  }
  // The generator must actually exercise calls and stops.
  CHECK(with_calls > 100);
  CHECK(stopped > 100);
}

TEST_CASE("fuzz: random bytes give valid UTF-8 content and no exception") {
  std::mt19937 rng(99);
  const std::string alphabet =
      std::string("<|>[](){}=,\"'\\ aTfE") + S + "\x80\xBF\xC3\xE2\xF0\xFF";
  for (int iter = 0; iter < 2000; ++iter) {
    std::string text;
    const int n = static_cast<int>(rng() % 60);
    for (int i = 0; i < n; ++i) text.push_back(alphabet[rng() % alphabet.size()]);
    const Options o =
        make_opts(iter % 2 ? std::vector<std::string>{"]", "\xC3"} : std::vector<std::string>{});
    const Run whole = run_whole(text, o);
    CHECK(whole.shape_error == "");
    CHECK(utf8_valid(whole.content));
    const Run split = run_pieces(text, random_cuts(text.size(), 3, rng), o);
    CHECK(split.content == whole.content);
    CHECK(split.calls == whole.calls);
  }
}

TEST_CASE("cost is linear: 1 MiB fed byte by byte, as content and as one open block") {
  const std::string text = std::string(1 << 20, 'a');
  const auto t0 = std::chrono::steady_clock::now();
  StreamParser p(make_opts({"STOP", "aaab"}));
  size_t got = 0;
  for (char c : text)
    for (auto& e : p.feed(std::string_view(&c, 1))) got += e.text.size();
  for (auto& e : p.finish()) got += e.text.size();
  CHECK(got == text.size());
  StreamParser q(make_opts());
  q.feed(S "[f(a=\"");
  bool quiet = true;
  for (char c : text) quiet = quiet && q.feed(std::string_view(&c, 1)).empty();
  CHECK(quiet);
  auto ev = q.feed("\")]" E);
  REQUIRE(ev.size() == 2);
  CHECK(ev[1].text.size() == text.size() + 8);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  CHECK(s < 20.0);  // quadratic behaviour would take hours
}

}  // namespace
}  // namespace lfmd::output::test
