// `pattern` (regular-expression subset) -> grammar for the body of a JSON string.
#include <string>

#include "engine/grammar/json_schema.h"

namespace lfmd::grammar {

namespace {

class PatternCompiler {
 public:
  PatternCompiler(GrammarBuilder& b, const std::string& p, int max_repeat) : b_(b), p_(p), max_repeat_(max_repeat) {}

  int32_t compile() {
    size_t end = p_.size();
    if (!p_.empty() && p_[0] == '^') i_ = 1;
    if (end > i_ && p_[end - 1] == '$') {
      size_t bs = 0;  // an escaped '$' is a literal
      for (size_t k = end - 1; k > i_ && p_[k - 1] == '\\'; --k) ++bs;
      if (bs % 2 == 0) --end;
    }
    end_ = end;
    const int32_t r = alternation();
    if (i_ != end_) fail("unexpected ')'");
    return r;
  }

 private:
  GrammarBuilder& b_;
  const std::string& p_;
  size_t i_ = 0, end_ = 0;
  int max_repeat_;

  [[noreturn]] void fail(const std::string& why) {
    throw GrammarError("unsupported 'pattern' (" + why + " at offset " + std::to_string(i_) + ")");
  }
  bool eof() const { return i_ >= end_; }
  char peek() const { return p_[i_]; }

  int32_t alternation() {
    const int32_t r = b_.new_rule();
    for (;;) {
      Alt a;
      while (!eof() && peek() != '|' && peek() != ')') {
        const int32_t atom_rule = atom();
        a.push_back(b_.ref(quantified(atom_rule)));
      }
      b_.add_alt(r, std::move(a));
      if (!eof() && peek() == '|') {
        ++i_;
        continue;
      }
      return r;
    }
  }

  int64_t number() {
    if (eof() || !std::isdigit(static_cast<unsigned char>(peek()))) fail("expected a number in {}");
    int64_t v = 0;
    while (!eof() && std::isdigit(static_cast<unsigned char>(peek()))) {
      v = v * 10 + (peek() - '0');
      if (v > 100000) fail("repetition count too large");
      ++i_;
    }
    return v;
  }

  int32_t quantified(int32_t x) {
    if (eof()) return x;
    int64_t lo, hi;  // hi < 0: unbounded
    const char c = peek();
    if (c == '*') lo = 0, hi = -1, ++i_;
    else if (c == '+') lo = 1, hi = -1, ++i_;
    else if (c == '?') lo = 0, hi = 1, ++i_;
    else if (c == '{') {
      ++i_;
      lo = number();
      hi = lo;
      if (!eof() && peek() == ',') {
        ++i_;
        hi = (!eof() && peek() == '}') ? -1 : number();
      }
      if (eof() || peek() != '}') fail("expected '}'");
      ++i_;
      if (hi >= 0 && hi < lo) fail("{n,m} with m < n");
    } else {
      return x;
    }
    if (!eof() && peek() == '?') ++i_;  // lazy: same set of full matches
    if (!eof() && (peek() == '+' || peek() == '*' || peek() == '{')) fail("possessive or repeated quantifier");
    if (hi > lo + max_repeat_) hi = lo + max_repeat_;  // a subset: fewer repetitions
    int32_t tail;
    if (hi < 0) {
      tail = b_.new_rule();
      b_.add_alt(tail, {b_.ref(x), b_.ref(tail)});
      b_.add_alt(tail, {});
    } else {
      tail = b_.rule({{}});
      for (int64_t k = lo; k < hi; ++k) tail = b_.rule({{b_.ref(x), b_.ref(tail)}, {}});
    }
    Alt a;
    for (int64_t k = 0; k < lo; ++k) a.push_back(b_.ref(x));
    a.push_back(b_.ref(tail));
    return b_.rule({std::move(a)});
  }

  static ByteSet cls(char e) {
    ByteSet s;
    switch (e) {
      case 'd': case 'D': s.set_range('0', '9'); break;
      case 'w': case 'W': s.set_range('0', '9'); s.set_range('a', 'z'); s.set_range('A', 'Z'); s.set('_'); break;
      default: for (char c : std::string(" \t\n\r\f\v")) s.set(static_cast<uint8_t>(c));
    }
    if (std::isupper(static_cast<unsigned char>(e))) s = ascii_complement(s);
    return s;
  }
  static ByteSet ascii_complement(const ByteSet& s) {
    ByteSet r;
    for (int c = 0; c < 128; ++c) if (!s.has(static_cast<uint8_t>(c))) r.set(static_cast<uint8_t>(c));
    return r;
  }

  // One escaped character (after the backslash) as a set; class escapes allowed.
  ByteSet escape() {
    if (eof()) fail("trailing backslash");
    const char e = p_[i_++];
    ByteSet s;
    if (std::string("dDwWsS").find(e) != std::string::npos) return cls(e);
    switch (e) {
      case 'n': s.set('\n'); return s;
      case 't': s.set('\t'); return s;
      case 'r': s.set('\r'); return s;
      case 'f': s.set('\f'); return s;
      case 'v': s.set('\v'); return s;
      default: break;
    }
    if (std::isalnum(static_cast<unsigned char>(e)) || static_cast<unsigned char>(e) >= 0x80) {
      --i_;
      fail(std::string("escape \\") + e);
    }
    s.set(static_cast<uint8_t>(e));
    return s;
  }

