// Helpers shared by the tokenizer sources (not part of the public API).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/utf8.h"

namespace lfmd::tok_detail {

// GPT-2 bytes_to_unicode: byte b -> code point (b itself for printable Latin-1, else 256 + n).
uint32_t byte_to_cpt(uint8_t b);
// Inverse; -1 when the code point is not in the map.
int cpt_to_byte(uint32_t cpt);

// llama.cpp's lenient UTF-8 reading (unicode_cpts_from_utf8 + re-encode): a lead byte whose
// continuation bytes are missing/wrong becomes U+FFFD (one byte consumed); overlong forms are
// re-encoded canonically; surrogates are kept. Code points above U+10FFFF (llama.cpp throws on
// them) become U+FFFD here. Valid UTF-8 comes back unchanged.
std::string sanitize_utf8_like_llama(std::string_view s);

// Splits valid-or-sanitized UTF-8 text into pre-token [begin, end) byte offsets.
// `text` must come from sanitize_utf8_like_llama (or be valid UTF-8).
void pretokenize_offsets(std::string_view text, std::vector<std::pair<size_t, size_t>>& out);

}  // namespace lfmd::tok_detail
