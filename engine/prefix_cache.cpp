#include "engine/prefix_cache.h"

#include <algorithm>

namespace lfmd {

int64_t common_prefix(const std::vector<int32_t>& tokens, const std::vector<int32_t>& prompt) {
  const size_t n = std::min(tokens.size(), prompt.size());
  size_t i = 0;
  while (i < n && tokens[i] == prompt[i]) ++i;
  return static_cast<int64_t>(i);
}

PrefixCache::Hit PrefixCache::find(const std::vector<int32_t>& prompt, int64_t limit) {
  Hit best;
  auto best_it = entries_.end();
  for (auto it = entries_.begin(); it != entries_.end(); ++it) {
    const int64_t lcp = std::min(common_prefix(it->tokens, prompt), limit);
    const int64_t n = it->state->resume_point(lcp);
    if (n > best.n) {
      best = {it->state.get(), n};
      best_it = it;
    }
  }
  if (best_it != entries_.end()) entries_.splice(entries_.begin(), entries_, best_it);
  return best;
}

int64_t PrefixCache::peek(const std::vector<int32_t>& prompt, int64_t limit) const {
  int64_t best = 0;
  for (const auto& e : entries_) best = std::max(best, e.state->resume_point(std::min(common_prefix(e.tokens, prompt), limit)));
  return best;
}

void PrefixCache::insert(std::vector<int32_t> tokens, std::unique_ptr<SequenceState> state) {
  const size_t b = state->bytes();
  if (tokens.empty()) return;
  if (b > budget_) {  // evicted at once
    if (sink_) sink_(std::move(tokens), std::move(state));
    return;
  }
  // An entry whose tokens are a prefix of the new one is dropped: the new state restarts at all
  // its snapshot points (at most one snapshot interval short of the old entry's exact end).
  for (auto it = entries_.begin(); it != entries_.end();) {
    const int64_t n = static_cast<int64_t>(it->tokens.size());
    const bool covered = n <= static_cast<int64_t>(tokens.size()) && common_prefix(it->tokens, tokens) == n;
    if (covered) {
      bytes_ -= it->bytes;
      it = entries_.erase(it);
    } else {
      ++it;
    }
  }
  entries_.push_front(Entry{std::move(tokens), std::move(state), b});
  bytes_ += b;
  shrink_to(budget_);
}

void PrefixCache::shrink_to(size_t max_bytes) {
  while (bytes_ > max_bytes && !entries_.empty()) {
    bytes_ -= entries_.back().bytes;
    if (sink_) sink_(std::move(entries_.back().tokens), std::move(entries_.back().state));
    entries_.pop_back();
  }
}

void PrefixCache::drain(const Sink& sink) {
  while (!entries_.empty()) {
    sink(std::move(entries_.back().tokens), std::move(entries_.back().state));
    entries_.pop_back();
  }
  bytes_ = 0;
}

void PrefixCache::clear() {
  entries_.clear();
  bytes_ = 0;
}

}  // namespace lfmd
