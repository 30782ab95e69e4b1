// Test vocabularies (see vocab_builder.h for the layouts).
#include "engine/testmodel/vocab_builder.h"

#include <map>
#include <mutex>
#include <stdexcept>
#include <unordered_set>

namespace lfmd {

namespace {

// Appends the bytes and one token per distinct merge result.
void append_bpe_tokens(VocabData& v, const std::vector<std::string>& merges) {
  std::unordered_set<std::string> seen(v.tokens.begin(), v.tokens.end());
  for (int b = 0; b < 256; ++b) {
    std::string t = byte_level_encode(std::string(1, char(b)));
    if (!seen.insert(t).second)
      throw std::runtime_error("vocab builder: byte token '" + t + "' already present");
    v.tokens.push_back(std::move(t));
    v.types.push_back(int32_t(TokenType::Normal));
  }
  for (const std::string& m : merges) {
    const size_t sp = m.find(' ', 1);
    if (sp == std::string::npos) throw std::runtime_error("vocab builder: bad merge '" + m + "'");
    std::string t = m.substr(0, sp) + m.substr(sp + 1);
    if (!seen.insert(t).second) continue;
    v.tokens.push_back(std::move(t));
    v.types.push_back(int32_t(TokenType::Normal));
  }
  v.merges = merges;
}

void set_lfm2_defaults(VocabData& v) {
  v.model = "gpt2";
  v.pre = "lfm2";
  v.bos_id = 1;
  v.eos_id = 7;
  v.pad_id = 0;
  v.add_bos = true;
  v.add_eos = false;
  v.ignore_merges = true;
}

}  // namespace

const std::vector<std::string>& lfm2_special_tokens() {
  static const std::vector<std::string> t = {"<|pad|>",
                                             "<|startoftext|>",
                                             "<|endoftext|>",
                                             "<|fim_pre|>",
                                             "<|fim_mid|>",
                                             "<|fim_suf|>",
                                             "<|im_start|>",
                                             "<|im_end|>",
                                             "<|tool_list_start|>",
                                             "<|tool_list_end|>",
                                             "<|tool_call_start|>",
                                             "<|tool_call_end|>",
                                             "<|tool_response_start|>",
                                             "<|tool_response_end|>"};
  return t;
}

const std::vector<std::string>& builtin_merges(int n_merges) {
  static std::mutex mu;
  static std::map<int, std::vector<std::string>> cache;  // node-based: references stay valid
  std::lock_guard<std::mutex> lock(mu);
  auto it = cache.find(n_merges);
  if (it == cache.end())
    it = cache.emplace(n_merges, train_bpe_merges(builtin_training_corpus(), n_merges)).first;
  return it->second;
}

VocabData make_basic_bpe_vocab(const std::vector<std::string>& merges) {
  VocabData v;
  for (const auto& s : lfm2_special_tokens()) {
    v.tokens.push_back(s);
    v.types.push_back(int32_t(TokenType::Control));
  }
  append_bpe_tokens(v, merges);
  set_lfm2_defaults(v);
  return v;
}

VocabData make_lfm2_test_vocab(int n_merges, int32_t n_vocab_padded) {
  const std::vector<std::string>& merges = builtin_merges(n_merges);
  if (int(merges.size()) < n_merges)
    throw std::runtime_error("make_lfm2_test_vocab: the built-in corpus gives only " +
                             std::to_string(merges.size()) + " merges, " +
                             std::to_string(n_merges) + " asked");
  VocabData v;
  for (const auto& s : lfm2_special_tokens()) {
    v.tokens.push_back(s);
    v.types.push_back(int32_t(TokenType::Control));
  }
  for (int r = 4; r <= 40; ++r) {
    v.tokens.push_back("<|reserved_" + std::to_string(r) + "|>");
    v.types.push_back(int32_t(r <= 5 ? TokenType::Normal : TokenType::Control));
  }
  append_bpe_tokens(v, merges);
  if (n_vocab_padded > 0) {
    if (int64_t(v.tokens.size()) > n_vocab_padded)
      throw std::runtime_error("make_lfm2_test_vocab: " + std::to_string(v.tokens.size()) +
                               " tokens do not fit in n_vocab " + std::to_string(n_vocab_padded));
    for (int32_t i = int32_t(v.tokens.size()); i < n_vocab_padded; ++i) {
      v.tokens.push_back("[PAD" + std::to_string(i) + "]");
      v.types.push_back(int32_t(TokenType::Unused));
    }
  }
  set_lfm2_defaults(v);
  return v;
}

}  // namespace lfmd
