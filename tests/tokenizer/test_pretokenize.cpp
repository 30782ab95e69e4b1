// Pre-tokenizer splits. Expected values are written by hand from the regex and were checked
// against llama.cpp's unicode_regex_split (LLAMA3 custom splitter).
#include <doctest/doctest.h>

#include <random>
#include <string>
#include <vector>

#include "engine/tokenizer/tokenizer.h"

using lfmd::pretokenize_lfm2;
using V = std::vector<std::string>;

TEST_CASE("pretokenize: digits group by three from the left") {
  CHECK(pretokenize_lfm2("1234567890") == V{"123", "456", "789", "0"});
  CHECK(pretokenize_lfm2(" 1234") == V{" ", "123", "4"});
  CHECK(pretokenize_lfm2("12") == V{"12"});
  CHECK(pretokenize_lfm2("v1.25") == V{"v", "1", ".", "25"});
  CHECK(pretokenize_lfm2("3..3") == V{"3", "..", "3"});
  // Other Unicode numbers count too (Arabic-Indic digits, Roman numeral, vulgar fraction).
  CHECK(pretokenize_lfm2("\xD9\xA3\xD9\xA4\xD9\xA5\xD9\xA6") ==
        V{"\xD9\xA3\xD9\xA4\xD9\xA5", "\xD9\xA6"});
  CHECK(pretokenize_lfm2("\xE2\x85\xAB\xC2\xBD") == V{"\xE2\x85\xAB\xC2\xBD"});
}

TEST_CASE("pretokenize: words and leading spaces") {
  CHECK(pretokenize_lfm2("Hello world") == V{"Hello", " world"});
  CHECK(pretokenize_lfm2("hello, world!") == V{"hello", ",", " world", "!"});
  CHECK(pretokenize_lfm2("\tif") == V{"\tif"});
  CHECK(pretokenize_lfm2("(x)") == V{"(x", ")"});  // one non-letter may lead a word
}

TEST_CASE("pretokenize: contractions, any case") {
  CHECK(pretokenize_lfm2("don't") == V{"don", "'t"});
  CHECK(pretokenize_lfm2("I'M HE'S") == V{"I", "'M", " HE", "'S"});
  CHECK(pretokenize_lfm2("they'Re we'VE it'Ll he'D") ==
        V{"they", "'Re", " we", "'VE", " it", "'Ll", " he", "'D"});
  CHECK(pretokenize_lfm2("'sup") == V{"'s", "up"});
  CHECK(pretokenize_lfm2("'x") == V{"'x"});
  // U+017F (long s) is not 's' for llama.cpp (PCRE2's (?i) would say it is).
  CHECK(pretokenize_lfm2("'\xC5\xBF") == V{"'\xC5\xBF"});
}

TEST_CASE("pretokenize: whitespace runs, newlines, trailing spaces") {
  CHECK(pretokenize_lfm2("a  \n b") == V{"a", "  \n", " b"});
  CHECK(pretokenize_lfm2("hi   ") == V{"hi", "   "});
  CHECK(pretokenize_lfm2("hi   there") == V{"hi", "  ", " there"});
  CHECK(pretokenize_lfm2("hi \t there") == V{"hi", " \t", " there"});
  CHECK(pretokenize_lfm2("line1\r\nline2") == V{"line", "1", "\r\n", "line", "2"});
  CHECK(pretokenize_lfm2("x\n\n\ny") == V{"x", "\n\n\n", "y"});
  CHECK(pretokenize_lfm2("x \n \n  y") == V{"x", " \n \n", " ", " y"});
  CHECK(pretokenize_lfm2(" ") == V{" "});
  CHECK(pretokenize_lfm2("\n") == V{"\n"});
  CHECK(pretokenize_lfm2("") == V{});
  CHECK(pretokenize_lfm2("  1") == V{" ", " ", "1"});
}

TEST_CASE("pretokenize: punctuation keeps trailing newlines") {
  CHECK(pretokenize_lfm2("int x=42;\n\tif (x>0) {") ==
        V{"int", " x", "=", "42", ";\n", "\tif", " (", "x", ">", "0", ")", " {"});
  CHECK(pretokenize_lfm2("...!!\r\n\r\nNext") == V{"...!!\r\n\r\n", "Next"});
  CHECK(pretokenize_lfm2("a ?!") == V{"a", " ?!"});
}

