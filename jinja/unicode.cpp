#include "jinja/unicode.h"

#include "base/utf8.h"

namespace lfmd::jinja::detail::uni {

// Python's surrogateescape: a byte that is not part of well-formed UTF-8 becomes U+DC80..U+DCFF
// on decoding and the same byte again on encoding, so any bytes round-trip.
char32_t decode(std::string_view s, std::size_t& i) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  const uint32_t cp = utf8_decode(s, i);
  return cp == kNoCodePoint ? 0xDC00 + b0 : cp;
}

void encode(char32_t c, std::string& out) {
  if (c >= 0xDC80 && c <= 0xDCFF) {
    out += static_cast<char>(c - 0xDC00);  // surrogateescape
  } else {
    append_utf8(c, out);
  }
}

std::u32string to_u32(std::string_view s) {
  std::u32string r;
  r.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) r += decode(s, i);
  return r;
}

std::string to_utf8(std::u32string_view s) {
  std::string r;
  r.reserve(s.size());
  for (char32_t c : s) encode(c, r);
  return r;
}

std::size_t count(std::string_view s) {
  std::size_t n = 0;
  for (std::size_t i = 0; i < s.size();) {
    if (static_cast<unsigned char>(s[i]) < 0x80) {
      ++i;
    } else {
      decode(s, i);
    }
    ++n;
  }
  return n;
}

bool is_space(char32_t c) {
  return (c >= 9 && c <= 13) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
         c == 0x3000;
}

bool is_printable(char32_t c) {
  if (c < 0x20 || (c >= 0x7F && c <= 0xA0) || c == 0xAD) return false;
  if (c < 0x100) return true;
  if (c == 0x1680 || (c >= 0x2000 && c <= 0x200F) || (c >= 0x2028 && c <= 0x202F) ||
      (c >= 0x205F && c <= 0x2064) || (c >= 0x2066 && c <= 0x206F) || c == 0x3000 || c == 0xFEFF ||
      (c >= 0xFFF9 && c <= 0xFFFB) || c == 0xFFFE || c == 0xFFFF)
    return false;
  if ((c >= 0x600 && c <= 0x605) || c == 0x61C || c == 0x6DD || c == 0x70F || c == 0x180E)
    return false;
  if ((c >= 0xD800 && c <= 0xF8FF) || c >= 0xF0000) return false;  // surrogates, private use
  if (c >= 0xE0000 && c <= 0xE0FFF) return false;                  // tags
  return c <= 0x10FFFF;
}

// Simple case pairs: returns the other case, or c itself.
namespace {
struct Range {
  char32_t lo, hi;
  int delta;    // upper = lower + delta (for delta ranges)
  bool paired;  // alternating pairs: even = upper (or odd when lo is odd)
};
// Ranges of lowercase letters with their uppercase offset.
constexpr Range kLowerDelta[] = {
    {'a', 'z', -32, false},       {0xE0, 0xF6, -32, false},   {0xF8, 0xFE, -32, false},
    {0x3B1, 0x3C1, -32, false},   {0x3C3, 0x3CB, -32, false}, {0x3AD, 0x3AF, -37, false},
    {0x430, 0x44F, -32, false},   {0x450, 0x45F, -80, false}, {0x561, 0x586, -48, false},
    {0xFF41, 0xFF5A, -32, false}, {0x3CD, 0x3CE, -63, false},
};
// Alternating upper/lower pairs starting at an upper letter.
constexpr Range kPairs[] = {
    {0x100, 0x12F, 0, true},   {0x132, 0x137, 0, true}, {0x139, 0x148, 0, true},
    {0x14A, 0x177, 0, true},   {0x179, 0x17E, 0, true}, {0x460, 0x481, 0, true},
    {0x48A, 0x4BF, 0, true},   {0x4D0, 0x52F, 0, true}, {0x1E00, 0x1E95, 0, true},
    {0x1EA0, 0x1EFF, 0, true},
};
}  // namespace

