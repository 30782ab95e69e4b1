#include "engine/grammar/matcher.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace lfmd::grammar {

VocabIndex::VocabIndex(const Tokenizer& tok, int32_t n, const std::vector<uint8_t>& never_sample,
                       std::vector<int32_t> eos_ids)
    : n_vocab(n), bytes(n), special(n, 0), eos(std::move(eos_ids)) {
  for (int32_t id = 0; id < n; ++id) {
    if (id < static_cast<int32_t>(never_sample.size()) && never_sample[id]) continue;
    if (id >= tok.n_vocab()) continue;
    const TokenType t = tok.token_type(id);
    if (t == TokenType::Control || t == TokenType::Unknown) {
      special[id] = 1;
      continue;
    }
    if (t == TokenType::Unused) continue;
    bytes[id] = tok.token_bytes(id, true);
    if (!bytes[id].empty()) sorted.push_back(id);
  }
  std::sort(sorted.begin(), sorted.end(), [&](int32_t a, int32_t b) {
    return bytes[a] < bytes[b] || (bytes[a] == bytes[b] && a < b);
  });
  lcp.assign(sorted.size(), 0);
  for (size_t k = 0; k < sorted.size(); ++k) {
    const std::string& cur = bytes[sorted[k]];
    max_len = std::max(max_len, cur.size());
    if (k == 0) continue;
    const std::string& prev = bytes[sorted[k - 1]];
    size_t l = 0;
    while (l < cur.size() && l < prev.size() && cur[l] == prev[l]) ++l;
    lcp[k] = static_cast<uint32_t>(l);
  }
}

Matcher::Matcher(std::shared_ptr<const Grammar> g, std::shared_ptr<const VocabIndex> v)
    : g_(std::move(g)), v_(std::move(v)) {
  levels_.resize(v_->max_len + 1);
  reset();
}

void Matcher::reset() {
  stacks_.clear();
  for (int32_t a : g_->rule_alts[g_->root]) expand(a, -1, stacks_, 0);
  std::sort(stacks_.begin(), stacks_.end());
  stacks_.erase(std::unique(stacks_.begin(), stacks_.end()), stacks_.end());
  current_ = nullptr;
}

int32_t Matcher::intern(int32_t pos, int32_t parent) {
  const uint64_t key = (static_cast<uint64_t>(static_cast<uint32_t>(pos)) << 32) | static_cast<uint32_t>(parent);
  auto [it, inserted] = intern_.try_emplace(key, static_cast<int32_t>(nodes_.size()));
  if (inserted) nodes_.push_back({pos, parent});
  return it->second;
}

// Pushes every stack reachable from "at pos, then continue with parent" whose top consumes input
// (or -1 when the whole input may end here).
void Matcher::expand(int32_t pos, int32_t parent, std::vector<int32_t>& out, int depth) {
  if (depth > 10000) throw GrammarError("grammar expansion too deep");
  const Grammar::Elem e = g_->elems[pos];
  switch (e.kind) {
    case Grammar::End:
      if (parent < 0) {
        out.push_back(-1);
      } else {
        const Node p = nodes_[parent];
        expand(p.pos, p.parent, out, depth + 1);
      }
      break;
    case Grammar::Ref: {
      // A reference in tail position continues straight with the parent (no stack growth for
      // right-recursive loops such as the characters of a string).
      const int32_t cont = g_->elems[pos + 1].kind == Grammar::End ? parent : intern(pos + 1, parent);
      for (int32_t a : g_->rule_alts[e.arg]) expand(a, cont, out, depth + 1);
      break;
    }
    default:
      out.push_back(intern(pos, parent));
  }
}

void Matcher::advance(const std::vector<int32_t>& in, uint8_t b, std::vector<int32_t>& out) {
  out.clear();
  for (int32_t s : in) {
    if (s < 0) continue;
    if (memo_.size() <= static_cast<size_t>(s)) memo_.resize(nodes_.size());
    if (!memo_[s]) {
      memo_[s] = std::make_unique<int32_t[]>(256);
      std::fill_n(memo_[s].get(), 256, -1);
    }
    int32_t off = memo_[s][b];
    if (off < 0) {
      const Node n = nodes_[s];
      const Grammar::Elem e = g_->elems[n.pos];
      tmp_.clear();
      if (e.kind == Grammar::Bytes && g_->sets[e.arg].has(b)) expand(n.pos + 1, n.parent, tmp_, 0);
      std::sort(tmp_.begin(), tmp_.end());
      tmp_.erase(std::unique(tmp_.begin(), tmp_.end()), tmp_.end());
      off = static_cast<int32_t>(pool_.size());
      pool_.push_back(static_cast<int32_t>(tmp_.size()));
      pool_.insert(pool_.end(), tmp_.begin(), tmp_.end());
      if (memo_.size() < nodes_.size()) memo_.resize(nodes_.size());
      memo_[s][b] = off;
    }
    const int32_t cnt = pool_[off];
    out.insert(out.end(), pool_.begin() + off + 1, pool_.begin() + off + 1 + cnt);
  }
  if (in.size() > 1) {
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
  }
}

