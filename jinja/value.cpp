#include "jinja/value.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>

#include "jinja/unicode.h"

namespace lfmd::jinja::detail {

namespace {
thread_local Budget* tl_budget = nullptr;
}  // namespace

Budget* current_budget() {
  return tl_budget;
}
Budget* swap_budget(Budget* b) {
  Budget* old = tl_budget;
  tl_budget = b;
  return old;
}

void fail(std::string msg) {
  throw Error(Error::Kind::Runtime, std::move(msg));
}
void fail_limit(std::string msg) {
  throw Error(Error::Kind::Limit, std::move(msg));
}

void Budget::iterate(std::uint64_t n) {
  iterations += n;
  if (iterations > lim.max_iterations)
    fail_limit("iteration limit exceeded (" + std::to_string(lim.max_iterations) + ")");
}
void Budget::alloc(std::uint64_t bytes) {
  live += bytes;
  if (live > lim.max_memory_bytes)
    fail_limit("memory limit exceeded (" + std::to_string(lim.max_memory_bytes) + " bytes)");
  scan(bytes);
}
void Budget::scan(std::uint64_t bytes) {
  work += bytes;
  if (work > lim.max_work_bytes)
    fail_limit("work limit exceeded (" + std::to_string(lim.max_work_bytes) + " bytes)");
}
void check_size(std::uint64_t bytes) {
  if (tl_budget && bytes > tl_budget->lim.max_output_bytes)
    fail_limit("value too large (over " + std::to_string(tl_budget->lim.max_output_bytes) +
               " bytes)");
}

StrObj::StrObj(std::string v) : s(std::move(v)) {
  for (unsigned char c : s)
    if (c >= 0x80) ascii = false;
  ncp = ascii ? s.size() : uni::count(s);
  if (tl_budget) {
    check_size(s.size());
    tl_budget->alloc(s.size() + 48);
    budget = tl_budget;
  }
}
StrObj::~StrObj() {
  if (budget) budget->release(s.size() + 48);
}
ListObj::~ListObj() {
  if (budget) budget->release(v.size() * sizeof(Value) + 64);
}
DictObj::~DictObj() {
  if (budget) budget->release(v.size() * 2 * sizeof(Value) + 64);
}

Value::Value(std::string s) : v_(std::make_shared<const StrObj>(std::move(s))) {}

Value Value::markup(std::string s) {
  auto o = std::make_shared<StrObj>(std::move(s));
  o->markup = true;
  return Value(StrP(std::move(o)));
}

std::string html_escape(std::string_view s) {
  std::string r;
  r.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&':
        r += "&amp;";
        break;
      case '<':
        r += "&lt;";
        break;
      case '>':
        r += "&gt;";
        break;
      case '"':
        r += "&#34;";
        break;
      case '\'':
        r += "&#39;";
        break;
      default:
        r += c;
    }
  }
  return r;
}

Value Value::undef(std::string msg) {
  Value v;
  v.v_ = Undef{std::make_shared<const std::string>(std::move(msg))};
  return v;
}

Value Value::list(std::vector<Value> items, LK kind) {
  auto o = std::make_shared<ListObj>();
  int depth = 0;
  for (const auto& it : items) depth = std::max(depth, it.depth());
  if (depth >= kMaxDepth) fail("nesting too deep");
  if (tl_budget) {
    check_size(items.size() * sizeof(Value));
    tl_budget->alloc(items.size() * sizeof(Value) + 64);
    o->budget = tl_budget;
  }
  o->v = std::move(items);
  o->kind = kind;
  o->depth = depth + 1;
  return Value(ListP(std::move(o)));
}

int Value::depth() const {
  switch (type()) {
    case T::List:
      return l().depth;
    case T::Dict:
      return d().depth;
    case T::Ns:
      return ns().depth;
    default:
      return 0;
  }
}

const Value* DictObj::find(std::string_view key) const {
  if (!index.empty()) {
    auto it = index.find(key);
    return it == index.end() ? nullptr : &v[it->second].second;
  }
  for (const auto& [k, val] : v)
    if (k.is_str() && k.s() == key) return &val;
  return nullptr;
}

const Value* DictObj::find(const Value& key) const {
  if (key.is_str()) return find(std::string_view(key.s()));
  for (const auto& [k, val] : v)
    if (py_eq(k, key)) return &val;
  return nullptr;
}

