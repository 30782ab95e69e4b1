// Jinja2's built-in filters (jinja2/filters.py semantics).
#include "jinja/filters.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <unordered_map>
#include <unordered_set>

#include "jinja/unicode.h"

namespace lfmd::jinja::detail::filt {

Value str_method(Interp& in, const Value& v, const char* name, Args& a) {
  return in.call_method(v.is_str() ? v : Value(to_str(v)), name, a);
}

bool as_bool(const Args& a, std::size_t idx, const char* name, bool def) {
  const Value* v = a.get(idx, name);
  return v ? truthy(*v) : def;
}

std::int64_t as_int_arg(const Value& v, const char* what) {
  if (v.is_int() || v.is_bool()) return v.as_int();
  fail(std::string("'") + type_name(v) + "' object cannot be interpreted as an integer (" + what +
       ")");
}

namespace {

using FilterFn = Value (*)(Interp&, const Value&, Args&);

Value ignore_case(const Value& v) {
  return v.is_str() ? Value(uni::lower(v.s())) : v;
}

// make_attrgetter: "a.b.0" -> getitem chain.
std::vector<Value> attr_parts(const Value& attr) {
  std::vector<Value> parts;
  if (attr.is_none() || attr.is_undef()) return parts;
  if (!attr.is_str()) return {attr};
  const std::string& s = attr.s();
  std::size_t start = 0;
  while (true) {
    std::size_t dot = s.find('.', start);
    std::string p = s.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    bool digits =
        !p.empty() && std::all_of(p.begin(), p.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (digits && p.size() < 18) {
      parts.emplace_back(static_cast<std::int64_t>(std::stoll(p)));
    } else {
      parts.emplace_back(p);
    }
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return parts;
}

Value get_path(Interp& in, Value item, const std::vector<Value>& parts,
               const Value* def = nullptr) {
  for (const auto& p : parts) {
    item = in.getitem(item, p);
    if (def && !def->is_none() && item.is_undef()) item = *def;
  }
  return item;
}

Value f_attr(Interp& in, const Value& v, Args& a) {
  a.check("attr", 1, {"name"});
  const Value* n = a.get(0, "name");
  if (!n || !n->is_str()) fail("attribute name must be a string");
  // Unlike `.`, attr() never falls back to dict items.
  if (v.is_dict() && Interp::method_kind(v, n->s()) == 0)
    return Value::undef(repr(Value(object_repr(v))) + " has no attribute " + repr(*n));
  return in.getattr(v, n->s());
}

Value f_batch(Interp&, const Value& v, Args& a) {
  a.check("batch", 2, {"linecount", "fill_with"});
  const Value* lc = a.get(0, "linecount");
  if (!lc) fail("batch() missing required argument 'linecount'");
  std::int64_t n = as_int_arg(*lc, "linecount");
  Value fill = a.get_or(1, "fill_with", Value::none());
  std::vector<Value> out, tmp;
  for (auto& item : iterate(v)) {
    charge_iter();
    if (static_cast<std::int64_t>(tmp.size()) == n) {
      out.push_back(Value::list(std::move(tmp)));
      tmp.clear();
    }
    tmp.push_back(std::move(item));
  }
  if (!tmp.empty()) {
    if (!fill.is_none())
      while (static_cast<std::int64_t>(tmp.size()) < n) tmp.push_back(fill);
    out.push_back(Value::list(std::move(tmp)));
  }
  return Value::iter(std::move(out));
}

Value f_length(Interp&, const Value& v, Args&) {
  return Value(py_len(v));
}

Value f_default(Interp&, const Value& v, Args& a) {
  a.check("default", 2, {"default_value", "boolean"});
  if (v.is_undef() || (as_bool(a, 1, "boolean", false) && !truthy(v)))
    return a.get_or(0, "default_value", Value(std::string()));
  return v;
}

std::vector<Value> sorted_by(std::vector<std::pair<Value, Value>> keyed, bool reverse) {
  charge_iter(keyed.size());
  std::stable_sort(keyed.begin(), keyed.end(), [reverse](const auto& x, const auto& y) {
    return reverse ? py_cmp(y.first, x.first) == -1 : py_cmp(x.first, y.first) == -1;
  });
  std::vector<Value> out;
  for (auto& kv : keyed) out.push_back(std::move(kv.second));
  return out;
}

Value f_dictsort(Interp&, const Value& v, Args& a) {
  a.check("dictsort", 3, {"case_sensitive", "by", "reverse"});
  if (!v.is_dict()) fail("'" + type_name(v) + "' object has no attribute 'items'");
  bool cs = as_bool(a, 0, "case_sensitive", false);
  Value by = a.get_or(1, "by", Value("key"));
  int pos = by.is_str() && by.s() == "key" ? 0 : by.is_str() && by.s() == "value" ? 1 : -1;
  if (pos < 0) fail("You can only sort by either \"key\" or \"value\"");
  std::vector<std::pair<Value, Value>> keyed;
  for (const auto& [k, val] : v.d().v) {
    Value key = pos == 0 ? k : val;
    keyed.emplace_back(cs ? key : ignore_case(key), Value::list({k, val}, LK::Tuple));
  }
  return Value::list(sorted_by(std::move(keyed), as_bool(a, 2, "reverse", false)));
}

Value f_first(Interp&, const Value& v, Args&) {
  if (v.is_list() && v.l().kind == LK::Iter) {
    const auto& l = v.l();
    if (l.pos < l.v.size()) return l.v[l.pos++];
  } else {
    if (v.is_str() && !v.s().empty()) {
      std::size_t i = 0;
      uni::decode(v.s(), i);
      return Value(v.s().substr(0, i));
    }
    if (v.is_list() && !v.l().v.empty()) return v.l().v.front();
    if (v.is_dict() && !v.d().v.empty()) return v.d().v.front().first;
    if (!is_iterable(v)) fail("'" + type_name(v) + "' object is not iterable");
  }
  return Value::undef("No first item, sequence was empty.");
}

Value f_last(Interp&, const Value& v, Args&) {
  if (v.is_list() && v.l().kind == LK::Iter) fail("'generator' object is not reversible");
  if (v.is_str() && !v.s().empty()) {
    auto u = uni::to_u32(v.s());
    return Value(uni::to_utf8(u.substr(u.size() - 1)));
  }
  if (v.is_list() && !v.l().v.empty()) return v.l().v.back();
  if (v.is_dict() && !v.d().v.empty()) return v.d().v.back().first;
  if (!is_iterable(v)) fail("'" + type_name(v) + "' object is not reversible");
  return Value::undef("No last item, sequence was empty.");
}

Value f_items(Interp&, const Value& v, Args&) {
  if (v.is_undef()) return Value::iter({});
  if (!v.is_dict()) fail("Can only get item pairs from a mapping.");
  std::vector<Value> out;
  for (const auto& [k, val] : v.d().v) out.push_back(Value::list({k, val}, LK::Tuple));
  return Value::iter(std::move(out));
}

Value f_join(Interp& in, const Value& v, Args& a) {
  a.check("join", 2, {"d", "attribute"});
  Value d = a.get_or(0, "d", Value(std::string()));
  const Value* attr = a.get(1, "attribute");
  std::vector<Value> parts = attr ? attr_parts(*attr) : std::vector<Value>{};
  std::string sep = to_str(d), r;
  bool firstp = true;
  for (const auto& item : iterate(v)) {
    charge_iter();
    if (!firstp) r += sep;
    firstp = false;
    r += to_str(attr ? get_path(in, item, parts) : item);
    check_size(r.size());
  }
  return Value(std::move(r));
}

Value f_list(Interp&, const Value& v, Args&) {
  auto items = iterate(v);
  charge_iter(items.size() / 16);
  return Value::list(std::move(items));
}

Value f_map(Interp& in, const Value& v, Args& a) {
  std::vector<Value> out;
  if (!truthy(v)) return Value::iter({});
  const Value* attr = a.pos.empty() ? a.get(99, "attribute") : nullptr;
  if (attr) {
    Value def = Value::none();
    for (const auto& [k, x] : a.kw) {
      if (k == "default") {
        def = x;
      } else if (k != "attribute") {
        fail("Unexpected keyword argument '" + k + "'");
      }
    }
    auto parts = attr_parts(*attr);
    for (const auto& item : iterate(v)) {
      charge_iter();
      out.push_back(get_path(in, item, parts, &def));
    }
    return Value::iter(std::move(out));
  }
  if (a.pos.empty()) fail("map requires a filter argument");
  Value name = a.pos[0];
  if (!name.is_str()) fail("filter name must be a string");
  Args rest;
  rest.pos.assign(a.pos.begin() + 1, a.pos.end());
  rest.kw = a.kw;
  for (const auto& item : iterate(v)) {
    charge_iter();
    Args copy = rest;
    out.push_back(in.filter(name.s(), item, copy));
  }
  return Value::iter(std::move(out));
}

Value min_max(Interp& in, const Value& v, Args& a, bool is_max) {
  a.check(is_max ? "max" : "min", 2, {"case_sensitive", "attribute"});
  bool cs = as_bool(a, 0, "case_sensitive", false);
  const Value* attr = a.get(1, "attribute");
  auto parts = attr ? attr_parts(*attr) : std::vector<Value>{};
  auto items = iterate(v);
  if (items.empty()) return Value::undef("No aggregated item, sequence was empty.");
  std::size_t best = 0;
  Value best_key;
  for (std::size_t k = 0; k < items.size(); ++k) {
    charge_iter();
    Value key = get_path(in, items[k], parts);
    if (!cs) key = ignore_case(key);
    if (k == 0 || (is_max ? py_cmp(best_key, key) == -1 : py_cmp(key, best_key) == -1)) {
      best = k;
      best_key = key;
    }
  }
  return items[best];
}
Value f_max(Interp& in, const Value& v, Args& a) {
  return min_max(in, v, a, true);
}
Value f_min(Interp& in, const Value& v, Args& a) {
  return min_max(in, v, a, false);
}

Value select_impl(Interp& in, const Value& v, Args& a, bool want, bool lookup_attr) {
  std::vector<Value> out;
  if (!truthy(v)) return Value::iter({});
  std::size_t off = 0;
  std::vector<Value> parts;
  if (lookup_attr) {
    if (a.pos.empty()) fail("Missing parameter for attribute name");
    parts = attr_parts(a.pos[0]);
    off = 1;
  }
  const Value* test_name = a.pos.size() > off ? &a.pos[off] : nullptr;
  if (test_name && !test_name->is_str()) fail("test name must be a string");
  Args rest;
  if (test_name) rest.pos.assign(a.pos.begin() + static_cast<std::ptrdiff_t>(off + 1), a.pos.end());
  rest.kw = a.kw;
  for (const auto& item : iterate(v)) {
    charge_iter();
    Value x = lookup_attr ? get_path(in, item, parts) : item;
    bool ok;
    if (test_name) {
      Args copy = rest;
      ok = in.test(test_name->s(), x, copy);
    } else {
      ok = truthy(x);
    }
    if (ok == want) out.push_back(item);
  }
  return Value::iter(std::move(out));
}
Value f_select(Interp& in, const Value& v, Args& a) {
  return select_impl(in, v, a, true, false);
}
Value f_reject(Interp& in, const Value& v, Args& a) {
  return select_impl(in, v, a, false, false);
}
Value f_selectattr(Interp& in, const Value& v, Args& a) {
  return select_impl(in, v, a, true, true);
}
Value f_rejectattr(Interp& in, const Value& v, Args& a) {
  return select_impl(in, v, a, false, true);
}

Value f_reverse(Interp&, const Value& v, Args&) {
  if (v.is_str()) {
    auto u = uni::to_u32(v.s());
    std::reverse(u.begin(), u.end());
    return Value(uni::to_utf8(u));
  }
  if (v.is_list() && v.l().kind == LK::Iter) {
    auto items = iterate(v);
    std::reverse(items.begin(), items.end());
    return Value::list(std::move(items));
  }
  if (!is_iterable(v)) fail("argument must be iterable");
  auto items = iterate(v);
  std::reverse(items.begin(), items.end());
  return Value::iter(std::move(items));
}

Value f_slice(Interp&, const Value& v, Args& a) {
  a.check("slice", 2, {"slices", "fill_with"});
  const Value* sv = a.get(0, "slices");
  if (!sv) fail("slice() missing required argument 'slices'");
  std::int64_t slices = as_int_arg(*sv, "slices");
  if (slices <= 0) fail("integer division or modulo by zero");
  Value fill = a.get_or(1, "fill_with", Value::none());
  auto seq = iterate(v);
  auto len = static_cast<std::int64_t>(seq.size());
  std::int64_t per = len / slices, extra = len % slices, offset = 0;
  charge_iter(static_cast<std::uint64_t>(slices));
  std::vector<Value> out;
  for (std::int64_t n = 0; n < slices; ++n) {
    std::int64_t start = offset + n * per;
    if (n < extra) ++offset;
    std::int64_t end = offset + (n + 1) * per;
    std::vector<Value> tmp(seq.begin() + start, seq.begin() + end);
    if (!fill.is_none() && n >= extra) tmp.push_back(fill);
    out.push_back(Value::list(std::move(tmp)));
  }
  return Value::iter(std::move(out));
}

Value f_sort(Interp& in, const Value& v, Args& a) {
  a.check("sort", 3, {"reverse", "case_sensitive", "attribute"});
  bool rev = as_bool(a, 0, "reverse", false), cs = as_bool(a, 1, "case_sensitive", false);
  const Value* attr = a.get(2, "attribute");
  std::vector<std::vector<Value>> paths;
  if (attr && attr->is_str()) {
    std::size_t start = 0;
    const std::string& s = attr->s();
    while (true) {
      std::size_t comma = s.find(',', start);
      paths.push_back(attr_parts(
          Value(s.substr(start, comma == std::string::npos ? std::string::npos : comma - start))));
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
  } else {
    paths.push_back(attr ? attr_parts(*attr) : std::vector<Value>{});
  }
  std::vector<std::pair<Value, Value>> keyed;
  for (auto& item : iterate(v)) {
    std::vector<Value> key;
    for (const auto& p : paths) {
      Value k = get_path(in, item, p);
      key.push_back(cs ? k : ignore_case(k));
    }
    keyed.emplace_back(Value::list(std::move(key)), std::move(item));
  }
  return Value::list(sorted_by(std::move(keyed), rev));
}

Value f_sum(Interp& in, const Value& v, Args& a) {
  a.check("sum", 2, {"attribute", "start"});
  const Value* attr = a.get(0, "attribute");
  auto parts = attr && !attr->is_none() ? attr_parts(*attr) : std::vector<Value>{};
  Value acc = a.get_or(1, "start", Value(0));
  for (const auto& item : iterate(v)) {
    charge_iter();
    acc = binop(Op::Add, acc, get_path(in, item, parts));
  }
  return acc;
}

Value f_unique(Interp& in, const Value& v, Args& a) {
  a.check("unique", 2, {"case_sensitive", "attribute"});
  bool cs = as_bool(a, 0, "case_sensitive", false);
  const Value* attr = a.get(1, "attribute");
  auto parts = attr ? attr_parts(*attr) : std::vector<Value>{};
  std::unordered_set<Value, PyHash, PyEq> seen;
  std::vector<Value> out;
  for (auto& item : iterate(v)) {
    charge_iter();
    Value key = get_path(in, item, parts);
    if (!cs) key = ignore_case(key);
    if (seen.insert(key).second) out.push_back(std::move(item));
  }
  return Value::iter(std::move(out));
}

}  // namespace

const std::unordered_map<std::string, FilterFn>& filters() {
  static const std::unordered_map<std::string, FilterFn> m = {
      {"abs", f_abs},
      {"attr", f_attr},
      {"batch", f_batch},
      {"capitalize", f_capitalize},
      {"center", f_center},
      {"count", f_length},
      {"d", f_default},
      {"default", f_default},
      {"dictsort", f_dictsort},
      {"e", f_escape},
      {"escape", f_escape},
      {"first", f_first},
      {"float", f_float},
      {"forceescape", f_forceescape},
      {"format", f_format},
      {"indent", f_indent},
      {"int", f_int},
      {"items", f_items},
      {"join", f_join},
      {"last", f_last},
      {"length", f_length},
      {"list", f_list},
      {"lower", f_lower},
      {"map", f_map},
      {"max", f_max},
      {"min", f_min},
      {"pprint", f_pprint},
      {"reject", f_reject},
      {"rejectattr", f_rejectattr},
      {"replace", f_replace},
      {"reverse", f_reverse},
      {"round", f_round},
      {"safe", f_safe},
      {"select", f_select},
      {"selectattr", f_selectattr},
      {"slice", f_slice},
      {"sort", f_sort},
      {"string", f_string},
      {"sum", f_sum},
      {"title", f_title},
      {"tojson", f_tojson},
      {"trim", f_trim},
      {"truncate", f_truncate},
      {"unique", f_unique},
      {"upper", f_upper},
      {"wordcount", f_wordcount},
  };
  return m;
}

}  // namespace lfmd::jinja::detail::filt

namespace lfmd::jinja::detail {

using filt::filters;

Value Interp::filter(const std::string& name, const Value& v, Args& args) {
  auto it = filters().find(name);
  if (it == filters().end()) fail("No filter named '" + name + "'.");
  return it->second(*this, v, args);
}

bool Interp::has_filter(const std::string& name) const {
  return filters().count(name) > 0;
}

}  // namespace lfmd::jinja::detail