int32_t Matcher::set_id(const std::vector<int32_t>& stacks) {
  std::string key(reinterpret_cast<const char*>(stacks.data()), stacks.size() * sizeof(int32_t));
  auto [it, inserted] = set_ids_.try_emplace(std::move(key), static_cast<int32_t>(sets_.size()));
  if (inserted) {
    sets_.push_back(stacks);
    auto memo = std::make_unique<int32_t[]>(256);
    std::fill_n(memo.get(), 256, -2);
    set_memo_.push_back(std::move(memo));
    set_min_.push_back(-1);
  }
  return it->second;
}

int32_t Matcher::set_advance(int32_t set, uint8_t b) {
  int32_t r = set_memo_[set][b];
  if (r != -2) return r;
  const std::vector<int32_t> in = sets_[set];  // a copy: set_id() below may grow sets_
  std::vector<int32_t> out;
  advance(in, b, out);
  r = out.empty() ? -1 : set_id(out);
  set_memo_[set][b] = r;
  return r;
}

int32_t Matcher::set_min(int32_t set) {
  if (set_min_[set] >= 0) return set_min_[set];
  int32_t m = 1 << 29;
  for (int32_t s : sets_[set]) m = std::min(m, stack_min(s));
  set_min_[set] = m;
  return m;
}

int32_t Matcher::stack_min(int32_t s) {
  if (s < 0) return 0;
  if (node_min_.size() <= static_cast<size_t>(s)) node_min_.resize(nodes_.size(), -1);
  if (node_min_[s] >= 0) return node_min_[s];
  const Node n = nodes_[s];
  const int32_t v = static_cast<int32_t>(std::min<int64_t>(int64_t{g_->min_len[n.pos]} + stack_min(n.parent), 1 << 29));
  node_min_[s] = v;
  return v;
}

int32_t Matcher::min_remaining() {
  int32_t m = 1 << 29;
  for (int32_t s : stacks_) m = std::min(m, stack_min(s));
  return m;
}

int32_t Matcher::compute(std::vector<uint64_t>& bits, int64_t limit, Mask* record) {
  const VocabIndex& v = *v_;
  const int32_t high_from = record ? (record->state_min = min_remaining()) - 1 : 0;
  const int64_t lim = limit < 0 ? int64_t{1} << 40 : limit;
  int32_t max_after = 0;
  bits.assign((v.n_vocab + 63) / 64, 0);
  auto set_bit = [&](int32_t id) {
    if (id >= 0 && id < v.n_vocab) bits[id >> 6] |= uint64_t{1} << (id & 63);
  };
  for (int32_t s : stacks_) {
    if (s < 0) {
      for (int32_t id : v.eos) set_bit(id);
      continue;
    }
    const Grammar::Elem e = g_->elems[nodes_[s].pos];
    if (e.kind != Grammar::Token) continue;
    const int32_t after = stack_min(s) - 1;
    max_after = std::max(max_after, after);
    if (after <= lim) set_bit(e.arg);
    if (record && after >= high_from) record->high.push_back({e.arg, after});
  }
  std::vector<int32_t> start = stacks_;
  if (!start.empty() && start.front() == -1) start.erase(start.begin());
  if (start.empty()) return max_after;
  levels_[0] = set_id(start);
  size_t valid = 0;  // levels_[0..valid] hold the (live) states of the previous token's prefix
  for (size_t k = 0; k < v.sorted.size(); ++k) {
    const int32_t id = v.sorted[k];
    const std::string& tb = v.bytes[id];
    size_t j = k == 0 ? 0 : v.lcp[k];
    if (j > valid) continue;  // starts with the previous token's dead prefix
    while (j < tb.size()) {
      const int32_t next = set_advance(levels_[j], static_cast<uint8_t>(tb[j]));
      if (next < 0) break;
      levels_[++j] = next;
    }
    valid = j;
    if (j != tb.size()) continue;
    const int32_t after = set_min(levels_[j]);
    max_after = std::max(max_after, after);
    if (after <= lim) set_bit(id);
    if (record && after >= high_from) record->high.push_back({id, after});
  }
  return max_after;
}

const std::vector<uint64_t>& Matcher::allowed(int64_t limit) {
  if (!current_) {
    std::string key(reinterpret_cast<const char*>(stacks_.data()), stacks_.size() * sizeof(int32_t));
    auto it = cache_.find(key);
    if (it == cache_.end()) {
      trim_memory();
      if (cache_.size() >= 256) cache_.clear();  // bounds memory: 256 x n_vocab / 8 bytes
      Mask m;
      m.max_after = compute(m.bits, -1, &m);
      it = cache_.emplace(std::move(key), std::move(m)).first;
    }
    current_ = &it->second;
  }
  if (limit < 0 || limit >= current_->max_after) return current_->bits;
  if (limit >= current_->state_min - 2) {
    filtered_ = current_->bits;
    for (const auto& [id, after] : current_->high) {
      if (after > limit) filtered_[id >> 6] &= ~(uint64_t{1} << (id & 63));
    }
  } else {
    compute(filtered_, limit);
  }
  for (uint64_t w : filtered_) {
    if (w) return filtered_;
  }
  return current_->bits;  // cannot finish in time anyway: stay grammatical ("length" follows)
}