void DictObj::put(Value key, Value value) {
  py_hash(key);  // unhashable keys raise
  if (const Value* old = find(key)) {
    *const_cast<Value*>(old) = std::move(value);
    return;
  }
  v.emplace_back(std::move(key), std::move(value));
  if (v.size() == 16) {
    for (std::size_t i = 0; i < v.size(); ++i)
      if (v[i].first.is_str()) index.emplace(v[i].first.s(), i);
  } else if (v.size() > 16 && v.back().first.is_str()) {
    index.emplace(v.back().first.s(), v.size() - 1);
  }
}

Value make_dict(std::vector<std::pair<Value, Value>> items) {
  auto o = std::make_shared<DictObj>();
  if (tl_budget) {
    check_size(items.size() * 2 * sizeof(Value));
    tl_budget->alloc(items.size() * 2 * sizeof(Value) + 64);
    o->budget = tl_budget;
  }
  o->v.reserve(items.size());
  int depth = 0;
  for (auto& [k, v] : items) {
    depth = std::max({depth, k.depth(), v.depth()});
    o->put(std::move(k), std::move(v));
  }
  if (depth >= kMaxDepth) fail("nesting too deep");
  o->depth = depth + 1;
  if (o->budget) o->budget->release((items.size() - o->v.size()) * 2 * sizeof(Value));
  return Value(DictP(std::move(o)));
}

Value* NsObj::find(std::string_view name) {
  for (auto& [k, v] : attrs)
    if (k == name) return &v;
  return nullptr;
}

void NsObj::set(const std::string& name, Value v) {
  int d = v.depth() + 1;
  if (d >= kMaxDepth) fail("nesting too deep");
  depth = std::max(depth, d);
  if (Value* old = find(name)) {
    *old = std::move(v);
  } else {
    attrs.emplace_back(name, std::move(v));
  }
}

bool truthy(const Value& v) {
  switch (v.type()) {
    case T::Undef:
    case T::None:
      return false;
    case T::Bool:
      return v.b();
    case T::Int:
      return v.i() != 0;
    case T::Float:
      return v.f() != 0.0;
    case T::Str:
      return !v.s().empty();
    case T::List:
      return v.l().kind == LK::Iter || !v.l().v.empty();
    case T::Dict:
      return !v.d().v.empty();
    default:
      return true;
  }
}

std::string type_name(const Value& v) {
  switch (v.type()) {
    case T::Undef:
      return "Undefined";
    case T::None:
      return "NoneType";
    case T::Bool:
      return "bool";
    case T::Int:
      return "int";
    case T::Float:
      return "float";
    case T::Str:
      return "str";
    case T::List:
      switch (v.l().kind) {
        case LK::List:
          return "list";
        case LK::Tuple:
          return "tuple";
        case LK::Iter:
          return "generator";
        case LK::Items:
          return "dict_items";
        case LK::Keys:
          return "dict_keys";
        case LK::Values:
          return "dict_values";
        case LK::Range:
          return "range";
      }
      return "list";
    case T::Dict:
      return "dict";
    case T::Ns:
      return "Namespace";
    case T::Func:
      return v.fn().kind == Callable::K::Macro ? "Macro" : "builtin_function_or_method";
    case T::Loop:
      return "LoopContext";
  }
  return "object";
}

std::string object_repr(const Value& v) {
  if (v.is_none()) return "None";
  if (v.is_ns()) return "jinja2.utils.Namespace object";
  return type_name(v) + " object";
}

std::string float_repr(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::scientific);
  std::string_view sci(buf, res.ptr - buf);
  std::string out;
  if (sci[0] == '-') {
    out += '-';
    sci.remove_prefix(1);
  }
  std::size_t e = sci.find('e');
  std::string digits;
  for (char c : sci.substr(0, e))
    if (c != '.') digits += c;
  int exp = std::atoi(std::string(sci.substr(e + 1)).c_str());
  int nd = static_cast<int>(digits.size());
  if (exp >= -4 && exp < 16) {
    if (exp >= 0) {
      if (nd <= exp + 1) {
        out += digits + std::string(exp + 1 - nd, '0') + ".0";
      } else {
        out += digits.substr(0, exp + 1) + "." + digits.substr(exp + 1);
      }
    } else {
      out += "0." + std::string(-exp - 1, '0') + digits;
    }
  } else {
    out += digits.substr(0, 1);
    if (nd > 1) out += "." + digits.substr(1);
    char eb[16];
    std::snprintf(eb, sizeof eb, "e%c%02d", exp < 0 ? '-' : '+', std::abs(exp));
    out += eb;
  }
  return out;
}

