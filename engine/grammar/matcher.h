// Incremental grammar matching against the tokenizer's vocabulary.
//
// State: a set of parse stacks. A stack is a hash-consed linked list of grammar positions (the
// top is always a Bytes or Token element); the empty stack (-1) means "the input so far is a
// complete sentence". Equal stacks get equal ids, so a state is a sorted vector of ints and
// byte transitions are memoised per (stack, byte) for the life of the request.
//
// Allowed tokens: the normal tokens, sorted by their bytes, are walked against the state; a
// token shares the walk of its common prefix with the previous one (a trie in array form) and a
// dead prefix skips every token that starts with it. Masks are cached per state (free text in a
// JSON string repeats one state, so most steps cost one hash lookup).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine/constraint.h"
#include "engine/grammar/grammar.h"
#include "engine/tokenizer/tokenizer.h"

namespace lfmd::grammar {

// The vocabulary as the matcher sees it; built once per model (immutable, shareable).
struct VocabIndex {
  // never_sample: [n_vocab] ids that are never candidates. eos_ids: allowed when complete.
  VocabIndex(const Tokenizer& tok, int32_t n_vocab, const std::vector<uint8_t>& never_sample,
             std::vector<int32_t> eos_ids);
  int32_t n_vocab;
  std::vector<std::string> bytes;  // [n_vocab] raw bytes of normal tokens ("" otherwise)
  std::vector<int32_t> sorted;     // normal token ids sorted by bytes
  std::vector<uint32_t> lcp;       // [sorted.size()] common prefix length with the previous one
  std::vector<uint8_t> special;    // [n_vocab] 1 = control token, matched only whole
  std::vector<int32_t> eos;
  size_t max_len = 0;
};

class Matcher {
 public:
  Matcher(std::shared_ptr<const Grammar> g, std::shared_ptr<const VocabIndex> v);
  void reset();  // back to the start of the root rule
  // Bitset [ceil(n_vocab / 64)] of the tokens allowed next (EOS ids when complete). With
  // `limit` >= 0 only tokens after which the grammar can still be finished in at most `limit`
  // tokens (EOS always, when complete); if no token qualifies, all grammatical ones.
  const std::vector<uint64_t>& allowed(int64_t limit = -1);
  // Fewest tokens that finish the grammar from the current state (0 when complete).
  int32_t min_remaining();
  bool accept(int32_t token);  // false (state unchanged) when the token is not allowed
  bool complete() const { return !stacks_.empty() && stacks_.front() == -1; }
  bool only_complete() const { return stacks_.size() == 1 && stacks_.front() == -1; }
  bool finished() const { return stacks_.empty(); }  // an EOS was accepted
  bool accept_bytes(std::string_view bytes);  // for tests: advances over raw bytes
  size_t n_stacks() const { return stacks_.size(); }

 private:
  struct Node {
    int32_t pos, parent;
  };
  int32_t intern(int32_t pos, int32_t parent);
  void expand(int32_t pos, int32_t parent, std::vector<int32_t>& out, int depth);
  void advance(const std::vector<int32_t>& in, uint8_t b, std::vector<int32_t>& out);
  // Stack sets interned as ids, with memoised byte transitions (-1: no stack survives): the
  // vocabulary walk then costs one array lookup per byte.
  int32_t set_id(const std::vector<int32_t>& stacks);
  int32_t set_advance(int32_t set, uint8_t b);
  int32_t set_min(int32_t set);
  void trim_memory();
  struct Mask {
    std::vector<uint64_t> bits;
    int32_t max_after = 0;
    int32_t state_min = 0;
    // Allowed tokens whose min_remaining after them is >= state_min - 1, with that value: a
    // budget limit >= state_min - 2 removes only some of these (no new walk).
    std::vector<std::pair<int32_t, int32_t>> high;
  };
  int32_t stack_min(int32_t s);
  // Allowed tokens (with limit as in allowed(); limit < 0: none); returns the largest
  // min_remaining after any allowed token.
  int32_t compute(std::vector<uint64_t>& bits, int64_t limit, Mask* record = nullptr);

  std::shared_ptr<const Grammar> g_;
  std::shared_ptr<const VocabIndex> v_;
  std::vector<Node> nodes_;
  std::unordered_map<uint64_t, int32_t> intern_;
  std::vector<std::unique_ptr<int32_t[]>> memo_;  // [node][256] -> offset in pool_, -1 unknown
  std::vector<int32_t> pool_;                     // count, ids...
  std::vector<int32_t> stacks_;                   // sorted, unique; -1 = complete
  std::vector<int32_t> levels_;
  std::vector<std::vector<int32_t>> sets_;
  std::unordered_map<std::string, int32_t> set_ids_;
  std::vector<std::unique_ptr<int32_t[]>> set_memo_;  // [set][256] -> set, -1 dead, -2 unknown
  std::vector<int32_t> set_min_;
  std::vector<int32_t> tmp_;
  std::vector<int32_t> node_min_;  // [node] stack_min memo, -1 unknown
  std::unordered_map<std::string, Mask> cache_;
  Mask* current_ = nullptr;
  std::vector<uint64_t> scratch_, filtered_;
};

// TokenConstraint over a grammar.
//   Always: the grammar holds from the first token; EOS is allowed exactly when it is complete.
//   Lazy:   tokens are free until `trigger` is sampled; then the grammar (which must end with a
//           token that closes the block) holds until it is complete, then tokens are free again.
//           After `max_triggers` blocks (-1: no limit) the trigger is forbidden.
// `forbid`: ids never allowed while free (e.g. the tool-call token for tool_choice "none").
class GrammarConstraint : public TokenConstraint {
 public:
  enum class Mode { Always, Lazy, Free };
  // max_tokens >= 0: the request's token budget. Tokens are then chosen so that the grammar can
  // still be finished within it (plus the EOS in Always mode; a Lazy block is not started when
  // it could not be closed): an output is only cut by max_tokens when even the shortest valid
  // output does not fit.
  GrammarConstraint(std::shared_ptr<const Grammar> g, std::shared_ptr<const VocabIndex> v, Mode mode,
                    int32_t trigger = -1, int max_triggers = -1, std::vector<int32_t> forbid = {},
                    int64_t max_tokens = -1);
  void mask_logits(float* logits, int64_t n_vocab) override;
  void accept(int32_t token) override;

 private:
  std::unique_ptr<Matcher> m_;
  Mode mode_;
  bool in_grammar_;
  int32_t trigger_;
  int max_triggers_, triggers_ = 0;
  std::vector<int32_t> forbid_;
  int64_t max_tokens_, n_accepted_ = 0;
  int32_t block_min_ = 0;  // Lazy: fewest tokens of a block after the trigger
};

}  // namespace lfmd::grammar
