// UTF-8 helpers, the GPT-2 byte<->unicode map and the lfm2 / llama3 pre-tokenizer (PCRE2).
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <algorithm>
#include <array>
#include <stdexcept>
#include <string>

#include "engine/tokenizer/tokenizer.h"
#include "engine/tokenizer/tokenizer_internal.h"

namespace lfmd {
namespace tok_detail {

namespace {

struct ByteMap {
  std::array<uint32_t, 256> to_cpt{};
  std::array<int16_t, 324> from_cpt{};  // code points 0..323 cover the whole map
  std::array<std::string, 256> to_utf8{};
  ByteMap() {
    from_cpt.fill(-1);
    auto self = [](int b) {
      return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
    };
    int n = 0;
    for (int b = 0; b < 256; ++b) to_cpt[b] = self(b) ? uint32_t(b) : uint32_t(256 + n++);
    for (int b = 0; b < 256; ++b) {
      from_cpt[to_cpt[b]] = int16_t(b);
      append_utf8_unchecked(to_cpt[b], to_utf8[b]);
    }
  }
};

const ByteMap& byte_map() {
  static const ByteMap m;
  return m;
}

}  // namespace

uint32_t byte_to_cpt(uint8_t b) {
  return byte_map().to_cpt[b];
}

int cpt_to_byte(uint32_t cpt) {
  return cpt < 324 ? byte_map().from_cpt[cpt] : -1;
}

std::string sanitize_utf8_like_llama(std::string_view s) {
  if (utf8_valid(s)) return std::string(s);
  const auto* p = reinterpret_cast<const uint8_t*>(s.data());
  const size_t n = s.size();
  std::string out;
  out.reserve(n + 16);
  size_t i = 0;
  while (i < n) {
    const uint8_t b = p[i];
    // Same acceptance rule as llama.cpp's unicode_cpt_from_utf8: only the continuation bits of
    // the following bytes are checked, and a sequence needs all its bytes present.
    size_t len = 0;
    uint32_t c = 0;
    if (b < 0x80) {
      len = 1, c = b;
    } else if (!(b & 0x40)) {
      len = 0;
    } else if (!(b & 0x20)) {
      len = 2, c = b & 0x1F;
    } else if (!(b & 0x10)) {
      len = 3, c = b & 0x0F;
    } else if (!(b & 0x08)) {
      len = 4, c = b & 0x07;
    }
    bool ok = len > 0 && i + len <= n;
    for (size_t k = 1; ok && k < len; ++k) {
      if ((p[i + k] & 0xC0) != 0x80) ok = false;
      c = (c << 6) | (p[i + k] & 0x3F);
    }
    if (!ok || c > 0x10FFFF) {
      append_utf8_unchecked(0xFFFD, out);
      i += (ok ? len : 1);  // llama.cpp would throw on > U+10FFFF; we replace the whole sequence
      continue;
    }
    append_utf8_unchecked(c, out);  // canonical re-encoding (surrogates keep their 3-byte form)
    i += len;
  }
  return out;
}

namespace {

// The lfm2 / llama3 regex with llama.cpp's case-sensitive contraction rewrite ('[sS] instead of
// (?i:'s), which in PCRE2 would also accept U+017F), \s spelled out as llama.cpp's whitespace set
// (PCRE2's \s also takes U+180E), and \p{L} / \p{N} widened by the letters and digits that
// Unicode 15.0/15.1 added (llama.cpp's tables are 15.1; PCRE2 10.42 ships Unicode 14).
#define LFMD_WS        \
  "\\t\\n\\x0B\\f\\r " \
  "\\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}"
#define LFMD_L                                                                                \
  "\\p{L}\\x{1123F}-\\x{11240}\\x{11F02}\\x{11F04}-\\x{11F10}\\x{11F12}-\\x{11F33}\\x{1342F}" \
  "\\x{13441}-\\x{13446}\\x{1B132}\\x{1B155}\\x{1DF25}-\\x{1DF2A}\\x{1E030}-\\x{1E06D}"       \
  "\\x{1E4D0}-\\x{1E4EB}\\x{2B739}\\x{2EBF0}-\\x{2EE5D}\\x{31350}-\\x{323AF}"
#define LFMD_N "\\p{N}\\x{11F50}-\\x{11F59}\\x{1D2C0}-\\x{1D2D3}\\x{1E4F0}-\\x{1E4F9}"

constexpr const char* kPattern =
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])"
    "|[^\\r\\n" LFMD_L LFMD_N "]?[" LFMD_L
    "]+"
    "|[" LFMD_N
    "]{1,3}"
    "| ?[^" LFMD_WS LFMD_L LFMD_N
    "]+[\\r\\n]*"
    "|[" LFMD_WS
    "]*[\\r\\n]+"
    "|[" LFMD_WS "]+(?![^" LFMD_WS
    "])"
    "|[" LFMD_WS "]+";

#undef LFMD_WS
#undef LFMD_L
#undef LFMD_N

struct Regex {
  pcre2_code* code = nullptr;
  bool jit = false;
  Regex() {
    int err = 0;
    PCRE2_SIZE off = 0;
    code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(kPattern), PCRE2_ZERO_TERMINATED,
                         PCRE2_UTF | PCRE2_UCP, &err, &off, nullptr);
    if (!code) {
      PCRE2_UCHAR msg[256];
      pcre2_get_error_message(err, msg, sizeof msg);
      throw std::runtime_error(std::string("pre-tokenizer regex failed to compile: ") +
                               reinterpret_cast<const char*>(msg));
    }
    jit = pcre2_jit_compile(code, PCRE2_JIT_COMPLETE) == 0;
  }
  ~Regex() { pcre2_code_free(code); }
};