namespace {

void hex_escape(std::string& out, const char* fmt, unsigned v) {
  char b[16];
  std::snprintf(b, sizeof b, fmt, v);
  out += b;
}

void repr_str(std::string_view s, std::string& out) {
  char q =
      s.find('\'') != std::string_view::npos && s.find('"') == std::string_view::npos ? '"' : '\'';
  out += q;
  for (std::size_t i = 0; i < s.size();) {
    auto b = static_cast<unsigned char>(s[i]);
    if (b < 0x80) {
      ++i;
      if (b == static_cast<unsigned char>(q) || b == '\\') {
        out += '\\';
        out += static_cast<char>(b);
      } else if (b == '\t') {
        out += "\\t";
      } else if (b == '\n') {
        out += "\\n";
      } else if (b == '\r') {
        out += "\\r";
      } else if (b < 0x20 || b == 0x7F) {
        hex_escape(out, "\\x%02x", b);
      } else {
        out += static_cast<char>(b);
      }
      continue;
    }
    std::size_t start = i;
    char32_t c = uni::decode(s, i);
    if (c >= 0xDC80 && c <= 0xDCFF) {
      hex_escape(out, "\\u%04x", c);
    } else if (uni::is_printable(c)) {
      out.append(s.substr(start, i - start));
    } else if (c <= 0xFF) {
      hex_escape(out, "\\x%02x", c);
    } else if (c <= 0xFFFF) {
      hex_escape(out, "\\u%04x", c);
    } else {
      hex_escape(out, "\\U%08x", c);
    }
  }
  out += q;
}

struct Repr {
  std::vector<const NsObj*> stack;
  std::string& out;
  void seq(const std::vector<Value>& v, int depth) {
    for (std::size_t i = 0; i < v.size(); ++i) {
      if (i) out += ", ";
      go(v[i], depth + 1);
    }
  }
  void go(const Value& v, int depth) {
    if (depth > 2 * kMaxDepth) fail("maximum recursion depth exceeded in repr");
    check_size(out.size());
    switch (v.type()) {
      case T::Undef:
        out += "Undefined";
        return;
      case T::Str:
        if (v.is_markup()) out += "Markup(";
        repr_str(v.s(), out);
        if (v.is_markup()) out += ')';
        return;
      case T::List: {
        const auto& l = v.l();
        switch (l.kind) {
          case LK::List:
            out += '[';
            seq(l.v, depth);
            out += ']';
            return;
          case LK::Tuple:
            out += '(';
            seq(l.v, depth);
            out += l.v.size() == 1 ? ",)" : ")";
            return;
          case LK::Items:
            out += "dict_items([";
            seq(l.v, depth);
            out += "])";
            return;
          case LK::Keys:
            out += "dict_keys([";
            seq(l.v, depth);
            out += "])";
            return;
          case LK::Values:
            out += "dict_values([";
            seq(l.v, depth);
            out += "])";
            return;
          case LK::Range:
            out += "range(" + std::to_string(l.range[0]) + ", " + std::to_string(l.range[1]);
            if (l.range[2] != 1) out += ", " + std::to_string(l.range[2]);
            out += ')';
            return;
          case LK::Iter:
            out += "<generator object>";
            return;
        }
        return;
      }
      case T::Dict: {
        out += '{';
        bool first = true;
        for (const auto& [k, val] : v.d().v) {
          if (!first) out += ", ";
          first = false;
          go(k, depth + 1);
          out += ": ";
          go(val, depth + 1);
        }
        out += '}';
        return;
      }
      case T::Ns: {
        const NsObj* n = &v.ns();
        if (std::find(stack.begin(), stack.end(), n) != stack.end()) {
          out += "<Namespace {...}>";
          return;
        }
        stack.push_back(n);
        out += "<Namespace {";
        bool first = true;
        for (const auto& [k, val] : n->attrs) {
          if (!first) out += ", ";
          first = false;
          repr_str(k, out);
          out += ": ";
          go(val, depth + 1);
        }
        out += "}>";
        stack.pop_back();
        return;
      }
      case T::Func: {
        const auto& f = v.fn();
        if (f.kind == Callable::K::Macro) {
          out += "<Macro ";
          repr_str(f.name, out);
          out += '>';
        } else if (f.kind == Callable::K::Method) {
          out += "<built-in method " + f.name + " of " + object_repr(f.self) + ">";
        } else {
          out += "<function " + f.name + ">";
        }
        return;
      }
      case T::Loop: {
        const auto& lp = v.loop();
        out += "<LoopContext " + std::to_string(lp.index0 + 1) + "/" +
               std::to_string(lp.items->v.size()) + ">";
        return;
      }
      default:
        out += to_str(v);
        return;
    }
  }
};

bool eq_int_float(std::int64_t i, double d) {
  if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0) || d != std::floor(d))
    return false;
  return static_cast<std::int64_t>(d) == i;
}

