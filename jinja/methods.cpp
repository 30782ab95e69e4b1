// Python methods of str / dict / list / loop, and the template globals.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <unordered_set>

#include "jinja/interp.h"
#include "jinja/unicode.h"

namespace lfmd::jinja::detail {
namespace {

const std::unordered_set<std::string>& str_methods() {
  static const std::unordered_set<std::string> s = {
      "capitalize",   "casefold", "center",    "count",      "endswith",   "find",
      "format",       "index",    "isalnum",   "isalpha",    "isascii",    "isdecimal",
      "isdigit",      "islower",  "isnumeric", "isspace",    "istitle",    "isupper",
      "join",         "ljust",    "lower",     "lstrip",     "partition",  "removeprefix",
      "removesuffix", "replace",  "rfind",     "rindex",     "rjust",      "rpartition",
      "rsplit",       "rstrip",   "split",     "splitlines", "startswith", "strip",
      "swapcase",     "title",    "upper",     "zfill"};
  return s;
}

const Value& need(const Args& a, std::size_t idx, const char* name, const char* fn) {
  const Value* v = a.get(idx, name);
  if (!v) fail(std::string(fn) + "() missing required argument '" + name + "'");
  return *v;
}

const std::string& need_str(const Value& v, const char* fn) {
  if (!v.is_str()) fail(std::string(fn) + "() argument must be str, not " + type_name(v));
  return v.s();
}

std::int64_t int_arg(const Value& v, const char* fn) {
  if (v.is_int() || v.is_bool()) return v.as_int();
  fail(std::string("'") + type_name(v) + "' object cannot be interpreted as an integer (" + fn +
       ")");
}

// Strips code points in `chars` (or Python whitespace when null).
std::string strip(const std::string& s, const Value* chars, bool left, bool right) {
  std::u32string set;
  bool ws = !chars || chars->is_none();
  if (!ws) set = uni::to_u32(need_str(*chars, "strip"));
  auto strip_cp = [&](char32_t c) {
    return ws ? uni::is_space(c) : set.find(c) != std::u32string::npos;
  };
  charge_scan(s.size());
  std::size_t b = 0, e = s.size();
  if (left) {
    while (b < e) {
      std::size_t j = b;
      if (!strip_cp(uni::decode(s, j))) break;
      b = j;
    }
  }
  if (right) {
    std::size_t last = b;
    for (std::size_t i = b; i < e;) {
      char32_t c = uni::decode(s, i);
      if (!strip_cp(c)) last = i;
    }
    e = last;
  }
  return s.substr(b, e - b);
}

std::vector<Value> split(const std::string& s, const Value* sep, std::int64_t maxsplit,
                         bool from_right) {
  charge_scan(s.size());
  std::vector<std::string> parts;
  if (!sep || sep->is_none()) {
    // Runs of whitespace; leading/trailing whitespace ignored.
    std::u32string u = uni::to_u32(s);
    std::vector<std::pair<std::size_t, std::size_t>> words;
    std::size_t i = 0;
    while (i < u.size()) {
      while (i < u.size() && uni::is_space(u[i])) ++i;
      if (i >= u.size()) break;
      std::size_t st = i;
      while (i < u.size() && !uni::is_space(u[i])) ++i;
      words.emplace_back(st, i);
    }
    if (maxsplit >= 0 && static_cast<std::size_t>(maxsplit) + 1 < words.size()) {
      auto m = static_cast<std::size_t>(maxsplit);
      std::vector<std::pair<std::size_t, std::size_t>> merged;
      if (!from_right) {
        merged.assign(words.begin(), words.begin() + static_cast<std::ptrdiff_t>(m));
        merged.emplace_back(words[m].first, u.size());  // remainder keeps trailing space
      } else {
        std::size_t first = words.size() - m;
        merged.emplace_back(0, words[first - 1].second);  // remainder keeps leading space
        merged.insert(merged.end(), words.begin() + static_cast<std::ptrdiff_t>(first),
                      words.end());
      }
      words = std::move(merged);
    }
    for (auto [b, e] : words) parts.push_back(uni::to_utf8(u.substr(b, e - b)));
  } else {
    const std::string& d = need_str(*sep, "split");
    if (d.empty()) fail("empty separator");
    std::vector<std::size_t> cuts;
    for (std::size_t p = s.find(d); p != std::string::npos; p = s.find(d, p + d.size()))
      cuts.push_back(p);
    if (maxsplit >= 0 && static_cast<std::size_t>(maxsplit) < cuts.size()) {
      if (from_right) {
        cuts.erase(cuts.begin(), cuts.end() - maxsplit);
      } else {
        cuts.resize(static_cast<std::size_t>(maxsplit));
      }
    }
    std::size_t start = 0;
    for (std::size_t c : cuts) {
      parts.push_back(s.substr(start, c - start));
      start = c + d.size();
    }
    parts.push_back(s.substr(start));
  }
  charge_iter(parts.size() / 16);
  std::vector<Value> out;
  out.reserve(parts.size());
  for (auto& p : parts) out.emplace_back(std::move(p));
  return out;
}

std::string pad(const std::string& s, std::int64_t width, const Value* fill, int align) {
  std::string f = " ";
  if (fill) {
    f = need_str(*fill, "pad");
    if (uni::count(f) != 1) fail("The fill character must be exactly one character long");
  }
  auto n = static_cast<std::int64_t>(uni::count(s));
  if (width <= n) return s;
  check_size(static_cast<std::uint64_t>(width) * f.size());
  std::int64_t marg = width - n, left = 0;
  if (align < 0) left = 0;
  if (align > 0) left = marg;
  if (align == 0) left = marg / 2 + (marg & width & 1);
  std::string r;
  for (std::int64_t k = 0; k < left; ++k) r += f;
  r += s;
  for (std::int64_t k = left; k < marg; ++k) r += f;
  return r;
}

bool all_cp(const std::string& s, bool (*pred)(char32_t)) {
  if (s.empty()) return false;
  for (std::size_t i = 0; i < s.size();)
    if (!pred(uni::decode(s, i))) return false;
  return true;
}

bool startsends(const Value& self, const Args& a, bool ends) {
  const char* fn = ends ? "endswith" : "startswith";
  a.check(fn, 1, {});
  const Value& p = need(a, 0, "prefix", fn);
  auto one = [&](const Value& x) {
    const std::string& t = need_str(x, fn);
    const std::string& s = self.s();
    if (t.size() > s.size()) return false;
    return ends ? s.compare(s.size() - t.size(), t.size(), t) == 0 : s.compare(0, t.size(), t) == 0;
  };
  if (p.is_list() && p.l().kind == LK::Tuple) {
    for (const auto& x : p.l().v)
      if (one(x)) return true;
    return false;
  }
  if (!p.is_str())
    fail(std::string(fn) + " first arg must be str or a tuple of str, not " + type_name(p));
  return one(p);
}

Value str_call(Interp& in, const Value& self, const std::string& m, Args& a) {
  const std::string& s = self.s();
  if (m == "upper") return Value(uni::upper(s));
  if (m == "lower" || m == "casefold") return Value(uni::lower(s));
  if (m == "title") return Value(uni::title(s));
  if (m == "capitalize") return Value(uni::capitalize(s));
  if (m == "swapcase") {
    std::string r;
    for (std::size_t i = 0; i < s.size();) {
      char32_t c = uni::decode(s, i);
      uni::encode(uni::is_upper(c) ? uni::to_lower(c) : uni::to_upper(c), r);
    }
    return Value(std::move(r));
  }
  if (m == "strip" || m == "lstrip" || m == "rstrip") {
    a.check(m, 1, {"chars"});
    return Value(strip(s, a.get(0, "chars"), m != "rstrip", m != "lstrip"));
  }
  if (m == "split" || m == "rsplit") {
    a.check(m, 2, {"sep", "maxsplit"});
    std::int64_t ms = int_arg(a.get_or(1, "maxsplit", Value(-1)), "maxsplit");
    return Value::list(split(s, a.get(0, "sep"), ms, m == "rsplit"));
  }
  if (m == "splitlines") {
    a.check(m, 1, {"keepends"});
    bool keep = truthy(a.get_or(0, "keepends", Value(false)));
    std::vector<Value> out;
    std::size_t start = 0;
    for (std::size_t i = 0; i < s.size();) {
      std::size_t st = i;
      char32_t c = uni::decode(s, i);
      if (!(c == '\n' || c == '\r' || c == 0x0B || c == 0x0C || (c >= 0x1C && c <= 0x1E) ||
            c == 0x85 || c == 0x2028 || c == 0x2029))
        continue;
      if (c == '\r' && i < s.size() && s[i] == '\n') ++i;
      out.emplace_back(s.substr(start, (keep ? i : st) - start));
      start = i;
    }
    if (start < s.size()) out.emplace_back(s.substr(start));
    return Value::list(std::move(out));
  }
  if (m == "startswith" || m == "endswith") return Value(startsends(self, a, m == "endswith"));
  if (m == "replace") {
    a.check(m, 3, {"old", "new", "count"});
    const std::string& from = need_str(need(a, 0, "old", "replace"), "replace");
    const std::string& to = need_str(need(a, 1, "new", "replace"), "replace");
    std::int64_t count = int_arg(a.get_or(2, "count", Value(-1)), "count");
    charge_scan(s.size());
    std::string r;
    std::int64_t done = 0;
    if (from.empty()) {
      for (std::size_t i = 0; i <= s.size();) {
        if (count < 0 || done < count) {
          r += to;
          ++done;
        }
        if (i == s.size()) break;
        std::size_t st = i;
        uni::decode(s, i);
        r.append(s, st, i - st);
        check_size(r.size());
      }
      return Value(std::move(r));
    }
    std::size_t start = 0;
    for (std::size_t p = s.find(from); p != std::string::npos && (count < 0 || done < count);
         p = s.find(from, start)) {
      r.append(s, start, p - start);
      r += to;
      check_size(r.size());
      start = p + from.size();
      ++done;
    }
    r.append(s, start, std::string::npos);
    return Value(std::move(r));
  }
  if (m == "find" || m == "rfind" || m == "index" || m == "rindex" || m == "count") {
    a.check(m, 3, {"sub", "start", "end"});
    const std::string& sub = need_str(need(a, 0, "sub", m.c_str()), m.c_str());
    Value st = a.get_or(1, "start", Value::none()), en = a.get_or(2, "end", Value::none());
    // Restrict to [start:end] (code points) via slicing semantics.
    std::u32string u = uni::to_u32(s);
    auto n = static_cast<std::int64_t>(u.size());
    auto adj = [n](const Value& v, std::int64_t def) {
      if (v.is_none()) return def;
      std::int64_t x = int_arg(v, "index");
      if (x < 0) x = std::max<std::int64_t>(0, x + n);
      return std::min(x, n);
    };
    std::int64_t lo = adj(st, 0), hi = adj(en, n);
    charge_scan(s.size());
    if (m == "count") {
      if (lo > hi) return Value(0);
      std::string hay = uni::to_utf8(u.substr(lo, hi - lo));
      if (sub.empty()) return Value(static_cast<std::int64_t>(uni::count(hay)) + 1);
      std::int64_t c = 0;
      for (std::size_t p = hay.find(sub); p != std::string::npos; p = hay.find(sub, p + sub.size()))
        ++c;
      return Value(c);
    }
    std::int64_t found = -1;
    if (lo <= hi) {
      std::string hay = uni::to_utf8(u.substr(lo, hi - lo));
      std::size_t p = m[0] == 'r' ? hay.rfind(sub) : hay.find(sub);
      if (p != std::string::npos)
        found = lo + static_cast<std::int64_t>(uni::count(std::string_view(hay).substr(0, p)));
    }
    if (found < 0 && (m == "index" || m == "rindex")) fail("substring not found");
    return Value(found);
  }
  if (m == "join") {
    a.check(m, 1, {"iterable"});
    std::string r;
    std::size_t k = 0;
    for (const auto& x : iterate(need(a, 0, "iterable", "join"))) {
      if (!x.is_str())
        fail("sequence item " + std::to_string(k) + ": expected str instance, " + type_name(x) +
             " found");
      if (k++) r += s;
      r += x.s();
      check_size(r.size());
    }
    return Value(std::move(r));
  }
  if (m == "format") return Value(str_format(in, s, a));
  if (m == "center" || m == "ljust" || m == "rjust") {
    a.check(m, 2, {"width", "fillchar"});
    std::int64_t w = int_arg(need(a, 0, "width", m.c_str()), m.c_str());
    return Value(pad(s, w, a.get(1, "fillchar"), m == "center" ? 0 : m == "ljust" ? -1 : 1));
  }
  if (m == "zfill") {
    a.check(m, 1, {"width"});
    std::int64_t w = int_arg(need(a, 0, "width", "zfill"), "zfill");
    auto n = static_cast<std::int64_t>(self.so().ncp);
    if (w <= n) return self;
    check_size(static_cast<std::uint64_t>(w));
    std::size_t sign = !s.empty() && (s[0] == '+' || s[0] == '-') ? 1 : 0;
    return Value(s.substr(0, sign) + std::string(static_cast<std::size_t>(w - n), '0') +
                 s.substr(sign));
  }
  if (m == "partition" || m == "rpartition") {
    a.check(m, 1, {"sep"});
    const std::string& d = need_str(need(a, 0, "sep", m.c_str()), m.c_str());
    if (d.empty()) fail("empty separator");
    std::size_t p = m == "partition" ? s.find(d) : s.rfind(d);
    if (p == std::string::npos)
      return m == "partition" ? Value::list({self, Value(""), Value("")}, LK::Tuple)
                              : Value::list({Value(""), Value(""), self}, LK::Tuple);
    return Value::list({Value(s.substr(0, p)), Value(d), Value(s.substr(p + d.size()))}, LK::Tuple);
  }
  if (m == "removeprefix" || m == "removesuffix") {
    a.check(m, 1, {"prefix"});
    const std::string& t = need_str(need(a, 0, "prefix", m.c_str()), m.c_str());
    if (m == "removeprefix" && s.compare(0, t.size(), t) == 0) return Value(s.substr(t.size()));
    if (m == "removesuffix" && !t.empty() && t.size() <= s.size() &&
        s.compare(s.size() - t.size(), t.size(), t) == 0)
      return Value(s.substr(0, s.size() - t.size()));
    return self;
  }
  if (m == "isalpha") return Value(all_cp(s, uni::is_alpha));
  if (m == "isdigit" || m == "isdecimal" || m == "isnumeric")
    return Value(all_cp(s, uni::is_digit));
  if (m == "isspace") return Value(all_cp(s, uni::is_space));
  if (m == "isalnum")
    return Value(all_cp(s, [](char32_t c) { return uni::is_alpha(c) || uni::is_digit(c); }));
  if (m == "isascii") return Value(self.so().ascii);
  if (m == "islower" || m == "isupper") {
    bool cased = false;
    for (std::size_t i = 0; i < s.size();) {
      char32_t c = uni::decode(s, i);
      if (m == "islower" ? uni::is_upper(c) : uni::is_lower(c)) return Value(false);
      cased = cased || uni::is_cased(c);
    }
    return Value(cased);
  }
  if (m == "istitle") {
    bool prev_cased = false, any = false;
    for (std::size_t i = 0; i < s.size();) {
      char32_t c = uni::decode(s, i);
      if (uni::is_upper(c)) {
        if (prev_cased) return Value(false);
        prev_cased = any = true;
      } else if (uni::is_lower(c)) {
        if (!prev_cased) return Value(false);
        prev_cased = any = true;
      } else {
        prev_cased = false;
      }
    }
    return Value(any);
  }
  fail("'str' object has no attribute '" + m + "'");
}

Value dict_call(const Value& self, const std::string& m, Args& a) {
  const DictObj& d = self.d();
  if (m == "get") {
    a.check("get", 2, {});
    const Value& k = need(a, 0, "key", "get");
    py_hash(k);
    const Value* v = d.find(k);
    return v ? *v : a.get_or(1, "default", Value::none());
  }
  a.check(m, 0, {});
  if (m == "copy") return self;
  std::vector<Value> out;
  out.reserve(d.v.size());
  for (const auto& [k, v] : d.v) {
    if (m == "items") {
      out.push_back(Value::list({k, v}, LK::Tuple));
    } else {
      out.push_back(m == "keys" ? k : v);
    }
  }
  return Value::list(std::move(out), m == "items"  ? LK::Items
                                     : m == "keys" ? LK::Keys
                                                   : LK::Values);
}

Value list_call(const Value& self, const std::string& m, Args& a) {
  const auto& v = self.l().v;
  if (m == "copy") {
    a.check(m, 0, {});
    return Value::list(v);
  }
  a.check(m, 1, {});
  const Value& x = need(a, 0, "value", m.c_str());
  charge_iter(v.size() / 16);
  if (m == "count")
    return Value(static_cast<std::int64_t>(
        std::count_if(v.begin(), v.end(), [&](const Value& y) { return py_eq(y, x); })));
  for (std::size_t k = 0; k < v.size(); ++k)
    if (py_eq(v[k], x)) return Value(static_cast<std::int64_t>(k));
  fail(repr(x) + " is not in list");
}

Value loop_call(const Value& self, const std::string& m, Args& a) {
  LoopObj& lp = self.loop();
  if (m == "cycle") {
    if (a.pos.empty()) fail("no items for cycling given");
    return a.pos[lp.index0 % a.pos.size()];
  }
  Value cur = Value::list(a.pos);
  if (!lp.has_changed || !py_eq(cur, lp.last_changed)) {
    lp.has_changed = true;
    lp.last_changed = cur;
    return Value(true);
  }
  return Value(false);
}

Value dict_from_args(Args& a, const char* fn) {
  if (a.pos.size() > 1)
    fail(std::string(fn) + " expected at most 1 argument, got " + std::to_string(a.pos.size()));
  std::vector<std::pair<Value, Value>> items;
  if (!a.pos.empty()) {
    const Value& src = a.pos[0];
    if (src.is_dict()) {
      items = src.d().v;
    } else {
      for (const auto& pair : iterate(src)) {
        auto kv = iterate(pair);
        if (kv.size() != 2) fail("dictionary update sequence element has wrong length");
        items.emplace_back(kv[0], kv[1]);
      }
    }
  }
  for (const auto& [k, v] : a.kw) items.emplace_back(Value(k), v);
  return make_dict(std::move(items));
}

}  // namespace

int Interp::method_kind(const Value& self, const std::string& name) {
  switch (self.type()) {
    case T::Str:
      return str_methods().count(name) ? 1 : 0;
    case T::Dict:
      if (name == "get" || name == "items" || name == "keys" || name == "values" || name == "copy")
        return 1;
      if (name == "pop" || name == "popitem" || name == "setdefault" || name == "update" ||
          name == "clear")
        return -1;
      return 0;
    case T::List:
      if (self.l().kind == LK::List) {
        if (name == "index" || name == "count" || name == "copy") return 1;
        if (name == "append" || name == "extend" || name == "insert" || name == "pop" ||
            name == "remove" || name == "reverse" || name == "sort" || name == "clear")
          return -1;
      }
      if (self.l().kind == LK::Tuple && (name == "index" || name == "count")) return 1;
      return 0;
    case T::Loop:
      return name == "cycle" || name == "changed" ? 1 : 0;
    default:
      return 0;
  }
}

Value Interp::call_method(const Value& self, const std::string& name, Args& args) {
  switch (self.type()) {
    case T::Str:
      return str_call(*this, self, name, args);
    case T::Dict:
      return dict_call(self, name, args);
    case T::List:
      return list_call(self, name, args);
    case T::Loop:
      return loop_call(self, name, args);
    default:
      fail("'" + type_name(self) + "' object has no attribute '" + name + "'");
  }
}

bool Interp::is_global(std::string_view name) {
  return name == "range" || name == "dict" || name == "namespace" || name == "joiner" ||
         name == "raise_exception" || name == "strftime_now";
}

Value Interp::call_global(Callable& f, Args& a) {
  const std::string& n = f.name;
  if (f.kind == Callable::K::Joiner) {
    if (f.state++ == 0) return Value(std::string());
    return f.self;
  }
  if (n == "range") {
    if (!a.kw.empty()) fail("range() takes no keyword arguments");
    if (a.pos.empty() || a.pos.size() > 3) fail("range expected at most 3 arguments");
    std::int64_t r[3] = {0, 0, 1};
    for (std::size_t k = 0; k < a.pos.size(); ++k) {
      if (!(a.pos[k].is_int() || a.pos[k].is_bool()))
        fail("'" + type_name(a.pos[k]) + "' object cannot be interpreted as an integer");
    }
    if (a.pos.size() == 1) {
      r[1] = a.pos[0].as_int();
    } else {
      r[0] = a.pos[0].as_int();
      r[1] = a.pos[1].as_int();
      if (a.pos.size() == 3) r[2] = a.pos[2].as_int();
    }
    if (r[2] == 0) fail("range() arg 3 must not be zero");
    __int128 span =
        r[2] > 0 ? static_cast<__int128>(r[1]) - r[0] : static_cast<__int128>(r[0]) - r[1];
    __int128 step = r[2] > 0 ? r[2] : -static_cast<__int128>(r[2]);
    __int128 len = span <= 0 ? 0 : (span + step - 1) / step;
    if (len > 100000)
      fail("Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).");
    charge_iter(static_cast<std::uint64_t>(len));
    std::vector<Value> items;
    items.reserve(static_cast<std::size_t>(len));
    for (__int128 k = 0; k < len; ++k)
      items.emplace_back(static_cast<std::int64_t>(r[0] + k * r[2]));
    Value v = Value::list(std::move(items), LK::Range);
    auto& lo = const_cast<ListObj&>(v.l());
    std::copy(r, r + 3, lo.range);
    return v;
  }
  if (n == "dict") return dict_from_args(a, "dict");
  if (n == "namespace") {
    Value d = dict_from_args(a, "namespace");
    auto ns = std::make_shared<NsObj>();
    for (const auto& [k, v] : d.d().v) {
      if (!k.is_str()) fail("namespace keys must be strings");
      ns->set(k.s(), v);
    }
    track(ns);
    return Value(NsP(std::move(ns)));
  }
  if (n == "joiner") {
    a.check("joiner", 1, {"sep"});
    auto j = std::make_shared<Callable>();
    j->kind = Callable::K::Joiner;
    j->name = "joiner";
    j->self = Value(to_str(a.get_or(0, "sep", Value(", "))));
    return Value(FuncP(std::move(j)));
  }
  if (n == "raise_exception") {
    a.check("raise_exception", 1, {"message"});
    throw Error(Error::Kind::Raised, to_str(need(a, 0, "message", "raise_exception")));
  }
  if (n == "strftime_now") {
    a.check("strftime_now", 1, {"format"});
    std::string fmt = need_str(need(a, 0, "format", "strftime_now"), "strftime_now");
    long micro = 0;
    std::tm tm = now(&micro);
    // datetime.strftime handles %f, %z, %Z itself; datetime.now() is naive: no zone.
    std::string c_fmt;
    for (std::size_t i = 0; i < fmt.size(); ++i) {
      if (fmt[i] != '%' || i + 1 >= fmt.size()) {
        c_fmt += fmt[i];
        continue;
      }
      char ch = fmt[++i];
      if (ch == 'f') {
        char us[16];
        std::snprintf(us, sizeof us, "%06ld", micro);
        c_fmt += us;
      } else if (ch != 'z' && ch != 'Z') {
        c_fmt += '%';
        c_fmt += ch;
      }
    }
    fmt = std::move(c_fmt);
    if (fmt.empty()) return Value(std::string());
    std::string buf(fmt.size() * 4 + 64, '\0');
    while (true) {
      std::size_t len = std::strftime(buf.data(), buf.size(), fmt.c_str(), &tm);
      if (len > 0 || buf.size() > (1u << 20)) {
        buf.resize(len);
        break;
      }
      buf.resize(buf.size() * 4);
    }
    return Value(std::move(buf));
  }
  fail("'" + n + "' is not callable");
}

}  // namespace lfmd::jinja::detail
