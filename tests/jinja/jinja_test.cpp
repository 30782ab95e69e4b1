// Unit tests of the Jinja interpreter: API, lexer/parser edge cases, errors with positions,
// limits. Rendering semantics are checked against Python Jinja2 in oracle_test.cpp.
#include <doctest/doctest.h>

#include <chrono>
#include <thread>

#include "tests/jinja/test_util.h"

namespace lfmd::jinja::test {
namespace {

using json = nlohmann::ordered_json;

std::string r(std::string_view src, const json& ctx = json::object()) {
  return Template::parse(src).render(ctx, fixed_clock());
}

Error syntax_error(std::string_view src) {
  try {
    Template::parse(src);
  } catch (const Error& e) {
    return e;
  }
  FAIL("expected a syntax error for: " << src);
  return Error(Error::Kind::Runtime, "");
}

Error render_error(std::string_view src, const json& ctx = json::object(),
                   const RenderOptions& opts = fixed_clock()) {
  Template t = Template::parse(src);
  try {
    t.render(ctx, opts);
  } catch (const Error& e) {
    return e;
  }
  FAIL("expected a render error for: " << src);
  return Error(Error::Kind::Runtime, "");
}

RenderOptions small_limits() {
  RenderOptions o = fixed_clock();
  o.limits.max_iterations = 20'000;
  o.limits.max_output_bytes = 1 << 20;
  o.limits.max_memory_bytes = 32 << 20;
  o.limits.max_work_bytes = 256 << 20;
  o.limits.max_recursion = 50;
  return o;
}

}  // namespace

TEST_CASE("LFM2 example render (docs/lfm2.md §5) is reproduced exactly") {
  const std::string dir = data_dir();
  json ctx = {{"messages",
               {{{"role", "system"}, {"content", "You are a helpful assistant."}},
                {{"role", "user"}, {"content", "What's the weather in Paris?"}},
                {{"role", "assistant"},
                 {"content", "<|tool_call_start|>[get_weather(city=\"Paris\")]<|tool_call_end|>"}},
                {{"role", "tool"}, {"content", "{\"temp_c\": 21, \"condition\": \"sunny\"}"}}}},
              {"tools", json::parse(R"([{"type": "function", "function": {"name": "get_weather",
        "description": "Get current weather for a city", "parameters": {"type": "object",
        "properties": {"city": {"type": "string", "description": "City name"}}, "required": ["city"]}}}])")},
              {"bos_token", "<|startoftext|>"},
              {"add_generation_prompt", true}};
  Template t = Template::parse(read_file(dir + "/LFM2-8B-A1B.jinja"));
  CHECK(t.render(ctx) == read_file(dir + "/LFM2-example-render.txt"));
  // The tool result given as a dict renders the same (tojson keeps key order).
  ctx["messages"][3]["content"] = json::parse(R"({"temp_c": 21, "condition": "sunny"})");
  CHECK(t.render(ctx) == read_file(dir + "/LFM2-example-render.txt"));
}

TEST_CASE("official templates parse") {
  for (const char* name : {"LFM2-8B-A1B.jinja", "LFM2.5-8B-A1B.jinja", "LFM2.5-Instruct.jinja"})
    CHECK_NOTHROW(Template::parse(read_file(data_dir() + "/" + name)));
}

TEST_CASE("tools: undefined, None and [] differ for templates") {
  const char* src =
      "{{ tools is defined }} {{ tools is none }} {{ 'T' if tools else 'F' }} {{ tools | length }}";
  CHECK(r(src) == "False False F 0");
  const char* src_none = "{{ tools is defined }} {{ tools is none }} {{ 'T' if tools else 'F' }}";
  CHECK(r(src_none, {{"tools", nullptr}}) ==
        "True True F");  // transformers passes None when absent
  CHECK_THROWS_AS(r("{{ tools | length }}", {{"tools", nullptr}}), Error);
  CHECK(r(src, {{"tools", json::array()}}) == "True False F 0");
}

TEST_CASE("context: key order, numbers, unicode, invalid UTF-8 and non-object contexts") {
  json ctx = json::parse(
      R"({"d": {"z": 1, "a": 2.0, "m": [true, null, 1e-5]}, "big": 18446744073709551615})");
  CHECK(
      r("{{ d | tojson }} {{ d }}", ctx) ==
      R"({"z": 1, "a": 2.0, "m": [true, null, 1e-05]} {'z': 1, 'a': 2.0, 'm': [True, None, 1e-05]})");
  CHECK(r("{{ big }}", ctx) == "1.8446744073709552e+19");  // beyond int64: becomes a float
  json bad;
  bad["s"] = std::string(
      "a\xff"
      "b\xc3");
  CHECK(r("{{ s }}|{{ s | length }}|{{ s[1:] }}", bad) ==
        "a\xff"
        "b\xc3|4|\xff"
        "b\xc3");
  CHECK(Template::parse("x{{ y }}").render(nullptr) == "x");
  CHECK_THROWS_AS(Template::parse("x").render(json::array()), Error);
}