  // A set of ASCII characters as a JSON-string-body rule (escaping '"', '\' and controls).
  int32_t chars(const ByteSet& s) {
    const int32_t r = b_.new_rule();
    ByteSet plain;
    for (int c = 0x20; c < 0x80; ++c) {
      if (c != '"' && c != '\\' && s.has(static_cast<uint8_t>(c))) plain.set(static_cast<uint8_t>(c));
    }
    if (!plain.empty()) b_.add_alt(r, {b_.bytes(plain)});
    if (s.has('"')) b_.add_alt(r, b_.literal("\\\""));
    if (s.has('\\')) b_.add_alt(r, b_.literal("\\\\"));
    for (int c = 0; c < 0x20; ++c) {
      if (!s.has(static_cast<uint8_t>(c))) continue;
      static const char* hex = "0123456789abcdef";
      std::string lit = c == '\n' ? "\\n" : c == '\t' ? "\\t" : c == '\r' ? "\\r" : std::string("\\u00") + hex[c >> 4] + hex[c & 15];
      b_.add_alt(r, b_.literal(lit));
    }
    return r;
  }

  int32_t char_class() {
    ++i_;  // '['
    bool neg = false;
    if (!eof() && peek() == '^') neg = true, ++i_;
    ByteSet s;
    bool first = true;
    for (;;) {
      if (eof()) fail("unterminated '['");
      char c = peek();
      if (c == ']' && !first) {
        ++i_;
        break;
      }
      first = false;
      if (static_cast<unsigned char>(c) >= 0x80) fail("non-ASCII character in a class");
      if (c == '[' && i_ + 1 < end_ && (p_[i_ + 1] == ':' || p_[i_ + 1] == '=' || p_[i_ + 1] == '.')) fail("POSIX class");
      ByteSet item;
      int lo = -1;
      if (c == '\\') {
        ++i_;
        item = escape();
        int count = 0;
        for (int k = 0; k < 128; ++k) if (item.has(static_cast<uint8_t>(k))) ++count, lo = k;
        if (count != 1) lo = -1;
      } else {
        ++i_;
        lo = static_cast<unsigned char>(c);
        item.set(static_cast<uint8_t>(c));
      }
      if (lo >= 0 && i_ + 1 < end_ && peek() == '-' && p_[i_ + 1] != ']') {
        ++i_;
        char h = peek();
        int hi;
        if (h == '\\') {
          ++i_;
          ByteSet e = escape();
          hi = -1;
          for (int k = 0; k < 128; ++k) if (e.has(static_cast<uint8_t>(k))) hi = k;
        } else {
          if (static_cast<unsigned char>(h) >= 0x80) fail("non-ASCII character in a class");
          hi = static_cast<unsigned char>(h);
          ++i_;
        }
        if (hi < lo) fail("bad range in a class");
        item.set_range(static_cast<uint8_t>(lo), static_cast<uint8_t>(hi));
      }
      for (int w = 0; w < 4; ++w) s.bits[w] |= item.bits[w];
    }
    if (neg) s = ascii_complement(s);
    return chars(s);
  }

  int32_t atom() {
    const char c = peek();
    if (c == '(') {
      ++i_;
      if (!eof() && peek() == '?') {
        if (i_ + 1 < end_ && p_[i_ + 1] == ':') i_ += 2;
        else fail("lookaround, named group or inline flag");
      }
      const int32_t r = alternation();
      if (eof() || peek() != ')') fail("missing ')'");
      ++i_;
      return r;
    }
    if (c == '[') return char_class();
    if (c == '.') {
      ++i_;
      ByteSet s;
      s.set_range(0, 127);
      s.bits[0] &= ~(uint64_t{1} << '\n');
      return chars(s);
    }
    if (c == '\\') {
      ++i_;
      if (!eof() && std::isdigit(static_cast<unsigned char>(peek()))) fail("back-reference");
      return chars(escape());
    }
    if (c == '^' || c == '$') fail("anchor inside the pattern");
    if (c == '*' || c == '+' || c == '?' || c == '{') fail("nothing to repeat");
    const unsigned char u = static_cast<unsigned char>(c);
    if (u < 0x80) {
      ++i_;
      ByteSet s;
      s.set(u);
      return chars(s);
    }
    // A non-ASCII character: its UTF-8 bytes, verbatim.
    const size_t n = u >= 0xf0 ? 4 : u >= 0xe0 ? 3 : u >= 0xc0 ? 2 : 0;
    if (n == 0 || i_ + n > end_) fail("invalid UTF-8");
    const int32_t r = b_.rule({b_.literal(p_.substr(i_, n))});
    i_ += n;
    return r;
  }
};

}  // namespace

int32_t compile_pattern(GrammarBuilder& b, const std::string& pattern, int max_repeat) {
  return PatternCompiler(b, pattern, max_repeat).compile();
}

}  // namespace lfmd::grammar
