// Split invariance: every output is fed whole, cut at every byte boundary into 2 pieces, as single
// bytes, and in random pieces (fixed seed); all runs must give the expected content, calls and
// finish_reason. Expected arguments come from Python (ast.literal_eval + json.dumps with
// separators=(",", ":"), ensure_ascii=False), not from this parser.
#include <doctest/doctest.h>

#include "tests/output/harness.h"

namespace lfmd::output::test {
namespace {

#define S "<|tool_call_start|>"
#define E "<|tool_call_end|>"

struct Expected {
  std::string name, args;
};

struct Case {
  const char* label;
  std::string text;
  std::vector<std::string> stop;
  bool tools;
  std::string content;
  std::vector<Expected> calls;
  std::string finish;
  bool stopped;
  bool clean;  // no tool-call markup may reach content
};

// clang-format off
std::vector<Case> cases() {
  const std::vector<Expected> none;
  return {
    {"plain", "Hello, world! How are you?", {}, true,
     "Hello, world! How are you?", none, "stop", false, true},
    {"empty", "", {}, true, "", none, "stop", false, true},
    {"unicode", "héllo 世界 🎉 ok ☃\u00a0x", {}, true,
     "héllo 世界 🎉 ok ☃\u00a0x", none, "stop", false, true},
    {"basic call", S R"([get_weather(city="Paris")])" E, {}, true,
     "", {{"get_weather", R"({"city":"Paris"})"}}, "tool_calls", false, true},
    {"typed args",
     S R"([f(a="x", b=2, c=[1, {"k": True}], d=None, e=-1.5e3, h=1.0, i=1e-5, )"
       R"(j=12345678901234567890123, k=(1, 2), l=False)])" E, {}, true,
     "", {{"f", R"({"a":"x","b":2,"c":[1,{"k":true}],"d":null,"e":-1500.0,"h":1.0,"i":1e-05,)"
                R"("j":12345678901234567890123,"k":[1,2],"l":false})"}}, "tool_calls", false, true},
    {"json literals", S R"([f(a=true, b=false, c=null)])" E, {}, true,
     "", {{"f", R"({"a":true,"b":false,"c":null})"}}, "tool_calls", false, true},
    {"escapes",
     S R"([f(s="a\nb\t\"q\" \\ \u00e9 \x41 \U0001F600", t='it\'s', u="""tri"ple""", )"
       R"(v=r"raw\n", w="con" 'cat')])" E, {}, true,
     "", {{"f", R"({"s":"a\nb\t\"q\" \\ é A 😀","t":"it's","u":"tri\"ple","v":"raw\\n",)"
                R"("w":"concat"})"}}, "tool_calls", false, true},
    {"numbers", S R"([f(x=0.1, y=1e16, z=0.00001234, w=1_000, v=.5, u=5., t=+3)])" E, {}, true,
     "", {{"f", R"({"x":0.1,"y":1e+16,"z":1.234e-05,"w":1000,"v":0.5,"u":5.0,"t":3})"}},
     "tool_calls", false, true},
    {"dotted name", S R"([filesystem.list_dir(path="/tmp")])" E, {}, true,
     "", {{"filesystem.list_dir", R"({"path":"/tmp"})"}}, "tool_calls", false, true},
    {"parallel + no-arg", S R"([f(a=1), g()])" E, {}, true,
     "", {{"f", R"({"a":1})"}, {"g", "{}"}}, "tool_calls", false, true},
    {"json positional", S R"([f({"path": "/tmp"})])" E, {}, true,
     "", {{"f", R"({"path":"/tmp"})"}}, "tool_calls", false, true},
    {"nested",
     S R"([f(q={"a": [1, (2, 3), {"b": None}], "c": {"d": {"e": []}}, 1: "int key", )"
       R"(None: 0})])" E, {}, true,
     "", {{"f", R"({"q":{"a":[1,[2,3],{"b":null}],"c":{"d":{"e":[]}},"1":"int key","null":0}})"}},
     "tool_calls", false, true},
    {"whitespace", S "\n[ f( a = 1 , ) ,\n  g( ) , ]\n" E, {}, true,
     "", {{"f", R"({"a":1})"}, {"g", "{}"}}, "tool_calls", false, true},
    {"unicode args", S R"([search(query="日本語 ☃ 🎉", limit=10)])" E, {}, true,
     "", {{"search", R"({"query":"日本語 ☃ 🎉","limit":10})"}}, "tool_calls", false, true},
    {"duplicate dict key", S R"([f(d={"k": 1, "k": 2, "j": 3})])" E, {}, true,
     "", {{"f", R"({"d":{"k":2,"j":3}})"}}, "tool_calls", false, true},
    {"json form", S R"([{"name": "f", "arguments": {"city": "Paris", "n": 2}}])" E, {}, true,
     "", {{"f", R"({"city":"Paris","n":2})"}}, "tool_calls", false, true},
    {"json string args",
     S R"([{"name": "f", "arguments": "{\"city\": \"Paris\", \"x\": 1.50}"}])" E, {}, true,
     "", {{"f", R"({"city":"Paris","x":1.5})"}}, "tool_calls", false, true},
    {"json single object", S R"({"name": "f", "arguments": {"x": [1, 2]}})" E, {}, true,
     "", {{"f", R"({"x":[1,2]})"}}, "tool_calls", false, true},
    {"json parallel, no args",
     S R"([{"name": "a", "arguments": {}}, {"name": "b"}, )"
       R"({"type": "function", "function": {"name": "c", "arguments": null}}])" E, {}, true,
     "", {{"a", "{}"}, {"b", "{}"}, {"c", "{}"}}, "tool_calls", false, true},
    {"text before and after", "Let me check.\n" S R"([f(a=1)])" E "Checking now.", {}, true,
     "Let me check.\nChecking now.", {{"f", R"({"a":1})"}}, "tool_calls", false, true},
    {"two blocks", "A" S "[f(a=1)]" E "B" S "[g(b=2), h()]" E "C", {}, true,
     "ABC", {{"f", R"({"a":1})"}, {"g", R"({"b":2})"}, {"h", "{}"}}, "tool_calls", false, true},
    {"markup in arg string", S R"([f(s="a <|im_end|> b")])" E, {}, true,
     "", {{"f", R"({"s":"a <|im_end|> b"})"}}, "tool_calls", false, true},
    // Malformed: returned verbatim as content.
    {"malformed", S "[f(a=]" E, {}, true, S "[f(a=]" E, none, "stop", false, false},
    {"empty list", S "[]" E, {}, true, S "[]" E, none, "stop", false, false},
    {"positional scalar", S "[f(1)]" E, {}, true, S "[f(1)]" E, none, "stop", false, false},
    {"bare name value", S "[f(a=b)]" E, {}, true, S "[f(a=b)]" E, none, "stop", false, false},
    {"unterminated", "x " S "[f(a=1)]", {}, true, "x " S "[f(a=1)]", none, "stop", false, false},
    {"unterminated start marker", "x <|tool_call_st", {}, true,
     "x <|tool_call_st", none, "stop", false, false},
    {"malformed then good", "a" S "oops" E "b" S "[f()]" E, {}, true,
     "a" S "oops" E "b", {{"f", "{}"}}, "tool_calls", false, false},
    {"restart inside block", S "[f(a=1)" S "[g()]" E "z", {}, true,
     S "[f(a=1)z", {{"g", "{}"}}, "tool_calls", false, false},
    {"stray end marker", "a" E "b", {}, true, "a" E "b", none, "stop", false, false},
    {"tools off", "hi " S "[f(a=1)]" E, {}, false,
     "hi " S "[f(a=1)]" E, none, "stop", false, false},
    // Stop strings.
    {"stop", "Hello STOP world", {"STOP"}, true, "Hello ", none, "stop", true, true},
    {"stop at start", "STOPabc", {"STOP"}, true, "", none, "stop", true, true},
    {"stop at end", "abcSTOP", {"STOP"}, true, "abc", none, "stop", true, true},
    {"stop partial at end", "abc STO", {"STOP"}, true, "abc STO", none, "stop", false, true},
    {"stop self-overlap", "xaaab", {"aab"}, true, "xa", none, "stop", true, true},
    {"stops overlap, first to end wins", "xabcdy", {"abcd", "bc"}, true,
     "xa", none, "stop", true, true},
    {"stops, tie goes to the longer", "xyzq", {"yz", "xyz"}, true, "", none, "stop", true, true},
    {"stop prefix of another", "xab abc", {"abc", "abd"}, true, "xab ", none, "stop", true, true},
    {"unicode stop", "日本語のテキストです", {"テキ"}, true, "日本語の", none, "stop", true, true},
    {"stop inside markup wins", "hi" S "[f()]" E, {"<|tool"}, true, "hi", none, "stop", true, true},
    {"stop equal to marker", "hi" S "[f()]" E, {S}, true, "hi", none, "stop", true, true},
    {"marker completes before stop", "hi" S "[f()]" E "ok", {"call_start|>[f"}, true,
     "hiok", {{"f", "{}"}}, "tool_calls", false, true},
    {"stop spanning marker start", "hi" S "[f()]" E, {"i<|tool_call_s"}, true,
     "h", none, "stop", true, true},
    {"stop not matched inside block", S R"([f(a="STOP")])" E "ok", {"STOP"}, true,
     "ok", {{"f", R"({"a":"STOP"})"}}, "tool_calls", false, true},
    {"stop not matched across block", "ab" S "[f()]" E "cd", {"bc"}, true,
     "abcd", {{"f", "{}"}}, "tool_calls", false, true},
    {"marker tail is not a stop prefix", "a" S "[f()]" E "y", {"|>y"}, true,
     "ay", {{"f", "{}"}}, "tool_calls", false, true},
    {"stop after call", S "[f()]" E "done. END more", {"END"}, true,
     "done. ", {{"f", "{}"}}, "tool_calls", true, true},
    {"stop with tools off", "a " S "b", {"<|tool_call_start|>b"}, false,
     "a ", none, "stop", true, true},
  };
}
// clang-format on