// -1, 0, 1, or 2 when unordered (NaN).
int num_cmp(const Value& a, const Value& b) {
  if (!a.is_float() && !b.is_float()) {
    auto x = a.as_int(), y = b.as_int();
    return x < y ? -1 : x > y ? 1 : 0;
  }
  if (a.is_float() && b.is_float()) {
    double x = a.f(), y = b.f();
    return x < y ? -1 : x > y ? 1 : x == y ? 0 : 2;
  }
  bool flip = a.is_float();
  std::int64_t i = flip ? b.as_int() : a.as_int();
  double d = flip ? a.f() : b.f();
  int r;
  if (std::isnan(d)) return 2;
  if (eq_int_float(i, d)) {
    r = 0;
  } else if (d >= 9223372036854775808.0) {
    r = -1;
  } else if (d < -9223372036854775808.0) {
    r = 1;
  } else {
    double fl = std::floor(d);
    auto di = static_cast<std::int64_t>(fl);
    r = i <= di ? -1 : 1;  // i vs d where d is not integral: i <= floor(d) < d
  }
  return flip ? -r : r;
}

bool same_seq_kind(const Value& a, const Value& b) {
  LK x = a.l().kind, y = b.l().kind;
  return x == y && x != LK::Iter && x != LK::Values;  // dict_values never compare equal
}

}  // namespace

void repr(const Value& v, std::string& out) {
  Repr r{{}, out};
  r.go(v, 0);
}

std::string repr(const Value& v) {
  std::string out;
  repr(v, out);
  return out;
}

std::string to_str(const Value& v) {
  switch (v.type()) {
    case T::Undef:
      return "";
    case T::None:
      return "None";
    case T::Bool:
      return v.b() ? "True" : "False";
    case T::Int:
      return std::to_string(v.i());
    case T::Float:
      return float_repr(v.f());
    case T::Str:
      return v.s();
    default:
      return repr(v);
  }
}

bool py_eq(const Value& a, const Value& b) {
  if (a.is_num() && b.is_num()) return num_cmp(a, b) == 0;
  if (a.type() != b.type()) return false;
  switch (a.type()) {
    case T::Undef:
    case T::None:
      return true;
    case T::Str:
      if (a.strp() == b.strp()) return true;
      charge_scan(std::min(a.s().size(), b.s().size()));
      return a.s() == b.s();
    case T::List: {
      if (a.listp() == b.listp()) return true;
      if (!same_seq_kind(a, b) || a.l().v.size() != b.l().v.size()) return false;
      charge_scan(a.l().v.size() * sizeof(Value));
      for (std::size_t i = 0; i < a.l().v.size(); ++i)
        if (!py_eq(a.l().v[i], b.l().v[i])) return false;
      return true;
    }
    case T::Dict: {
      if (a.dictp() == b.dictp()) return true;
      if (a.d().v.size() != b.d().v.size()) return false;
      charge_scan(a.d().v.size() * 2 * sizeof(Value));
      for (const auto& [k, val] : a.d().v) {
        const Value* o = b.d().find(k);
        if (!o || !py_eq(val, *o)) return false;
      }
      return true;
    }
    case T::Ns:
      return a.nsp() == b.nsp();
    case T::Func:
      return a.fnp() == b.fnp();
    case T::Loop:
      return &a.loop() == &b.loop();
    default:
      return false;
  }
}

