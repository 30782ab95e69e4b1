// Grammar engine: token masks against a brute-force check, JSON Schema and pattern compilation,
// token budgets, lazy (tool-call) mode. Vocabulary: the LFM2-shaped test vocabulary (byte-level BPE
// with merged JSON punctuation). Fixed seeds throughout.
#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <nlohmann/json.hpp>
#include <random>
#include <regex>

#include "engine/grammar/json_schema.h"
#include "engine/grammar/matcher.h"
#include "engine/testmodel/vocab_builder.h"

using namespace lfmd;
using namespace lfmd::grammar;
using json = nlohmann::ordered_json;

namespace {

struct Vocab {
  Tokenizer tok{make_lfm2_test_vocab(1500, 2048)};
  std::vector<uint8_t> never = [this] {
    std::vector<uint8_t> v(2048, 0);
    for (int32_t i = 0; i < 2048; ++i) v[i] = tok.token_type(i) == TokenType::Unused;
    return v;
  }();
  std::shared_ptr<const VocabIndex> index = std::make_shared<VocabIndex>(tok, 2048, never, std::vector<int32_t>{7});
};
const Vocab& vocab() {
  static Vocab v;
  return v;
}

bool bit(const std::vector<uint64_t>& b, int32_t id) { return (b[id >> 6] >> (id & 63)) & 1; }

// Random walk: picks uniformly among the allowed tokens; stops at EOS (taken with probability
// 1/4 when allowed). Returns the text; checks each mask against replaying the prefix.
std::string walk(std::shared_ptr<const Grammar> g, uint64_t seed, bool brute_force, int max_steps = 400) {
  const Vocab& v = vocab();
  Matcher m(g, v.index), check(g, v.index);
  std::mt19937_64 rng(seed);
  std::string text;
  for (int step = 0; step < max_steps; ++step) {
    const auto bits = m.allowed();
    std::vector<int32_t> ok;
    for (int32_t id = 0; id < 2048; ++id) {
      if (bit(bits, id)) ok.push_back(id);
    }
    REQUIRE(!ok.empty());
    if (brute_force) {
      for (int32_t id = 0; id < 2048; ++id) {
        const std::string& tb = v.index->bytes[id];
        if (tb.empty()) continue;  // control / unused: covered by the EOS checks below
        check.reset();
        const bool can = check.accept_bytes(text + tb);
        if (can != bit(bits, id)) FAIL_CHECK("token " << id << " '" << tb << "' after '" << text << "'");
      }
      check.reset();
      REQUIRE(check.accept_bytes(text));
      CHECK(bit(bits, 7) == check.complete());
    }
    const bool eos_ok = bit(bits, 7);
    int32_t tok;
    if (eos_ok && (ok.size() == 1 || rng() % 4 == 0)) return text;
    do {
      tok = ok[rng() % ok.size()];
    } while (tok == 7);
    REQUIRE(m.accept(tok));
    text += v.index->bytes[tok];
  }
  FAIL("no end after " << max_steps << " steps: " << text);
  return text;
}

json J(const char* s) { return json::parse(s); }

}  // namespace

TEST_CASE("masks equal a brute-force replay, and walks end in valid JSON") {
  const char* schemas[] = {
      R"({"type":"object","properties":{"a":{"type":"integer"},"b":{"type":"string","maxLength":4},
          "c":{"enum":["x","yy",null]}},"required":["a"]})",
      R"({"type":"array","items":{"type":["boolean","null","number"]},"maxItems":3})",
      R"({"anyOf":[{"type":"string","pattern":"^(ab|cd)[0-9]{2}$"},{"const":[1,{"k":"v"}]}]})",
      R"({"$defs":{"n":{"type":"object","properties":{"c":{"type":"array","items":{"$ref":"#/$defs/n"},"maxItems":2}},
          "required":["c"]}},"$ref":"#/$defs/n"})",
  };
  int i = 0;
  for (const char* s : schemas) {
    auto g = compile_json_schema(J(s));
    for (uint64_t seed = 1; seed <= 3; ++seed) {
      CAPTURE(s);
      const std::string out = walk(g, seed * 100 + i, /*brute_force=*/seed == 1);
      CAPTURE(out);
      CHECK(json::accept(out));
    }
    ++i;
  }
}

