// Tokenizer: vocabulary tables, special-token partitioning, byte-level BPE, decoding.
// Behaviour follows llama.cpp's llama_vocab (BPE type, LLAMA3 pre-tokenizer) — see the notes at
// each step for where it differs from Hugging Face tokenizers.
#include "engine/tokenizer/tokenizer.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <unordered_map>

#include "engine/tokenizer/tokenizer_internal.h"

namespace lfmd {

namespace {

struct SvHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

inline uint64_t pair_key(int32_t a, int32_t b) {
  return (uint64_t(uint32_t(a)) << 32) | uint32_t(b);
}

bool known_pre(const std::string& pre) {
  // llama.cpp maps all of these to LLAMA_VOCAB_PRE_TYPE_LLAMA3 (same regex as lfm2).
  return pre == "lfm2" || pre == "llama3" || pre == "llama-v3" || pre == "llama-bpe";
}

// llama.cpp's llama_decode_text: mapped text -> bytes; a character outside the GPT-2 map is
// spelled "[UNK_BYTE_0x<hex><token text>]".
std::string decode_normal_piece(const std::string& text) {
  const std::string clean = tok_detail::sanitize_utf8_like_llama(text);
  std::string out;
  size_t i = 0;
  while (i < clean.size()) {
    const uint8_t b0 = static_cast<uint8_t>(clean[i]);
    const size_t n = std::min<size_t>(b0 < 0x80   ? 1
                                      : b0 < 0xE0 ? 2
                                      : b0 < 0xF0 ? 3
                                                  : 4,
                                      clean.size() - i);
    uint32_t c = n == 1 ? b0 : (b0 & (0xFF >> (n + 1)));
    for (size_t k = 1; k < n; ++k) c = (c << 6) | (static_cast<uint8_t>(clean[i + k]) & 0x3F);
    const int byte = tok_detail::cpt_to_byte(c);
    if (byte >= 0) {
      out.push_back(char(byte));
    } else {
      out += "[UNK_BYTE_0x";
      char hex[3];
      for (size_t k = 0; k < n; ++k) {
        std::snprintf(hex, sizeof hex, "%02x", static_cast<uint8_t>(clean[i + k]));
        out += hex;
      }
      out += text + "]";
    }
    i += n;
  }
  return out;
}

// All tables of a tokenizer (Tokenizer::Impl is this; a separate name so helpers can use it).
struct Tables {
  VocabData v;
  std::vector<TokenType> type;
  std::unordered_map<std::string, int32_t, SvHash, std::equal_to<>> text_to_id;
  std::array<int32_t, 256> byte_id{};  // raw byte -> id of its mapped single-char token, or -1
  struct Merge {
    int32_t rank, result;
  };
  std::unordered_map<uint64_t, Merge> merges;  // (left id, right id) -> merge
  std::vector<std::string> piece;              // id -> bytes (special = true)

  // Special-token matcher: a byte trie over the texts of CONTROL / USER_DEFINED / UNKNOWN
  // tokens, plus their priority order (llama.cpp: text length descending).
  struct Special {
    int32_t id;
    uint32_t len;
    bool always;  // USER_DEFINED: matched even without parse_special
  };
  std::vector<Special> specials;                    // priority order
  std::unordered_map<uint64_t, int32_t> trie_next;  // (node << 8 | byte) -> child node
  std::vector<int32_t> trie_term;                   // node -> index into specials, or -1
  std::array<bool, 256> first_byte{};
  bool any_always = false;

  int32_t lookup(std::string_view s) const {
    auto it = text_to_id.find(s);
    return it == text_to_id.end() ? -1 : it->second;
  }

  void build();
  void build_specials();