int py_cmp(const Value& a, const Value& b, const char* op) {
  if (a.is_num() && b.is_num()) return num_cmp(a, b);
  if (a.is_str() && b.is_str()) {
    charge_scan(std::min(a.s().size(), b.s().size()));
    int c = a.s().compare(b.s());
    return c < 0 ? -1 : c > 0 ? 1 : 0;
  }
  if (a.is_list() && b.is_list() && same_seq_kind(a, b) &&
      (a.l().kind == LK::List || a.l().kind == LK::Tuple)) {
    const auto &x = a.l().v, &y = b.l().v;
    charge_scan(std::min(x.size(), y.size()) * sizeof(Value));
    for (std::size_t i = 0; i < x.size() && i < y.size(); ++i)
      if (!py_eq(x[i], y[i])) return py_cmp(x[i], y[i], op);
    return x.size() < y.size() ? -1 : x.size() > y.size() ? 1 : 0;
  }
  fail(std::string("'") + op + "' not supported between instances of '" + type_name(a) + "' and '" +
       type_name(b) + "'");
}

std::size_t py_hash(const Value& v) {
  switch (v.type()) {
    case T::Undef:
      return 0x5bd1e995;
    case T::None:
      return 0x9e3779b9;
    case T::Bool:
    case T::Int:
      return std::hash<std::int64_t>()(v.as_int());
    case T::Float: {
      double d = v.f();
      if (d == std::floor(d) && d >= -9.2e18 && d <= 9.2e18)
        return std::hash<std::int64_t>()(static_cast<std::int64_t>(d));
      return std::hash<double>()(d);
    }
    case T::Str:
      charge_scan(v.s().size());
      return std::hash<std::string>()(v.s());
    case T::List:
      if (v.l().kind == LK::Tuple) {
        charge_scan(v.l().v.size() * sizeof(Value));
        std::size_t h = 0x345678;
        for (const auto& x : v.l().v) h = h * 1000003 ^ py_hash(x);
        return h;
      }
      if (v.l().kind == LK::Iter || v.l().kind == LK::Range)
        return std::hash<const void*>()(&v.l());
      break;
    case T::Ns:
      return std::hash<const void*>()(&v.ns());
    case T::Func:
      return std::hash<const void*>()(&v.fn());
    case T::Loop:
      return std::hash<const void*>()(&v.loop());
    default:
      break;
  }
  fail("unhashable type: '" + type_name(v) + "'");
}

bool is_iterable(const Value& v) {
  return v.is_undef() || v.is_str() || v.is_list() || v.is_dict();
}

std::vector<Value> iterate(const Value& v) {
  switch (v.type()) {
    case T::Undef:
      return {};
    case T::Str: {
      std::vector<Value> r;
      const auto& s = v.s();
      charge_scan(s.size());
      r.reserve(v.so().ncp);
      for (std::size_t i = 0; i < s.size();) {
        std::size_t st = i;
        if (static_cast<unsigned char>(s[i]) < 0x80) {
          ++i;
        } else {
          uni::decode(s, i);
        }
        r.emplace_back(s.substr(st, i - st));
      }
      return r;
    }
    case T::List: {
      const auto& l = v.l();
      if (l.kind != LK::Iter) return l.v;
      std::vector<Value> r(l.v.begin() + static_cast<std::ptrdiff_t>(std::min(l.pos, l.v.size())),
                           l.v.end());
      l.pos = l.v.size();
      return r;
    }
    case T::Dict: {
      std::vector<Value> r;
      r.reserve(v.d().v.size());
      for (const auto& kv : v.d().v) r.push_back(kv.first);
      return r;
    }
    default:
      fail("'" + type_name(v) + "' object is not iterable");
  }
}

std::int64_t py_len(const Value& v) {
  switch (v.type()) {
    case T::Undef:
      return 0;
    case T::Str:
      return static_cast<std::int64_t>(v.so().ncp);
    case T::List:
      if (v.l().kind != LK::Iter) return static_cast<std::int64_t>(v.l().v.size());
      break;
    case T::Dict:
      return static_cast<std::int64_t>(v.d().v.size());
    case T::Loop:
      return static_cast<std::int64_t>(v.loop().items->v.size());
    default:
      break;
  }
  fail("object of type '" + type_name(v) + "' has no len()");
}

}  // namespace lfmd::jinja::detail
