// tokenizer.json: write one from a trained VocabData, load it back, compare tokenizations.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/tokenizer/tokenizer.h"
#include "engine/testmodel/vocab_builder.h"

using namespace lfmd;
using nlohmann::json;
using Ids = std::vector<int32_t>;

namespace {

const char* const kSamples[] = {"hello world",
                                "The model's answer: 42.",
                                "<|im_start|>user\nHi there!<|im_end|>\n<|im_start|>assistant\n",
                                "caf\xC3\xA9 cr\xC3\xA8me br\xC3\xBBl\xC3\xA9"
                                "e",
                                "\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E\xE3\x81\xAE\xE3\x83\x86\xE3"
                                "\x82\xAD\xE3\x82\xB9\xE3\x83\x88",
                                "    for i in range(10):\n        print(i)\n",
                                "1234567890 + 0.5 = ?",
                                "\xF0\x9F\x9A\x80 launch \xF0\x9F\x9A\x80\xF0\x9F\x9A\x80",
                                "<|tool_call_start|>[get_weather(city=\"Paris\")]<|tool_call_end|>",
                                "  trailing   ",
                                "\r\n\r\n",
                                ""};

void expect_error(const std::string& text, const std::string& needle) {
  try {
    (void)Tokenizer::from_hf_json(text);
    FAIL("no exception for " << needle);
  } catch (const std::runtime_error& e) {
    CHECK_MESSAGE(std::string(e.what()).find(needle) != std::string::npos, e.what());
  }
}

}  // namespace

TEST_CASE("tokenizer.json: round trip of a trained LFM2-style vocabulary") {
  const VocabData v = make_lfm2_test_vocab(4000, 0);
  const Tokenizer ref(v);
  for (bool pairs : {false, true}) {
    const std::string text = to_hf_json(v, pairs);
    const json j = json::parse(text);
    CHECK(j["model"]["type"] == "BPE");
    CHECK(j["model"]["merges"][0].is_array() == pairs);
    const Tokenizer tok = Tokenizer::from_hf_json(text);
    const VocabData& w = tok.vocab();
    CHECK(w.tokens == v.tokens);
    CHECK(w.types == v.types);
    CHECK(w.merges == v.merges);
    CHECK(w.bos_id == 1);
    CHECK(w.eos_id == 7);  // not in tokenizer.json: found as <|im_end|>
    CHECK(w.pad_id == 0);
    CHECK(w.add_bos);
    CHECK_FALSE(w.add_eos);
    CHECK(w.ignore_merges);
    CHECK(w.pre == "lfm2");
    for (const char* s : kSamples)
      for (int mode = 0; mode < 4; ++mode)
        CHECK(tok.encode(s, mode & 1, mode & 2) == ref.encode(s, mode & 1, mode & 2));
    std::mt19937 rng(5);
    const std::string_view corpus = builtin_training_corpus();
    for (int it = 0; it < 500; ++it) {
      const std::string s(corpus.substr(rng() % corpus.size(), rng() % 300));
      REQUIRE(tok.encode(s, true, true) == ref.encode(s, true, true));
    }
  }
}