  struct Frag {
    size_t b, e;
    int32_t tok;  // >= 0: a special token; -1: raw text [b, e)
  };
  void partition(std::string_view text, bool parse_special, std::vector<Frag>& out) const;
};

void Tables::build() {
  if (v.model != "gpt2")
    throw std::runtime_error("tokenizer: unsupported tokenizer model '" + v.model +
                             "' (only gpt2 / byte-level BPE)");
  if (!known_pre(v.pre))
    throw std::runtime_error("tokenizer: unsupported pre-tokenizer '" + v.pre +
                             "' (supported: lfm2, llama3, llama-v3, llama-bpe)");
  const size_t n = v.tokens.size();
  if (n == 0) throw std::runtime_error("tokenizer: empty vocabulary");
  if (n > size_t(INT32_MAX)) throw std::runtime_error("tokenizer: vocabulary too large");
  if (!v.types.empty() && v.types.size() != n)
    throw std::runtime_error("tokenizer: " + std::to_string(v.types.size()) + " token types for " +
                             std::to_string(n) + " tokens");
  auto check_id = [&](int32_t id, const char* what) {
    if (id < -1 || id >= int32_t(n))
      throw std::runtime_error(std::string("tokenizer: ") + what + " id " + std::to_string(id) +
                               " out of range");
  };
  check_id(v.bos_id, "bos");
  check_id(v.eos_id, "eos");
  check_id(v.pad_id, "pad");
  if (v.add_bos && v.bos_id < 0)
    throw std::runtime_error("tokenizer: add_bos is set but there is no bos id");
  if (v.add_eos && v.eos_id < 0)
    throw std::runtime_error("tokenizer: add_eos is set but there is no eos id");

  type.resize(n, TokenType::Normal);
  for (size_t i = 0; i < v.types.size(); ++i) {
    const int32_t t = v.types[i];
    type[i] = (t >= 0 && t <= 6) ? TokenType(t) : TokenType::Undefined;
  }
  text_to_id.reserve(n * 2);
  for (size_t i = 0; i < n; ++i) {
    // llama.cpp asserts that token texts are unique; so do we.
    if (!text_to_id.emplace(v.tokens[i], int32_t(i)).second)
      throw std::runtime_error("tokenizer: duplicate token text '" + v.tokens[i] + "' (ids " +
                               std::to_string(text_to_id[v.tokens[i]]) + " and " +
                               std::to_string(i) + ")");
  }
  for (int b = 0; b < 256; ++b) {
    std::string s;
    append_utf8_unchecked(tok_detail::byte_to_cpt(uint8_t(b)), s);
    byte_id[b] = lookup(s);
  }

  // Merges "left right": split at the first space after position 0 (as llama.cpp does); the first
  // occurrence of a pair keeps its rank. Every part and result must be a token (HF guarantees it).
  merges.reserve(v.merges.size() * 2);
  for (size_t r = 0; r < v.merges.size(); ++r) {
    const std::string& m = v.merges[r];
    const size_t sp = m.find(' ', 1);
    if (sp == std::string::npos)
      throw std::runtime_error("tokenizer: merge " + std::to_string(r) + " '" + m +
                               "' has no space");
    const std::string_view a = std::string_view(m).substr(0, sp),
                           b = std::string_view(m).substr(sp + 1);
    const int32_t ia = lookup(a), ib = lookup(b);
    const std::string joined = std::string(a) + std::string(b);
    const int32_t ic = lookup(joined);
    if (ia < 0 || ib < 0 || ic < 0)
      throw std::runtime_error("tokenizer: merge " + std::to_string(r) + " '" + m +
                               "' uses a token missing from the vocabulary ('" +
                               (ia < 0   ? std::string(a)
                                : ib < 0 ? std::string(b)
                                         : joined) +
                               "')");
    merges.emplace(pair_key(ia, ib), Merge{int32_t(r), ic});
  }

  piece.resize(n);
  for (size_t i = 0; i < n; ++i) {
    const std::string& t = v.tokens[i];
    switch (type[i]) {
      case TokenType::Control:
      case TokenType::Unknown:
      case TokenType::UserDefined:
        piece[i] = t;
        break;
      case TokenType::Normal:
        piece[i] = decode_normal_piece(t);
        break;
      case TokenType::Byte:  // "<0xAB>"
        piece[i] = std::string(
            1, char(t.size() >= 5 ? std::strtol(t.substr(3, 2).c_str(), nullptr, 16) : 0));
        break;
      default:  // Unused, Undefined: nothing
        break;
    }
  }
  build_specials();
}

void Tables::build_specials() {
  for (size_t i = 0; i < type.size(); ++i) {
    const TokenType t = type[i];
    if ((t == TokenType::Control || t == TokenType::UserDefined || t == TokenType::Unknown) &&
        !v.tokens[i].empty())
      specials.push_back({int32_t(i), uint32_t(v.tokens[i].size()), t == TokenType::UserDefined});
  }
  // llama.cpp sorts by length only (std::sort, so equal lengths come in an unspecified order);
  // ties here go to the lower id. Ties only matter for overlapping same-length texts.
  std::stable_sort(specials.begin(), specials.end(),
                   [](const Special& a, const Special& b) { return a.len > b.len; });
  trie_term.push_back(-1);
  for (size_t k = 0; k < specials.size(); ++k) {
    const std::string& t = v.tokens[specials[k].id];
    int32_t node = 0;
    for (unsigned char c : t) {
      auto [it, inserted] = trie_next.emplace((uint64_t(node) << 8) | c, int32_t(trie_term.size()));
      if (inserted) trie_term.push_back(-1);
      node = it->second;
    }
    trie_term[node] = int32_t(k);
    first_byte[static_cast<unsigned char>(t[0])] = true;
    any_always |= specials[k].always;
  }
}

// Same result as llama.cpp's tokenizer_st_partition: special tokens are taken in priority order;
// each one claims its leftmost non-overlapping occurrences inside the text not yet claimed.
// Done here with one trie pass for all occurrences, then a sort by (priority, position).
void Tables::partition(std::string_view text, bool parse_special, std::vector<Frag>& out) const {
  out.clear();
  const size_t n = text.size();
  if (n == 0) return;
  struct Occ {
    uint32_t prio;
    size_t pos;
  };
  std::vector<Occ> occ;
  if (!specials.empty() && (parse_special || any_always)) {
    const auto* p = reinterpret_cast<const unsigned char*>(text.data());
    for (size_t i = 0; i < n; ++i) {
      if (!first_byte[p[i]]) continue;
      int32_t node = 0;
      for (size_t j = i; j < n; ++j) {
        auto it = trie_next.find((uint64_t(node) << 8) | p[j]);
        if (it == trie_next.end()) break;
        node = it->second;
        const int32_t k = trie_term[node];
        if (k >= 0 && (parse_special || specials[k].always)) occ.push_back({uint32_t(k), i});
      }
    }
  }
  if (occ.empty()) {
    out.push_back({0, n, -1});
    return;
  }
  std::sort(occ.begin(), occ.end(), [](const Occ& a, const Occ& b) {
    return a.prio != b.prio ? a.prio < b.prio : a.pos < b.pos;
  });
  std::vector<uint8_t> claimed(n, 0);
  std::vector<Occ> taken;
  uint32_t cur = UINT32_MAX;
  size_t cur_end = 0;  // end of the last accepted occurrence of the current token
  for (const Occ& o : occ) {
    const size_t len = specials[o.prio].len;
    if (o.prio != cur) cur = o.prio, cur_end = 0;
    if (o.pos < cur_end) continue;
    bool free = true;
    for (size_t k = o.pos; k < o.pos + len && free; ++k) free = !claimed[k];
    if (!free) continue;
    std::fill(claimed.begin() + o.pos, claimed.begin() + o.pos + len, 1);
    taken.push_back(o);
    cur_end = o.pos + len;
  }
  std::sort(taken.begin(), taken.end(), [](const Occ& a, const Occ& b) { return a.pos < b.pos; });
  size_t at = 0;
  for (const Occ& o : taken) {
    if (o.pos > at) out.push_back({at, o.pos, -1});
    out.push_back({o.pos, o.pos + specials[o.prio].len, specials[o.prio].id});
    at = o.pos + specials[o.prio].len;
  }
  if (at < n) out.push_back({at, n, -1});
}

// Per-call BPE state (buffers reused across the words of one encode() call).
class BpeSession {
 public:
  explicit BpeSession(const Tables& m) : m_(m) {}

