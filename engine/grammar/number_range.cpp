// Integer ranges -> grammar: the decimal strings (no leading zeros, no "-0") of every integer in
// [lo, hi], split by digit count and then digit by digit.
#include <string>

#include "engine/grammar/json_schema.h"

namespace lfmd::grammar {

namespace {

class RangeCompiler {
 public:
  explicit RangeCompiler(GrammarBuilder& b) : b_(b) {}

  // Non-negative integers in [a, b].
  int32_t non_negative(int64_t a, int64_t b) {
    const int32_t r = b_.new_rule();
    int64_t p = 1;  // 10^(d-1)
    for (int d = 1; d <= 18 && p <= b; ++d, p *= 10) {
      const int64_t lo = std::max(a, d == 1 ? 0 : p), hi = std::min(b, p * 10 - 1);
      if (lo <= hi) b_.add_alt(r, {b_.ref(same_length(std::to_string(lo), std::to_string(hi)))});
    }
    return r;
  }

 private:
  GrammarBuilder& b_;

  Sym digit_range(char lo, char hi) {
    ByteSet s;
    s.set_range(static_cast<uint8_t>(lo), static_cast<uint8_t>(hi));
    return b_.bytes(s);
  }

  // Strings of L's length between L and H (same length, L <= H), digit by digit.
  int32_t same_length(const std::string& L, const std::string& H) {
    if (L.empty()) return b_.rule({{}});
    const std::string l1 = L.substr(1), h1 = H.substr(1);
    if (L[0] == H[0]) return b_.rule({{b_.byte(static_cast<uint8_t>(L[0])), b_.ref(same_length(l1, h1))}});
    const bool low_all0 = l1.find_first_not_of('0') == std::string::npos;
    const bool high_all9 = h1.find_first_not_of('9') == std::string::npos;
    const int32_t r = b_.new_rule();
    const char first = low_all0 ? L[0] : static_cast<char>(L[0] + 1);
    const char last = high_all9 ? H[0] : static_cast<char>(H[0] - 1);
    if (!low_all0) b_.add_alt(r, {b_.byte(static_cast<uint8_t>(L[0])), b_.ref(same_length(l1, std::string(l1.size(), '9')))});
    if (first <= last) {
      Alt a{digit_range(first, last)};
      for (size_t i = 0; i < l1.size(); ++i) a.push_back(digit_range('0', '9'));
      b_.add_alt(r, std::move(a));
    }
    if (!high_all9) b_.add_alt(r, {b_.byte(static_cast<uint8_t>(H[0])), b_.ref(same_length(std::string(h1.size(), '0'), h1))});
    return r;
  }
};

}  // namespace

int32_t compile_integer_range(GrammarBuilder& b, int64_t lo, int64_t hi) {
  RangeCompiler rc(b);
  const int32_t r = b.new_rule();  // no alternative when lo > hi: unsatisfiable
  if (lo <= hi && hi >= 0) b.add_alt(r, {b.ref(rc.non_negative(std::max<int64_t>(lo, 0), hi))});
  if (lo <= hi && lo < 0) {
    // -x for x in [max(1, -hi), -lo]
    b.add_alt(r, {b.byte('-'), b.ref(rc.non_negative(std::max<int64_t>(1, -hi), -lo))});
  }
  return r;
}

}  // namespace lfmd::grammar
