// UTF-8 helpers for the output parser: streaming sanitizer and code point encoder.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace lfmd::output {

// Appends the well-formed UTF-8 of `in` to `out`, each maximal ill-formed subpart replaced by one
// U+FFFD (Unicode "best practice", as Python's errors="replace" and WHATWG do). Returns the bytes
// consumed: an incomplete but so far valid sequence at the end is left unconsumed (the caller
// keeps it for the next call) unless `final`, where it becomes one U+FFFD. O(len).
size_t utf8_sanitize(std::string_view in, bool final, std::string& out);

// True when `s` is entirely well-formed UTF-8.
bool utf8_valid(std::string_view s);

// Appends the UTF-8 encoding of `cp` (<= 0x10FFFF, not a surrogate; otherwise U+FFFD).
void append_utf8(uint32_t cp, std::string& out);

}  // namespace lfmd::output
