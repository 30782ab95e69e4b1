// UTF-8 and the subset of Python's str character classes the interpreter needs.
#pragma once

#include <string>
#include <string_view>

namespace lfmd::jinja::detail::uni {

// Decodes the code point at s[i] and advances i. An invalid byte b decodes to U+DC00+b
// (Python's surrogateescape), which encode() turns back into the same byte.
char32_t decode(std::string_view s, std::size_t& i);
void encode(char32_t c, std::string& out);
std::u32string to_u32(std::string_view s);
std::string to_utf8(std::u32string_view s);
std::size_t count(std::string_view s);  // code points

bool is_space(char32_t c);      // str.isspace
bool is_printable(char32_t c);  // str.isprintable (approximation outside common ranges)
bool is_alpha(char32_t c);      // approximation outside Latin/Greek/Cyrillic/CJK
bool is_digit(char32_t c);
bool is_cased(char32_t c);
bool is_upper(char32_t c);
bool is_lower(char32_t c);
char32_t to_upper(char32_t c);  // simple case mapping
char32_t to_lower(char32_t c);

std::string upper(std::string_view s);  // str.upper (ß -> SS)
std::string lower(std::string_view s);
std::string title(std::string_view s);       // str.title
std::string capitalize(std::string_view s);  // str.capitalize

}  // namespace lfmd::jinja::detail::uni
