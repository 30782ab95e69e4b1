// BPE, special tokens, BOS/EOS and token decoding on small hand-made vocabularies.
#include <doctest/doctest.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "engine/tokenizer/tokenizer.h"
#include "engine/testmodel/vocab_builder.h"

using namespace lfmd;
using Ids = std::vector<int32_t>;

namespace {

// Layout of make_basic_bpe_vocab: 14 specials, byte b at 14 + b, merge results from 270.
constexpr int32_t kByte0 = 14, kFirstMerge = 270;
int32_t byte_id(char c) {
  return kByte0 + static_cast<unsigned char>(c);
}

// Adds a token of the given type at the end; returns its id.
int32_t add_token(VocabData& v, const std::string& text, TokenType t) {
  v.tokens.push_back(text);
  v.types.push_back(int32_t(t));
  return int32_t(v.tokens.size()) - 1;
}

}  // namespace

TEST_CASE("bpe: tiny vocabulary with known output") {
  const Tokenizer tok(make_basic_bpe_vocab({"h e", "l l", "he ll", "hell o", "\xC4\xA0 w", "o r",
                                            "\xC4\xA0w or", "\xC4\xA0wor l", "\xC4\xA0worl d"}));
  // he=270 ll=271 hell=272 hello=273 Ġw=274 or=275 Ġwor=276 Ġworl=277 Ġworld=278
  CHECK(tok.find("hello") == kFirstMerge + 3);
  CHECK(tok.find("\xC4\xA0world") == kFirstMerge + 8);
  CHECK(tok.encode("hello world", false, false) == Ids{273, 278});
  CHECK(tok.encode("hellx", false, false) == Ids{272, byte_id('x')});
  CHECK(tok.encode("ohell", false, false) == Ids{byte_id('o'), 272});
  CHECK(tok.encode(" wor", false, false) == Ids{276});
  CHECK(tok.encode("", false, false) == Ids{});
  CHECK(tok.decode({273, 278}) == "hello world");
}

TEST_CASE("bpe: merge rank decides, leftmost first on equal rank") {
  const Tokenizer ab(make_basic_bpe_vocab({"a b", "b c"}));  // ab=270 bc=271
  CHECK(ab.encode("abc", false, false) == Ids{270, byte_id('c')});
  const Tokenizer bc(make_basic_bpe_vocab({"b c", "a b"}));  // bc=270 ab=271
  CHECK(bc.encode("abc", false, false) == Ids{byte_id('a'), 270});
  const Tokenizer aa(make_basic_bpe_vocab({"a a"}));  // aa=270
  CHECK(aa.encode("aaa", false, false) == Ids{270, byte_id('a')});
  CHECK(aa.encode("aaaa", false, false) == Ids{270, 270});
}

TEST_CASE("bpe: ignore_merges takes a whole pre-token found in the vocabulary") {
  // "abc" is a token (from "a bc"), but merging by rank gives ab + c first.
  VocabData v = make_basic_bpe_vocab({"a b", "b c", "a bc"});  // ab=270 bc=271 abc=272
  v.ignore_merges = false;
  CHECK(Tokenizer(v).encode("abc", false, false) == Ids{270, byte_id('c')});
  v.ignore_merges = true;
  CHECK(Tokenizer(v).encode("abc", false, false) == Ids{272});
  // "abcabc" is not a token: plain BPE by rank.
  CHECK(Tokenizer(v).encode("abcabc", false, false) == Ids{270, byte_id('c'), 270, byte_id('c')});
}

TEST_CASE("bpe: BOS / EOS handling") {
  VocabData v = make_basic_bpe_vocab({});
  CHECK(Tokenizer(v).encode("hi", true, false) == Ids{1, byte_id('h'), byte_id('i')});
  CHECK(Tokenizer(v).encode("hi", false, false) == Ids{byte_id('h'), byte_id('i')});
  CHECK(Tokenizer(v).encode("", true, false) == Ids{1});
  v.add_bos = false;
  CHECK(Tokenizer(v).encode("hi", true, false) == Ids{byte_id('h'), byte_id('i')});
  v.add_eos = true;
  CHECK(Tokenizer(v).encode("hi", true, false) == Ids{byte_id('h'), byte_id('i'), 7});
  CHECK(Tokenizer(v).encode("hi", false, false) == Ids{byte_id('h'), byte_id('i')});
  // A BOS already in the text is kept (llama.cpp only warns about the double BOS).
  v.add_bos = true;
  v.add_eos = false;
  CHECK(Tokenizer(v).encode("<|startoftext|>x", true, true) == Ids{1, 1, byte_id('x')});
  const Tokenizer t(v);
  CHECK(t.bos_id() == 1);
  CHECK(t.eos_id() == 7);
  CHECK(t.n_vocab() == 270);
}

