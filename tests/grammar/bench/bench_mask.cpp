// Mask cost of the grammar engine on a vocabulary of the real LFM2 size (not a test; not in CI).
// The generated test models have only a few thousand real tokens (the rest of their 65,536 ids
// are unused padding), so this builds a synthetic 64,400-token byte-level vocabulary: the LFM2
// specials, the 256 bytes, the built-in corpus's pre-tokenized pieces and their prefixes, digit
// groups, JSON punctuation runs, then pseudo-words (with and without a leading space) up to the
// size. It then decodes with a JSON-schema grammar and random logits (fixed seed), timing
// mask_logits + accept per token.
//   usage: lfmd_grammar_bench [SEQUENCES=20] [MAX_TOKENS=256]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <set>
#include <string>

#include "engine/grammar/json_schema.h"
#include "engine/grammar/matcher.h"
#include "engine/testmodel/vocab_builder.h"

using namespace lfmd;

int main(int argc, char** argv) {
  const int seqs = argc > 1 ? std::atoi(argv[1]) : 20;
  const int max_tokens = argc > 2 ? std::atoi(argv[2]) : 256;
  const int32_t n_vocab = 65536, n_real = 64400;
  VocabData v;
  for (const auto& s : lfm2_special_tokens()) {
    v.tokens.push_back(s);
    v.types.push_back(static_cast<int32_t>(TokenType::Control));
  }
  std::set<std::string> seen;
  auto add = [&](const std::string& raw) {
    if (raw.empty() || static_cast<int32_t>(v.tokens.size()) >= n_real || !seen.insert(raw).second) return;
    v.tokens.push_back(byte_level_encode(raw));
    v.types.push_back(static_cast<int32_t>(TokenType::Normal));
  };
  for (int b = 0; b < 256; ++b) add(std::string(1, static_cast<char>(b)));
  for (const std::string& p : pretokenize_lfm2(builtin_training_corpus())) {
    for (size_t l = 2; l <= p.size(); ++l) add(p.substr(0, l));
  }
  for (int i = 0; i < 1000; ++i) add(std::to_string(i)), add(" " + std::to_string(i));
  const std::string punct = "\"{}[]:, .\n-_";
  std::mt19937_64 rng(7);
  for (int i = 0; i < 3000; ++i) {
    std::string t;
    for (size_t l = 2 + rng() % 3; t.size() < l;) t += punct[rng() % punct.size()];
    add(t);
  }
  while (static_cast<int32_t>(v.tokens.size()) < n_real) {
    std::string w = rng() % 10 < 6 ? " " : "";
    for (size_t l = 2 + rng() % 9; w.size() < l + 1;) w += static_cast<char>('a' + rng() % 26);
    if (rng() % 5 == 0) w[w[0] == ' ' ? 1 : 0] = static_cast<char>(std::toupper(w[w[0] == ' ' ? 1 : 0]));
    add(w);
  }
  for (int32_t i = n_real; i < n_vocab; ++i) {
    v.tokens.push_back("[PAD" + std::to_string(i) + "]");
    v.types.push_back(static_cast<int32_t>(TokenType::Unused));
  }
  v.bos_id = 1, v.eos_id = 7, v.pad_id = 0;
  Tokenizer tok(v);
  std::vector<uint8_t> never(n_vocab, 0);
  for (int32_t i = n_real; i < n_vocab; ++i) never[i] = 1;
  auto t0 = std::chrono::steady_clock::now();
  auto index = std::make_shared<grammar::VocabIndex>(tok, n_vocab, never, std::vector<int32_t>{7, 2});
  const double index_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  const auto schema = nlohmann::ordered_json::parse(R"({"type":"object","properties":{"items":{"type":"array","minItems":1,
    "items":{"type":"object","properties":{"id":{"type":"integer"},"name":{"type":"string","maxLength":40},
    "tags":{"type":"array","items":{"enum":["red","green","blue","urgent"]},"maxItems":4},"score":{"type":"number"},
    "active":{"type":"boolean"},"owner":{"anyOf":[{"type":"null"},{"type":"object","properties":{"email":{"type":"string",
    "pattern":"^[a-z]{1,12}@[a-z]{1,12}\\.com$"}},"required":["email"]}]}},
    "required":["id","name","tags","score","active","owner"]}}},"required":["items"]})");
  t0 = std::chrono::steady_clock::now();
  auto g = grammar::compile_json_schema(schema);
  const double compile_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  std::vector<double> per_token;
  std::vector<float> logits(n_vocab);
  int ended = 0;
  for (int s = 0; s < seqs; ++s) {
    grammar::GrammarConstraint c(g, index, grammar::GrammarConstraint::Mode::Always, -1, -1, {}, max_tokens);
    for (int n = 0; n < max_tokens; ++n) {
      for (auto& l : logits) l = static_cast<float>(rng() % 100000) * 1e-4f;
      const auto a = std::chrono::steady_clock::now();
      c.mask_logits(logits.data(), n_vocab);
      const int32_t t = static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
      c.accept(t);
      per_token.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - a).count());
      if (t == 7 || t == 2) {
        ++ended;
        break;
      }
    }
  }
  std::vector<double> sorted = per_token;
  std::sort(sorted.begin(), sorted.end());
  double sum = 0;
  for (double x : per_token) sum += x;
  std::printf("vocabulary: %d ids, %zu byte tokens (index built in %.1f ms); grammar: %zu elements (compiled in %.2f ms)\n",
              n_vocab, index->sorted.size(), index_ms, g->size(), compile_ms);
  std::printf("%zu tokens over %d sequences (%d ended with EOS within %d tokens): mask+accept per token "
              "mean %.3f ms, p50 %.3f ms, p90 %.3f ms, p99 %.3f ms, max %.3f ms\n",
              per_token.size(), seqs, ended, max_tokens, sum / per_token.size(), sorted[sorted.size() / 2],
              sorted[sorted.size() * 9 / 10], sorted[sorted.size() * 99 / 100], sorted.back());
  return 0;
}