TEST_CASE("generated values respect the schema (spot checks)") {
  auto g = compile_json_schema(J(R"({"type":"object","properties":{"e":{"enum":["p","q"]},
      "s":{"type":"string","minLength":2,"maxLength":3},"n":{"type":"array","items":{"type":"integer"},
      "minItems":1,"maxItems":2},"t":{"type":"array","prefixItems":[{"type":"null"},{"type":"boolean"}],"items":false}},
      "required":["e","s","n","t"],"additionalProperties":false})"));
  for (uint64_t seed = 0; seed < 30; ++seed) {
    const json v = json::parse(walk(g, seed, false));
    CHECK((v["e"] == "p" || v["e"] == "q"));
    // Code points, as JSON Schema counts them.
    const std::string s = v["s"].get<std::string>();
    const auto cps = std::count_if(s.begin(), s.end(), [](char c) { return (static_cast<uint8_t>(c) & 0xc0) != 0x80; });
    CHECK(cps >= 2);
    CHECK(cps <= 3);
    CHECK(v["n"].size() >= 1);
    CHECK(v["n"].size() <= 2);
    for (const auto& x : v["n"]) CHECK(x.is_number_integer());
    CHECK(v["t"].size() <= 2);
    CHECK(v.size() == 4);
  }
}

TEST_CASE("patterns: generated strings fully match std::regex") {
  const char* pats[] = {"^[a-z]{2,5}-\\d{3}$", "(cat|dog)s?", "^\\w{1,8}@\\w{1,8}\\.(com|org)$", "a\"b\\\\c",
                        "^[^a-z]{1,3}x?$", "(?:ab){2}[.!?]"};
  for (const char* p : pats) {
    json schema = {{"type", "string"}, {"pattern", p}};
    auto g = compile_json_schema(schema);
    std::string ecma = p;
    std::regex re(ecma, std::regex::ECMAScript);
    for (uint64_t seed = 0; seed < 10; ++seed) {
      const std::string out = walk(g, seed, seed == 0);
      const std::string value = json::parse(out).get<std::string>();
      CAPTURE(p);
      CAPTURE(out);
      CHECK(std::regex_search(value, re));
    }
  }
}

