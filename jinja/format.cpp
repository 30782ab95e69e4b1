// Python string formatting: `str % args` and str.format() with the format-spec mini-language.
#include <algorithm>
#include <cmath>
#include <cstdio>

#include "jinja/interp.h"
#include "jinja/unicode.h"

namespace lfmd::jinja::detail {
namespace {

std::string pad_to(std::string body, std::int64_t width, char32_t fill, char align,
                   std::size_t sign_len = 0) {
  auto n = static_cast<std::int64_t>(uni::count(body));
  if (width <= n) return body;
  check_size(static_cast<std::uint64_t>(width) * 4);
  std::string f;
  uni::encode(fill, f);
  std::int64_t marg = width - n, left = 0;
  if (align == '>') left = marg;
  if (align == '^') left = marg / 2;
  std::string r;
  if (align == '=') {
    r = body.substr(0, sign_len);
    for (std::int64_t k = 0; k < marg; ++k) r += f;
    return r + body.substr(sign_len);
  }
  for (std::int64_t k = 0; k < left; ++k) r += f;
  r += body;
  for (std::int64_t k = left; k < marg; ++k) r += f;
  return r;
}

std::string group_digits(const std::string& digits, char sep) {
  std::string r;
  std::size_t n = digits.size();
  for (std::size_t k = 0; k < n; ++k) {
    if (k && (n - k) % 3 == 0) r += sep;
    r += digits[k];
  }
  return r;
}

std::string int_digits(std::int64_t v, char type) {
  unsigned long long u =
      v < 0 ? 0ull - static_cast<unsigned long long>(v) : static_cast<unsigned long long>(v);
  if (type == 'b') {
    std::string r;
    do {
      r.insert(r.begin(), static_cast<char>('0' + (u & 1)));
      u >>= 1;
    } while (u);
    return r;
  }
  char buf[64];
  std::snprintf(buf, sizeof buf,
                type == 'o'   ? "%llo"
                : type == 'x' ? "%llx"
                : type == 'X' ? "%llX"
                              : "%llu",
                u);
  return buf;
}

std::string c_float(double v, char type, int prec, bool alt) {
  char fmt[16], buf[512];
  std::snprintf(fmt, sizeof fmt, alt ? "%%#.%d%c" : "%%.%d%c", prec, type);
  int n = std::snprintf(buf, sizeof buf, fmt, v);
  if (n >= static_cast<int>(sizeof buf)) {
    std::string big(static_cast<std::size_t>(n) + 1, '\0');
    std::snprintf(big.data(), big.size(), fmt, v);
    big.pop_back();
    return big;
  }
  return buf;
}

// "-" for negatives, else "+" / " " / "" by the sign flag.
std::string sign_of(bool negative, char flag) {
  std::string r;
  if (negative) {
    r.push_back('-');
  } else if (flag == '+' || flag == ' ') {
    r.push_back(flag);
  }
  return r;
}

struct Spec {
  char32_t fill = ' ';
  char align = 0, sign = '-', type = 0, grouping = 0;
  bool alt = false, zero = false;
  std::int64_t width = -1, prec = -1;
};

Spec parse_spec(const std::string& s) {
  Spec sp;
  std::u32string u = uni::to_u32(s);
  std::size_t i = 0;
  auto is_align = [](char32_t c) { return c == '<' || c == '>' || c == '=' || c == '^'; };
  if (u.size() >= 2 && is_align(u[1])) {
    sp.fill = u[0];
    sp.align = static_cast<char>(u[1]);
    i = 2;
  } else if (!u.empty() && is_align(u[0])) {
    sp.align = static_cast<char>(u[0]);
    i = 1;
  }
  if (i < u.size() && (u[i] == '+' || u[i] == '-' || u[i] == ' '))
    sp.sign = static_cast<char>(u[i++]);
  if (i < u.size() && u[i] == 'z') ++i;
  if (i < u.size() && u[i] == '#') sp.alt = true, ++i;
  if (i < u.size() && u[i] == '0') sp.zero = true, ++i;
  auto num = [&]() {
    std::int64_t v = -1;
    while (i < u.size() && u[i] >= '0' && u[i] <= '9') {
      v = (v < 0 ? 0 : v) * 10 + (u[i++] - '0');
      if (v > (1 << 24)) fail("Too many decimal digits in format string");
    }
    return v;
  };
  sp.width = num();
  if (i < u.size() && (u[i] == ',' || u[i] == '_')) sp.grouping = static_cast<char>(u[i++]);
  if (i < u.size() && u[i] == '.') {
    ++i;
    sp.prec = num();
    if (sp.prec < 0) fail("Format specifier missing precision");
  }
  if (i < u.size()) sp.type = static_cast<char>(u[i++]);
  if (i != u.size()) fail("Invalid format specifier");
  return sp;
}

std::string format_value(const Value& v, const std::string& spec_str) {
  if (spec_str.empty()) return to_str(v);
  Spec sp = parse_spec(spec_str);
  if (sp.zero && !sp.align) {
    sp.fill = '0';
    sp.align = '=';
  }
  if (v.is_str()) {
    if (sp.type && sp.type != 's')
      fail(std::string("Unknown format code '") + sp.type + "' for object of type 'str'");
    std::string s = v.s();
    if (sp.prec >= 0) s = uni::to_utf8(uni::to_u32(s).substr(0, static_cast<std::size_t>(sp.prec)));
    return pad_to(s, sp.width, sp.fill, sp.align ? sp.align : '<');
  }
  if (!v.is_num()) fail("unsupported format string passed to " + type_name(v) + ".__format__");
  char t = sp.type;
  bool as_int = !v.is_float() && (t == 0 || t == 'd' || t == 'b' || t == 'o' || t == 'x' ||
                                  t == 'X' || t == 'n' || t == 'c');
  std::string body, sign;
  if (as_int) {
    std::int64_t i = v.as_int();
    if (t == 'c') {
      uni::encode(static_cast<char32_t>(i), body);
    } else {
      body = int_digits(i, t == 0 || t == 'n' ? 'd' : t);
      if (sp.grouping) body = group_digits(body, sp.grouping);
      if (sp.alt && (t == 'b' || t == 'o' || t == 'x' || t == 'X'))
        body = std::string("0") + t + body;
    }
    sign = sign_of(i < 0, sp.sign);
  } else {
    if (t != 0 && std::string_view("eEfFgG%n").find(t) == std::string_view::npos)
      fail(std::string("Unknown format code '") + t + "' for object of type '" + type_name(v) +
           "'");
    double d = v.as_float();
    double a = std::fabs(d);
    int prec = sp.prec < 0 ? 6 : static_cast<int>(std::min<std::int64_t>(sp.prec, 300));
    if (t == 0 && sp.prec < 0) {
      body = float_repr(a);
    } else if (t == 0) {
      body = c_float(a, 'g', std::max(prec, 1), sp.alt);
      if (std::isfinite(a) && body.find_first_of(".e") == std::string::npos) body += ".0";
    } else if (t == '%') {
      body = c_float(a * 100, 'f', prec, sp.alt) + "%";
    } else {
      body = c_float(a, t == 'n' ? 'g' : t, prec, sp.alt);
    }
    if (sp.grouping && std::isfinite(a)) {
      std::size_t end = body.find_first_not_of("0123456789");
      body = group_digits(body.substr(0, end), sp.grouping) +
             (end == std::string::npos ? "" : body.substr(end));
    }
    sign = sign_of(std::signbit(d) && !std::isnan(d), sp.sign);
  }
  return pad_to(sign + body, sp.width, sp.fill, sp.align ? sp.align : '>', sign.size());
}

}  // namespace

std::string percent_format(const std::string& fmt, const Value& args) {
  std::vector<Value> pos;
  const Value* mapping = args.is_dict() ? &args : nullptr;
  if (args.is_list() && args.l().kind == LK::Tuple) {
    pos = args.l().v;
  } else {
    pos.push_back(args);
  }
  std::size_t next = 0;
  bool used_mapping = false;
  auto take = [&]() -> const Value& {
    if (next >= pos.size()) fail("not enough arguments for format string");
    return pos[next++];
  };
  std::string out;
  for (std::size_t i = 0; i < fmt.size(); ++i) {
    if (fmt[i] != '%') {
      out += fmt[i];
      continue;
    }
    if (++i >= fmt.size()) fail("incomplete format");
    if (fmt[i] == '%') {
      out += '%';
      continue;
    }
    const Value* val = nullptr;
    Value keyed;
    if (fmt[i] == '(') {
      if (!mapping) fail("format requires a mapping");
      std::size_t close = fmt.find(')', i);
      if (close == std::string::npos) fail("incomplete format key");
      const Value* found = mapping->d().find(std::string_view(fmt).substr(i + 1, close - i - 1));
      if (!found) fail("'" + fmt.substr(i + 1, close - i - 1) + "'");
      keyed = *found;
      val = &keyed;
      used_mapping = true;
      i = close + 1;
    }
    std::string flags;
    while (i < fmt.size() && std::string_view("-+ #0").find(fmt[i]) != std::string_view::npos)
      flags += fmt[i++];
    auto num = [&]() -> std::int64_t {
      if (i < fmt.size() && fmt[i] == '*') {
        ++i;
        const Value& w = take();
        if (!(w.is_int() || w.is_bool())) fail("* wants int");
        return w.as_int();
      }
      std::int64_t v = -1;
      while (i < fmt.size() && fmt[i] >= '0' && fmt[i] <= '9')
        v = std::min<std::int64_t>((v < 0 ? 0 : v) * 10 + (fmt[i++] - '0'), 1 << 24);
      return v;
    };
    std::int64_t width = num(), prec = -1;
    if (i < fmt.size() && fmt[i] == '.') {
      ++i;
      prec = std::max<std::int64_t>(num(), 0);
    }
    while (i < fmt.size() && (fmt[i] == 'h' || fmt[i] == 'l' || fmt[i] == 'L')) ++i;
    if (i >= fmt.size()) fail("incomplete format");
    char c = fmt[i];
    if (!val) val = &take();
    bool left = flags.find('-') != std::string::npos,
         zero = flags.find('0') != std::string::npos && !left;
    char sign = flags.find('+') != std::string::npos   ? '+'
                : flags.find(' ') != std::string::npos ? ' '
                                                       : '-';
    std::string piece;
    if (c == 's' || c == 'r' || c == 'a') {
      piece = c == 's' ? to_str(*val) : repr(*val);
      if (prec >= 0)
        piece = uni::to_utf8(uni::to_u32(piece).substr(0, static_cast<std::size_t>(prec)));
      piece = pad_to(piece, width, ' ', left ? '<' : '>');
    } else if (c == 'c') {
      if (val->is_str() && val->so().ncp == 1) {
        piece = val->s();
      } else if (val->is_int()) {
        uni::encode(static_cast<char32_t>(val->i()), piece);
      } else {
        fail("%c requires int or char");
      }
      piece = pad_to(piece, width, ' ', left ? '<' : '>');
    } else if (std::string_view("diuoxXeEfFgG").find(c) != std::string_view::npos) {
      bool int_conv = std::string_view("diuoxX").find(c) != std::string_view::npos;
      if (!val->is_num())
        fail(std::string("%") + c + " format: " +
             (int_conv && c != 'd' && c != 'i' && c != 'u' ? "an integer" : "a real number") +
             " is required, not " + type_name(*val));
      std::string spec;
      spec += sign == '-' ? "" : std::string(1, sign);
      if (flags.find('#') != std::string::npos) spec += '#';
      if (int_conv) {
        if ((c == 'o' || c == 'x' || c == 'X') && val->is_float())
          fail(std::string("%") + c + " format: an integer is required, not float");
        double d = val->as_float();
        std::int64_t iv =
            val->is_float() ? static_cast<std::int64_t>(std::trunc(d)) : val->as_int();
        if (val->is_float() && !std::isfinite(d)) fail("cannot convert float to integer");
        std::string digits = int_digits(iv, c == 'o' || c == 'x' || c == 'X' ? c : 'd');
        if (prec >= 0 && static_cast<std::int64_t>(digits.size()) < prec)
          digits = std::string(static_cast<std::size_t>(prec) - digits.size(), '0') + digits;
        if (flags.find('#') != std::string::npos && c != 'd' && c != 'i' && c != 'u')
          digits = std::string("0") + (c == 'o' ? 'o' : c) + digits;
        std::string sg = iv < 0 ? "-" : sign == '-' ? "" : std::string(1, sign);
        piece = pad_to(sg + digits, width, zero ? '0' : ' ',
                       left   ? '<'
                       : zero ? '='
                              : '>',
                       sg.size());
      } else {
        double d = val->as_float();
        std::string body = c_float(
            std::fabs(d), c, prec < 0 ? 6 : static_cast<int>(std::min<std::int64_t>(prec, 300)),
            flags.find('#') != std::string::npos);
        std::string sg = std::signbit(d) && !std::isnan(d) ? "-"
                         : sign == '-'                     ? ""
                                                           : std::string(1, sign);
        bool finite = std::isfinite(d);
        piece = pad_to(sg + body, width, zero && finite ? '0' : ' ',
                       left             ? '<'
                       : zero && finite ? '='
                                        : '>',
                       sg.size());
      }
    } else {
      char b[80];
      std::snprintf(b, sizeof b, "unsupported format character '%c' (0x%x) at index %zu", c,
                    static_cast<unsigned>(static_cast<unsigned char>(c)), i);
      fail(b);
    }
    out += piece;
    check_size(out.size());
  }
  if (!used_mapping && !mapping && next < pos.size())
    fail("not all arguments converted during string formatting");
  return out;
}

std::string str_format(Interp& in, const std::string& fmt, Args& args) {
  std::string out;
  std::size_t auto_idx = 0;
  for (std::size_t i = 0; i < fmt.size(); ++i) {
    char c = fmt[i];
    if (c == '}') {
      if (i + 1 < fmt.size() && fmt[i + 1] == '}') {
        out += '}';
        ++i;
        continue;
      }
      fail("Single '}' encountered in format string");
    }
    if (c != '{') {
      out += c;
      continue;
    }
    if (i + 1 < fmt.size() && fmt[i + 1] == '{') {
      out += '{';
      ++i;
      continue;
    }
    // Find the matching '}' (format specs may nest one level of braces).
    int depth = 1;
    std::size_t j = i + 1;
    for (; j < fmt.size() && depth; ++j) depth += fmt[j] == '{' ? 1 : fmt[j] == '}' ? -1 : 0;
    if (depth) fail("expected '}' before end of string");
    std::string field = fmt.substr(i + 1, j - i - 2);
    i = j - 1;
    std::string spec;
    char conv = 0;
    std::size_t colon = field.find(':'), bang = field.find('!');
    if (colon != std::string::npos) {
      spec = field.substr(colon + 1);
      field = field.substr(0, colon);
    }
    if (bang != std::string::npos && bang < field.size()) {
      if (bang + 2 != field.size()) fail("expected ':' after conversion specifier");
      conv = field[bang + 1];
      field = field.substr(0, bang);
    }
    std::size_t k = 0;
    while (k < field.size() && field[k] != '.' && field[k] != '[') ++k;
    std::string first = field.substr(0, k);
    Value v;
    if (first.empty() ||
        std::all_of(first.begin(), first.end(), [](char ch) { return ch >= '0' && ch <= '9'; })) {
      std::size_t idx = first.empty() ? auto_idx++ : std::stoul(first.substr(0, 9));
      if (idx >= args.pos.size())
        fail("Replacement index " + std::to_string(idx) +
             " out of range for positional args tuple");
      v = args.pos[idx];
    } else {
      const Value* kv = nullptr;
      for (const auto& [name, x] : args.kw)
        if (name == first) kv = &x;
      if (!kv) fail("'" + first + "'");
      v = *kv;
    }
    while (k < field.size()) {
      if (field[k] == '.') {
        std::size_t e = k + 1;
        while (e < field.size() && field[e] != '.' && field[e] != '[') ++e;
        v = in.getattr(v, field.substr(k + 1, e - k - 1));
        k = e;
      } else {
        std::size_t e = field.find(']', k);
        if (e == std::string::npos) fail("Missing ']' in format string");
        std::string key = field.substr(k + 1, e - k - 1);
        bool digits = !key.empty() && std::all_of(key.begin(), key.end(),
                                                  [](char ch) { return ch >= '0' && ch <= '9'; });
        v = in.getitem(v, digits && key.size() < 18
                              ? Value(static_cast<std::int64_t>(std::stoll(key)))
                              : Value(key));
        k = e + 1;
      }
    }
    if (conv == 'r' || conv == 'a') {
      v = Value(repr(v));
    } else if (conv == 's') {
      v = Value(to_str(v));
    } else if (conv) {
      fail(std::string("Unknown conversion specifier ") + conv);
    }
    if (spec.find('{') != std::string::npos) {
      Args same = args;
      spec = str_format(in, spec, same);
    }
    out += format_value(v, spec);
    check_size(out.size());
  }
  return out;
}

}  // namespace lfmd::jinja::detail