TEST_CASE("strftime_now uses the injected clock") {
  CHECK(r("{{ strftime_now('%Y-%m-%d %H:%M:%S %a %b %j') }}") == "2025-03-14 09:26:53 Fri Mar 073");
  CHECK(r("{{ strftime_now('%f') }}") == "000000");
  // Default clock: the current local time.
  std::string year = Template::parse("{{ strftime_now('%Y') }}").render(json::object());
  CHECK(year.size() == 4);
}

TEST_CASE("lexer edge cases") {
  CHECK(r("{{ '}}' }}") == "}}");
  CHECK(r("{{ {'a': {'b': '%}'}} }}") == "{'a': {'b': '%}'}}");
  CHECK(r("{# {{ not output }} #}x") == "x");
  CHECK(r("a{{- ' b ' -}}c") == "a b c");
  CHECK(r("{%- raw -%}  {{ x }}  {%- endraw -%}") == "{{ x }}");
  CHECK(r("{% raw %}\n{% if %}\n{% endraw %}\n") == "\n{% if %}\n");  // raw begin keeps its newline
  CHECK(r("x\n") == "x");  // one trailing newline dropped
  CHECK(r("x\n\n") == "x\n");
  CHECK(r("a\r\nb\rc") == "a\nb\nc");  // newlines normalized
  CHECK(r("{{ 1_000 + 0x10 + 0o10 + 0b10 }} {{ 1e2 }} {{ 1.5E-3 }}") == "1026 100.0 0.0015");
  CHECK(r("{{ 'a' \"b\" 'c' }}") == "abc");
  CHECK(r("{{ '\\u00e9\\x41\\101\\d' }}") ==
        "\xc3\xa9"
        "AA\\d");  // unknown escapes stay
  CHECK(r("  {% if true %}x{% endif %}\n  {%+ if true %}y{% endif %}") == "x  y");
  CHECK(r("{% if true %}\nA\n{% endif +%}\nB") == "A\n\nB");
  CHECK(r("{%if true%}{%endif%}ok") == "ok");
  CHECK(r("{{ x.0 }}", {{"x", {7}}}) == "7");
}

TEST_CASE("syntax errors carry line:column") {
  Error e = syntax_error("line one\n  {{ 1 + }}");
  CHECK(e.kind() == Error::Kind::Syntax);
  CHECK(e.line() == 2);
  CHECK(e.column() == 10);
  CHECK(std::string(e.what()) == "2:10: unexpected 'end of print statement'");

  e = syntax_error("{% for x in y %}\n{% endif %}");
  CHECK(e.line() == 2);
  CHECK(e.message().find("Encountered unknown tag 'endif'") == 0);
  CHECK(e.message().find("'endfor' or 'else'") != std::string::npos);

  e = syntax_error("{% if a %}\nno end");
  CHECK(e.message().find("Unexpected end of template") == 0);
  CHECK(e.message().find("'if'") != std::string::npos);

  CHECK(syntax_error("{{ 'abc }}").message().find("unexpected char") == 0);
  CHECK(syntax_error("{# never closed").message() == "Missing end of comment tag");
  CHECK(syntax_error("{% raw %}never closed").message() == "Missing end of raw directive");
  CHECK(syntax_error("{% break %}").message() == "'break' outside loop");
  CHECK(
      syntax_error("{% for x in y %}{% macro m() %}{% break %}{% endmacro %}{% endfor %}").kind() ==
      Error::Kind::Syntax);
  CHECK(syntax_error("{{ (1, 2 }}").message() == "unexpected '}', expected ')'");
  CHECK(syntax_error("{{ 1 ]] }}").message() == "unexpected ']'");
  CHECK(syntax_error("{% include 'x' %}").message() == "tag 'include' is not supported");
  CHECK(syntax_error("{% set 1 = 2 %}").kind() == Error::Kind::Syntax);
  CHECK(syntax_error("{% macro m(a=1, b) %}{% endmacro %}").message() ==
        "non-default argument follows default argument");
  CHECK(syntax_error("{{ 99999999999999999999 }}").message() == "integer literal too large");
  CHECK(syntax_error("{{ 'x' is defined is defined }}").kind() == Error::Kind::Syntax);
  CHECK(syntax_error("\xc3\xa9{{ \xc3\xa9 }}").column() == 5);  // columns count code points
  CHECK(
      syntax_error("{{" + std::string(5000, '(') + "1" + std::string(5000, ')') + "}}").message() ==
      "template nested too deeply");
  CHECK(syntax_error("{{" + std::string(5000, '[') + "}}").message() ==
        "unexpected '}', expected ']'");
  CHECK(syntax_error("{{ '\\N{DASH}' }}").kind() == Error::Kind::Syntax);
  CHECK(syntax_error("{{" + std::string(300, '-') + "1 }}").kind() == Error::Kind::Syntax);
}

