// Vocabularies for generated test models and tests, built from merges trained on the built-in
// corpus (train_bpe_merges + builtin_training_corpus), so they never change.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/tokenizer/tokenizer.h"

namespace lfmd {

// Trains byte-level BPE merges on `corpus` (pre-tokenized with pretokenize_lfm2) until
// `n_merges` merges exist or no pair occurs twice. Deterministic: ties broken by the pair's
// byte-wise ordering. Returns merges as "left right" in byte-level-mapped form.
std::vector<std::string> train_bpe_merges(std::string_view corpus, int n_merges);

// Built-in training text for the test-model generator (tens of KB of mixed prose, code,
// numbers and non-Latin scripts), fixed forever so generated vocabularies never change.
std::string_view builtin_training_corpus();

// The 14 LFM2 special tokens, ids 0..13: <|pad|> ... <|tool_response_end|>.
const std::vector<std::string>& lfm2_special_tokens();

// Merges trained on builtin_training_corpus(); cached per n_merges (thread-safe).
const std::vector<std::string>& builtin_merges(int n_merges);

// ids 0..13 the LFM2 specials (CONTROL), then the 256 byte tokens in byte order (mapped form),
// then one token per distinct merge result in merge order. bos 1, eos 7, pad 0, add_bos true,
// add_eos false, model gpt2, pre lfm2, ignore_merges true.
VocabData make_basic_bpe_vocab(const std::vector<std::string>& merges);

// LFM2-shaped test vocabulary:
//   0..13   the LFM2 specials (CONTROL)
//   14, 15  <|reserved_4|>, <|reserved_5|> (NORMAL, as in a real GGUF)
//   16..50  <|reserved_6|> .. <|reserved_40|> (CONTROL)
//   51..306 the 256 byte tokens, then one token per distinct result of the first n_merges
//           merges trained on the built-in corpus, in merge order
//   ..      "[PAD{id}]" (UNUSED) up to n_vocab_padded (<= 0: no padding)
// Throws std::runtime_error when the tokens do not fit in n_vocab_padded or the corpus yields
// fewer than n_merges merges.
VocabData make_lfm2_test_vocab(int n_merges, int32_t n_vocab_padded);

}  // namespace lfmd
