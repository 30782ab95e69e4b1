// Jinja2's built-in tests (`x is defined`...; jinja2/tests.py semantics).
#include <unordered_map>

#include "jinja/interp.h"

namespace lfmd::jinja::detail {
namespace {

using TestFn = bool (*)(Interp&, const Value&, Args&);

const Value& arg0(const Args& a, const char* test) {
  const Value* v = a.get(0, "b");
  if (!v) v = a.get(0, "other");
  if (!v) fail(std::string("test '") + test + "' requires an argument");
  return *v;
}

bool t_defined(Interp&, const Value& v, Args&) {
  return !v.is_undef();
}
bool t_undefined(Interp&, const Value& v, Args&) {
  return v.is_undef();
}
bool t_none(Interp&, const Value& v, Args&) {
  return v.is_none();
}
bool t_boolean(Interp&, const Value& v, Args&) {
  return v.is_bool();
}
bool t_false(Interp&, const Value& v, Args&) {
  return v.is_bool() && !v.b();
}
bool t_true(Interp&, const Value& v, Args&) {
  return v.is_bool() && v.b();
}
bool t_integer(Interp&, const Value& v, Args&) {
  return v.is_int();
}
bool t_float(Interp&, const Value& v, Args&) {
  return v.is_float();
}
bool t_number(Interp&, const Value& v, Args&) {
  return v.is_num();
}
bool t_string(Interp&, const Value& v, Args&) {
  return v.is_str();
}
bool t_mapping(Interp&, const Value& v, Args&) {
  return v.is_dict();
}
bool t_iterable(Interp&, const Value& v, Args&) {
  return is_iterable(v) || v.is_loop();
}
bool t_sequence(Interp&, const Value& v, Args&) {
  if (v.is_list())
    return v.l().kind == LK::List || v.l().kind == LK::Tuple || v.l().kind == LK::Range;
  return v.is_str() || v.is_dict() || v.is_undef();
}
bool t_callable(Interp&, const Value& v, Args&) {
  return v.is_func() || v.is_loop() || v.is_undef();
}
bool t_escaped(Interp&, const Value& v, Args&) {
  return v.is_markup();
}
bool t_sameas(Interp&, const Value& v, Args& a) {
  const Value& o = arg0(a, "sameas");
  if (v.type() != o.type()) return false;
  switch (v.type()) {
    case T::None:
      return true;
    case T::Bool:
      return v.b() == o.b();
    case T::Int:
      return v.i() == o.i() && v.i() >= -5 && v.i() <= 256;
    case T::Str:
      return v.strp() == o.strp();
    case T::List:
      return v.listp() == o.listp();
    case T::Dict:
      return v.dictp() == o.dictp();
    default:
      return py_eq(v, o);
  }
}
bool t_in(Interp&, const Value& v, Args& a) {
  return contains(arg0(a, "in"), v);
}
bool t_eq(Interp&, const Value& v, Args& a) {
  return compare(Op::Eq, v, arg0(a, "eq"));
}
bool t_ne(Interp&, const Value& v, Args& a) {
  return compare(Op::Ne, v, arg0(a, "ne"));
}
bool t_lt(Interp&, const Value& v, Args& a) {
  return compare(Op::Lt, v, arg0(a, "lt"));
}
bool t_le(Interp&, const Value& v, Args& a) {
  return compare(Op::Le, v, arg0(a, "le"));
}
bool t_gt(Interp&, const Value& v, Args& a) {
  return compare(Op::Gt, v, arg0(a, "gt"));
}
bool t_ge(Interp&, const Value& v, Args& a) {
  return compare(Op::Ge, v, arg0(a, "ge"));
}
bool t_odd(Interp&, const Value& v, Args&) {
  return py_eq(binop(Op::Mod, v, Value(2)), Value(1));
}
bool t_even(Interp&, const Value& v, Args&) {
  return py_eq(binop(Op::Mod, v, Value(2)), Value(0));
}
bool t_divisibleby(Interp&, const Value& v, Args& a) {
  const Value* n = a.get(0, "num");
  if (!n) fail("test 'divisibleby' requires an argument");
  return py_eq(binop(Op::Mod, v, *n), Value(0));
}
bool t_lower(Interp& in, const Value& v, Args&) {
  Args none;
  return truthy(in.call_method(Value(to_str(v)), "islower", none));
}
bool t_upper(Interp& in, const Value& v, Args&) {
  Args none;
  return truthy(in.call_method(Value(to_str(v)), "isupper", none));
}
bool t_filter(Interp& in, const Value& v, Args&) {
  return v.is_str() && in.has_filter(v.s());
}
bool t_test(Interp& in, const Value& v, Args&) {
  return v.is_str() && in.has_test(v.s());
}

const std::unordered_map<std::string, TestFn>& tests() {
  static const std::unordered_map<std::string, TestFn> m = {
      {"defined", t_defined},
      {"undefined", t_undefined},
      {"none", t_none},
      {"boolean", t_boolean},
      {"false", t_false},
      {"true", t_true},
      {"integer", t_integer},
      {"float", t_float},
      {"number", t_number},
      {"string", t_string},
      {"mapping", t_mapping},
      {"iterable", t_iterable},
      {"sequence", t_sequence},
      {"callable", t_callable},
      {"escaped", t_escaped},
      {"sameas", t_sameas},
      {"in", t_in},
      {"==", t_eq},
      {"eq", t_eq},
      {"equalto", t_eq},
      {"!=", t_ne},
      {"ne", t_ne},
      {"<", t_lt},
      {"lt", t_lt},
      {"lessthan", t_lt},
      {"<=", t_le},
      {"le", t_le},
      {">", t_gt},
      {"gt", t_gt},
      {"greaterthan", t_gt},
      {">=", t_ge},
      {"ge", t_ge},
      {"odd", t_odd},
      {"even", t_even},
      {"divisibleby", t_divisibleby},
      {"lower", t_lower},
      {"upper", t_upper},
      {"filter", t_filter},
      {"test", t_test},
  };
  return m;
}

}  // namespace

bool Interp::test(const std::string& name, const Value& v, Args& args) {
  auto it = tests().find(name);
  if (it == tests().end()) fail("No test named '" + name + "'.");
  return it->second(*this, v, args);
}

bool Interp::has_test(const std::string& name) const {
  return tests().count(name) > 0;
}

}  // namespace lfmd::jinja::detail