char32_t to_upper(char32_t c) {
  if (c < 0x80) return c >= 'a' && c <= 'z' ? c - 32 : c;
  if (c == 0xB5) return 0x39C;
  if (c == 0xFF) return 0x178;
  if (c == 0x3C2) return 0x3A3;
  if (c == 0x3AC) return 0x386;
  if (c == 0x3CC) return 0x38C;
  if (c == 0x131) return 'I';
  if (c == 0x17F) return 'S';
  for (const auto& r : kLowerDelta)
    if (c >= r.lo && c <= r.hi) return c + r.delta;
  for (const auto& r : kPairs)
    if (c >= r.lo && c <= r.hi && ((c - r.lo) & 1)) return c - 1;
  return c;
}

char32_t to_lower(char32_t c) {
  if (c < 0x80) return c >= 'A' && c <= 'Z' ? c + 32 : c;
  if (c == 0x178) return 0xFF;
  if (c == 0x386) return 0x3AC;
  if (c == 0x38C) return 0x3CC;
  if (c == 0x130) return 'i';
  for (const auto& r : kLowerDelta) {
    char32_t lo = r.lo + r.delta, hi = r.hi + r.delta;
    if (c >= lo && c <= hi && !(lo <= 0xDE && c == 0xD7)) return c - r.delta;
  }
  for (const auto& r : kPairs)
    if (c >= r.lo && c <= r.hi && !((c - r.lo) & 1)) return c + 1;
  return c;
}

bool is_upper(char32_t c) {
  return to_lower(c) != c || c == 0x130;
}
bool is_lower(char32_t c) {
  return to_upper(c) != c || c == 0xDF || c == 0x138 || c == 0x149;
}
bool is_cased(char32_t c) {
  return is_upper(c) || is_lower(c);
}

bool is_digit(char32_t c) {
  return (c >= '0' && c <= '9') || (c >= 0xFF10 && c <= 0xFF19);
}

bool is_alpha(char32_t c) {
  if (c < 0x80) return (c | 32) >= 'a' && (c | 32) <= 'z';
  if (is_cased(c) || c == 0xAA || c == 0xBA) return true;
  return (c >= 0x5D0 && c <= 0x5EA) || (c >= 0x620 && c <= 0x64A) || (c >= 0x904 && c <= 0x939) ||
         (c >= 0xE01 && c <= 0xE30) || (c >= 0x3041 && c <= 0x3096) ||
         (c >= 0x30A1 && c <= 0x30FA) || (c >= 0x3400 && c <= 0x4DBF) ||
         (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0xAC00 && c <= 0xD7A3) ||
         (c >= 0x20000 && c <= 0x2FA1F);
}

std::string upper(std::string_view s) {
  std::string r;
  r.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    char32_t c = decode(s, i);
    if (c == 0xDF) {
      r += "SS";
    } else if (c == 0x149) {
      r += "\xCA\xBCN";  // ŉ -> ʼN
    } else {
      encode(to_upper(c), r);
    }
  }
  return r;
}

std::string lower(std::string_view s) {
  std::string r;
  r.reserve(s.size());
  bool prev_cased = false;
  for (std::size_t i = 0; i < s.size();) {
    char32_t c = decode(s, i);
    char32_t low = to_lower(c);
    if (c == 0x3A3 && prev_cased) {  // final sigma: not followed by a cased letter
      std::size_t j = i;
      if (j >= s.size() || !is_cased(decode(s, j))) low = 0x3C2;
    }
    encode(low, r);
    prev_cased = is_cased(c);
  }
  return r;
}

std::string title(std::string_view s) {
  std::string r;
  r.reserve(s.size());
  bool prev_cased = false;
  for (std::size_t i = 0; i < s.size();) {
    char32_t c = decode(s, i);
    encode(prev_cased ? to_lower(c) : to_upper(c), r);
    prev_cased = is_cased(c);
  }
  return r;
}

std::string capitalize(std::string_view s) {
  std::string r;
  r.reserve(s.size());
  bool first = true;
  for (std::size_t i = 0; i < s.size();) {
    char32_t c = decode(s, i);
    encode(first ? to_upper(c) : to_lower(c), r);
    first = false;
  }
  return r;
}

}  // namespace lfmd::jinja::detail::uni
