#include <doctest/doctest.h>

#include <random>

#include "base/utf8.h"

namespace lfmd::output {
namespace {

const std::string kFFFD = "\xEF\xBF\xBD";

std::string clean(std::string_view s, bool final = true) {
  std::string out;
  utf8_sanitize(s, final, out);
  return out;
}

TEST_CASE("valid UTF-8 passes unchanged") {
  const std::string s = "ascii é ß 世界 🎉 \u00a0\U0010FFFF";
  CHECK(clean(s) == s);
  CHECK(utf8_valid(s));
}

TEST_CASE("ill-formed subparts become one U+FFFD each (Unicode best practice)") {
  CHECK(clean("a\xFFz") == "a" + kFFFD + "z");
  CHECK(clean("\xC0\xAF") == kFFFD + kFFFD);              // overlong lead, lone continuation
  CHECK(clean("\xE0\x80\x80") == kFFFD + kFFFD + kFFFD);  // overlong 3-byte
  CHECK(clean("\xED\xA0\x80") == kFFFD + kFFFD + kFFFD);  // surrogate
  CHECK(clean("\xF4\x90\x80\x80") == kFFFD + kFFFD + kFFFD + kFFFD);  // > U+10FFFF
  CHECK(clean("\xE2\x82z") == kFFFD + "z");  // truncated sequence = one subpart
  CHECK(clean("\xF0\x9F\x8Ez") == kFFFD + "z");
  CHECK(
      !utf8_valid("\xF0\x90\x80"
                  "A"));  // same byte count as its replacement
}

TEST_CASE("incomplete tail is held unless final") {
  std::string out;
  CHECK(utf8_sanitize("ab\xF0\x9F\x8E", false, out) == 2);
  CHECK(out == "ab");
  out.clear();
  CHECK(utf8_sanitize("ab\xF0\x9F\x8E", true, out) == 5);
  CHECK(out == "ab" + kFFFD);
  out.clear();
  CHECK(utf8_sanitize("\xE2", false, out) == 0);
  CHECK(out.empty());
}

TEST_CASE("append_utf8") {
  std::string s;
  append_utf8(0x41, s);
  append_utf8(0xE9, s);
  append_utf8(0x4E16, s);
  append_utf8(0x1F389, s);
  append_utf8(0xD800, s);
  append_utf8(0x110000, s);
  CHECK(s == "A\u00e9\u4e16\U0001F389" + kFFFD + kFFFD);
}

TEST_CASE("streaming sanitize equals one-shot sanitize for random bytes") {
  std::mt19937 rng(7);
  const unsigned char alphabet[] = {'a',  0x80, 0xBF, 0xC2, 0xDF, 0xE0, 0xA0, 0xED, 0x9F,
                                    0xF0, 0x90, 0xF4, 0x8F, 0xFF, 0xC0, 0xE2, 0x82, 0xAC};
  for (int iter = 0; iter < 3000; ++iter) {
    std::string s;
    const int n = static_cast<int>(rng() % 24);
    for (int i = 0; i < n; ++i) s.push_back(static_cast<char>(alphabet[rng() % sizeof alphabet]));
    const std::string whole = clean(s);
    CHECK(utf8_valid(whole));
    std::string out, carry;
    for (size_t at = 0; at < s.size();) {
      const size_t len = 1 + rng() % 4;
      carry += s.substr(at, len);
      at += len;
      carry.erase(0, utf8_sanitize(carry, false, out));
    }
    utf8_sanitize(carry, true, out);
    CHECK(out == whole);
  }
}

}  // namespace
}  // namespace lfmd::output
