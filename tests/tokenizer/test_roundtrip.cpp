// Round trips with a vocabulary trained on the built-in corpus, and the incremental detokenizer.
#include <doctest/doctest.h>

#include <chrono>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "engine/tokenizer/tokenizer.h"
#include "engine/testmodel/vocab_builder.h"

using namespace lfmd;
using Ids = std::vector<int32_t>;

namespace {

const Tokenizer& trained() {
  static const Tokenizer t(make_basic_bpe_vocab(builtin_merges(4000)));
  return t;
}

bool valid_utf8(const std::string& s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto b = static_cast<unsigned char>(s[i]);
    size_t n = b < 0x80                   ? 1
               : (b >= 0xC2 && b <= 0xDF) ? 2
               : (b >= 0xE0 && b <= 0xEF) ? 3
               : (b >= 0xF0 && b <= 0xF4) ? 4
                                          : 0;
    if (n == 0 || i + n > s.size()) return false;
    for (size_t k = 1; k < n; ++k)
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
    i += n;
  }
  return true;
}

// Random text: ASCII words and punctuation, accented Latin, CJK, emoji, whitespace runs.
std::string random_text(std::mt19937& rng) {
  static const char* const parts[] = {
      "the",
      "The",
      " and",
      "tokenizer",
      " model",
      "x",
      "Q",
      "42",
      "2024",
      "1234567",
      "3.14",
      "'s",
      "'LL",
      "n't",
      ",",
      ".",
      "!",
      "?",
      "...",
      "(",
      ")",
      "{\"a\": 1}",
      "->",
      "==",
      "#",
      "@",
      "\\",
      "\"",
      "_",
      "-",
      "caf\xC3\xA9",
      "\xC3\xBC"
      "ber",
      "ni\xC3\xB1o",
      "\xC5\x82\xC3\xB3"
      "d\xC5\xBA",
      "\xC3\x86",
      "\xE6\x97\xA5\xE6\x9C\xAC",
      "\xE4\xB8\xAD\xE6\x96\x87",
      "\xED\x95\x9C\xEA\xB5\xAD",
      "\xE3\x81\x82",
      "\xF0\x9F\x98\x80",
      "\xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD",
      "\xE2\x9D\xA4\xEF\xB8\x8F",
      "\xF0\x9F\x91\xA8\xE2\x80\x8D\xF0\x9F\x91\xA9\xE2\x80\x8D\xF0\x9F\x91\xA7",
      " ",
      "  ",
      "    ",
      "\t",
      "\n",
      "\n\n",
      "\r\n",
      " \n",
      "\xC2\xA0",
      "\xE3\x80\x80",
      "\xD0\x9F\xD1\x80\xD0\xB8",
      "\xCE\xB1\xCE\xB2"};
  std::string s;
  const int n = 1 + int(rng() % 24);
  for (int k = 0; k < n; ++k) {
    const uint32_t r = rng() % 10;
    if (r == 0) {
      s.push_back(char(0x20 + rng() % 0x5F));
    } else if (r == 1) {  // any BMP / astral code point (no surrogates)
      uint32_t c = rng() % 0x10FFFF;
      if (c >= 0xD800 && c < 0xE000) c = 0x4E00;
      if (c < 0x80) {
        s.push_back(char(c ? c : 1));
      } else if (c < 0x800) {
        s += {char(0xC0 | (c >> 6)), char(0x80 | (c & 0x3F))};
      } else if (c < 0x10000) {
        s += {char(0xE0 | (c >> 12)), char(0x80 | ((c >> 6) & 0x3F)), char(0x80 | (c & 0x3F))};
      } else {
        s += {char(0xF0 | (c >> 18)), char(0x80 | ((c >> 12) & 0x3F)),
              char(0x80 | ((c >> 6) & 0x3F)), char(0x80 | (c & 0x3F))};
      }
    } else {
      s += parts[rng() % (sizeof(parts) / sizeof(*parts))];
    }
  }
  return s;
}

}  // namespace

TEST_CASE("round trip: decode(encode(s)) == s for random strings") {
  const Tokenizer& tok = trained();
  std::mt19937 rng(20240601);
  size_t n_tokens = 0, n_bytes = 0;
  for (int it = 0; it < 5000; ++it) {
    const std::string s = random_text(rng);
    const Ids ids = tok.encode(s, it % 2 == 0, it % 3 == 0);
    for (int32_t id : ids) REQUIRE((id >= 0 && id < tok.n_vocab()));
    const Ids body = it % 2 == 0 ? Ids(ids.begin() + 1, ids.end()) : ids;
    REQUIRE(tok.decode(body) == s);
    if (it % 2 == 0) {
      CHECK(ids.front() == 1);
      CHECK(tok.decode(ids, false) == s);  // BOS is a control token: hidden without special
    }
    n_tokens += body.size();
    n_bytes += s.size();
  }
  // Merges actually apply: far fewer tokens than bytes.
  CHECK(n_tokens * 10 < n_bytes * 8);
}

TEST_CASE("round trip: the built-in corpus compresses and round-trips") {
  const Tokenizer& tok = trained();
  const std::string corpus(builtin_training_corpus());
  const Ids ids = tok.encode(corpus, false, false);
  CHECK(tok.decode(ids) == corpus);
  CHECK(ids.size() * 3 < corpus.size());
  // Common words are single tokens.
  CHECK(tok.encode(" the", false, false).size() == 1);
  CHECK(tok.encode(" and", false, false).size() == 1);
}