const Regex& regex() {
  static const Regex r;  // compiled once; pcre2_code is read-only while matching
  return r;
}

struct MatchData {
  pcre2_match_data* md;
  explicit MatchData(const pcre2_code* c) : md(pcre2_match_data_create_from_pattern(c, nullptr)) {
    if (!md) throw std::bad_alloc();
  }
  ~MatchData() { pcre2_match_data_free(md); }
};

// Length of the code point at s[i] in sanitized text (lead byte decides).
inline size_t cpt_len(std::string_view s, size_t i) {
  const uint8_t b = static_cast<uint8_t>(s[i]);
  const size_t n = b < 0x80 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4;
  return std::min(n, s.size() - i);
}

}  // namespace

void pretokenize_offsets(std::string_view text, std::vector<std::pair<size_t, size_t>>& out) {
  if (text.empty()) return;
  // PCRE2 refuses surrogates (ED A0..BF xx), which llama.cpp keeps; they behave like any other
  // non-letter/number/space code point, as does U+FFFD, which has the same 3-byte length.
  std::string patched;
  std::string_view subj = text;
  for (size_t i = 0; i + 1 < text.size(); ++i) {
    if (static_cast<uint8_t>(text[i]) == 0xED && static_cast<uint8_t>(text[i + 1]) >= 0xA0) {
      if (patched.empty()) patched.assign(text);
      patched[i] = char(0xEF), patched[i + 1] = char(0xBF), patched[i + 2] = char(0xBD);
    }
  }
  if (!patched.empty()) subj = patched;

  const Regex& re = regex();
  MatchData md(re.code);
  const auto* s = reinterpret_cast<PCRE2_SPTR>(subj.data());
  size_t pos = 0;
  while (pos < subj.size()) {
    // NO_UTF_CHECK: the subject is valid UTF-8 (sanitized); without it PCRE2 rescans the whole
    // subject on every call, which is quadratic.
    const int rc = pcre2_match(re.code, s, subj.size(), pos, PCRE2_NO_UTF_CHECK, md.md, nullptr);
    if (rc < 0) {
      if (rc == PCRE2_ERROR_NOMATCH) {
        out.emplace_back(pos, subj.size());
        break;
      }
      // Resource error (e.g. JIT stack): emit one code point, like llama.cpp's no-match case.
      const size_t n = cpt_len(subj, pos);
      out.emplace_back(pos, pos + n);
      pos += n;
      continue;
    }
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md.md);
    const size_t b = ov[0], e = ov[1];
    if (b > pos) out.emplace_back(pos, b);  // unreachable: every code point starts a match
    if (e <= b) {                           // no alternative can match empty; stay safe anyway
      const size_t n = cpt_len(subj, b);
      out.emplace_back(b, b + n);
      pos = b + n;
      continue;
    }
    out.emplace_back(b, e);
    pos = e;
  }
}

}  // namespace tok_detail

std::string byte_level_encode(std::string_view raw) {
  const auto& m = tok_detail::byte_map();
  std::string out;
  out.reserve(raw.size() * 2);
  for (unsigned char c : raw) out += m.to_utf8[c];
  return out;
}

std::string byte_level_decode(std::string_view mapped) {
  std::string out;
  out.reserve(mapped.size());
  size_t i = 0;
  while (i < mapped.size()) {
    const size_t n = utf8_sequence_length(mapped, i);
    if (n == 0) {  // not UTF-8: pass the byte through
      out.push_back(mapped[i++]);
      continue;
    }
    uint32_t c = static_cast<uint8_t>(mapped[i]);
    if (n > 1) {
      c &= (0xFF >> (n + 1));
      for (size_t k = 1; k < n; ++k) c = (c << 6) | (static_cast<uint8_t>(mapped[i + k]) & 0x3F);
    }
    const int b = tok_detail::cpt_to_byte(c);
    if (b >= 0) {
      out.push_back(char(b));
    } else {
      out.append(mapped.substr(i, n));  // outside the map: keep the character as is
    }
    i += n;
  }
  return out;
}

std::vector<std::string> pretokenize_lfm2(std::string_view text) {
  const std::string clean = tok_detail::sanitize_utf8_like_llama(text);
  std::vector<std::pair<size_t, size_t>> offs;
  tok_detail::pretokenize_offsets(clean, offs);
  std::vector<std::string> out;
  out.reserve(offs.size());
  for (auto [b, e] : offs) out.emplace_back(clean.substr(b, e - b));
  return out;
}

}  // namespace lfmd