  void tokenize(std::string_view raw, std::vector<int32_t>& out) {
    const std::string text = tok_detail::sanitize_utf8_like_llama(raw);
    offs_.clear();
    tok_detail::pretokenize_offsets(text, offs_);
    for (auto [b, e] : offs_) word(std::string_view(text).substr(b, e - b), out);
  }

 private:
  struct Sym {
    int32_t id, prev, next;
    bool dead;
  };
  struct Cand {
    int32_t rank, left, right, lid, rid;
  };

  void word(std::string_view w, std::vector<int32_t>& out) {
    if (w.size() == 1) {  // one byte: its token (llama.cpp drops bytes missing from the vocab)
      const int32_t id = m_.byte_id[static_cast<unsigned char>(w[0])];
      if (id >= 0) out.push_back(id);
      return;
    }
    auto it = cache_.find(w);
    if (it == cache_.end()) {
      std::vector<int32_t> ids;
      bpe(w, ids);
      it = cache_.emplace(std::string(w), std::move(ids)).first;
    }
    out.insert(out.end(), it->second.begin(), it->second.end());
  }

  void add_cand(int32_t l, int32_t r) {
    if (l < 0 || r < 0) return;
    const int32_t a = sym_[l].id, b = sym_[r].id;
    if (a < 0 || b < 0) return;
    auto it = m_.merges.find(pair_key(a, b));
    if (it == m_.merges.end()) return;
    heap_.push_back({it->second.rank, l, r, a, b});
    std::push_heap(heap_.begin(), heap_.end(), cand_after);
  }
  // Lowest rank first, then leftmost (llama.cpp's llm_bigram_bpe::comparator).
  static bool cand_after(const Cand& x, const Cand& y) {
    return x.rank != y.rank ? x.rank > y.rank : x.left > y.left;
  }