TEST_CASE("special tokens: matched whole with parse_special, text otherwise") {
  const Tokenizer tok(make_basic_bpe_vocab({}));
  const std::string chat = "<|im_start|>user\nhi<|im_end|>";
  const Ids with = tok.encode(chat, false, true);
  CHECK(with == Ids{6, byte_id('u'), byte_id('s'), byte_id('e'), byte_id('r'), byte_id('\n'),
                    byte_id('h'), byte_id('i'), 7});
  const Ids without = tok.encode(chat, false, false);
  CHECK(without.size() == chat.size());  // all bytes
  CHECK(tok.decode(without) == chat);
  // Control tokens decode to their text only with special=true.
  CHECK(tok.decode(with, true) == chat);
  CHECK(tok.decode(with, false) == "user\nhi");
  CHECK(tok.is_control(6));
  CHECK_FALSE(tok.is_control(byte_id('a')));
  CHECK(tok.token_type(7) == TokenType::Control);
  // Adjacent and partial specials.
  CHECK(tok.encode("<|im_end|><|im_end|>", false, true) == Ids{7, 7});
  CHECK(tok.encode("<|im_end|", false, true).size() == 9);
}

TEST_CASE("special tokens: longest first over the whole text (llama.cpp order)") {
  VocabData v = make_basic_bpe_vocab({});
  const int32_t xy = add_token(v, "<|x|><|y|>", TokenType::Control);
  const int32_t x = add_token(v, "<|x|>", TokenType::Control);
  const int32_t y = add_token(v, "<|y|>", TokenType::Control);
  const int32_t xyz = add_token(v, "xyz", TokenType::Control);
  const int32_t wx = add_token(v, "wx", TokenType::Control);
  const Tokenizer tok(v);
  CHECK(tok.encode("<|x|><|y|>", false, true) == Ids{xy});
  CHECK(tok.encode("<|y|><|x|><|y|><|x|>", false, true) == Ids{y, xy, x});
  // Not leftmost-longest: "xyz" (longer) is taken before "wx" although "wx" starts first.
  CHECK(tok.encode("wxyz", false, true) == Ids{byte_id('w'), xyz});
  CHECK(tok.encode("wxwx", false, true) == Ids{wx, wx});
}

TEST_CASE("special tokens: user-defined always matched, unused never") {
  VocabData v = make_basic_bpe_vocab({});
  const int32_t py = add_token(v, "python", TokenType::UserDefined);
  const int32_t pad = add_token(v, "[PAD271]", TokenType::Unused);
  const int32_t res = add_token(v, "<|reserved_4|>", TokenType::Normal);
  const Tokenizer tok(v);
  CHECK(tok.encode("I like python", false, false) == Ids{byte_id('I'), byte_id(' '), byte_id('l'),
                                                         byte_id('i'), byte_id('k'), byte_id('e'),
                                                         byte_id(' '), py});
  const Ids p = tok.encode("[PAD271]<|reserved_4|>", false, true);
  CHECK(p.size() == std::string("[PAD271]<|reserved_4|>").size());
  for (int32_t id : p) {
    CHECK(id != pad);
    CHECK(id != res);
  }
  // Decoding: user-defined text always; unused / out of range give nothing.
  CHECK(tok.token_bytes(py, false) == "python");
  CHECK(tok.token_bytes(pad) == "");
  CHECK(tok.token_bytes(res) == "<|reserved_4|>");
  CHECK(tok.token_bytes(-1) == "");
  CHECK(tok.token_bytes(tok.n_vocab()) == "");
}

TEST_CASE("special tokens: hundreds of control tokens stay fast") {
  VocabData v = make_basic_bpe_vocab(builtin_merges(2000));
  for (int i = 0; i < 600; ++i)
    add_token(v, "<|reserved_" + std::to_string(i) + "|>", TokenType::Control);
  const Tokenizer tok(v);
  std::string text;
  for (int i = 0; i < 20000; ++i) text += "<|reserved_" + std::to_string(i % 700) + "|> <|<|x ";
  const Ids ids = tok.encode(text, false, true);
  CHECK(tok.decode(ids) == text);
  int n_special = 0;
  for (int32_t id : ids) n_special += tok.is_control(id);
  CHECK(n_special == 20000 / 700 * 600 + std::min(20000 % 700, 600));
}

TEST_CASE("bpe: bytes missing from the vocabulary are dropped (llama.cpp)") {
  VocabData v = make_basic_bpe_vocab({});
  v.tokens[byte_id('z')] = "zz-unused";
  const Tokenizer tok(v);
  CHECK(tok.encode("aza", false, false) == Ids{byte_id('a'), byte_id('a')});
}

TEST_CASE("tokenizer: construction errors name the problem") {
  VocabData v = make_basic_bpe_vocab({"a b"});
  auto expect_error = [](VocabData d, const std::string& needle) {
    try {
      Tokenizer t(std::move(d));
      FAIL("no exception");
    } catch (const std::runtime_error& e) {
      CHECK_MESSAGE(std::string(e.what()).find(needle) != std::string::npos, e.what());
    }
  };
  VocabData d = v;
  d.pre = "qwen2";
  expect_error(d, "qwen2");
  d = v;
  d.model = "llama";
  expect_error(d, "llama");
  d = v;
  d.merges.push_back("q \xE2\x82\xAC");
  expect_error(d, "\xE2\x82\xAC");
  d = v;
  d.tokens[20] = d.tokens[21];
  expect_error(d, "duplicate");
  d = v;
  d.bos_id = -1;
  expect_error(d, "bos");
  d = v;
  d.types.pop_back();
  expect_error(d, "types");
}
