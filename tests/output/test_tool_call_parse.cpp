// Block-body parser and number formatting. Expected strings are Python's
// json.dumps(ast.literal_eval(...), separators=(",", ":"), ensure_ascii=False).
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "server/output/tool_call_parse.h"

namespace lfmd::output {
namespace {

// One call expected: returns its arguments text ("<malformed>" / "<n calls>" otherwise).
std::string args_of(std::string_view body) {
  auto r = parse_tool_call_block(body);
  if (!r) return "<malformed>";
  if (r->size() != 1) return std::to_string(r->size()) + " calls";
  return (*r)[0].arguments;
}

TEST_CASE("float formatting follows Python repr") {
  const std::pair<double, const char*> cases[] = {
      {1.0, "1.0"},
      {1e-5, "1e-05"},
      {1e5, "100000.0"},
      {1e16, "1e+16"},
      {1e15, "1000000000000000.0"},
      {0.1, "0.1"},
      {-0.0, "-0.0"},
      {0.0001, "0.0001"},
      {0.00001234, "1.234e-05"},
      {1e22, "1e+22"},
      {1.5e300, "1.5e+300"},
      {2.5e-310, "2.5e-310"},
      {-1500.0, "-1500.0"},
      {0.30000000000000004, "0.30000000000000004"},
      {123456789012345.6, "123456789012345.6"},
      {1234567890123456.7, "1234567890123456.8"},
      {123456789012345678.0, "1.2345678901234568e+17"},
      {3.14159, "3.14159"},
      {1e100, "1e+100"},
      {5e-324, "5e-324"},
      {1.7976931348623157e308, "1.7976931348623157e+308"},
  };
  for (auto [v, s] : cases) CHECK(format_python_float(v) == s);
}

TEST_CASE("number literals") {
  const std::pair<const char*, const char*> cases[] = {
      {"1.0", "1.0"},
      {"1e-5", "1e-05"},
      {"1E5", "100000.0"},
      {"-0.0", "-0.0"},
      {"-0", "0"},
      {"+3", "3"},
      {"007", "7"},
      {".5", "0.5"},
      {"5.", "5.0"},
      {"1_0.2_5e1_0", "102500000000.0"},
      {"1e-400", "0.0"},
      {"-1e-400", "-0.0"},
      {"0.000e999999", "0.0"},
      {"9007199254740993", "9007199254740993"},
      {"-12345678901234567890123", "-12345678901234567890123"},
  };
  for (const auto& c : cases) {
    const auto& lit = c.first;  // not structured bindings: INFO's lambda takes them
    const auto& want = c.second;
    INFO(lit);
    CHECK(args_of(std::string("f(x=") + lit + ")") == std::string(R"({"x":)") + want + "}");
  }
  for (const char* bad : {"1e999", "-1e400", "0x1F", "1j", "1.2.3", "1e", "1__0", "--1", ".", "+",
                          "1_", "inf", "nan", "Infinity", "1L"}) {
    INFO(bad);
    CHECK(args_of(std::string("f(x=") + bad + ")") == "<malformed>");
  }
}

TEST_CASE("strings") {
  CHECK(args_of(R"(f(s='a"b', t="a'b"))") == R"({"s":"a\"b","t":"a'b"})");
  CHECK(args_of(R"(f(s="\a\b\f\v\0\101\x7f\/"))") == R"({"s":"\u0007\b\f\u000b\u0000A)"
                                                     "\x7f"
                                                     R"(/"})");
  CHECK(args_of(R"(f(s="\ud83d\ude00 \ud83d x \ude00"))") ==
        "{\"s\":\"😀 \xEF\xBF\xBD x \xEF\xBF\xBD\"}");
  CHECK(args_of(R"(f(s="\d\w"))") == R"({"s":"\\d\\w"})");  // unknown escapes kept (Python)
  CHECK(args_of("f(s=\"line\\\nnext\")") == R"({"s":"linenext"})");  // backslash-newline
  CHECK(args_of("f(s=\"raw\nnewline\tand tab\")") == R"({"s":"raw\nnewline\tand tab"})");
  CHECK(args_of(R"(f(s='''a'b''c''', t=R'\d', u=u"x"))") == R"({"s":"a'b''c","t":"\\d","u":"x"})");
  CHECK(args_of(R"(f(s=""))") == R"({"s":""})");
  CHECK(args_of(R"(f(s="""""", t=''))") == R"({"s":"","t":""})");
  CHECK(args_of("f(s=\"bad \xff\xfe utf8 \xe2\x82\")") ==
        "{\"s\":\"bad \xEF\xBF\xBD\xEF\xBF\xBD utf8 \xEF\xBF\xBD\"}");
  for (const char* bad : {R"(f(s="abc))", R"(f(s="\x4"))", R"(f(s="\u12"))", R"(f(s="\U00110000"))",
                          R"(f(s="abc\))", R"(f(s=b"x"))"}) {
    INFO(bad);
    CHECK(args_of(bad) == "<malformed>");
  }
}

TEST_CASE("containers") {
  CHECK(args_of("f(a=[], b={}, c=(), d=(1), e=(1,), f={1, 2}, g=[1,2,],)") ==
        R"({"a":[],"b":{},"c":[],"d":1,"e":[1],"f":[1,2],"g":[1,2]})");
  CHECK(args_of("f(d={1.5: 1, True: 2, 'x': {'y': [None]}})") ==
        R"({"d":{"1.5":1,"true":2,"x":{"y":[null]}}})");
  CHECK(args_of("f(d={[1]: 2})") == "<malformed>");
  CHECK(args_of("f(d={1: 2, 3})") == "<malformed>");
  CHECK(args_of("f(d=[1 2])") == "<malformed>");
  std::string deep = "f(a=" + std::string(150, '[') + std::string(150, ']') + ")";
  CHECK(args_of(deep) != "<malformed>");
  deep = "f(a=" + std::string(5000, '[') + std::string(5000, ']') + ")";
  CHECK(args_of(deep) == "<malformed>");  // depth limit, no stack overflow
  CHECK(args_of("f(a=" + std::string(100000, '[')) == "<malformed>");
}

TEST_CASE("call forms") {
  auto r = parse_tool_call_block(R"( [a.b-c(x=1),d_2( ), e({"k": "v"})] )");
  REQUIRE(r);
  REQUIRE(r->size() == 3);
  CHECK((*r)[0].name == "a.b-c");
  CHECK((*r)[0].arguments == R"({"x":1})");
  CHECK((*r)[1].name == "d_2");
  CHECK((*r)[1].arguments == "{}");
  CHECK((*r)[2].arguments == R"({"k":"v"})");
  r = parse_tool_call_block("f(a=1), g(b=2)");  // no brackets
  REQUIRE(r);
  CHECK(r->size() == 2);
  CHECK(args_of(R"(f(città="Roma"))") == R"({"città":"Roma"})");
  CHECK(args_of(R"({"function": {"name": "f", "parameters": {"a": 1}}})") == R"({"a":1})");
  CHECK(args_of(R"({"name": "f", "arguments": ""})") == "{}");
  CHECK(args_of(R"({"name": "f", "arguments": "  {'a': True}  "})") == R"({"a":true})");
  for (const char* bad : {"",
                          "   ",
                          "[]",
                          "[f(a=1)] trailing",
                          "f(a=1, a=2)",
                          "f(1)",
                          "f(a=1, {})",
                          "f({}, {})",
                          "f([1])",
                          "f(a=x)",
                          "f(a=f(b=1))",
                          "f(a==1)",
                          "f",
                          "[f(a=1)",
                          "[f(a=1),,]",
                          "1(a=2)",
                          "(f)()",
                          R"({"arguments": {}})",
                          R"({"name": "", "arguments": {}})",
                          R"({"name": 3})",
                          R"({"name": "f", "arguments": [1]})",
                          R"({"name": "f", "arguments": "[1]"})",
                          R"({"name": "f", "arguments": "{bad"})",
                          "[{1, 2}]",
                          "f(a=1) g()",
                          "Sure, I will call f(a=1)."}) {
    INFO(bad);
    CHECK(!parse_tool_call_block(bad));
  }
}

TEST_CASE("arguments are valid JSON with preserved key order") {
  const std::string a = args_of(R"(f(z=1, a={"y": 2, "b": [3.5, "s\n"]}, m=None))");
  const auto j = nlohmann::ordered_json::parse(a);
  std::vector<std::string> keys;
  for (auto& [k, v] : j.items()) keys.push_back(k);
  CHECK(keys == std::vector<std::string>{"z", "a", "m"});
  CHECK(j["a"]["b"][1] == "s\n");
}

}  // namespace
}  // namespace lfmd::output
