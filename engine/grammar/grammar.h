// Context-free grammars over bytes (plus whole special tokens), as used for constrained decoding.
// A grammar is a list of rules; a rule is a list of alternatives; an alternative is a sequence of
// symbols: a byte set (matches one byte), a rule reference, or one special token id.
// Built with GrammarBuilder, then frozen into the flat form the matcher walks.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace lfmd::grammar {

// Why a grammar (or the schema it came from) cannot be used; `what()` is one line for the client.
class GrammarError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct ByteSet {
  std::array<uint64_t, 4> bits{};
  void set(uint8_t b) { bits[b >> 6] |= uint64_t{1} << (b & 63); }
  void set_range(uint8_t lo, uint8_t hi) {
    for (int b = lo; b <= hi; ++b) set(static_cast<uint8_t>(b));
  }
  bool has(uint8_t b) const { return (bits[b >> 6] >> (b & 63)) & 1; }
  bool empty() const { return !(bits[0] | bits[1] | bits[2] | bits[3]); }
  bool operator==(const ByteSet&) const = default;
};

struct Sym {
  enum Kind : uint8_t { Bytes, Ref, Token } kind;
  int32_t arg;  // Bytes: index into the builder's sets; Ref: rule id; Token: token id
};
using Alt = std::vector<Sym>;

// Frozen grammar. elems holds every alternative back to back, each closed by an End element;
// rule_alts[r] lists the start index of each alternative of rule r.
struct Grammar {
  enum Kind : uint8_t { Bytes, Ref, Token, End };
  struct Elem {
    Kind kind;
    int32_t arg;
  };
  std::vector<Elem> elems;
  std::vector<ByteSet> sets;
  std::vector<std::vector<int32_t>> rule_alts;
  // [elems] fewest tokens that finish the alternative from this element on (each byte and each
  // special token counts one: single-byte tokens always exist in a byte-level vocabulary).
  std::vector<int32_t> min_len;
  int32_t root = 0;
  size_t size() const { return elems.size(); }
};

class GrammarBuilder {
 public:
  int32_t new_rule();                          // an empty rule (fill it with add_alt)
  void add_alt(int32_t rule, Alt alt);         // an empty Alt is epsilon
  int32_t rule(std::vector<Alt> alts);         // new rule with these alternatives
  Sym bytes(const ByteSet& s);
  Sym byte(uint8_t b);
  Sym ref(int32_t rule) const { return {Sym::Ref, rule}; }
  Sym token(int32_t id) const { return {Sym::Token, id}; }
  void append_literal(Alt& alt, std::string_view text);  // one Bytes symbol per byte
  Alt literal(std::string_view text);
  size_t n_symbols() const { return n_symbols_; }
  size_t n_rules() const { return rules_.size(); }

  // Drops alternatives that cannot derive a finite string (so the matcher never dead-ends),
  // rejects left recursion, checks the size, and freezes. Throws GrammarError.
  std::shared_ptr<const Grammar> build(int32_t root, size_t max_elems) const;

 private:
  std::vector<std::vector<Alt>> rules_;
  std::vector<ByteSet> sets_;
  std::vector<int32_t> single_ = std::vector<int32_t>(256, -1);  // set index of each one-byte set
  size_t n_symbols_ = 0;
};

}  // namespace lfmd::grammar