  void bpe(std::string_view w, std::vector<int32_t>& ids) {
    // ignore_merges (llama.cpp for lfm2/llama3): a pre-token that is itself a token is taken whole.
    if (m_.v.ignore_merges) {
      const int32_t id = m_.lookup(byte_level_encode(w));
      if (id >= 0) {
        ids.push_back(id);
        return;
      }
    }
    sym_.clear();
    heap_.clear();
    const int32_t n = int32_t(w.size());
    for (int32_t i = 0; i < n; ++i)
      sym_.push_back(
          {m_.byte_id[static_cast<unsigned char>(w[i])], i - 1, i + 1 < n ? i + 1 : -1, false});
    for (int32_t i = 1; i < n; ++i) add_cand(i - 1, i);
    while (!heap_.empty()) {
      std::pop_heap(heap_.begin(), heap_.end(), cand_after);
      const Cand c = heap_.back();
      heap_.pop_back();
      Sym& L = sym_[c.left];
      Sym& R = sym_[c.right];
      if (L.dead || R.dead || L.id != c.lid || R.id != c.rid || L.next != c.right)
        continue;  // stale
      L.id = m_.merges.at(pair_key(c.lid, c.rid)).result;
      R.dead = true;
      L.next = R.next;
      if (R.next >= 0) sym_[R.next].prev = c.left;
      add_cand(L.prev, c.left);
      add_cand(c.left, L.next);
    }
    for (int32_t i = 0; i >= 0 && i < n; i = sym_[i].next)
      if (sym_[i].id >= 0) ids.push_back(sym_[i].id);
  }

  const Tables& m_;
  std::vector<std::pair<size_t, size_t>> offs_;
  std::vector<Sym> sym_;
  std::vector<Cand> heap_;
  std::unordered_map<std::string, std::vector<int32_t>, SvHash, std::equal_to<>> cache_;
};

}  // namespace

struct Tokenizer::Impl : Tables {};

Tokenizer::Tokenizer(VocabData vocab) : impl_(std::make_unique<Impl>()) {
  impl_->v = std::move(vocab);
  impl_->build();
}
Tokenizer::~Tokenizer() = default;
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_bos,
                                       bool parse_special) const {
  const Impl& m = *impl_;
  std::vector<int32_t> out;
  out.reserve(text.size() / 3 + 4);
  // `add_bos` plays llama.cpp's add_special: BOS per vocab.add_bos, EOS per vocab.add_eos.
  if (add_bos && m.v.add_bos) out.push_back(m.v.bos_id);
  std::vector<Tables::Frag> frags;
  m.partition(text, parse_special, frags);
  BpeSession s(m);
  for (const auto& f : frags) {
    if (f.tok >= 0) {
      out.push_back(f.tok);
    } else {
      s.tokenize(text.substr(f.b, f.e - f.b), out);
    }
  }
  if (add_bos && m.v.add_eos) out.push_back(m.v.eos_id);
  return out;
}

std::string Tokenizer::token_bytes(int32_t id, bool special) const {
  const Impl& m = *impl_;
  if (id < 0 || id >= int32_t(m.piece.size())) return {};
  const TokenType t = m.type[id];
  if (!special && (t == TokenType::Control || t == TokenType::Unknown)) return {};
  return m.piece[id];
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids, bool special) const {
  std::string out;
  for (int32_t id : ids) out += token_bytes(id, special);
  return out;
}

int32_t Tokenizer::n_vocab() const {
  return int32_t(impl_->v.tokens.size());
}
const VocabData& Tokenizer::vocab() const {
  return impl_->v;
}
int32_t Tokenizer::bos_id() const {
  return impl_->v.bos_id;
}
int32_t Tokenizer::eos_id() const {
  return impl_->v.eos_id;
}
bool Tokenizer::is_control(int32_t id) const {
  return id >= 0 && id < n_vocab() && impl_->type[id] == TokenType::Control;
}
int32_t Tokenizer::find(std::string_view token_text) const {
  return impl_->lookup(token_text);
}
TokenType Tokenizer::token_type(int32_t id) const {
  return id >= 0 && id < n_vocab() ? impl_->type[id] : TokenType::Undefined;
}

// ---- IncrementalDetokenizer ----------------------------------------------------------------

namespace {

// Moves the complete UTF-8 prefix of `pending` to the result; invalid bytes become U+FFFD (one
// per byte). With `final`, an incomplete tail is replaced too; otherwise it stays pending.
std::string drain_utf8(std::string& pending, bool final) {
  std::string out;
  size_t i = 0;
  while (i < pending.size()) {
    const size_t n = utf8_sequence_length(pending, i);
    if (n > 0) {
      out.append(pending, i, n);
      i += n;
      continue;
    }
    if (!final && utf8_incomplete_tail(pending, i)) break;
    out += "\xEF\xBF\xBD";
    ++i;
  }
  pending.erase(0, i);
  return out;
}

}  // namespace

std::string IncrementalDetokenizer::push(int32_t id) {
  pending_ += tok_->token_bytes(id, special_);
  return drain_utf8(pending_, false);
}

std::string IncrementalDetokenizer::flush() {
  return drain_utf8(pending_, true);
}

}  // namespace lfmd
