// Python operators: arithmetic, comparison and membership.
#include <algorithm>
#include <cmath>

#include "jinja/interp.h"

namespace lfmd::jinja::detail {

namespace {

[[noreturn]] void overflow() {
  fail("integer overflow (integers are limited to 64 bits)");
}

std::int64_t int_floordiv(std::int64_t a, std::int64_t b) {
  if (b == 0) fail("integer division or modulo by zero");
  if (a == INT64_MIN && b == -1) overflow();
  std::int64_t q = a / b;
  if (a % b != 0 && ((a < 0) != (b < 0))) --q;
  return q;
}

std::int64_t int_mod(std::int64_t a, std::int64_t b) {
  if (b == 0) fail("integer division or modulo by zero");
  if (b == -1) return 0;
  std::int64_t r = a % b;
  if (r != 0 && ((r < 0) != (b < 0))) r += b;
  return r;
}

// Python's float divmod.
void float_divmod(double x, double y, double& div, double& mod) {
  mod = std::fmod(x, y);
  div = (x - mod) / y;
  if (mod != 0) {
    if ((y < 0) != (mod < 0)) {
      mod += y;
      div -= 1.0;
    }
  } else {
    mod = std::copysign(0.0, y);
  }
  if (div != 0) {
    double fl = std::floor(div);
    if (div - fl > 0.5) fl += 1.0;
    div = fl;
  } else {
    div = std::copysign(0.0, x / y);
  }
}

Value repeat(const Value& seq, std::int64_t n) {
  if (n < 0) n = 0;
  if (seq.is_str()) {
    const std::string& s = seq.s();
    if (!s.empty() && static_cast<std::uint64_t>(n) > (1ull << 40) / s.size())
      check_size(1ull << 40);
    check_size(s.size() * static_cast<std::uint64_t>(n));
    std::string r;
    r.reserve(s.size() * static_cast<std::size_t>(n));
    for (std::int64_t k = 0; k < n; ++k) r += s;
    return Value(std::move(r));
  }
  const auto& v = seq.l().v;
  if (!v.empty() && static_cast<std::uint64_t>(n) > (1ull << 40) / v.size()) check_size(1ull << 40);
  check_size(v.size() * static_cast<std::uint64_t>(n) * sizeof(Value));
  charge_iter(v.size() * static_cast<std::uint64_t>(n));
  std::vector<Value> r;
  for (std::int64_t k = 0; k < n; ++k) r.insert(r.end(), v.begin(), v.end());
  return Value::list(std::move(r), seq.l().kind == LK::Tuple ? LK::Tuple : LK::List);
}

bool is_seq(const Value& v) {
  return v.is_list() && (v.l().kind == LK::List || v.l().kind == LK::Tuple);
}

[[noreturn]] void bad_operands(const char* op, const Value& a, const Value& b) {
  fail(std::string("unsupported operand type(s) for ") + op + ": '" + type_name(a) + "' and '" +
       type_name(b) + "'");
}

}  // namespace

Value binop(Op op, const Value& a, const Value& b) {
  if (a.is_undef()) fail_undefined(a);
  if (b.is_undef()) fail_undefined(b);
  bool nums = a.is_num() && b.is_num();
  bool ints = nums && !a.is_float() && !b.is_float();
  switch (op) {
    case Op::Add: {
      if (ints) {
        std::int64_t r;
        if (__builtin_add_overflow(a.as_int(), b.as_int(), &r)) overflow();
        return Value(r);
      }
      if (nums) return Value(a.as_float() + b.as_float());
      if (a.is_markup() || b.is_markup()) {
        if (a.is_str() && b.is_str()) {  // Markup + str escapes the plain side
          std::string x = a.is_markup() ? a.s() : html_escape(a.s());
          std::string y = b.is_markup() ? b.s() : html_escape(b.s());
          check_size(x.size() + y.size());
          return Value::markup(x + y);
        }
      }
      if (a.is_str() && b.is_str()) {
        check_size(a.s().size() + b.s().size());
        std::string r;
        r.reserve(a.s().size() + b.s().size());
        r += a.s();
        r += b.s();
        return Value(std::move(r));
      }
      if (is_seq(a) && is_seq(b) && a.l().kind == b.l().kind) {
        std::vector<Value> r = a.l().v;
        r.insert(r.end(), b.l().v.begin(), b.l().v.end());
        return Value::list(std::move(r), a.l().kind);
      }
      if (a.is_str()) fail("can only concatenate str (not \"" + type_name(b) + "\") to str");
      if (is_seq(a))
        fail("can only concatenate " + type_name(a) + " (not \"" + type_name(b) + "\") to " +
             type_name(a));
      bad_operands("+", a, b);
    }
    case Op::Sub: {
      if (ints) {
        std::int64_t r;
        if (__builtin_sub_overflow(a.as_int(), b.as_int(), &r)) overflow();
        return Value(r);
      }
      if (nums) return Value(a.as_float() - b.as_float());
      bad_operands("-", a, b);
    }
    case Op::Mul: {
      if (ints) {
        std::int64_t r;
        if (__builtin_mul_overflow(a.as_int(), b.as_int(), &r)) overflow();
        return Value(r);
      }
      if (nums) return Value(a.as_float() * b.as_float());
      bool a_int = a.is_int() || a.is_bool(), b_int = b.is_int() || b.is_bool();
      if ((a.is_str() || is_seq(a)) && b_int) {
        Value r = repeat(a, b.as_int());
        return a.is_markup() ? Value::markup(r.s()) : r;
      }
      if ((b.is_str() || is_seq(b)) && a_int) {
        Value r = repeat(b, a.as_int());
        return b.is_markup() ? Value::markup(r.s()) : r;
      }
      if (a.is_str() || is_seq(a) || b.is_str() || is_seq(b))
        fail("can't multiply sequence by non-int of type '" +
             type_name(a.is_str() || is_seq(a) ? b : a) + "'");
      bad_operands("*", a, b);
    }
    case Op::Div: {
      if (!nums) bad_operands("/", a, b);
      if (b.as_float() == 0) fail("division by zero");
      return Value(a.as_float() / b.as_float());
    }
    case Op::FloorDiv: {
      if (!nums) bad_operands("//", a, b);
      if (ints) return Value(int_floordiv(a.as_int(), b.as_int()));
      if (b.as_float() == 0) fail("float floor division by zero");
      double d, m;
      float_divmod(a.as_float(), b.as_float(), d, m);
      return Value(d);
    }
    case Op::Mod: {
      if (a.is_markup()) {  // Markup % args escapes string arguments
        auto esc = [](const Value& x) {
          return x.is_str() && !x.is_markup() ? Value(html_escape(x.s())) : x;
        };
        Value args = b;
        if (b.is_list() && b.l().kind == LK::Tuple) {
          std::vector<Value> items;
          for (const auto& x : b.l().v) items.push_back(esc(x));
          args = Value::list(std::move(items), LK::Tuple);
        } else {
          args = esc(b);
        }
        return Value::markup(percent_format(a.s(), args));
      }
      if (a.is_str()) return Value(percent_format(a.s(), b));
      if (!nums) bad_operands("%", a, b);
      if (ints) return Value(int_mod(a.as_int(), b.as_int()));
      if (b.as_float() == 0) fail("float modulo");
      double d, m;
      float_divmod(a.as_float(), b.as_float(), d, m);
      return Value(m);
    }
    case Op::Pow: {
      if (!nums) bad_operands("** or pow()", a, b);
      if (ints && b.as_int() >= 0) {
        std::int64_t base = a.as_int(), e = b.as_int(), r = 1;
        while (e > 0) {
          if (e & 1)
            if (__builtin_mul_overflow(r, base, &r)) overflow();
          e >>= 1;
          if (e && __builtin_mul_overflow(base, base, &base)) overflow();
        }
        return Value(r);
      }
      double x = a.as_float(), y = b.as_float();
      if (x == 0 && y < 0) fail("0.0 cannot be raised to a negative power");
      if (x < 0 && y != std::floor(y)) fail("complex results are not supported");
      double r = std::pow(x, y);
      if (std::isinf(r) && std::isfinite(x) && std::isfinite(y))
        fail("(34, 'Numerical result out of range')");
      return Value(r);
    }
    default:
      break;
  }
  fail("bad operator");
}

bool contains(const Value& c, const Value& item) {
  switch (c.type()) {
    case T::Undef:
      return false;
    case T::Str:
      if (!item.is_str())
        fail("'in <string>' requires string as left operand, not " + type_name(item));
      charge_scan(c.s().size());
      return c.s().find(item.s()) != std::string::npos;
    case T::List: {
      const auto& l = c.l();
      if (l.kind == LK::Items || l.kind == LK::Keys) {
        for (const auto& x : l.v)
          if (py_eq(x, item)) return true;
        return false;
      }
      std::vector<Value> items = iterate(c);
      charge_iter(items.size() / 16);
      for (const auto& x : items)
        if (py_eq(x, item)) return true;
      return false;
    }
    case T::Dict:
      py_hash(item);
      return c.d().find(item) != nullptr;
    default:
      fail("argument of type '" + type_name(c) + "' is not iterable");
  }
}

bool compare(Op op, const Value& a, const Value& b) {
  switch (op) {
    case Op::Eq:
      return py_eq(a, b);
    case Op::Ne:
      return !py_eq(a, b);
    case Op::In:
      return contains(b, a);
    case Op::NotIn:
      return !contains(b, a);
    default:
      break;
  }
  if (a.is_undef()) fail_undefined(a);
  if (b.is_undef()) fail_undefined(b);
  const char* sym = op == Op::Lt ? "<" : op == Op::Le ? "<=" : op == Op::Gt ? ">" : ">=";
  int c = py_cmp(a, b, sym);
  if (c == 2) return false;
  switch (op) {
    case Op::Lt:
      return c < 0;
    case Op::Le:
      return c <= 0;
    case Op::Gt:
      return c > 0;
    default:
      return c >= 0;
  }
}

}  // namespace lfmd::jinja::detail