bool Matcher::accept_bytes(std::string_view bytes) {
  std::vector<int32_t> start = stacks_;
  if (!start.empty() && start.front() == -1) start.erase(start.begin());
  if (start.empty()) return bytes.empty();
  int32_t set = set_id(start);
  for (char c : bytes) {
    set = set_advance(set, static_cast<uint8_t>(c));
    if (set < 0) return false;
  }
  stacks_ = sets_[set];
  current_ = nullptr;
  return true;
}

void Matcher::trim_memory() {
  // Memo tables grow with the states a request visits (~1 KB each); past a bound they are
  // dropped and rebuilt on demand. Stacks (nodes_) stay: the current state refers to them.
  if (sets_.size() < 65536 && pool_.size() < (size_t{1} << 24)) return;
  sets_.clear();
  set_ids_.clear();
  set_memo_.clear();
  set_min_.clear();
  memo_.clear();
  pool_.clear();
}

bool Matcher::accept(int32_t token) {
  const VocabIndex& v = *v_;
  if (token < 0 || token >= v.n_vocab) return false;
  if (std::find(v.eos.begin(), v.eos.end(), token) != v.eos.end() && complete()) {
    stacks_.clear();
    current_ = nullptr;
    return true;
  }
  if (v.special[token]) {
    std::vector<int32_t> next;
    for (int32_t s : stacks_) {
      if (s < 0) continue;
      const Node n = nodes_[s];
      const Grammar::Elem e = g_->elems[n.pos];
      if (e.kind == Grammar::Token && e.arg == token) expand(n.pos + 1, n.parent, next, 0);
    }
    if (next.empty()) return false;
    std::sort(next.begin(), next.end());
    next.erase(std::unique(next.begin(), next.end()), next.end());
    stacks_ = std::move(next);
    current_ = nullptr;
    return true;
  }
  if (v.bytes[token].empty()) return false;
  return accept_bytes(v.bytes[token]);
}

GrammarConstraint::GrammarConstraint(std::shared_ptr<const Grammar> g, std::shared_ptr<const VocabIndex> v,
                                     Mode mode, int32_t trigger, int max_triggers, std::vector<int32_t> forbid,
                                     int64_t max_tokens)
    : mode_(mode), in_grammar_(mode == Mode::Always), trigger_(trigger), max_triggers_(max_triggers),
      forbid_(std::move(forbid)), max_tokens_(max_tokens) {
  if (g) {
    m_ = std::make_unique<Matcher>(std::move(g), std::move(v));
    block_min_ = m_->min_remaining();
  }
}

void GrammarConstraint::mask_logits(float* logits, int64_t n_vocab) {
  const float neg_inf = -std::numeric_limits<float>::infinity();
  if (!in_grammar_) {
    for (int32_t id : forbid_) {
      if (id >= 0 && id < n_vocab) logits[id] = neg_inf;
    }
    const bool budget_left = max_tokens_ < 0 || block_min_ <= max_tokens_ - n_accepted_ - 1;
    if (mode_ == Mode::Lazy && ((max_triggers_ >= 0 && triggers_ >= max_triggers_) || !budget_left) &&
        trigger_ >= 0 && trigger_ < n_vocab) {
      logits[trigger_] = neg_inf;
    }
    return;
  }
  // Tokens left after this one, less the EOS an Always grammar still needs.
  const int64_t limit = max_tokens_ < 0 ? -1 : std::max<int64_t>(0, max_tokens_ - n_accepted_ - 1 - (mode_ == Mode::Always ? 1 : 0));
  const std::vector<uint64_t>& bits = m_->allowed(limit);
  const int64_t n = std::min<int64_t>(n_vocab, static_cast<int64_t>(bits.size()) * 64);
  for (int64_t w = 0; w * 64 < n; ++w) {
    const uint64_t word = bits[w];
    if (word == ~uint64_t{0}) continue;
    const int64_t end = std::min<int64_t>(n, w * 64 + 64);
    for (int64_t i = w * 64; i < end; ++i) {
      if (!((word >> (i & 63)) & 1)) logits[i] = neg_inf;
    }
  }
  for (int64_t i = n; i < n_vocab; ++i) logits[i] = neg_inf;
}

void GrammarConstraint::accept(int32_t token) {
  ++n_accepted_;
  if (!in_grammar_) {
    if (mode_ == Mode::Lazy && token == trigger_) {
      m_->reset();
      in_grammar_ = true;
      ++triggers_;
    }
    return;
  }
  if (!m_->accept(token)) {
    throw std::runtime_error("constrained decoding: token " + std::to_string(token) + " is not allowed by the grammar");
  }
  if (mode_ == Mode::Lazy && m_->only_complete()) in_grammar_ = false;
}

}  // namespace lfmd::grammar
