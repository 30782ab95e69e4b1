#include "server/output/utf8.h"

namespace lfmd::output {

namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";

// Length of the sequence led by `b` (continuation bytes after it) and the allowed range of the
// second byte (Unicode Table 3-7). Returns false for bytes that can never lead a sequence.
bool lead_info(unsigned char b, int& n, unsigned char& lo, unsigned char& hi) {
  lo = 0x80;
  hi = 0xBF;
  if (b >= 0xC2 && b <= 0xDF) {
    n = 1;
  } else if (b >= 0xE0 && b <= 0xEF) {
    n = 2;
    if (b == 0xE0) lo = 0xA0;
    if (b == 0xED) hi = 0x9F;  // no surrogates
  } else if (b >= 0xF0 && b <= 0xF4) {
    n = 3;
    if (b == 0xF0) lo = 0x90;
    if (b == 0xF4) hi = 0x8F;  // <= U+10FFFF
  } else {
    return false;
  }
  return true;
}

}  // namespace

size_t utf8_sanitize(std::string_view in, bool final, std::string& out) {
  const size_t size = in.size();
  size_t i = 0;
  while (i < size) {
    // Copy ASCII runs in one go.
    size_t j = i;
    while (j < size && static_cast<unsigned char>(in[j]) < 0x80) ++j;
    if (j > i) {
      out.append(in.substr(i, j - i));
      i = j;
      continue;
    }
    int n;
    unsigned char lo, hi;
    if (!lead_info(static_cast<unsigned char>(in[i]), n, lo, hi)) {
      out.append(kReplacement);
      ++i;
      continue;
    }
    int k = 1;  // bytes of the sequence checked so far
    bool bad = false;
    for (; k <= n; ++k) {
      if (i + k >= size) break;  // incomplete
      const auto c = static_cast<unsigned char>(in[i + k]);
      if (k == 1 ? (c < lo || c > hi) : (c < 0x80 || c > 0xBF)) {
        bad = true;
        break;
      }
    }
    if (bad) {
      out.append(kReplacement);  // maximal subpart = the k bytes that matched
      i += k;
    } else if (k <= n) {  // ran out of input
      if (!final) return i;
      out.append(kReplacement);
      return size;
    } else {
      out.append(in.substr(i, n + 1));
      i += n + 1;
    }
  }
  return size;
}

bool utf8_valid(std::string_view s) {
  std::string tmp;
  tmp.reserve(s.size());
  return utf8_sanitize(s, false, tmp) == s.size() && tmp == s;
}

void append_utf8(uint32_t cp, std::string& out) {
  if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
    out.append(kReplacement);
  } else if (cp < 0x80) {
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

}  // namespace lfmd::output
