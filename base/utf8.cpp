#include "base/utf8.h"

namespace lfmd {

namespace {

// Length of the sequence a lead byte starts and the allowed range of its second byte
// (Unicode Table 3-7); len 0 = a byte that never leads a sequence.
struct Lead {
  uint8_t len, lo, hi;
};
Lead lead_of(uint8_t b) {
  if (b < 0x80) return {1, 0, 0};
  if (b >= 0xC2 && b <= 0xDF) return {2, 0x80, 0xBF};
  if (b == 0xE0) return {3, 0xA0, 0xBF};
  if (b == 0xED) return {3, 0x80, 0x9F};  // no surrogates
  if (b >= 0xE1 && b <= 0xEF) return {3, 0x80, 0xBF};
  if (b == 0xF0) return {4, 0x90, 0xBF};
  if (b >= 0xF1 && b <= 0xF3) return {4, 0x80, 0xBF};
  if (b == 0xF4) return {4, 0x80, 0x8F};  // <= U+10FFFF
  return {0, 0, 0};
}

// Whether byte k (1-based) of a sequence with this lead may be `b`.
bool fits(const Lead& l, size_t k, uint8_t b) {
  return k == 1 ? b >= l.lo && b <= l.hi : (b & 0xC0) == 0x80;
}

}  // namespace

size_t utf8_sequence_length(std::string_view s, size_t i) {
  const auto* p = reinterpret_cast<const uint8_t*>(s.data());
  const Lead l = lead_of(p[i]);
  if (l.len <= 1) return l.len;
  if (i + l.len > s.size()) return 0;
  for (size_t k = 1; k < l.len; ++k) {
    if (!fits(l, k, p[i + k])) return 0;
  }
  return l.len;
}

bool utf8_incomplete_tail(std::string_view s, size_t i) {
  const auto* p = reinterpret_cast<const uint8_t*>(s.data());
  const Lead l = lead_of(p[i]);
  if (l.len <= 1 || i + l.len <= s.size()) return false;
  for (size_t k = 1; i + k < s.size(); ++k) {
    if (!fits(l, k, p[i + k])) return false;
  }
  return true;
}

bool utf8_valid(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const size_t n = utf8_sequence_length(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

uint32_t utf8_decode(std::string_view s, size_t& i) {
  const size_t n = utf8_sequence_length(s, i);
  const auto b0 = static_cast<uint8_t>(s[i]);
  if (n == 0) {
    ++i;
    return kNoCodePoint;
  }
  uint32_t cp = n == 1 ? b0 : b0 & (0x7F >> n);
  for (size_t k = 1; k < n; ++k) cp = (cp << 6) | (static_cast<uint8_t>(s[i + k]) & 0x3F);
  i += n;
  return cp;
}

void append_utf8(uint32_t cp, std::string& out) {
  if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
    out.append(kReplacementChar);
  } else {
    append_utf8_unchecked(cp, out);
  }
}

void append_utf8_unchecked(uint32_t cp, std::string& out) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

size_t utf8_sanitize(std::string_view in, bool final, std::string& out) {
  const auto* p = reinterpret_cast<const uint8_t*>(in.data());
  const size_t size = in.size();
  size_t i = 0;
  while (i < size) {
    size_t j = i;  // copy ASCII runs in one go
    while (j < size && p[j] < 0x80) ++j;
    if (j > i) {
      out.append(in.substr(i, j - i));
      i = j;
      continue;
    }
    const Lead l = lead_of(p[i]);
    if (l.len == 0) {
      out.append(kReplacementChar);
      ++i;
      continue;
    }
    size_t k = 1;  // bytes of the sequence that fit so far
    while (k < l.len && i + k < size && fits(l, k, p[i + k])) ++k;
    if (k == l.len) {
      out.append(in.substr(i, k));
      i += k;
    } else if (i + k >= size) {  // ran out of input inside a valid prefix
      if (!final) return i;
      out.append(kReplacementChar);
      return size;
    } else {
      out.append(kReplacementChar);  // the maximal subpart: the k bytes that fit
      i += k;
    }
  }
  return size;
}

}  // namespace lfmd
