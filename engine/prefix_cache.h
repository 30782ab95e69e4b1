// Prefix cache: states of finished sequences (KV rows, conv rows, conv-state snapshots) kept
// under a byte budget, least recently used evicted first. A new prompt resumes from the longest
// cached token prefix at which a state can restart exactly (see SequenceState::resume_point).
#pragma once

#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <vector>

#include "engine/model.h"

namespace lfmd {

// Tokens [0, n) of `tokens` equal to `prompt`'s.
int64_t common_prefix(const std::vector<int32_t>& tokens, const std::vector<int32_t>& prompt);

class PrefixCache {
 public:
  explicit PrefixCache(size_t budget_bytes) : budget_(budget_bytes) {}

  struct Hit {
    const SequenceState* state = nullptr;  // valid until the next insert()
    int64_t n = 0;                         // tokens to copy from it
  };
  // Best restart point for `prompt` among the entries, at most `limit` tokens; marks it used.
  Hit find(const std::vector<int32_t>& prompt, int64_t limit);
  // Tokens find() would restore, without marking anything used.
  int64_t peek(const std::vector<int32_t>& prompt, int64_t limit) const;
  // Takes a finished sequence whose state holds exactly `tokens`. Entries that are prefixes of
  // it (fully covered) are dropped; then the least recently used go until the budget holds.
  // A state larger than the whole budget is not kept.
  void insert(std::vector<int32_t> tokens, std::unique_ptr<SequenceState> state);
  void clear();
  // Evicts least recently used entries (to the sink) until at most max_bytes are held: the
  // engine takes memory back for running sequences.
  void shrink_to(size_t max_bytes);
  // Entries evicted for the budget go to `sink` (the disk cache) instead of being freed; entries
  // covered by a longer one are freed (the longer one restarts at their points).
  using Sink = std::function<void(std::vector<int32_t> tokens, std::unique_ptr<SequenceState> state)>;
  void set_evict_sink(Sink sink) { sink_ = std::move(sink); }
  // Hands every entry to `sink`, least recently used first, and empties the cache.
  void drain(const Sink& sink);
  size_t bytes() const { return bytes_; }
  size_t entries() const { return entries_.size(); }
  size_t budget() const { return budget_; }

 private:
  struct Entry {
    std::vector<int32_t> tokens;
    std::unique_ptr<SequenceState> state;
    size_t bytes = 0;
  };
  size_t budget_;
  size_t bytes_ = 0;
  Sink sink_;
  std::list<Entry> entries_;  // most recently used first
};

}  // namespace lfmd