TEST_CASE("unsupported keywords, bad patterns and limits throw naming the problem") {
  auto msg = [](const char* s, SchemaLimits lim = {}) {
    try {
      compile_json_schema(J(s), lim);
    } catch (const GrammarError& e) {
      return std::string(e.what());
    }
    return std::string("(accepted)");
  };
  CHECK(msg(R"({"type":"string","format":"duration"})").find("'format' 'duration'") != std::string::npos);
  CHECK(msg(R"({"type":"string","format":"date-time"})") == "(accepted)");
  CHECK(msg(R"({"properties":{"a":{"multipleOf":2}}})").find("'multipleOf' at /properties/a") != std::string::npos);
  CHECK(msg(R"({"not":{}})").find("'not'") != std::string::npos);
  CHECK(msg(R"({"type":"strin"})").find("'type'") != std::string::npos);
  CHECK(msg(R"j({"type":"string","pattern":"a(?!b)"})j").find("pattern") != std::string::npos);
  CHECK(msg(R"({"type":"string","pattern":"\\p{L}"})").find("pattern") != std::string::npos);
  CHECK(msg(R"({"oneOf":[{"type":"integer"},{"type":"number"}]})").find("oneOf") != std::string::npos);
  CHECK(msg(R"({"oneOf":[{"type":"integer"},{"type":"string"}]})") == "(accepted)");
  CHECK(msg(R"({"$ref":"#/$defs/missing"})").find("does not resolve") != std::string::npos);
  CHECK(msg(R"({"enum":[]})").find("enum") != std::string::npos);
  CHECK(msg(R"({"type":"object","properties":{"a":false},"required":["a"]})").find("cannot be satisfied") != std::string::npos);
  SchemaLimits small;
  small.max_elems = 500;
  CHECK(msg(R"({"type":"string","minLength":600})", small).find("minLength is too large") != std::string::npos);
  small = {};
  small.max_depth = 2;
  CHECK(msg(R"({"items":{"items":{"items":{}}}})", small).find("deeper than 2") != std::string::npos);
}

TEST_CASE("a token budget steers the output to finish in time") {
  const Vocab& v = vocab();
  // An unbounded string: without the budget a walk that never picks '"' never ends.
  auto g = compile_json_schema(J(R"({"type":"object","properties":{"s":{"type":"string"}},"required":["s"]})"));
  for (int64_t budget : {9, 12, 40}) {
    GrammarConstraint c(g, v.index, GrammarConstraint::Mode::Always, -1, -1, {}, budget);
    std::mt19937_64 rng(budget);
    std::vector<float> logits(2048);
    std::string text;
    int64_t n = 0;
    bool ended = false;
    for (; n < budget; ++n) {
      // Random logits that never favour the closing quote.
      for (auto& l : logits) l = static_cast<float>(rng() % 1000) / 100.0f;
      for (int32_t id = 0; id < 2048; ++id) {
        if (v.index->bytes[id].find('"') != std::string::npos) logits[id] -= 50;
      }
      c.mask_logits(logits.data(), 2048);
      const int32_t tok = static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
      REQUIRE(std::isfinite(logits[tok]));
      c.accept(tok);
      if (tok == 7) {
        ended = true;
        ++n;
        break;
      }
      text += v.index->bytes[tok];
    }
    CAPTURE(budget);
    CAPTURE(text);
    CHECK(ended);
    CHECK(n <= budget);
    CHECK(json::parse(text).contains("s"));
  }
}

TEST_CASE("lazy mode: free text, the grammar after the trigger, free again; trigger limit") {
  const Vocab& v = vocab();
  std::vector<ToolSpec> tools = {{"f", J(R"({"type":"object","properties":{"x":{"type":"integer"}},"required":["x"]})")}};
  auto g = compile_tool_calls(tools, false, -1, 11);
  GrammarConstraint c(g, v.index, GrammarConstraint::Mode::Lazy, 10, 1, {11});
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<float> logits(2048, 0.0f);
  c.mask_logits(logits.data(), 2048);
  CHECK(logits[10] == 0.0f);   // the trigger is allowed
  CHECK(logits[11] == -inf);   // a stray end marker is not
  CHECK(logits[300] == 0.0f);  // free text
  c.accept(300);
  c.accept(10);
  std::string body;
  std::mt19937_64 rng(5);
  for (int step = 0; step < 200; ++step) {
    std::fill(logits.begin(), logits.end(), 0.0f);
    c.mask_logits(logits.data(), 2048);
    std::vector<int32_t> ok;
    for (int32_t id = 0; id < 2048; ++id) {
      if (logits[id] == 0.0f) ok.push_back(id);
    }
    REQUIRE(!ok.empty());
    CHECK(logits[7] == -inf);  // no EOS inside a call block
    const int32_t tok = ok[rng() % ok.size()];
    c.accept(tok);
    if (tok == 11) break;
    body += v.index->bytes[tok];
  }
  CAPTURE(body);
  CHECK(std::regex_match(body, std::regex(R"(\[f\(x=-?[0-9]+\)\])")));
  std::fill(logits.begin(), logits.end(), 0.0f);
  c.mask_logits(logits.data(), 2048);
  CHECK(logits[10] == -inf);  // parallel_tool_calls=false: one block only
  CHECK(logits[7] == 0.0f);
  CHECK_THROWS(GrammarConstraint(compile_json_object(), v.index, GrammarConstraint::Mode::Always).accept(300));
}

TEST_CASE("random schemas: compile or throw GrammarError, never crash; compiled ones walk to valid JSON") {
  std::mt19937_64 rng(2024);
  const std::vector<std::string> keys = {"type", "properties", "required", "additionalProperties", "enum", "const",
                                         "items", "prefixItems", "minItems", "maxItems", "anyOf", "oneOf", "$ref",
                                         "$defs", "minLength", "maxLength", "pattern", "title", "format", "not"};
  const std::vector<json> leaves = {json("string"), json("integer"), json(true), json(false), json(nullptr), json(3),
                                    json(-1), json(99999999999999999LL), json(1.5), json("#"), json("#/$defs/a"),
                                    json("#/$defs/99999999999999999999999"), json("[a-c]{2}"), json("(x|y)+"),
                                    json::array({"a", 1}), json::array(), json::object(), json("object")};
  std::function<json(int)> gen = [&](int depth) -> json {
    json s = json::object();
    const int n = static_cast<int>(rng() % 4);
    for (int i = 0; i < n; ++i) {
      const std::string& k = keys[rng() % keys.size()];
      const int pick = static_cast<int>(rng() % 6);
      if (depth < 3 && pick == 0) s[k] = gen(depth + 1);
      else if (depth < 3 && pick == 1) s[k] = json::array({gen(depth + 1), gen(depth + 1)});
      else if (depth < 3 && pick == 2) s[k] = json{{"a", gen(depth + 1)}, {"b", gen(depth + 1)}};
      else s[k] = leaves[rng() % leaves.size()];
    }
    return s;
  };
  int compiled = 0;
  for (int i = 0; i < 1500; ++i) {
    const json schema = gen(0);
    CAPTURE(schema.dump());
    std::shared_ptr<const Grammar> g;
    try {
      g = compile_json_schema(schema);
    } catch (const GrammarError&) {
      continue;
    } catch (const std::exception& e) {
      // The server answers 400 for any exception, but the compiler should say what is wrong.
      FAIL_CHECK("not a GrammarError: " << e.what());
      continue;
    }
    ++compiled;
    if (i % 10 == 0) {
      GrammarConstraint c(g, vocab().index, GrammarConstraint::Mode::Always, -1, -1, {}, 200);
      std::vector<float> logits(2048);
      std::string text;
      bool ended = false;
      for (int n = 0; n < 200 && !ended; ++n) {
        for (auto& l : logits) l = static_cast<float>(rng() % 1000);
        c.mask_logits(logits.data(), 2048);
        const int32_t tok = static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
        REQUIRE(std::isfinite(logits[tok]));
        c.accept(tok);
        if (tok == 7) ended = true;
        else text += vocab().index->bytes[tok];
      }
      CAPTURE(text);
      if (ended) CHECK(json::accept(text));
    }
  }
  CHECK(compiled > 100);
}

TEST_CASE("integer ranges: exactly the integers within the bounds") {
  const Vocab& v = vocab();
  std::mt19937_64 rng(99);
  for (int iter = 0; iter < 40; ++iter) {
    int64_t a = static_cast<int64_t>(rng() % 2400) - 1200, b = static_cast<int64_t>(rng() % 2400) - 1200;
    if (a > b) std::swap(a, b);
    json schema = {{"type", iter % 2 ? "integer" : "number"}};
    if (iter % 3 == 0) schema["minimum"] = a;
    else schema["exclusiveMinimum"] = a - 0.5;  // same bound for integers
    schema[iter % 4 == 0 ? "maximum" : "exclusiveMaximum"] = iter % 4 == 0 ? json(b) : json(b + 1);
    CAPTURE(schema.dump());
    auto g = compile_json_schema(schema);
    Matcher m(g, v.index);
    for (int64_t x = -1500; x <= 1500; ++x) {
      m.reset();
      const bool ok = m.accept_bytes(std::to_string(x)) && m.complete();
      if (ok != (a <= x && x <= b)) FAIL_CHECK(x);
    }
    m.reset();
    CHECK_FALSE((m.accept_bytes("-0") && m.complete()));
    m.reset();
    CHECK_FALSE((m.accept_bytes("007") && m.complete()));
  }
  CHECK_THROWS_WITH_AS(compile_json_schema(J(R"({"type":"number","minimum":0.1,"maximum":0.9})")),
                       doctest::Contains("integer-valued"), GrammarError);
  auto big = compile_json_schema(J(R"({"type":"integer","minimum":1000})"));
  Matcher m(big, v.index);
  CHECK((m.accept_bytes("999999999999999") && m.complete()));
  m.reset();
  CHECK_FALSE((m.accept_bytes("999") && m.complete()));
}