void check_run(const Case& c, const Run& r, const std::string& how) {
  INFO(c.label << " / " << how);
  CHECK(r.shape_error == "");
  CHECK(r.content == c.content);
  CHECK(r.finish == c.finish);
  CHECK(r.stopped == c.stopped);
  REQUIRE(r.calls.size() == c.calls.size());
  for (size_t i = 0; i < c.calls.size(); ++i) {
    CHECK(r.calls[i].index == static_cast<int>(i));
    CHECK(r.calls[i].id == "call_" + std::to_string(i));
    CHECK(r.calls[i].name == c.calls[i].name);
    CHECK(r.calls[i].args == c.calls[i].args);
    const auto parsed = nlohmann::json::parse(r.calls[i].args, nullptr, false);
    CHECK(!parsed.is_discarded());
    CHECK(parsed == nlohmann::json::parse(c.calls[i].args));
  }
  if (c.clean) CHECK(r.content.find("<|tool_call") == std::string::npos);
  // Without a stop string, content + raw block texts reproduce the input.
  if (!c.stopped) CHECK(r.replay == c.text);
  // The non-streaming message agrees with the stream.
  const auto& m = r.message;
  CHECK(m["role"] == "assistant");
  if (c.calls.empty()) {
    CHECK(m["content"] == c.content);
    CHECK(!m.contains("tool_calls"));
  } else {
    if (c.content.empty()) CHECK(m["content"].is_null());
    REQUIRE(m["tool_calls"].size() == c.calls.size());
    for (size_t i = 0; i < c.calls.size(); ++i) {
      CHECK(m["tool_calls"][i]["id"] == "call_" + std::to_string(i));
      CHECK(m["tool_calls"][i]["type"] == "function");
      CHECK(m["tool_calls"][i]["function"]["name"] == c.calls[i].name);
      CHECK(m["tool_calls"][i]["function"]["arguments"] == c.calls[i].args);
    }
  }
}

