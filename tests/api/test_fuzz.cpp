// Never crash: byte-level mutations, truncations and value swaps of valid bodies (fixed seeds).
// Every outcome must be a ChatRequest or a 400 whose body serialises; a 500 would be a bug.
#include <random>

#include "tests/api/api_test_util.h"

using namespace lfmd::api;
using namespace lfmd::api::test;

namespace {

const std::vector<std::string>& seeds() {
  static const std::vector<std::string> s = {
      with(""),
      R"({"model":"m","messages":[{"role":"developer","content":"sys"},
        {"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]},
        {"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function",
          "function":{"name":"get","arguments":"{\"k\":[1,2,{\"z\":null}]}"}}]},
        {"role":"tool","tool_call_id":"c1","content":"ok"}],
        "tools":[{"type":"function","function":{"name":"get","description":"d",
          "parameters":{"type":"object","properties":{"k":{"type":"array"}}},"strict":false}}],
        "tool_choice":{"type":"function","function":{"name":"get"}},"parallel_tool_calls":false,
        "response_format":{"type":"json_schema",
          "json_schema":{"name":"n","schema":{"type":"object"}}},
        "stream":true,"stream_options":{"include_usage":true},"max_tokens":10,
        "max_completion_tokens":20,"temperature":0.5,"top_p":0.9,"top_k":5,"min_p":0.1,
        "presence_penalty":1,"frequency_penalty":-1,"repetition_penalty":1.2,"seed":-7,
        "logit_bias":{"1":5,"2":-5},"logprobs":true,"top_logprobs":3,"stop":["x","y"],"n":1,
        "confidence_threshold":0.5,"handoff":"auto","user":"u"})",
      with(R"("tools":[{"type":"function","function":{"name":"a"}}],"tool_choice":"required",
        "response_format":{"type":"json_object"},"stop":"\n","seed":18,"logit_bias":{})"),
  };
  return s;
}

// Returns true when the body was accepted.
bool check_outcome(const std::string& body) {
  auto res = parse_chat_request(body, test_limits());
  if (const ApiError* e = std::get_if<ApiError>(&res)) {
    if (e->status != 400) FAIL_CHECK("status " << e->status << ": " << e->message);
    try {
      (void)e->body().dump();
    } catch (const std::exception& ex) {
      FAIL_CHECK("error body does not serialise: " << ex.what());
    }
    return false;
  } else {
    const ChatRequest& r = std::get<ChatRequest>(res);
    // What the template layer will do with an accepted request must not throw either.
    try {
      (void)r.messages.dump();
      (void)r.tools_json.dump();
    } catch (const std::exception& ex) {
      FAIL_CHECK("accepted request does not serialise: " << ex.what());
    }
    return true;
  }
}

const char kAlphabet[] = "{}[]\":,0123456789-+.eEtrufalsn \\x\xFF\xC3";

}  // namespace

TEST_CASE("fuzz: every truncation of the seed bodies") {
  for (const std::string& s : seeds()) {
    for (size_t n = 0; n <= s.size(); ++n) check_outcome(s.substr(0, n));
  }
}

TEST_CASE("fuzz: random byte mutations") {
  std::mt19937_64 rng(0x1f2e3d4c5b6a7988ULL);
  int accepted = 0;
  for (int iter = 0; iter < 20000; ++iter) {
    std::string s = seeds()[rng() % seeds().size()];
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int k = 0; k < edits && !s.empty(); ++k) {
      const size_t pos = rng() % s.size();
      const char c = kAlphabet[rng() % (sizeof(kAlphabet) - 1)];
      switch (rng() % 5) {
        case 0:
          s[pos] = c;
          break;
        case 1:
          s.insert(pos, 1, c);
          break;
        case 2:
          s.erase(pos, 1 + rng() % 8);
          break;
        case 3:
          s.insert(pos, s.substr(rng() % s.size(), rng() % 32));
          break;
        default:
          s.resize(pos);
          break;
      }
    }
    accepted += check_outcome(s);
  }
  CHECK(accepted > 100);  // the mutations are not all fatal, so deep paths get exercised
  CHECK(accepted < 19000);
}

TEST_CASE("fuzz: structured value swaps") {
  const std::vector<json> pool = {
      nullptr,
      true,
      false,
      0,
      -1,
      1,
      2,
      21,
      4097,
      -9223372036854775807LL - 1,
      18446744073709551615ULL,
      0.5,
      -0.5,
      1e308,
      -1e308,
      1e-308,
      "",
      "x",
      "auto",
      "required",
      "function",
      "text",
      "json_schema",
      "user",
      "tool",
      "{",
      "{}",
      "[1]",
      json::array(),
      json::object(),
      json::parse(R"([[[[[]]]]])"),
      json::parse(R"({"type":"text"})"),
      json::parse(R"({"type":"function","function":{"name":"zz"}})"),
      json::parse(R"([{"role":"user","content":"q"}])"),
      json::parse(R"({"include_usage":true})"),
  };
  std::mt19937_64 rng(424242);
  int accepted = 0;
  for (int iter = 0; iter < 12000; ++iter) {
    json doc = json::parse(seeds()[rng() % seeds().size()]);
    const int swaps = 1 + static_cast<int>(rng() % 3);
    for (int k = 0; k < swaps; ++k) {
      // Random walk from the root to some node, then replace or delete it.
      json* node = &doc;
      json* parent = nullptr;
      std::string key;
      size_t index = 0;
      while (node->is_structured() && !node->empty() && rng() % 4 != 0) {
        parent = node;
        if (node->is_object()) {
          auto it = node->begin();
          std::advance(it, static_cast<long>(rng() % node->size()));
          key = it.key();
          node = &*it;
        } else {
          index = rng() % node->size();
          node = &(*node)[index];
        }
      }
      if (parent && rng() % 6 == 0) {
        if (parent->is_object()) {
          parent->erase(key);
        } else {
          parent->erase(index);
        }
      } else {
        *node = pool[rng() % pool.size()];
      }
    }
    accepted += check_outcome(doc.dump());
  }
  INFO("structured swaps accepted: " << accepted << " of 12000");
  CHECK(accepted > 500);
  CHECK(accepted < 11000);
}

TEST_CASE("fuzz: hostile shapes") {
  check_outcome(std::string(1 << 20, '{'));
  check_outcome(std::string(1 << 20, '"'));
  check_outcome(std::string(1 << 20, '\\'));
  check_outcome(std::string("\0\0\0", 3));
  check_outcome(with(R"("stop":[)" + std::string(5000, '"') + "]"));
  check_outcome(msgs(R"([{"role":"user","content":")" + std::string(100000, '\\') + "\"}]"));
  std::string many_parts = "[";
  for (int i = 0; i < 50000; ++i)
    many_parts += std::string(i ? "," : "") + R"({"type":"text","text":"a"})";
  check_outcome(msgs(R"([{"role":"user","content":)" + many_parts + "]}]"));
}