TEST_CASE("tokenizer.json: padding tokens, added tokens, post-processor, config") {
  VocabData v = make_lfm2_test_vocab(500, 2000);
  v.tokens[1990] = "Mathias";  // a non-special added token
  v.types[1990] = int32_t(TokenType::UserDefined);
  const std::string text = to_hf_json(v);
  json j = json::parse(text);
  const VocabData w = Tokenizer::vocab_from_hf_json(text);
  // Ids up to the last real token survive; gaps come back as UNUSED "[PAD{id}]".
  REQUIRE(w.tokens.size() == 1991);
  CHECK(w.tokens[1500] == "[PAD1500]");
  CHECK(w.types[1500] == int32_t(TokenType::Unused));
  CHECK(w.tokens[1990] == "Mathias");
  CHECK(w.types[1990] == int32_t(TokenType::UserDefined));
  CHECK(w.types[14] == int32_t(TokenType::Normal));   // <|reserved_4|>: plain vocab entry
  CHECK(w.types[16] == int32_t(TokenType::Control));  // <|reserved_6|>: special added token

  // An added token that is not flagged special but looks like <|...|> is CONTROL (converter rule).
  j["added_tokens"].push_back({{"id", 1995}, {"content", "<|odd|>"}, {"special", false}});
  j["model"]["vocab"]["<|odd|>"] = 1995;
  CHECK(Tokenizer::vocab_from_hf_json(j.dump()).types[1995] == int32_t(TokenType::Control));

  // No post-processor: no BOS. HF's own flag for whole-word hits: ignore_merges.
  j["post_processor"] = nullptr;
  j["model"]["ignore_merges"] = false;
  VocabData x = Tokenizer::vocab_from_hf_json(j.dump());
  CHECK_FALSE(x.add_bos);
  CHECK_FALSE(x.ignore_merges);
  // tokenizer_config.json supplies bos / eos / pad and the add_* flags.
  const std::string cfg = R"({"add_bos_token": true, "add_eos_token": true,
      "bos_token": "<|startoftext|>", "eos_token": {"content": "<|endoftext|>"},
      "pad_token": "<|pad|>"})";
  const Tokenizer t = Tokenizer::from_hf_json(j.dump(), cfg);
  CHECK(t.vocab().add_bos);
  CHECK(t.vocab().add_eos);
  CHECK(t.eos_id() == 2);
  const Ids ids = t.encode("hi", true, false);
  CHECK(ids.front() == 1);
  CHECK(ids.back() == 2);
}

TEST_CASE("tokenizer.json: TemplateProcessing with an EOS after $A") {
  VocabData v = make_basic_bpe_vocab({"h i"});
  v.add_eos = true;
  v.eos_id = 2;
  const VocabData w = Tokenizer::vocab_from_hf_json(to_hf_json(v));
  CHECK(w.add_bos);
  CHECK(w.add_eos);
  CHECK(w.eos_id == 2);
  CHECK(Tokenizer(w).encode("hi", true, false) == Ids{1, 270, 2});
}

TEST_CASE("tokenizer.json: unsupported shapes are rejected with a reason") {
  const std::string base = to_hf_json(make_basic_bpe_vocab({"h i"}));
  auto with = [&](const char* pointer, const json& value) {
    json j = json::parse(base);
    j[json::json_pointer(pointer)] = value;
    return j.dump();
  };
  expect_error(with("/model/byte_fallback", true), "byte_fallback");
  expect_error(with("/model/type", "WordPiece"), "WordPiece");
  expect_error(with("/normalizer", {{"type", "NFC"}}), "NFC");
  expect_error(with("/pre_tokenizer", {{"type", "Metaspace"}}), "Metaspace");
  expect_error(with("/pre_tokenizer",
                    {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}}),
               "use_regex");
  expect_error(with("/pre_tokenizer/pretokenizers/0/pattern/Regex", "\\s+"), "Split regex");
  expect_error(with("/pre_tokenizer/pretokenizers/0/behavior", "Removed"), "Removed");
  expect_error(with("/pre_tokenizer/pretokenizers/1/use_regex", true), "use_regex");
  expect_error(with("/decoder", {{"type", "WordPiece"}}), "decoder");
  expect_error(with("/post_processor", {{"type", "RobertaProcessing"}}), "RobertaProcessing");
  expect_error(with("/model/merges/0", "h x\xE2\x82\xAC"), "x\xE2\x82\xAC");
  expect_error("{not json", "JSON");
  // llama.cpp's rewritten regex is accepted as well as HF's spelling.
  CHECK_NOTHROW(Tokenizer::from_hf_json(
      with("/pre_tokenizer/pretokenizers/0/pattern/Regex",
           "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+"
           "|\\p{N}{1,3}| "
           "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+")));
}
