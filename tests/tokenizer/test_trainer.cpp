// BPE trainer, built-in corpus and the test-vocabulary builder.
#include <doctest/doctest.h>

#include <chrono>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/tokenizer/tokenizer.h"
#include "engine/testmodel/vocab_builder.h"

using namespace lfmd;
using S = std::vector<std::string>;

namespace {

uint64_t fnv1a(std::string_view s, uint64_t h = 0xcbf29ce484222325ull) {
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ull;
  return h;
}

}  // namespace

TEST_CASE("trainer: known merges on tiny corpora") {
  // Words: "aaa" x1, " aaa" x2 -> (a,a) 6, then (aa,a) 3, then (Ġ,aaa) 2, then nothing twice.
  CHECK(train_bpe_merges("aaa aaa aaa", 10) == S{"a a", "aa a", "\xC4\xA0 aaa"});
  // Ties (count 2) go to the byte-wise smallest pair: "a b" < "c d" < "Ġ c".
  CHECK(train_bpe_merges("ab ab cd cd", 10) == S{"a b", "c d", "\xC4\xA0 cd"});
  CHECK(train_bpe_merges("ab ab cd cd", 2) == S{"a b", "c d"});
  CHECK(train_bpe_merges("abc", 10).empty());  // no pair occurs twice
  CHECK(train_bpe_merges("", 10).empty());
  CHECK(train_bpe_merges("ab ab", 0).empty());
}

TEST_CASE("trainer: merges form a consistent vocabulary") {
  const S m = train_bpe_merges("low lower lowest newer newest wider widest low low newer", 100);
  REQUIRE(!m.empty());
  std::set<std::string> known;
  for (int b = 0; b < 256; ++b) known.insert(byte_level_encode(std::string(1, char(b))));
  for (const auto& x : m) {
    const size_t sp = x.find(' ', 1);
    REQUIRE(sp != std::string::npos);
    CHECK(known.count(x.substr(0, sp)) == 1);
    CHECK(known.count(x.substr(sp + 1)) == 1);
    known.insert(x.substr(0, sp) + x.substr(sp + 1));
  }
  CHECK_NOTHROW(Tokenizer(make_basic_bpe_vocab(m)));
}

TEST_CASE("trainer: built-in corpus gives >= 4000 merges, deterministically and fast") {
  const std::string_view corpus = builtin_training_corpus();
  const auto t0 = std::chrono::steady_clock::now();
  const S a = train_bpe_merges(corpus, 4000);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  MESSAGE("train 4000 merges: " << s * 1000 << " ms");
  CHECK(s < 10.0);  // ~0.1 s in release builds
  REQUIRE(a.size() == 4000);
  const S b = train_bpe_merges(corpus, 4000);
  CHECK(a == b);
  // A shorter run is a prefix of a longer one.
  const S c = train_bpe_merges(corpus, 1000);
  CHECK(S(a.begin(), a.begin() + 1000) == c);
  CHECK(a[0] == "h e");
  CHECK(train_bpe_merges(corpus, 100000).size() >= 5000);
  // Generated vocabularies depend on these exact merges.
  uint64_t h = 0xcbf29ce484222325ull;
  for (const auto& m : a) h = fnv1a("\n", fnv1a(m, h));
  CHECK(h == 0xeedd89293e5c854full);
}

TEST_CASE("built-in corpus: pinned content and required variety") {
  const std::string_view c = builtin_training_corpus();
  CHECK(c.size() == 271617);
  CHECK(fnv1a(c) == 0x92e432dc057524b4ull);
  CHECK(c.data() == builtin_training_corpus().data());          // built once
  CHECK(c.find("#include") != std::string_view::npos);          // C++
  CHECK(c.find("def ") != std::string_view::npos);              // Python
  CHECK(c.find("\"sensors\": [") != std::string_view::npos);    // JSON
  CHECK(c.find("2024-") != std::string_view::npos);             // dates
  CHECK(c.find("\xC3\xA9") != std::string_view::npos);          // é
  CHECK(c.find("\xE5\xAD\xA6") != std::string_view::npos);      // 学
  CHECK(c.find("\xED\x95\x9C") != std::string_view::npos);      // 한
  CHECK(c.find("\xF0\x9F\x9A\x80") != std::string_view::npos);  // 🚀
}

TEST_CASE("make_lfm2_test_vocab: layout") {
  const VocabData v = make_lfm2_test_vocab(4000, 65536);
  REQUIRE(v.tokens.size() == 65536);
  REQUIRE(v.types.size() == 65536);
  const auto& sp = lfm2_special_tokens();
  REQUIRE(sp.size() == 14);
  for (int i = 0; i < 14; ++i) {
    CHECK(v.tokens[i] == sp[i]);
    CHECK(v.types[i] == int32_t(TokenType::Control));
  }
  CHECK(v.tokens[0] == "<|pad|>");
  CHECK(v.tokens[1] == "<|startoftext|>");
  CHECK(v.tokens[7] == "<|im_end|>");
  CHECK(v.tokens[13] == "<|tool_response_end|>");
  CHECK(v.tokens[14] == "<|reserved_4|>");
  CHECK(v.tokens[15] == "<|reserved_5|>");
  CHECK(v.types[14] == int32_t(TokenType::Normal));
  CHECK(v.types[15] == int32_t(TokenType::Normal));
  CHECK(v.tokens[16] == "<|reserved_6|>");
  CHECK(v.tokens[50] == "<|reserved_40|>");
  for (int i = 16; i <= 50; ++i) CHECK(v.types[i] == int32_t(TokenType::Control));
  for (int b = 0; b < 256; ++b)
    CHECK(v.tokens[51 + b] == byte_level_encode(std::string(1, char(b))));
  CHECK(v.tokens[307] == "he");  // first merge
  const int32_t n_real = 307 + 4000 - 0;
  int32_t first_pad = 307;
  while (v.types[first_pad] != int32_t(TokenType::Unused)) ++first_pad;
  CHECK(first_pad <= n_real);
  CHECK(first_pad > 307 + 3500);  // only a few merge results repeat
  CHECK(v.tokens[first_pad] == "[PAD" + std::to_string(first_pad) + "]");
  CHECK(v.tokens[65535] == "[PAD65535]");
  for (int32_t i = first_pad; i < 65536; ++i) REQUIRE(v.types[i] == int32_t(TokenType::Unused));
  CHECK(v.bos_id == 1);
  CHECK(v.eos_id == 7);
  CHECK(v.pad_id == 0);
  CHECK(v.add_bos);
  CHECK_FALSE(v.add_eos);
  CHECK(v.model == "gpt2");
  CHECK(v.pre == "lfm2");
  CHECK(v.ignore_merges);
  CHECK(v.merges.size() == 4000);

  const Tokenizer tok(v);
  CHECK(tok.n_vocab() == 65536);
  CHECK(tok.encode("<|im_start|>hello<|im_end|>", true, true).front() == 1);
  CHECK_THROWS_AS(make_lfm2_test_vocab(4000, 1000), std::runtime_error);
  CHECK_THROWS_AS(make_lfm2_test_vocab(100000, 0), std::runtime_error);
  CHECK(make_lfm2_test_vocab(100, 0).tokens.size() <= 307 + 100);
}
