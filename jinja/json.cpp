// JSON in (render context) and out (the tojson filter: Python json.dumps semantics).
#include <algorithm>
#include <cmath>
#include <cstdio>

#include "base/json_string.h"
#include "jinja/value.h"

namespace lfmd::jinja::detail {

Value from_json(const nlohmann::ordered_json& j, int depth) {
  if (depth > kMaxDepth) fail("input nested too deeply");
  using J = nlohmann::ordered_json::value_t;
  switch (j.type()) {
    case J::object: {
      std::vector<std::pair<Value, Value>> items;
      items.reserve(j.size());
      for (auto it = j.begin(); it != j.end(); ++it)
        items.emplace_back(Value(it.key()), from_json(*it, depth + 1));
      return make_dict(std::move(items));
    }
    case J::array: {
      std::vector<Value> items;
      items.reserve(j.size());
      for (const auto& x : j) items.push_back(from_json(x, depth + 1));
      return Value::list(std::move(items));
    }
    case J::string:
      return Value(j.get<std::string>());
    case J::boolean:
      return Value(j.get<bool>());
    case J::number_integer:
      return Value(j.get<std::int64_t>());
    case J::number_unsigned: {
      auto u = j.get<std::uint64_t>();
      if (u <= static_cast<std::uint64_t>(INT64_MAX)) return Value(static_cast<std::int64_t>(u));
      return Value(static_cast<double>(u));
    }
    case J::number_float:
      return Value(j.get<double>());
    default:
      return Value::none();
  }
}

namespace {

std::string json_float(double d) {
  if (std::isnan(d)) return "NaN";
  if (std::isinf(d)) return d > 0 ? "Infinity" : "-Infinity";
  return float_repr(d);
}

struct JsonDump {
  const JsonOpts& o;
  std::string& out;
  void newline(int level) {
    out += '\n';
    for (int i = 0; i < level; ++i) out += o.indent;
  }
  void go(const Value& v, int level) {
    if (level > 2 * kMaxDepth) fail("maximum recursion depth exceeded in tojson");
    check_size(out.size());
    switch (v.type()) {
      case T::None:
        out += "null";
        return;
      case T::Bool:
        out += v.b() ? "true" : "false";
        return;
      case T::Int:
        out += std::to_string(v.i());
        return;
      case T::Float:
        out += json_float(v.f());
        return;
      case T::Str:
        append_json_string(v.s(), out);
        return;
      case T::List: {
        const auto& l = v.l();
        if (l.kind != LK::List && l.kind != LK::Tuple) break;
        if (l.v.empty()) {
          out += "[]";
          return;
        }
        out += '[';
        if (o.indent_set) newline(level + 1);
        for (std::size_t i = 0; i < l.v.size(); ++i) {
          if (i) {
            out += o.item_sep;
            if (o.indent_set) newline(level + 1);
          }
          go(l.v[i], level + 1);
        }
        if (o.indent_set) newline(level);
        out += ']';
        return;
      }
      case T::Dict: {
        const auto& d = v.d();
        if (d.v.empty()) {
          out += "{}";
          return;
        }
        std::vector<const std::pair<Value, Value>*> items;
        for (const auto& kv : d.v) items.push_back(&kv);
        if (o.sort_keys)
          std::stable_sort(items.begin(), items.end(),
                           [](auto* a, auto* b) { return py_cmp(a->first, b->first) < 0; });
        out += '{';
        if (o.indent_set) newline(level + 1);
        bool first = true;
        for (const auto* kv : items) {
          if (!first) {
            out += o.item_sep;
            if (o.indent_set) newline(level + 1);
          }
          first = false;
          const Value& k = kv->first;
          if (k.is_str()) {
            append_json_string(k.s(), out);
          } else if (k.is_bool()) {
            out += k.b() ? "\"true\"" : "\"false\"";
          } else if (k.is_int()) {
            out.append(1, '"').append(std::to_string(k.i())).append(1, '"');
          } else if (k.is_float()) {
            out.append(1, '"').append(json_float(k.f())).append(1, '"');
          } else if (k.is_none()) {
            out += "\"null\"";
          } else {
            fail("keys must be str, int, float, bool or None, not " + type_name(k));
          }
          out += o.key_sep;
          go(kv->second, level + 1);
        }
        if (o.indent_set) newline(level);
        out += '}';
        return;
      }
      default:
        break;
    }
    fail("Object of type " + type_name(v) + " is not JSON serializable");
  }
};

}  // namespace

std::string to_json(const Value& v, const JsonOpts& opts) {
  std::string out;
  JsonDump{opts, out}.go(v, 0);
  return out;
}

}  // namespace lfmd::jinja::detail
