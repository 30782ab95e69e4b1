// Tokenizer with Jinja2's trim_blocks / lstrip_blocks / "-" "+" whitespace control (internal).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace lfmd::jinja::detail {

enum class Tok : std::uint8_t {
  Data,
  VarBegin,
  VarEnd,
  BlockBegin,
  BlockEnd,
  Name,
  String,
  Int,
  Float,
  Op,
  Eof
};

struct Token {
  Tok type;
  std::uint32_t pos;  // byte offset in the normalized source
  std::string text;   // data, name, decoded string, operator
  std::int64_t ival = 0;
  double fval = 0;
};

// Jinja2's newline handling: \r\n and \r become \n; one trailing newline is dropped.
std::string normalize_source(std::string_view src);

// Tokenizes a normalized source (trim_blocks and lstrip_blocks on). Throws Error (Syntax).
std::vector<Token> lex(const std::string& src);

// 1-based line and column (in code points) of a byte offset.
void locate(std::string_view src, std::size_t pos, int& line, int& col);

// The same, in O(log lines) per lookup, for runtime errors.
class SourceMap {
 public:
  explicit SourceMap(std::string_view src);
  void locate(std::size_t pos, int& line, int& col) const;

 private:
  std::string_view src_;
  std::vector<std::uint32_t> starts_;  // offsets of line starts
};
[[noreturn]] void syntax_error(std::string_view src, std::size_t pos, const std::string& msg);

}  // namespace lfmd::jinja::detail
