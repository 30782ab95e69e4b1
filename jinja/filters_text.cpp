// Text and number filters (jinja2/filters.py semantics).
#include <algorithm>
#include <cmath>
#include <cstdio>

#include "jinja/filters.h"
#include "jinja/unicode.h"

namespace lfmd::jinja::detail::filt {
namespace {

// Markup in -> Markup out, as Markup's str methods do.
Value keep_markup(const Value& in, std::string s) {
  return in.is_markup() ? Value::markup(std::move(s)) : Value(std::move(s));
}

bool parse_float(std::string s, double& out) {
  std::size_t b = 0, e = s.size();
  while (b < e && uni::is_space(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && uni::is_space(static_cast<unsigned char>(s[e - 1]))) --e;
  s = s.substr(b, e - b);
  // Underscores are allowed between digits.
  std::string t;
  for (std::size_t k = 0; k < s.size(); ++k) {
    if (s[k] == '_') {
      bool ok = k > 0 && k + 1 < s.size() && std::isdigit(static_cast<unsigned char>(s[k - 1])) &&
                std::isdigit(static_cast<unsigned char>(s[k + 1]));
      if (!ok) return false;
      continue;
    }
    t += s[k];
  }
  s = std::move(t);
  if (s.empty()) return false;
  for (char c : s)
    if (!(std::isdigit(static_cast<unsigned char>(c)) || c == '.' || c == 'e' || c == 'E' ||
          c == '+' || c == '-' || std::isalpha(static_cast<unsigned char>(c))))
      return false;
  std::string low = uni::lower(s);
  std::string body = low[0] == '+' || low[0] == '-' ? low.substr(1) : low;
  if (body == "inf" || body == "infinity" || body == "nan") {
    out = body == "nan" ? NAN : (low[0] == '-' ? -INFINITY : INFINITY);
    return true;
  }
  if (low.find('x') != std::string::npos || low.find('n') != std::string::npos) return false;
  char* end = nullptr;
  out = std::strtod(s.c_str(), &end);
  return end && *end == 0;
}

bool parse_int(const std::string& s, int base, std::int64_t& out) {
  std::size_t b = 0, e = s.size();
  while (b < e && uni::is_space(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && uni::is_space(static_cast<unsigned char>(s[e - 1]))) --e;
  std::string t;
  bool neg = false;
  if (b < e && (s[b] == '+' || s[b] == '-')) neg = s[b++] == '-';
  // Optional 0x/0o/0b prefix matching the base (base 0 infers it).
  if (e - b > 2 && s[b] == '0') {
    char p = static_cast<char>(s[b + 1] | 32);
    int pb = p == 'x' ? 16 : p == 'o' ? 8 : p == 'b' ? 2 : 0;
    if (pb && (base == 0 || base == pb)) {
      base = pb;
      b += 2;
      if (b < e && s[b] == '_') ++b;
    }
  }
  if (base == 0) {
    base = 10;
    if (e - b > 1 && s[b] == '0') {  // base 0 rejects leading zeros unless all zeros
      for (std::size_t k = b; k < e; ++k)
        if (s[k] != '0' && s[k] != '_') return false;
    }
  }
  for (std::size_t k = b; k < e; ++k) {
    if (s[k] == '_' && k > b && k + 1 < e && s[k - 1] != '_') continue;
    t += s[k];
  }
  if (t.empty() || t.front() == '_' || t.back() == '_' || base < 2 || base > 36) return false;
  std::int64_t v = 0;
  for (char c : t) {
    int d = std::isdigit(static_cast<unsigned char>(c))   ? c - '0'
            : std::isalpha(static_cast<unsigned char>(c)) ? (c | 32) - 'a' + 10
                                                          : 99;
    if (d >= base) return false;
    if (__builtin_mul_overflow(v, base, &v) || __builtin_add_overflow(v, d, &v)) return false;
  }
  out = neg ? -v : v;
  return true;
}

double round_half_even(double x, std::int64_t nd) {
  if (!std::isfinite(x)) return x;
  if (nd > 320) return x;
  if (nd >= 0) {
    int n = std::snprintf(nullptr, 0, "%.*f", static_cast<int>(nd), x);
    std::string buf(static_cast<std::size_t>(n) + 1, '\0');
    std::snprintf(buf.data(), buf.size(), "%.*f", static_cast<int>(nd), x);
    return std::strtod(buf.c_str(), nullptr);
  }
  if (nd < -320) return std::copysign(0.0, x);
  double p = std::pow(10.0, static_cast<double>(-nd));
  return std::nearbyint(x / p) * p;
}

}  // namespace

Value f_abs(Interp&, const Value& v, Args&) {
  if (v.is_float()) return Value(std::fabs(v.f()));
  if (v.is_int() || v.is_bool()) {
    if (v.as_int() == INT64_MIN) fail("integer overflow");
    return Value(v.as_int() < 0 ? -v.as_int() : v.as_int());
  }
  fail("bad operand type for abs(): '" + type_name(v) + "'");
}

Value f_capitalize(Interp&, const Value& v, Args&) {
  return keep_markup(v, uni::capitalize(to_str(v)));
}
Value f_lower(Interp&, const Value& v, Args&) {
  return keep_markup(v, uni::lower(to_str(v)));
}
Value f_upper(Interp&, const Value& v, Args&) {
  return keep_markup(v, uni::upper(to_str(v)));
}

Value f_center(Interp& in, const Value& v, Args& a) {
  Args b;
  b.pos.push_back(a.get_or(0, "width", Value(80)));
  return keep_markup(v, str_method(in, v, "center", b).s());
}

Value f_escape(Interp&, const Value& v, Args&) {
  return v.is_markup() ? v : Value::markup(html_escape(to_str(v)));
}
Value f_forceescape(Interp&, const Value& v, Args&) {
  return Value::markup(html_escape(to_str(v)));
}

Value f_float(Interp&, const Value& v, Args& a) {
  a.check("float", 1, {"default"});
  Value def = a.get_or(0, "default", Value(0.0));
  if (v.is_float()) return v;
  if (v.is_int() || v.is_bool()) return Value(static_cast<double>(v.as_int()));
  double d;
  if (v.is_str() && parse_float(v.s(), d)) return Value(d);
  return def;
}

Value f_int(Interp&, const Value& v, Args& a) {
  a.check("int", 2, {"default", "base"});
  Value def = a.get_or(0, "default", Value(0));
  std::int64_t base = as_int_arg(a.get_or(1, "base", Value(10)), "base");
  if (v.is_int() || v.is_bool()) return Value(v.as_int());
  if (v.is_float()) {
    double d = v.f();
    if (!std::isfinite(d)) fail("cannot convert float infinity or NaN to integer");
    if (std::fabs(d) >= 9.2e18) fail("integer overflow");
    return Value(static_cast<std::int64_t>(d));
  }
  if (v.is_str()) {
    std::int64_t i;
    if (parse_int(v.s(), static_cast<int>(base), i)) return Value(i);
    double d;
    if (parse_float(v.s(), d)) {
      if (!std::isfinite(d)) fail("cannot convert float infinity or NaN to integer");
      if (std::fabs(d) < 9.2e18) return Value(static_cast<std::int64_t>(d));
    }
  }
  return def;
}

Value f_format(Interp&, const Value& v, Args& a) {
  if (!a.pos.empty() && !a.kw.empty())
    fail("can't handle positional and keyword arguments at the same time");
  Value args;
  if (!a.kw.empty()) {
    std::vector<std::pair<Value, Value>> items;
    for (const auto& [k, x] : a.kw) items.emplace_back(Value(k), x);
    args = make_dict(std::move(items));
  } else {
    args = Value::list(a.pos, LK::Tuple);
  }
  std::string fmt = to_str(v);
  return v.is_markup() ? binop(Op::Mod, v, args) : Value(percent_format(fmt, args));
}

Value f_indent(Interp&, const Value& v, Args& a) {
  a.check("indent", 3, {"width", "first", "blank"});
  Value w = a.get_or(0, "width", Value(4));
  std::string ind =
      w.is_str() ? w.s()
                 : std::string(static_cast<std::size_t>(std::max<std::int64_t>(
                                   0, std::min<std::int64_t>(as_int_arg(w, "width"), 1 << 20))),
                               ' ');
  bool first = as_bool(a, 1, "first", false), blank = as_bool(a, 2, "blank", false);
  std::string s = to_str(v) + "\n";
  // str.splitlines()
  std::vector<std::string> lines;
  std::size_t start = 0;
  for (std::size_t i = 0; i < s.size();) {
    std::size_t st = i;
    char32_t c = uni::decode(s, i);
    bool br = c == '\n' || c == '\r' || c == 0x0B || c == 0x0C || c == 0x1C || c == 0x1D ||
              c == 0x1E || c == 0x85 || c == 0x2028 || c == 0x2029;
    if (!br) continue;
    lines.push_back(s.substr(start, st - start));
    if (c == '\r' && i < s.size() && s[i] == '\n') ++i;
    start = i;
  }
  if (start < s.size()) lines.push_back(s.substr(start));
  std::string rv;
  if (blank) {
    for (std::size_t k = 0; k < lines.size(); ++k) {
      if (k) rv += "\n" + ind;
      rv += lines[k];
      check_size(rv.size());
    }
  } else {
    rv = lines.empty() ? std::string() : lines[0];
    for (std::size_t k = 1; k < lines.size(); ++k) {
      rv += "\n";
      if (!lines[k].empty()) rv += ind;
      rv += lines[k];
      check_size(rv.size());
    }
  }
  if (first) rv = ind + rv;
  return Value(std::move(rv));
}

Value f_pprint(Interp&, const Value& v, Args&) {
  return Value(pformat(v));
}

Value f_replace(Interp& in, const Value& v, Args& a) {
  a.check("replace", 3, {"old", "new", "count"});
  Args b;
  b.pos.push_back(Value(to_str(a.get_or(0, "old", Value()))));
  b.pos.push_back(Value(to_str(a.get_or(1, "new", Value()))));
  Value count = a.get_or(2, "count", Value::none());
  b.pos.push_back(count.is_none() ? Value(-1) : count);
  return str_method(in, v, "replace", b);
}

Value f_round(Interp&, const Value& v, Args& a) {
  a.check("round", 2, {"precision", "method"});
  std::int64_t prec = as_int_arg(a.get_or(0, "precision", Value(0)), "precision");
  Value method = a.get_or(1, "method", Value("common"));
  std::string m = method.is_str() ? method.s() : "";
  if (m != "common" && m != "ceil" && m != "floor") fail("method must be common, ceil or floor");
  if (!v.is_num()) fail("type " + type_name(v) + " doesn't define __round__ method");
  if (m == "common") {
    if (!v.is_float()) {
      if (prec >= 0) return Value(v.as_int());
      return Value(
          static_cast<std::int64_t>(round_half_even(static_cast<double>(v.as_int()), prec)));
    }
    return Value(round_half_even(v.f(), prec));
  }
  double p = std::pow(10.0, static_cast<double>(prec));
  double x = v.as_float() * p;
  return Value((m == "ceil" ? std::ceil(x) : std::floor(x)) / p);
}

Value f_safe(Interp&, const Value& v, Args&) {
  return v.is_markup() ? v : Value::markup(to_str(v));
}

Value f_string(Interp&, const Value& v, Args&) {
  return v.is_str() ? v : Value(to_str(v));
}

// Jinja's title: split on ([-\s({\[<]+), upper first char, lower the rest.
Value f_title(Interp&, const Value& v, Args&) {
  std::string s = to_str(v), r;
  bool at_start = true;
  for (std::size_t i = 0; i < s.size();) {
    std::size_t st = i;
    char32_t c = uni::decode(s, i);
    bool sep = c == '-' || c == '(' || c == '{' || c == '[' || c == '<' || uni::is_space(c);
    if (sep) {
      r.append(s, st, i - st);
      at_start = true;
    } else {
      uni::encode(at_start ? uni::to_upper(c) : uni::to_lower(c), r);
      at_start = false;
    }
  }
  return Value(std::move(r));
}

Value f_tojson(Interp&, const Value& v, Args& a) {
  a.check("tojson", 3, {"indent", "separators", "sort_keys"});
  JsonOpts o;
  Value ind = a.get_or(0, "indent", Value::none());
  if (ind.is_str()) {
    o.indent_set = true;
    o.indent = ind.s();
  } else if (ind.is_int() || ind.is_bool()) {
    o.indent_set = true;
    o.indent = std::string(
        static_cast<std::size_t>(std::clamp<std::int64_t>(ind.as_int(), 0, 1 << 16)), ' ');
  } else if (!ind.is_none()) {
    fail("indent must be an int or a string");
  }
  if (o.indent_set) o.item_sep = ",";
  Value sep = a.get_or(1, "separators", Value::none());
  if (!sep.is_none()) {
    auto parts = iterate(sep);
    if (parts.size() != 2 || !parts[0].is_str() || !parts[1].is_str())
      fail("separators must be a pair of strings");
    o.item_sep = parts[0].s();
    o.key_sep = parts[1].s();
  }
  o.sort_keys = as_bool(a, 2, "sort_keys", false);
  return Value(to_json(v, o));
}

Value f_trim(Interp& in, const Value& v, Args& a) {
  a.check("trim", 1, {"chars"});
  Args b;
  if (const Value* c = a.get(0, "chars")) b.pos.push_back(*c);
  return keep_markup(v, str_method(in, v, "strip", b).s());
}

Value f_truncate(Interp&, const Value& v, Args& a) {
  a.check("truncate", 4, {"length", "killwords", "end", "leeway"});
  std::int64_t length = as_int_arg(a.get_or(0, "length", Value(255)), "length");
  bool kill = as_bool(a, 1, "killwords", false);
  std::string end = to_str(a.get_or(2, "end", Value("...")));
  Value lw = a.get_or(3, "leeway", Value::none());
  std::int64_t leeway = lw.is_none() ? 5 : as_int_arg(lw, "leeway");
  auto u = uni::to_u32(to_str(v));
  auto elen = static_cast<std::int64_t>(uni::count(end));
  if (length < elen)
    fail("expected length >= " + std::to_string(elen) + ", got " + std::to_string(length));
  if (leeway < 0) fail("expected leeway >= 0, got " + std::to_string(leeway));
  if (static_cast<std::int64_t>(u.size()) <= length + leeway) return Value(uni::to_utf8(u));
  std::u32string head = u.substr(0, static_cast<std::size_t>(length - elen));
  if (!kill) {
    std::size_t sp = head.rfind(U' ');
    if (sp != std::u32string::npos) head = head.substr(0, sp);
  }
  return Value(uni::to_utf8(head) + end);
}

Value f_wordcount(Interp&, const Value& v, Args&) {
  std::string s = to_str(v);
  std::int64_t n = 0;
  bool in_word = false;
  for (std::size_t i = 0; i < s.size();) {
    char32_t c = uni::decode(s, i);
    bool w = c == '_' || uni::is_alpha(c) || uni::is_digit(c);
    if (w && !in_word) ++n;
    in_word = w;
  }
  return Value(n);
}

}  // namespace lfmd::jinja::detail::filt
