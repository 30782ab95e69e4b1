// UTF-8, strictly (RFC 3629 / Unicode Table 3-7: no overlong forms, no surrogates, nothing past
// U+10FFFF). The one set of helpers the tokenizer, the Jinja interpreter, request validation and
// the output parser share.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace lfmd {

inline constexpr std::string_view kReplacementChar = "\xEF\xBF\xBD";  // U+FFFD
inline constexpr uint32_t kNoCodePoint = 0xFFFFFFFF;

// Bytes of the well-formed sequence starting at s[i] (1..4), or 0 when the bytes there are not
// one (also when it is cut off by the end of `s`).
size_t utf8_sequence_length(std::string_view s, size_t i);
// True when s[i..] is the start of a well-formed sequence that `s` ends in the middle of.
bool utf8_incomplete_tail(std::string_view s, size_t i);
// True when `s` is entirely well-formed UTF-8.
bool utf8_valid(std::string_view s);
// The code point at s[i], advancing i past it; kNoCodePoint (advancing one byte) when the bytes
// there are not a well-formed sequence.
uint32_t utf8_decode(std::string_view s, size_t& i);
// Appends the UTF-8 encoding of `cp` (U+FFFD for surrogates and values past U+10FFFF).
void append_utf8(uint32_t cp, std::string& out);
// The same bit pattern for any cp <= U+10FFFF, surrogates included (3 bytes), as llama.cpp's
// tokenizer re-encodes text; for code that must mirror it byte for byte.
void append_utf8_unchecked(uint32_t cp, std::string& out);

// Appends the well-formed UTF-8 of `in` to `out`, each maximal ill-formed subpart replaced by one
// U+FFFD (Unicode "best practice", as Python's errors="replace" and WHATWG do). Returns the bytes
// consumed: an incomplete but so far valid sequence at the end is left unconsumed (the caller
// keeps it for the next call) unless `final`, where it becomes one U+FFFD. O(len).
size_t utf8_sanitize(std::string_view in, bool final, std::string& out);

}  // namespace lfmd