TEST_CASE("pretokenize: non-Latin scripts, emoji, special spaces") {
  CHECK(pretokenize_lfm2("\xE6\x88\x91\xE6\x83\xB3\xE5\x9C\xA8"
                         "apple"
                         "\xE5\xB7\xA5\xE4\xBD\x9C"
                         "1314151"
                         "\xE5\xA4\xA9") == V{"\xE6\x88\x91\xE6\x83\xB3\xE5\x9C\xA8"
                                              "apple"
                                              "\xE5\xB7\xA5\xE4\xBD\x9C",
                                              "131", "415", "1", "\xE5\xA4\xA9"});
  CHECK(
      pretokenize_lfm2(
          "\xD0\x9F\xD1\x80\xD0\xB8\xD0\xB2\xD0\xB5\xD1\x82, \xD0\xBC\xD0\xB8\xD1\x80!") ==
      V{"\xD0\x9F\xD1\x80\xD0\xB8\xD0\xB2\xD0\xB5\xD1\x82", ",", " \xD0\xBC\xD0\xB8\xD1\x80", "!"});
  CHECK(pretokenize_lfm2("caf\xC3\xA9 cr\xC3\xA8me") == V{"caf\xC3\xA9", " cr\xC3\xA8me"});
  // "I ❤️ 🦙s": U+FE0F is a mark, the emoji are symbols; an emoji may lead a word.
  CHECK(pretokenize_lfm2("I \xE2\x9D\xA4\xEF\xB8\x8F \xF0\x9F\xA6\x99s") ==
        V{"I", " \xE2\x9D\xA4\xEF\xB8\x8F", " \xF0\x9F\xA6\x99", "s"});
  CHECK(pretokenize_lfm2("\xF0\x9F\xA6\x99s") == V{"\xF0\x9F\xA6\x99s"});
  // U+3000 (ideographic space) is whitespace and may lead a word.
  CHECK(pretokenize_lfm2("a\xE3\x80\x80"
                         "b") == V{"a",
                                   "\xE3\x80\x80"
                                   "b"});
  // U+180E is not whitespace for llama.cpp (PCRE2's \s would take it).
  CHECK(pretokenize_lfm2("a\xE1\xA0\x8E b") == V{"a", "\xE1\xA0\x8E", " b"});
  // Unicode 15 letters (Kawi U+11F04, CJK ext. H U+31350) are letters for llama.cpp.
  CHECK(pretokenize_lfm2("x\xF0\x91\xBC\x84"
                         "y \xF0\xB1\x8D\x90") == V{"x\xF0\x91\xBC\x84"
                                                    "y",
                                                    " \xF0\xB1\x8D\x90"});
}

TEST_CASE("pretokenize: invalid UTF-8 becomes U+FFFD like llama.cpp") {
  const std::string fffd = "\xEF\xBF\xBD";
  CHECK(pretokenize_lfm2("a\xFF"
                         "b") == V{"a", fffd + "b"});
  CHECK(pretokenize_lfm2("\xC3") == V{fffd});
  CHECK(pretokenize_lfm2("\xE4\xB8") == V{fffd + fffd});
  // Overlong forms are decoded and re-encoded (C1 81 is 'A'); surrogates are kept as they are.
  CHECK(pretokenize_lfm2("x\xC1\x81") == V{"xA"});
  CHECK(pretokenize_lfm2("\xED\xA0\x80"
                         "a") == V{"\xED\xA0\x80"
                                   "a"});
  // Beyond U+10FFFF (llama.cpp throws here): one U+FFFD for the whole sequence.
  CHECK(pretokenize_lfm2("\xF4\x90\x80\x80") == V{fffd});
}

TEST_CASE("pretokenize: pieces always concatenate back to the input (valid UTF-8)") {
  std::mt19937 rng(12345);
  const char* parts[] = {" ",
                         "  ",
                         "\n",
                         "\r\n",
                         "\t",
                         "a",
                         "Word",
                         "'s",
                         "'LL",
                         "42",
                         "12345",
                         "!?",
                         "\xC3\xA9",
                         "\xE4\xB8\xAD",
                         "\xF0\x9F\x98\x80",
                         "\xE3\x80\x80",
                         "\xC2\xA0",
                         "-",
                         "_",
                         "\xCC\x81"};
  for (int it = 0; it < 3000; ++it) {
    std::string s;
    const int n = 1 + int(rng() % 20);
    for (int k = 0; k < n; ++k) s += parts[rng() % (sizeof(parts) / sizeof(*parts))];
    std::string joined;
    const V pieces = pretokenize_lfm2(s);
    for (const auto& p : pieces) {
      REQUIRE(!p.empty());
      joined += p;
    }
    REQUIRE(joined == s);
  }
}

TEST_CASE("byte-level map: GPT-2 bytes_to_unicode") {
  CHECK(lfmd::byte_level_encode(" ") == "\xC4\xA0");   // U+0120 'Ġ'
  CHECK(lfmd::byte_level_encode("\n") == "\xC4\x8A");  // U+010A 'Ċ'
  CHECK(lfmd::byte_level_encode("a!~") == "a!~");
  CHECK(lfmd::byte_level_encode("\xC3\xA9") == "\xC3\x83\xC2\xA9");  // é -> Ã©
  CHECK(lfmd::byte_level_encode(std::string(1, '\0')) == "\xC4\x80");
  CHECK(lfmd::byte_level_encode("\xAD") == "\xC5\x83");  // the last remapped byte -> U+0143
  std::string all;
  for (int b = 0; b < 256; ++b) all.push_back(char(b));
  CHECK(lfmd::byte_level_decode(lfmd::byte_level_encode(all)) == all);
  // Characters outside the map pass through unchanged.
  CHECK(lfmd::byte_level_decode("\xE4\xB8\xAD") == "\xE4\xB8\xAD");
}