TEST_CASE("runtime errors carry the message and position") {
  Error e = render_error("ok\n\n  {{ foo.bar }}");
  CHECK(e.kind() == Error::Kind::Runtime);
  CHECK(e.message() == "'foo' is undefined");
  CHECK(e.line() == 3);
  CHECK(e.column() == 9);

  CHECK(render_error("{{ d.x.y }}", {{"d", json::object()}}).message() ==
        "'dict object' has no attribute 'x'");
  CHECK(render_error("{{ l[3].y }}", {{"l", json::array()}}).message() ==
        "list object has no element 3");
  CHECK(render_error("{{ 'a' + 1 }}").message() == "can only concatenate str (not \"int\") to str");
  CHECK(render_error("{{ 1 // 0 }}").message() == "integer division or modulo by zero");
  CHECK(render_error("{{ [].append(1) }}").message() ==
        "access to attribute 'append' of 'list' object is unsafe.");
  CHECK(render_error("{{ x | nofilter }}").message() == "No filter named 'nofilter'.");
  CHECK(render_error("{{ 9223372036854775807 + 1 }}").message().find("integer overflow") == 0);
  CHECK(render_error("{% macro m(a) %}{% endmacro %}{{ m(1, 2) }}").message() ==
        "macro 'm' takes not more than 1 argument(s)");

  e = render_error("{% if x %}{{ raise_exception('Bad role: ' ~ x) }}{% endif %}", {{"x", "tool"}});
  CHECK(e.kind() == Error::Kind::Raised);
  CHECK(e.message() == "Bad role: tool");
  CHECK(e.line() == 1);
}

TEST_CASE("namespaces, macros and scoping") {
  CHECK(r("{% set ns = namespace(n=0) %}{% for i in range(4) %}{% set ns.n = ns.n + i %}{% endfor "
          "%}{{ ns.n }}") == "6");
  CHECK(r("{% set x = 1 %}{% for i in [1] %}{% set x = 2 %}{% endfor %}{{ x }}") == "1");
  CHECK(r("{% set ns = namespace() %}{% set ns.self = ns %}{{ ns }}") ==
        "<Namespace {'self': <Namespace {...}>}>");
  CHECK(
      r("{% macro m(n) %}{{ n }}{% if n > 0 %}{{ m(n - 1) }}{% endif %}{% endmacro %}{{ m(3) }}") ==
      "3210");
  CHECK(r("{% set m = joiner %}{% set j = m('+') %}{{ j() }}a{{ j() }}b") == "a+b");
}

TEST_CASE("limits stop hostile templates") {
  RenderOptions o = small_limits();
  auto limit = [&](const char* src) {
    auto t0 = std::chrono::steady_clock::now();
    Error e = render_error(src, json::object(), o);
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    INFO(src << " -> " << e.what());
    CHECK(e.kind() == Error::Kind::Limit);
    CHECK(secs < 5.0);
    return e;
  };
  limit("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}");
  limit("{% for i in range(10000) %}{{ 'x' * 1000 }}{% endfor %}");
  limit(
      "{% set ns = namespace(s='x') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% "
      "endfor %}");
  limit("{{ 'x' * 100000000000 }}");
  limit("{{ [1] * 100000000000 }}");
  limit("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}");
  limit("{% for x in [1] recursive %}{{ loop([1]) }}{% endfor %}");
  limit(
      "{% set ns = namespace(l=[]) %}{% for i in range(20000) %}{% set ns.l = ns.l + [i] %}{% "
      "endfor %}");
  limit(
      "{% set s = 'ab' * 400000 %}{% for i in range(19000) %}{% if 'zz' in s %}{% endif %}{% "
      "endfor %}");
  limit(
      "{% set ns = namespace(s='y' * 900000, l=[]) %}{% for i in range(100) %}{% set ns.l = ns.l + "
      "[ns.s ~ i] %}{% endfor %}");
  // Deep nesting is an ordinary runtime error, not a stack overflow.
  Error e = render_error(
      "{% set ns = namespace(l=[]) %}{% for i in range(2000) %}{% set ns.l = [ns.l] %}{% endfor %}",
      json::object(), o);
  CHECK(e.message() == "nesting too deep");
  CHECK(render_error("{{ range(100001) | length }}").message().find("Range too big") == 0);
  // Defaults are generous enough for real templates.
  CHECK(r("{% for i in range(100000) %}{% endfor %}ok") == "ok");
}

TEST_CASE("a parsed template renders concurrently") {
  Template t = Template::parse(read_file(data_dir() + "/LFM2.5-8B-A1B.jinja"));
  json ctx = {{"messages", {{{"role", "user"}, {"content", "hi"}}}},
              {"bos_token", "<s>"},
              {"add_generation_prompt", true}};
  const std::string want = t.render(ctx);
  std::vector<std::thread> threads;
  std::vector<int> ok(8, 0);
  for (int k = 0; k < 8; ++k)
    threads.emplace_back([&, k] {
      for (int n = 0; n < 50; ++n) ok[k] += t.render(ctx) == want;
    });
  for (auto& th : threads) th.join();
  for (int k = 0; k < 8; ++k) CHECK(ok[k] == 50);
}

}  // namespace lfmd::jinja::test
