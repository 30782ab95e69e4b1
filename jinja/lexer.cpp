#include "jinja/lexer.h"

#include <algorithm>
#include <cstdio>

#include "jinja/jinja.h"
#include "jinja/unicode.h"

namespace lfmd::jinja::detail {

std::string normalize_source(std::string_view src) {
  std::string out;
  out.reserve(src.size());
  for (std::size_t i = 0; i < src.size(); ++i) {
    if (src[i] == '\r') {
      out += '\n';
      if (i + 1 < src.size() && src[i + 1] == '\n') ++i;
    } else {
      out += src[i];
    }
  }
  if (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

void locate(std::string_view src, std::size_t pos, int& line, int& col) {
  line = 1;
  std::size_t start = 0;
  if (pos > src.size()) pos = src.size();
  for (std::size_t i = 0; i < pos; ++i)
    if (src[i] == '\n') {
      ++line;
      start = i + 1;
    }
  col = static_cast<int>(uni::count(src.substr(start, pos - start))) + 1;
}

SourceMap::SourceMap(std::string_view src) : src_(src) {
  starts_.push_back(0);
  for (std::size_t i = 0; i < src.size(); ++i)
    if (src[i] == '\n') starts_.push_back(static_cast<std::uint32_t>(i + 1));
}

void SourceMap::locate(std::size_t pos, int& line, int& col) const {
  if (pos > src_.size()) pos = src_.size();
  auto it = std::upper_bound(starts_.begin(), starts_.end(), static_cast<std::uint32_t>(pos));
  std::size_t idx = static_cast<std::size_t>(it - starts_.begin()) - 1;
  line = static_cast<int>(idx) + 1;
  col = static_cast<int>(uni::count(src_.substr(starts_[idx], pos - starts_[idx]))) + 1;
}

void syntax_error(std::string_view src, std::size_t pos, const std::string& msg) {
  int line, col;
  locate(src, pos, line, col);
  throw Error(Error::Kind::Syntax, msg, line, col);
}

namespace {

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
bool is_name_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
bool is_name_char(char c) {
  return is_name_start(c) || is_digit(c);
}

// Length of the Python-whitespace code point at s[i], or 0.
std::size_t space_len(std::string_view s, std::size_t i) {
  if (i >= s.size()) return 0;
  std::size_t j = i;
  return uni::is_space(uni::decode(s, j)) ? j - i : 0;
}

std::size_t skip_spaces(std::string_view s, std::size_t i) {
  while (std::size_t n = space_len(s, i)) i += n;
  return i;
}

std::string_view rstrip(std::string_view s) {
  std::size_t end = 0;
  for (std::size_t i = 0; i < s.size();) {
    std::size_t n = space_len(s, i);
    if (n) {
      i += n;
    } else {
      uni::decode(s, i);
      end = i;
    }
  }
  return s.substr(0, end);
}

bool all_space(std::string_view s) {
  if (s.empty()) return false;
  for (std::size_t i = 0; i < s.size();) {
    std::size_t n = space_len(s, i);
    if (!n) return false;
    i += n;
  }
  return true;
}

// Python's `(\d+_)*\d+` (or hex/octal/binary digit class); returns the end or npos.
template <class Pred>
std::size_t digits(std::string_view s, std::size_t i, Pred ok) {
  if (i >= s.size() || !ok(s[i])) return std::string_view::npos;
  while (true) {
    while (i < s.size() && ok(s[i])) ++i;
    if (i + 1 < s.size() && s[i] == '_' && ok(s[i + 1])) {
      ++i;
      continue;
    }
    return i;
  }
}

std::string strip_underscores(std::string_view s) {
  std::string r;
  for (char c : s)
    if (c != '_') r += c;
  return r;
}

struct Lexer {
  const std::string& s;
  std::vector<Token> out;
  std::size_t p = 0;
  bool line_starting = true;

  [[noreturn]] void error(std::size_t pos, const std::string& msg) { syntax_error(s, pos, msg); }

  void push(Tok t, std::size_t pos, std::string text = {}) {
    out.push_back(Token{t, static_cast<std::uint32_t>(pos), std::move(text)});
  }

  // Text before a tag, with "-" / lstrip_blocks applied.
  void data(std::size_t start, std::size_t end, char sign, bool is_var) {
    std::string_view text(s.data() + start, end - start);
    if (sign == '-') {
      text = rstrip(text);
    } else if (sign != '+' && !is_var) {
      std::size_t nl = text.rfind('\n');
      std::size_t l_pos = nl == std::string_view::npos ? 0 : nl + 1;
      if ((l_pos > 0 || line_starting) && all_space(text.substr(l_pos)))
        text = text.substr(0, l_pos);
    }
    if (!text.empty()) push(Tok::Data, start, std::string(text));
  }

  // `{%[-+]?\s*raw\s*(-%}\s*|%})` at tag; returns the end or npos.
  std::size_t raw_begin(std::size_t after) {
    std::size_t i = skip_spaces(s, after);
    if (s.compare(i, 3, "raw") != 0) return std::string::npos;
    i = skip_spaces(s, i + 3);
    if (s.compare(i, 3, "-%}") == 0) return skip_spaces(s, i + 3);
    if (s.compare(i, 2, "%}") == 0) return i + 2;
    return std::string::npos;
  }

  void raw_body(std::size_t tag_pos) {
    for (std::size_t k = s.find("{%", p); k != std::string::npos; k = s.find("{%", k + 1)) {
      std::size_t i = k + 2;
      char sign = 0;
      if (i < s.size() && (s[i] == '-' || s[i] == '+')) sign = s[i++];
      i = skip_spaces(s, i);
      if (s.compare(i, 6, "endraw") != 0) continue;
      i = skip_spaces(s, i + 6);
      std::size_t end;
      if (s.compare(i, 3, "+%}") == 0) {
        end = i + 3;
      } else if (s.compare(i, 3, "-%}") == 0) {
        end = skip_spaces(s, i + 3);
      } else if (s.compare(i, 2, "%}") == 0) {
        end = i + 2;
        if (end < s.size() && s[end] == '\n') ++end;
      } else {
        continue;
      }
      data(p, k, sign, false);
      p = end;
      line_starting = s[end - 1] == '\n';
      return;
    }
    error(tag_pos, "Missing end of raw directive");
  }

  void comment(std::size_t tag_pos, std::size_t body) {
    std::size_t j = s.find("#}", body);
    if (j == std::string::npos) error(tag_pos, "Missing end of comment tag");
    std::size_t end = j + 2;
    if (j > body && s[j - 1] == '-') {
      end = skip_spaces(s, end);
    } else if (!(j > body && s[j - 1] == '+') && end < s.size() && s[end] == '\n') {
      ++end;
    }
    p = end;
    line_starting = s[end - 1] == '\n';
  }

  std::size_t tag_end(bool block) {
    if (block) {
      if (s.compare(p, 3, "+%}") == 0) return p + 3;
      if (s.compare(p, 3, "-%}") == 0) return skip_spaces(s, p + 3);
      if (s.compare(p, 2, "%}") == 0) return p + 2 < s.size() && s[p + 2] == '\n' ? p + 3 : p + 2;
    } else {
      if (s.compare(p, 3, "-}}") == 0) return skip_spaces(s, p + 3);
      if (s.compare(p, 2, "}}") == 0) return p + 2;
    }
    return std::string::npos;
  }

  bool number() {
    auto dec = [](char c) { return is_digit(c); };
    if (!is_digit(s[p])) return false;
    // float: (?<!\.)D((\.D)?e[+-]?D|\.D)
    if (p == 0 || s[p - 1] != '.') {
      std::size_t d1 = digits(s, p, dec), fend = std::string::npos;
      std::size_t frac = d1 < s.size() && s[d1] == '.' ? digits(s, d1 + 1, dec) : std::string::npos;
      std::size_t e = frac != std::string::npos ? frac : d1;
      if (e < s.size() && (s[e] == 'e' || s[e] == 'E')) {
        std::size_t x = e + 1;
        if (x < s.size() && (s[x] == '+' || s[x] == '-')) ++x;
        fend = digits(s, x, dec);
      }
      if (fend == std::string::npos) fend = frac;
      if (fend != std::string::npos) {
        std::string txt = strip_underscores(std::string_view(s).substr(p, fend - p));
        push(Tok::Float, p, txt);
        out.back().fval = std::strtod(txt.c_str(), nullptr);
        p = fend;
        return true;
      }
    }
    // integer: 0b.. 0o.. 0x.. [1-9](_?\d)* 0(_?0)*
    std::size_t end = std::string::npos;
    int base = 10;
    char c1 = p + 1 < s.size() ? static_cast<char>(s[p + 1] | 32) : 0;
    if (s[p] == '0' && (c1 == 'b' || c1 == 'o' || c1 == 'x')) {
      base = c1 == 'b' ? 2 : c1 == 'o' ? 8 : 16;
      auto ok = [base](char c) {
        if (base == 2) return c == '0' || c == '1';
        if (base == 8) return c >= '0' && c <= '7';
        return is_digit(c) || ((c | 32) >= 'a' && (c | 32) <= 'f');
      };
      std::size_t i = p + 2;
      if (i < s.size() && s[i] == '_') ++i;
      end = digits(s, i, ok);
    }
    std::size_t start = p;
    if (end == std::string::npos) {
      base = 10;
      if (s[p] == '0') {
        end = digits(s, p, [](char c) { return c == '0'; });
      } else {
        end = digits(s, p, dec);
      }
    } else {
      start = p + 2;
    }
    std::string txt = strip_underscores(std::string_view(s).substr(start, end - start));
    errno = 0;
    char* stop = nullptr;
    unsigned long long v = std::strtoull(txt.c_str(), &stop, base);
    if (errno == ERANGE || v > static_cast<unsigned long long>(INT64_MAX))
      error(p, "integer literal too large");
    push(Tok::Int, p, std::string(s, p, end - p));
    out.back().ival = static_cast<std::int64_t>(v);
    p = end;
    return true;
  }

  std::string unescape(std::size_t start, std::size_t end) {
    std::string r;
    for (std::size_t i = start; i < end;) {
      if (s[i] != '\\') {
        r += s[i++];
        continue;
      }
      char n = s[i + 1];
      auto hex = [&](int count) -> char32_t {
        char32_t v = 0;
        for (int k = 0; k < count; ++k) {
          std::size_t j = i + 2 + k;
          char c = j < end ? static_cast<char>(s[j] | 32) : 0;
          if (!(is_digit(c) || (c >= 'a' && c <= 'f')))
            error(i, "truncated escape sequence in string literal");
          v = v * 16 + static_cast<char32_t>(is_digit(c) ? c - '0' : c - 'a' + 10);
        }
        i += 2 + count;
        return v;
      };
      if (static_cast<unsigned char>(n) >= 0x80) {  // backslash + ascii-backslashreplace form
        std::size_t j = i + 1;
        char32_t cp = uni::decode(s, j);
        char b[16];
        std::snprintf(b, sizeof b,
                      cp <= 0xFF     ? "\\x%02x"
                      : cp <= 0xFFFF ? "\\u%04x"
                                     : "\\U%08x",
                      static_cast<unsigned>(cp));
        r += b;
        i = j;
        continue;
      }
      switch (n) {
        case '\n':
          i += 2;
          break;
        case '\\':
        case '\'':
        case '"':
          r += n;
          i += 2;
          break;
        case 'a':
          r += '\a';
          i += 2;
          break;
        case 'b':
          r += '\b';
          i += 2;
          break;
        case 'f':
          r += '\f';
          i += 2;
          break;
        case 'n':
          r += '\n';
          i += 2;
          break;
        case 'r':
          r += '\r';
          i += 2;
          break;
        case 't':
          r += '\t';
          i += 2;
          break;
        case 'v':
          r += '\v';
          i += 2;
          break;
        case 'x':
          uni::encode(hex(2), r);
          break;
        case 'u':
          uni::encode(hex(4), r);
          break;
        case 'U': {
          char32_t v = hex(8);
          if (v > 0x10FFFF) error(i, "illegal Unicode character in string literal");
          uni::encode(v, r);
          break;
        }
        case 'N':
          error(i, "\\N{...} escapes are not supported");
        default:
          if (n >= '0' && n <= '7') {
            char32_t v = 0;
            std::size_t j = i + 1;
            for (int k = 0; k < 3 && j < end && s[j] >= '0' && s[j] <= '7'; ++k)
              v = v * 8 + (s[j++] - '0');
            uni::encode(v, r);
            i = j;
          } else {
            r += '\\';
            i += 1;
          }
      }
    }
    return r;
  }

  bool string() {
    char q = s[p];
    if (q != '\'' && q != '"') return false;
    std::size_t i = p + 1;
    while (i < s.size() && s[i] != q) i += s[i] == '\\' && i + 1 < s.size() ? 2 : 1;
    if (i >= s.size()) return false;
    push(Tok::String, p, unescape(p + 1, i));
    p = i + 1;
    return true;
  }

  void tag(bool block, std::size_t tag_pos) {
    std::vector<char> balance;
    while (p < s.size()) {
      if (balance.empty()) {
        std::size_t end = tag_end(block);
        if (end != std::string::npos) {
          push(block ? Tok::BlockEnd : Tok::VarEnd, p);
          p = end;
          line_starting = s[end - 1] == '\n';
          return;
        }
      }
      if (std::size_t n = space_len(s, p)) {
        p = skip_spaces(s, p + n);
        continue;
      }
      if (number() || string()) continue;
      if (is_name_start(s[p])) {
        std::size_t e = p;
        while (e < s.size() && is_name_char(s[e])) ++e;
        push(Tok::Name, p, s.substr(p, e - p));
        p = e;
        continue;
      }
      static const char* two[] = {"//", "**", "==", "!=", ">=", "<="};
      bool done = false;
      for (const char* op : two)
        if (s.compare(p, 2, op) == 0) {
          push(Tok::Op, p, op);
          p += 2;
          done = true;
          break;
        }
      if (done) continue;
      char c = s[p];
      if (std::string_view("+-/*%~[](){}><=.:|,;").find(c) == std::string_view::npos) {
        std::size_t j = p;
        char32_t cp = uni::decode(s, j);
        std::string shown;
        uni::encode(cp, shown);
        error(p, "unexpected char '" + shown + "'");
      }
      if (c == '(' || c == '[' || c == '{')
        balance.push_back(c == '(' ? ')' : c == '[' ? ']' : '}');
      if (c == ')' || c == ']' || c == '}') {
        if (balance.empty()) error(p, std::string("unexpected '") + c + "'");
        if (balance.back() != c)
          error(p, std::string("unexpected '") + c + "', expected '" + balance.back() + "'");
        balance.pop_back();
      }
      push(Tok::Op, p, std::string(1, c));
      ++p;
    }
    (void)tag_pos;  // unterminated tag: the parser reports the end of template
  }

  void run() {
    while (p < s.size()) {
      std::size_t t = p;
      while ((t = s.find('{', t)) != std::string::npos) {
        if (t + 1 < s.size() && (s[t + 1] == '{' || s[t + 1] == '%' || s[t + 1] == '#')) break;
        ++t;
      }
      if (t == std::string::npos) {
        push(Tok::Data, p, s.substr(p));
        p = s.size();
        break;
      }
      char kind = s[t + 1];
      std::size_t after = t + 2;
      if (kind == '%') {
        std::size_t rend = raw_begin(after);
        if (rend == std::string::npos && after < s.size() && (s[after] == '-' || s[after] == '+'))
          rend = raw_begin(after + 1);
        if (rend != std::string::npos) {
          char sign = s[after] == '-' || s[after] == '+' ? s[after] : 0;
          data(p, t, sign, false);
          p = rend;
          line_starting = s[rend - 1] == '\n';
          raw_body(t);
          continue;
        }
      }
      char sign = 0;
      if (after < s.size() && (s[after] == '-' || s[after] == '+')) sign = s[after++];
      data(p, t, sign, kind == '{');
      line_starting = false;
      p = after;
      if (kind == '#') {
        comment(t, after);
      } else {
        push(kind == '%' ? Tok::BlockBegin : Tok::VarBegin, t);
        tag(kind == '%', t);
      }
    }
    push(Tok::Eof, s.size());
  }
};

}  // namespace

std::vector<Token> lex(const std::string& src) {
  Lexer lx{src, {}};
  lx.run();
  return std::move(lx.out);
}

}  // namespace lfmd::jinja::detail