TEST_CASE("round trip: invalid UTF-8 comes back with U+FFFD (llama.cpp sanitising)") {
  const Tokenizer& tok = trained();
  CHECK(tok.decode(tok.encode("ok\xFF!", false, false)) == "ok\xEF\xBF\xBD!");
  CHECK(tok.decode(tok.encode("\xE4\xB8", false, false)) == "\xEF\xBF\xBD\xEF\xBF\xBD");
  CHECK(tok.decode(tok.encode("\xC3", false, false)) == "\xEF\xBF\xBD");
}

TEST_CASE("encode is thread-safe and deterministic") {
  const Tokenizer& tok = trained();
  std::mt19937 rng(99);
  std::vector<std::string> texts;
  for (int i = 0; i < 200; ++i) texts.push_back(random_text(rng) + "<|im_end|>" + random_text(rng));
  std::vector<Ids> ref;
  for (const auto& t : texts) ref.push_back(tok.encode(t, true, true));
  std::vector<int> ok(4, 0);
  std::vector<std::thread> th;
  for (int w = 0; w < 4; ++w) {
    th.emplace_back([&, w] {
      int good = 0;
      for (int rep = 0; rep < 5; ++rep)
        for (size_t i = 0; i < texts.size(); ++i)
          good += tok.encode(texts[i], true, true) == ref[i];
      ok[w] = good;
    });
  }
  for (auto& t : th) t.join();
  for (int w = 0; w < 4; ++w) CHECK(ok[w] == 5 * int(texts.size()));
}

TEST_CASE("encode speed: 1 MB of text") {
  const Tokenizer& tok = trained();
  const std::string_view corpus = builtin_training_corpus();
  std::string big;
  while (big.size() < (1u << 20)) big += corpus;
  big.resize(1u << 20);
  const auto t0 = std::chrono::steady_clock::now();
  const Ids ids = tok.encode(big, false, true);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  MESSAGE("encode 1 MB: " << ids.size() << " tokens in " << s * 1000 << " ms");
  CHECK(s < 5.0);  // ~0.05 s in release builds; generous for sanitizer builds
  CHECK(tok.decode(ids) == big);
}

TEST_CASE("incremental detokenizer: every split point of multi-byte text") {
  // Byte-only vocabulary: every token is one byte, so pushes can stop anywhere in a character.
  const Tokenizer bytes(make_basic_bpe_vocab({}));
  const std::string text =
      "a\xC3\xA9\xE4\xB8\xAD\xF0\x9F\x98\x80z\xCE\xB1\xE2\x82\xAC";  // aé中😀zα€
  const Ids ids = bytes.encode(text, false, false);
  REQUIRE(ids.size() == text.size());
  for (size_t cut = 0; cut <= ids.size(); ++cut) {
    IncrementalDetokenizer d(bytes);
    std::string out;
    for (size_t i = 0; i < cut; ++i) {
      const std::string piece = d.push(ids[i]);
      CHECK(valid_utf8(piece));
      out += piece;
    }
    // Everything emitted so far is the longest complete-character prefix of text[0, cut).
    size_t complete = 0;
    for (size_t i = 0; i < cut;) {
      const auto b = static_cast<unsigned char>(text[i]);
      const size_t n = b < 0x80 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4;
      if (i + n > cut) break;
      i += n;
      complete = i;
    }
    CHECK(out == text.substr(0, complete));
    for (size_t i = cut; i < ids.size(); ++i) out += d.push(ids[i]);
    out += d.flush();
    CHECK(out == text);
  }
  // Also with trained multi-byte tokens.
  const Tokenizer& tok = trained();
  std::mt19937 rng(7);
  for (int it = 0; it < 300; ++it) {
    const std::string s = random_text(rng);
    IncrementalDetokenizer d(tok);
    std::string out;
    for (int32_t id : tok.encode(s, false, false)) {
      const std::string piece = d.push(id);
      REQUIRE(valid_utf8(piece));
      out += piece;
    }
    out += d.flush();
    REQUIRE(out == s);
  }
}

TEST_CASE("incremental detokenizer: dangling and invalid bytes become U+FFFD") {
  const Tokenizer bytes(make_basic_bpe_vocab({}));
  const auto b = [](const std::string& s) {  // raw bytes -> byte token ids (no sanitising)
    Ids ids;
    for (unsigned char c : s) ids.push_back(14 + c);
    return ids;
  };
  {
    IncrementalDetokenizer d(bytes);
    for (int32_t id : b("x\xE4\xB8")) CHECK(valid_utf8(d.push(id)));
    CHECK(d.flush() == "\xEF\xBF\xBD\xEF\xBF\xBD");  // one U+FFFD per dangling byte
    CHECK(d.flush() == "");
  }
  {
    IncrementalDetokenizer d(bytes);
    std::string out;
    for (int32_t id : b("\xFF"
                        "a\xC3(\xED\xA0\x80"))
      out += d.push(id);
    out += d.flush();
    // 0xFF, a lead byte cut short, and a surrogate are each replaced byte by byte.
    CHECK(out ==
          "\xEF\xBF\xBD"
          "a\xEF\xBF\xBD(\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
  }
  {  // Control tokens: text with special=true, nothing otherwise.
    IncrementalDetokenizer on(bytes, true), off(bytes, false);
    CHECK(on.push(7) == "<|im_end|>");
    CHECK(off.push(7) == "");
  }
}