TEST_CASE("every output gives the same result however it is split") {
  std::mt19937 rng(20240611);
  size_t runs = 0;
  for (const Case& c : cases()) {
    const Options o = make_opts(c.stop, c.tools);
    check_run(c, run_whole(c.text, o), "whole");
    for (size_t cut = 0; cut <= c.text.size(); ++cut) {
      check_run(c, run_pieces(c.text, {cut}, o), "2 pieces at " + std::to_string(cut));
      ++runs;
    }
    std::vector<size_t> bytes;
    for (size_t i = 1; i < c.text.size(); ++i) bytes.push_back(i);
    check_run(c, run_pieces(c.text, bytes, o), "single bytes");
    for (int k = 0; k < 60; ++k) {
      const size_t max_piece = k < 40 ? 6 : 30;
      check_run(c, run_pieces(c.text, random_cuts(c.text.size(), max_piece, rng), o),
                "random pieces #" + std::to_string(k));
      ++runs;
    }
  }
  MESSAGE("split runs: " << runs);
}

// A harness that cannot fail proves nothing: a deliberately wrong expectation must be caught.
TEST_CASE("the split checks detect a wrong expectation") {
  const std::string text = "ab" S "[f(a=1)]" E;
  const Run r = run_pieces(text, {5}, make_opts());
  CHECK(r.content == "ab");
  CHECK(r.calls.at(0).args != R"({"a":2})");
  CHECK(r.replay == text);
}

}  // namespace
}  // namespace lfmd::output::test
