#include "engine/grammar/json_schema.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <set>

namespace lfmd::grammar {

namespace {

using json = nlohmann::ordered_json;

const std::set<std::string> kAnnotations = {"title",    "description", "default",  "examples",
                                            "$schema",  "$id",         "$comment", "deprecated",
                                            "readOnly", "writeOnly"};
const std::set<std::string> kSupported = {
    "type",     "properties", "required", "additionalProperties", "enum",      "const",
    "items",    "prefixItems", "minItems", "maxItems",            "anyOf",     "oneOf",
    "$ref",     "$defs",      "definitions", "minLength",         "maxLength", "pattern",
    "format", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"};
const std::set<std::string> kObjectKeys = {"properties", "required", "additionalProperties"};
const std::set<std::string> kArrayKeys = {"items", "prefixItems", "minItems", "maxItems"};
const std::set<std::string> kStringKeys = {"minLength", "maxLength", "pattern", "format"};
const std::set<std::string> kNumberKeys = {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"};

// String formats as patterns generating only valid values (days 01-28 are valid in every month;
// years 1000-9999; times carry a zone as RFC 3339 wants).
const std::map<std::string, std::string> kFormats = {
    {"date", "^[1-9][0-9]{3}-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])$"},
    {"time", "^([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\\.[0-9]{1,6})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$"},
    {"date-time",
     "^[1-9][0-9]{3}-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\\.[0-9]{1,6})?"
     "(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$"},
    {"uuid", "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"},
    {"email", "^[a-z0-9][a-z0-9._+-]{0,31}@[a-z0-9][a-z0-9-]{0,31}\\.[a-z]{2,8}$"},
};
const std::vector<std::string> kTypes = {"object", "array", "string", "number", "integer", "boolean", "null"};

std::string at(const std::string& path) { return path.empty() ? "at the schema root" : "at " + path; }

bool is_identifier(const std::string& s) {
  if (s.empty() || !(std::isalpha(static_cast<unsigned char>(s[0])) || s[0] == '_')) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; });
}

// JSON type of a value, "integer" for integral numbers.
std::string type_of(const json& v) {
  if (v.is_object()) return "object";
  if (v.is_array()) return "array";
  if (v.is_string()) return "string";
  if (v.is_boolean()) return "boolean";
  if (v.is_null()) return "null";
  if (v.is_number_integer() || v.is_number_unsigned()) return "integer";
  const double d = v.get<double>();
  return d == static_cast<double>(static_cast<int64_t>(d)) ? "integer" : "number";
}

bool type_matches(const std::string& value_type, const std::string& schema_type) {
  return value_type == schema_type || (schema_type == "number" && value_type == "integer");
}

class Compiler {
 public:
  Compiler(const json& root, const SchemaLimits& lim) : root_(root), lim_(lim) {}
  GrammarBuilder b;

  // One rule generating a JSON value valid against `s`.
  int32_t value(const json& s, const std::string& path, size_t depth) {
    if (depth > lim_.max_depth) {
      throw GrammarError("the schema nests deeper than " + std::to_string(lim_.max_depth) + " levels " + at(path));
    }
    if (s.is_boolean()) return s.get<bool>() ? any(lim_.free_depth) : b.new_rule();  // false: no value
    if (!s.is_object()) throw GrammarError("a schema must be an object or a boolean " + at(path));
    for (const auto& [k, v] : s.items()) {
      if (!kSupported.count(k) && !kAnnotations.count(k)) {
        throw GrammarError("unsupported JSON Schema keyword '" + k + "' " + at(path));
      }
    }
    auto assertions_besides = [&](std::set<std::string> allowed) {
      allowed.insert({"$defs", "definitions"});
      for (const auto& [k, v] : s.items()) {
        if (!kAnnotations.count(k) && !allowed.count(k)) return k;
      }
      return std::string();
    };
    if (s.contains("$ref")) {
      if (auto k = assertions_besides({"$ref"}); !k.empty()) {
        throw GrammarError("'$ref' combined with '" + k + "' is not supported " + at(path));
      }
      return ref(s["$ref"], path, depth);
    }
    if (s.contains("enum") || s.contains("const")) {
      if (auto k = assertions_besides({"enum", "const", "type"}); !k.empty()) {
        throw GrammarError("'enum'/'const' combined with '" + k + "' is not supported " + at(path));
      }
      return literals(s, path);
    }
    for (const char* comb : {"anyOf", "oneOf"}) {
      if (!s.contains(comb)) continue;
      if (auto k = assertions_besides({comb}); !k.empty()) {
        throw GrammarError(std::string("'") + comb + "' combined with '" + k + "' is not supported " + at(path));
      }
      const json& br = s[comb];
      if (!br.is_array() || br.empty()) throw GrammarError(std::string("'") + comb + "' must be a non-empty array " + at(path));
      if (std::string(comb) == "oneOf") check_one_of(br, path + "/oneOf", depth);
      const int32_t r = b.new_rule();
      for (size_t i = 0; i < br.size(); ++i) {
        b.add_alt(r, {b.ref(value(br[i], path + "/" + comb + "/" + std::to_string(i), depth + 1))});
      }
      return r;
    }
    std::vector<std::string> types = schema_types(s, path);
    if (types.empty()) return any(lim_.free_depth);
    const int32_t r = b.new_rule();
    for (const std::string& t : types) b.add_alt(r, {b.ref(typed(s, t, path, depth))});
    return r;
  }

  // Keyword arguments (k=v, ...) for a tool's parameters, or -1 when a dict argument is needed.
  int32_t kwargs(const json& s, const std::string& path) {
    if (s.is_null() || (s.is_object() && s.empty())) return b.rule({{}});
    if (!s.is_object()) throw GrammarError("tool parameters must be an object schema " + at(path));
    if (s.contains("type") && s["type"] != "object") {
      throw GrammarError("tool parameters must have type 'object' " + at(path));
    }
    // Keyword arguments need a plain object schema at the top; anything else (anyOf, $ref, ...)
    // goes through value() as one dict argument.
    for (const auto& [k, v] : s.items()) {
      if (!kSupported.count(k) && !kAnnotations.count(k)) {
        throw GrammarError("unsupported JSON Schema keyword '" + k + "' " + at(path));
      }
      if (!kAnnotations.count(k) && !kObjectKeys.count(k) && k != "type" && k != "$defs" && k != "definitions") return -1;
    }
    if (s.contains("properties") && s["properties"].is_object()) {
      for (const auto& [k, v] : s["properties"].items()) {
        if (!is_identifier(k)) return -1;
      }
    }
    if (s.contains("required") && s["required"].is_array()) {
      for (const auto& k : s["required"]) {
        if (!k.is_string() || !is_identifier(k.get<std::string>())) return -1;
      }
    }
    return object(s, path, 0, /*kwargs=*/true);
  }

  // Any JSON value nesting at most `d` levels of containers.
  int32_t any(int d) {
    if (d < 0) d = 0;
    if (any_.size() <= static_cast<size_t>(d)) any_.resize(d + 1, -1);
    if (any_[d] >= 0) return any_[d];
    const int32_t r = b.new_rule();
    any_[d] = r;
    for (const char* t : {"string", "number", "boolean", "null"}) b.add_alt(r, {b.ref(scalar(t))});
    b.add_alt(r, {b.ref(any_object(d))});
    b.add_alt(r, b.literal("[]"));
    if (d > 0) b.add_alt(r, {b.ref(list_of(any(d - 1), 1, -1))});
    return r;
  }

  int32_t any_object(int d) {
    if (d <= 0) return b.rule({b.literal("{}")});
    const int32_t member = b.rule({{b.ref(scalar("string")), b.byte(':'), b.ref(ws()), b.ref(any(d - 1))}});
    const int32_t more = b.new_rule();
    b.add_alt(more, {b.byte(','), b.ref(ws()), b.ref(member), b.ref(more)});
    b.add_alt(more, {});
    return b.rule({b.literal("{}"), {b.byte('{'), b.ref(member), b.ref(more), b.byte('}')}});
  }

  int32_t ws() {
    if (ws_ < 0) ws_ = b.rule({{}, b.literal(" ")});
    return ws_;
  }

  // "[" item ("," item)* "]" with count in [min_n, max_n] (max_n < 0: unbounded), item rule fixed.
  int32_t list_of(int32_t item, int64_t min_n, int64_t max_n) {
    return array_rule([&](int64_t) { return item; }, 0, min_n, max_n);
  }

  int32_t scalar(const std::string& t) {
    auto it = scalars_.find(t);
    if (it != scalars_.end()) return it->second;
    int32_t r;
    if (t == "null") r = b.rule({b.literal("null")});
    else if (t == "boolean") r = b.rule({b.literal("true"), b.literal("false")});
    else if (t == "integer") r = integer();
    else if (t == "number") r = number();
    else r = string_rule(0, -1);
    scalars_[t] = r;
    return r;
  }

 private:
  const json& root_;
  const SchemaLimits& lim_;
  std::vector<int32_t> any_;
  std::map<std::string, int32_t> scalars_, refs_;
  int32_t ws_ = -1, char_ = -1, digit_ = -1;

  std::vector<std::string> schema_types(const json& s, const std::string& path) {
    std::vector<std::string> types;
    if (s.contains("type")) {
      const json& t = s["type"];
      std::vector<json> list = t.is_array() ? std::vector<json>(t.begin(), t.end()) : std::vector<json>{t};
      for (const json& x : list) {
        if (!x.is_string() || std::find(kTypes.begin(), kTypes.end(), x.get<std::string>()) == kTypes.end()) {
          throw GrammarError("'type' must be one of object, array, string, number, integer, boolean, null " + at(path));
        }
        if (std::find(types.begin(), types.end(), x.get<std::string>()) == types.end()) types.push_back(x);
      }
      if (types.empty()) throw GrammarError("'type' is an empty list " + at(path));
      return types;
    }
    // No type: every type is allowed; generate those the present keywords describe.
    auto has_any = [&](const std::set<std::string>& keys) {
      return std::any_of(keys.begin(), keys.end(), [&](const std::string& k) { return s.contains(k); });
    };
    if (has_any(kObjectKeys)) types.push_back("object");
    if (has_any(kArrayKeys)) types.push_back("array");
    if (has_any(kStringKeys)) types.push_back("string");
    if (has_any(kNumberKeys)) types.push_back("number");
    return types;
  }

  int32_t typed(const json& s, const std::string& t, const std::string& path, size_t depth) {
    if (t == "object") return object(s, path, depth, false);
    if (t == "array") return array(s, path, depth);
    if (t == "string") return string(s, path);
    if ((t == "integer" || t == "number") &&
        std::any_of(kNumberKeys.begin(), kNumberKeys.end(), [&](const std::string& k) { return s.contains(k); })) {
      return number_range(s, t, path);
    }
    return scalar(t);
  }

  // Integers within minimum / maximum / exclusive bounds (also for "number": integral values are
  // numbers), clamped to the 15 digits generated.
  int32_t number_range(const json& s, const std::string& t, const std::string& path) {
    constexpr double kMax = 999999999999999.0;
    double lo = -kMax, hi = kMax;
    auto bound = [&](const char* k) -> std::optional<double> {
      if (!s.contains(k)) return std::nullopt;
      if (!s[k].is_number()) throw GrammarError(std::string("'") + k + "' must be a number " + at(path));
      return s[k].get<double>();
    };
    if (auto v = bound("minimum")) lo = std::max(lo, std::ceil(*v));
    if (auto v = bound("exclusiveMinimum")) lo = std::max(lo, std::floor(*v) + 1);
    if (auto v = bound("maximum")) hi = std::min(hi, std::floor(*v));
    if (auto v = bound("exclusiveMaximum")) hi = std::min(hi, std::ceil(*v) - 1);
    lo = std::max(lo, -kMax);
    hi = std::min(hi, kMax);
    if (lo > hi) {
      throw GrammarError("no " + std::string(t == "integer" ? "integer" : "integer-valued number") +
                         " of at most 15 digits lies within minimum/maximum " + at(path) +
                         (t == "number" ? " (number ranges are generated as integers)" : ""));
    }
    return compile_integer_range(b, static_cast<int64_t>(lo), static_cast<int64_t>(hi));
  }

  int32_t ref(const json& r, const std::string& path, size_t depth) {
    if (!r.is_string()) throw GrammarError("'$ref' must be a string " + at(path));
    const std::string target = r.get<std::string>();
    auto it = refs_.find(target);
    if (it != refs_.end()) return it->second;
    if (target.empty() || target[0] != '#') {
      throw GrammarError("only local '$ref' (\"#...\") is supported, got '" + target.substr(0, 80) + "' " + at(path));
    }
    const json* node = &root_;
    size_t p = 1;
    while (p < target.size()) {
      if (target[p] != '/') throw GrammarError("'$ref' '" + target.substr(0, 80) + "' is not a JSON pointer " + at(path));
      size_t q = target.find('/', p + 1);
      if (q == std::string::npos) q = target.size();
      std::string tokn = target.substr(p + 1, q - p - 1);
      for (size_t i; (i = tokn.find("~1")) != std::string::npos;) tokn.replace(i, 2, "/");
      for (size_t i; (i = tokn.find("~0")) != std::string::npos;) tokn.replace(i, 2, "~");
      if (node->is_object() && node->contains(tokn)) {
        node = &(*node)[tokn];
      } else if (node->is_array() && !tokn.empty() && tokn.size() <= 9 && std::all_of(tokn.begin(), tokn.end(), ::isdigit) &&
                 std::stoul(tokn) < node->size()) {
        node = &(*node)[std::stoul(tokn)];
      } else {
        throw GrammarError("'$ref' '" + target.substr(0, 80) + "' does not resolve " + at(path));
      }
      p = q;
    }
    // The rule exists before its body compiles, so recursive schemas refer to it.
    const int32_t r_id = b.new_rule();
    refs_[target] = r_id;
    b.add_alt(r_id, {b.ref(value(*node, target.substr(1), depth + 1))});
    return r_id;
  }

  int32_t literals(const json& s, const std::string& path) {
    std::vector<json> values;
    if (s.contains("const")) values.push_back(s["const"]);
    if (s.contains("enum")) {
      if (!s["enum"].is_array() || s["enum"].empty()) throw GrammarError("'enum' must be a non-empty array " + at(path));
      std::vector<json> en(s["enum"].begin(), s["enum"].end());
      if (s.contains("const")) {
        std::erase_if(values, [&](const json& v) { return std::find(en.begin(), en.end(), v) == en.end(); });
      } else {
        values = en;
      }
    }
    if (s.contains("type")) {
      const std::vector<std::string> types = schema_types(s, path);
      std::erase_if(values, [&](const json& v) {
        return std::none_of(types.begin(), types.end(), [&](const std::string& t) { return type_matches(type_of(v), t); });
      });
    }
    const int32_t r = b.new_rule();  // no values left: unsatisfiable (pruned, or an error at the root)
    for (const json& v : values) b.add_alt(r, b.literal(v.dump(-1, ' ', false, json::error_handler_t::replace)));
    return r;
  }

  // Signature of a oneOf branch: its literal values, or the JSON types it may produce.
  struct Sig {
    bool literal = false;
    std::vector<json> values;
    std::set<std::string> types;
    const json* schema = nullptr;
  };
  Sig signature(const json& s, size_t depth) {
    Sig g;
    g.schema = &s;
    if (depth > lim_.max_depth || !s.is_object()) {
      g.types = {kTypes.begin(), kTypes.end()};
      return g;
    }
    if (s.contains("$ref") && s["$ref"].is_string()) {
      const std::string t = s["$ref"].get<std::string>();
      try {
        const json& n = root_.at(json::json_pointer(t.substr(1)));
        return signature(n, depth + 1);
      } catch (const std::exception&) {
      }
    }
    if (s.contains("const") || s.contains("enum")) {
      g.literal = true;
      if (s.contains("const")) g.values.push_back(s["const"]);
      else if (s["enum"].is_array()) g.values.assign(s["enum"].begin(), s["enum"].end());
      return g;
    }
    if (s.contains("anyOf") || s.contains("oneOf")) {
      const json& br = s.contains("anyOf") ? s["anyOf"] : s["oneOf"];
      if (br.is_array()) {
        for (const json& x : br) {
          Sig sub = signature(x, depth + 1);
          if (sub.literal) for (const json& v : sub.values) sub.types.insert(type_of(v));
          g.types.insert(sub.types.begin(), sub.types.end());
        }
        return g;
      }
    }
    std::vector<std::string> types = s.contains("type") ? schema_types(s, "") : std::vector<std::string>{};
    if (types.empty()) types = kTypes;
    g.types = {types.begin(), types.end()};
    return g;
  }

  static bool types_overlap(const std::set<std::string>& a, const std::set<std::string>& b2) {
    for (const std::string& x : a) {
      for (const std::string& y : b2) {
        if (x == y || (x == "number" && y == "integer") || (x == "integer" && y == "number")) return true;
      }
    }
    return false;
  }

  // Literal values of required property `p` of an object-only branch, or none.
  std::optional<std::vector<json>> discriminator(const Sig& g, const std::string& p) {
    if (g.literal || g.types != std::set<std::string>{"object"}) return std::nullopt;
    const json& s = *g.schema;
    if (!s.contains("required") || !s["required"].is_array() || !s.contains("properties") || !s["properties"].is_object()) return std::nullopt;
    if (std::find(s["required"].begin(), s["required"].end(), json(p)) == s["required"].end()) return std::nullopt;
    if (!s["properties"].contains(p)) return std::nullopt;
    Sig ps = signature(s["properties"][p], 0);
    if (!ps.literal) return std::nullopt;
    return ps.values;
  }

  void check_one_of(const json& br, const std::string& path, size_t depth) {
    std::vector<Sig> sigs;
    for (const json& x : br) {
      // Follow $ref to the branch's own schema for discriminators.
      const json* node = &x;
      for (int hop = 0; hop < 8 && node->is_object() && node->contains("$ref") && (*node)["$ref"].is_string(); ++hop) {
        try {
          node = &root_.at(json::json_pointer((*node)["$ref"].get<std::string>().substr(1)));
        } catch (const std::exception&) {
          break;
        }
      }
      sigs.push_back(signature(*node, depth));
    }
    for (size_t i = 0; i < sigs.size(); ++i) {
      for (size_t j = i + 1; j < sigs.size(); ++j) {
        const Sig &a = sigs[i], &c = sigs[j];
        bool disjoint;
        if (a.literal && c.literal) {
          disjoint = std::none_of(a.values.begin(), a.values.end(), [&](const json& v) {
            return std::find(c.values.begin(), c.values.end(), v) != c.values.end();
          });
        } else if (a.literal || c.literal) {
          const Sig& l = a.literal ? a : c;
          const Sig& t = a.literal ? c : a;
          disjoint = std::none_of(l.values.begin(), l.values.end(), [&](const json& v) {
            return std::any_of(t.types.begin(), t.types.end(), [&](const std::string& ty) { return type_matches(type_of(v), ty); });
          });
        } else {
          disjoint = !types_overlap(a.types, c.types);
        }
        if (!disjoint && a.schema->is_object() && a.schema->contains("properties") && (*a.schema)["properties"].is_object()) {
          for (const auto& [p, ps] : (*a.schema)["properties"].items()) {
            auto da = discriminator(a, p), dc = discriminator(c, p);
            if (da && dc && std::none_of(da->begin(), da->end(), [&](const json& v) {
                  return std::find(dc->begin(), dc->end(), v) != dc->end();
                })) {
              disjoint = true;
              break;
            }
          }
        }
        if (!disjoint) {
          throw GrammarError("'oneOf' branches " + std::to_string(i) + " and " + std::to_string(j) +
                             " may match the same value " + at(path) +
                             "; only branches told apart by type, const/enum or a required const property are supported (use 'anyOf')");
        }
      }
    }
  }

  int32_t object(const json& s, const std::string& path, size_t depth, bool kwargs) {
    struct Prop {
      std::string name;
      int32_t rule;
      bool required;
    };
    std::vector<std::string> required;
    if (s.contains("required")) {
      const json& rq = s["required"];
      if (!rq.is_array()) throw GrammarError("'required' must be an array " + at(path));
      for (const json& x : rq) {
        if (!x.is_string()) throw GrammarError("'required' must list strings " + at(path));
        if (std::find(required.begin(), required.end(), x.get<std::string>()) == required.end()) required.push_back(x);
      }
    }
    const json* addl = s.contains("additionalProperties") ? &s["additionalProperties"] : nullptr;
    if (addl && !addl->is_boolean() && !addl->is_object()) {
      throw GrammarError("'additionalProperties' must be a boolean or a schema " + at(path));
    }
    std::vector<Prop> props;
    if (s.contains("properties")) {
      const json& ps = s["properties"];
      if (!ps.is_object()) throw GrammarError("'properties' must be an object " + at(path));
      for (const auto& [k, v] : ps.items()) {
        const bool req = std::find(required.begin(), required.end(), k) != required.end();
        props.push_back({k, value(v, path + "/properties/" + k, depth + 1), req});
      }
    }
    for (const std::string& k : required) {
      if (std::any_of(props.begin(), props.end(), [&](const Prop& p) { return p.name == k; })) continue;
      if (addl && addl->is_boolean() && !addl->get<bool>()) {
        throw GrammarError("required property '" + k + "' is not in 'properties' and additionalProperties is false " + at(path));
      }
      props.push_back({k, addl && addl->is_object() ? value(*addl, path + "/additionalProperties", depth + 1) : any(lim_.free_depth), true});
    }
    // A[i]: members i.. with none written yet; B[i]: members i.. after at least one.
    const size_t n = props.size();
    std::vector<int32_t> A(n + 1), B(n + 1);
    A[n] = b.rule({{}});
    B[n] = A[n];
    for (size_t i = n; i-- > 0;) {
      Alt member = kwargs ? b.literal(props[i].name + "=") : b.literal(json(props[i].name).dump(-1, ' ', false, json::error_handler_t::replace) + ":");
      if (!kwargs) member.push_back(b.ref(ws()));
      member.push_back(b.ref(props[i].rule));
      Alt a_alt = member;
      a_alt.push_back(b.ref(B[i + 1]));
      Alt b_alt{b.byte(','), b.ref(ws())};
      b_alt.insert(b_alt.end(), member.begin(), member.end());
      b_alt.push_back(b.ref(B[i + 1]));
      A[i] = b.new_rule();
      B[i] = b.new_rule();
      b.add_alt(A[i], std::move(a_alt));
      b.add_alt(B[i], std::move(b_alt));
      if (!props[i].required) {
        b.add_alt(A[i], {b.ref(A[i + 1])});
        b.add_alt(B[i], {b.ref(B[i + 1])});
      }
    }
    if (kwargs) return A[0];
    return b.rule({{b.byte('{'), b.ref(A[0]), b.byte('}')}});
  }

  static int64_t count_kw(const json& s, const char* k, int64_t dflt, const std::string& path) {
    if (!s.contains(k)) return dflt;
    const json& v = s[k];
    if (!(v.is_number_integer() || v.is_number_unsigned()) || v.get<int64_t>() < 0) {
      throw GrammarError(std::string("'") + k + "' must be a non-negative integer " + at(path));
    }
    return v.get<int64_t>();
  }

  // "[" elements "]" with element i from item(i), count in [min_n, max_n] (max_n < 0: no limit);
  // item(i) is the same rule for every i >= fixed.
  template <class F>
  int32_t array_rule(F item, int64_t fixed, int64_t min_n, int64_t max_n) {
    const int64_t bound = std::max(min_n, fixed);
    if (max_n >= 0 && min_n > max_n) return b.new_rule();  // unsatisfiable
    if (max_n > bound + lim_.max_repeat) max_n = bound + lim_.max_repeat;  // a subset: fewer items
    if (bound > static_cast<int64_t>(lim_.max_elems)) throw GrammarError("minItems is too large");
    // seq(i): elements i.. each preceded by ','.
    int32_t loop = -1;
    std::vector<int32_t> seq;
    const int64_t last = max_n >= 0 ? max_n : bound;
    seq.resize(static_cast<size_t>(last + 1));
    for (int64_t i = last; i >= 1; --i) {
      const int32_t r = b.new_rule();
      if (i == last && max_n >= 0) {
        b.add_alt(r, {});
      } else if (i == last) {
        // Unbounded tail: the same item rule from here on.
        b.add_alt(r, {b.byte(','), b.ref(ws()), b.ref(item(i)), b.ref(r)});
        b.add_alt(r, {});
        loop = r;
      } else {
        b.add_alt(r, {b.byte(','), b.ref(ws()), b.ref(item(i)), b.ref(seq[i + 1])});
        if (i >= min_n) b.add_alt(r, {});
      }
      seq[i] = r;
    }
    (void)loop;
    const int32_t out = b.new_rule();
    if (min_n == 0) b.add_alt(out, b.literal("[]"));
    if (max_n != 0) {
      const int32_t tail = last >= 1 ? seq[1] : b.rule({{}});
      b.add_alt(out, {b.byte('['), b.ref(item(0)), b.ref(tail), b.byte(']')});
    }
    return out;
  }

  int32_t array(const json& s, const std::string& path, size_t depth) {
    std::vector<int32_t> prefix;
    if (s.contains("prefixItems")) {
      const json& p = s["prefixItems"];
      if (!p.is_array()) throw GrammarError("'prefixItems' must be an array " + at(path));
      for (size_t i = 0; i < p.size(); ++i) prefix.push_back(value(p[i], path + "/prefixItems/" + std::to_string(i), depth + 1));
    }
    int32_t rest;
    int64_t max_n = count_kw(s, "maxItems", -1, path);
    const int64_t min_n = count_kw(s, "minItems", 0, path);
    if (s.contains("items")) {
      const json& it = s["items"];
      if (it.is_array()) throw GrammarError("array-form 'items' is not supported (use 'prefixItems') " + at(path));
      if (it.is_boolean() && !it.get<bool>()) {
        const int64_t k = static_cast<int64_t>(prefix.size());
        max_n = max_n < 0 ? k : std::min(max_n, k);
        rest = b.new_rule();
      } else {
        rest = value(it, path + "/items", depth + 1);
      }
    } else {
      rest = any(lim_.free_depth);
    }
    return array_rule([&](int64_t i) { return i < static_cast<int64_t>(prefix.size()) ? prefix[i] : rest; },
                      static_cast<int64_t>(prefix.size()), min_n, max_n);
  }

  // One character of a JSON string (UTF-8, escapes without surrogates).
  int32_t json_char() {
    if (char_ >= 0) return char_;
    ByteSet ascii, cont, c2, hex, hex_nd, esc;
    ascii.set_range(0x20, 0x7f);
    ascii.bits[0x22 >> 6] &= ~(uint64_t{1} << (0x22 & 63));
    ascii.bits[0x5c >> 6] &= ~(uint64_t{1} << (0x5c & 63));
    cont.set_range(0x80, 0xbf);
    c2.set_range(0xc2, 0xdf);
    for (uint8_t c : std::string("0123456789abcdefABCDEF")) hex.set(c);
    for (uint8_t c : std::string("0123456789abcefABCEF")) hex_nd.set(c);
    for (uint8_t c : std::string("\"\\/bfnrt")) esc.set(c);
    ByteSet e1, e_mid, ed2, f1, f_mid, f4, a0, n90, l80;
    e_mid.set_range(0xe1, 0xec);
    e_mid.set_range(0xee, 0xef);
    a0.set_range(0xa0, 0xbf);
    ed2.set_range(0x80, 0x9f);
    n90.set_range(0x90, 0xbf);
    f_mid.set_range(0xf1, 0xf3);
    l80.set_range(0x80, 0x8f);
    ByteSet d_lo;
    d_lo.set_range('0', '7');
    const Sym C = b.bytes(cont), H = b.bytes(hex);
    char_ = b.rule({{b.bytes(ascii)},
                    {b.bytes(c2), C},
                    {b.byte(0xe0), b.bytes(a0), C},
                    {b.bytes(e_mid), C, C},
                    {b.byte(0xed), b.bytes(ed2), C},
                    {b.byte(0xf0), b.bytes(n90), C, C},
                    {b.bytes(f_mid), C, C, C},
                    {b.byte(0xf4), b.bytes(l80), C, C},
                    {b.byte('\\'), b.bytes(esc)},
                    {b.byte('\\'), b.byte('u'), b.bytes(hex_nd), H, H, H},
                    {b.byte('\\'), b.byte('u'), b.bytes([] { ByteSet d; d.set('d'); d.set('D'); return d; }()), b.bytes(d_lo), H, H}});
    return char_;
  }

  // '"' char{min,max} '"' (max < 0: unbounded).
  int32_t string_rule(int64_t min_n, int64_t max_n) {
    const int32_t c = json_char();
    if (max_n >= 0 && min_n > max_n) return b.new_rule();
    if (max_n > min_n + lim_.max_repeat) max_n = min_n + lim_.max_repeat;
    if (min_n > static_cast<int64_t>(lim_.max_elems)) throw GrammarError("minLength is too large");
    int32_t tail;
    if (max_n < 0) {
      tail = b.new_rule();
      b.add_alt(tail, {b.ref(c), b.ref(tail)});
      b.add_alt(tail, {});
    } else {
      tail = b.rule({{}});
      for (int64_t i = min_n; i < max_n; ++i) tail = b.rule({{b.ref(c), b.ref(tail)}, {}});
    }
    Alt a{b.byte('"')};
    for (int64_t i = 0; i < min_n; ++i) a.push_back(b.ref(c));
    a.push_back(b.ref(tail));
    a.push_back(b.byte('"'));
    return b.rule({std::move(a)});
  }

  int32_t string(const json& s, const std::string& path) {
    if (s.contains("format")) {
      if (s.contains("minLength") || s.contains("maxLength") || s.contains("pattern")) {
        throw GrammarError("'format' combined with 'minLength'/'maxLength'/'pattern' is not supported " + at(path));
      }
      const json& f = s["format"];
      auto it = f.is_string() ? kFormats.find(f.get<std::string>()) : kFormats.end();
      if (it == kFormats.end()) {
        throw GrammarError("unsupported 'format' " + (f.is_string() ? "'" + f.get<std::string>().substr(0, 40) + "'" : std::string("value")) +
                           " " + at(path) + " (supported: date, time, date-time, uuid, email)");
      }
      return b.rule({{b.byte('"'), b.ref(compile_pattern(b, it->second, lim_.max_repeat)), b.byte('"')}});
    }
    if (s.contains("pattern")) {
      if (s.contains("minLength") || s.contains("maxLength")) {
        throw GrammarError("'pattern' combined with 'minLength'/'maxLength' is not supported " + at(path));
      }
      if (!s["pattern"].is_string()) throw GrammarError("'pattern' must be a string " + at(path));
      int32_t body;
      try {
        body = compile_pattern(b, s["pattern"].get<std::string>(), lim_.max_repeat);
      } catch (const GrammarError& e) {
        throw GrammarError(std::string(e.what()) + " " + at(path + "/pattern"));
      }
      return b.rule({{b.byte('"'), b.ref(body), b.byte('"')}});
    }
    const int64_t mn = count_kw(s, "minLength", 0, path), mx = count_kw(s, "maxLength", -1, path);
    if (mn == 0 && mx < 0) return scalar("string");
    return string_rule(mn, mx);
  }

  int32_t digits(int lo, int hi) {  // [0-9]{lo,hi}
    if (digit_ < 0) {
      ByteSet d;
      d.set_range('0', '9');
      digit_ = b.rule({{b.bytes(d)}});
    }
    int32_t tail = b.rule({{}});
    for (int i = lo; i < hi; ++i) tail = b.rule({{b.ref(digit_), b.ref(tail)}, {}});
    Alt a;
    for (int i = 0; i < lo; ++i) a.push_back(b.ref(digit_));
    a.push_back(b.ref(tail));
    return b.rule({std::move(a)});
  }

  int32_t integer() {
    ByteSet nz;
    nz.set_range('1', '9');
    const int32_t mag = b.rule({b.literal("0"), {b.bytes(nz), b.ref(digits(0, 14))}});
    return b.rule({{b.ref(mag)}, {b.byte('-'), b.ref(mag)}});
  }

  int32_t number() {
    const int32_t frac = b.rule({{}, {b.byte('.'), b.ref(digits(1, 15))}});
    ByteSet e, sign;
    e.set('e');
    e.set('E');
    sign.set('+');
    sign.set('-');
    const int32_t exp = b.rule({{}, {b.bytes(e), b.ref(digits(1, 2))}, {b.bytes(e), b.bytes(sign), b.ref(digits(1, 2))}});
    return b.rule({{b.ref(scalar("integer")), b.ref(frac), b.ref(exp)}});
  }
};

}  // namespace

std::shared_ptr<const Grammar> compile_json_schema(const nlohmann::ordered_json& schema, const SchemaLimits& limits) {
  Compiler c(schema, limits);
  const int32_t root = c.value(schema, "", 0);
  return c.b.build(root, limits.max_elems);
}

std::shared_ptr<const Grammar> compile_json_object(const SchemaLimits& limits) {
  nlohmann::ordered_json empty = nlohmann::ordered_json::object();
  Compiler c(empty, limits);
  const int32_t root = c.any_object(limits.free_depth);
  return c.b.build(root, limits.max_elems);
}

std::shared_ptr<const Grammar> compile_tool_calls(const std::vector<ToolSpec>& tools, bool parallel, int32_t start_token,
                                                  int32_t end_token, const SchemaLimits& limits) {
  if (tools.empty()) throw GrammarError("no tools to call");
  GrammarBuilder* bp = nullptr;
  // One compiler per tool would give each its own $ref root; they share one builder instead.
  std::vector<std::unique_ptr<Compiler>> cs;
  nlohmann::ordered_json empty = nlohmann::ordered_json::object();
  std::vector<Alt> calls;
  std::unique_ptr<Compiler> main = std::make_unique<Compiler>(empty, limits);
  bp = &main->b;
  GrammarBuilder& b = *bp;
  for (const ToolSpec& t : tools) {
    // Each tool's $refs resolve against its own parameters: compile with a compiler rooted there
    // but writing into the shared builder.
    Compiler c(t.parameters, limits);
    std::swap(c.b, b);
    int32_t args;
    try {
      args = c.kwargs(t.parameters, "");
      if (args < 0) args = c.value(t.parameters, "", 0);  // one dict positional argument
    } catch (const GrammarError& e) {
      std::swap(c.b, b);
      throw GrammarError("tool '" + t.name + "': " + e.what());
    }
    std::swap(c.b, b);
    Alt a = b.literal(t.name + "(");
    a.push_back(b.ref(args));
    a.push_back(b.byte(')'));
    calls.push_back(std::move(a));
  }
  const int32_t call = b.rule(std::move(calls));
  const int32_t ws = b.rule({{}, b.literal(" ")});
  const int32_t more = b.new_rule();
  if (parallel) b.add_alt(more, {b.byte(','), b.ref(ws), b.ref(call), b.ref(more)});
  b.add_alt(more, {});
  Alt root;
  if (start_token >= 0) root.push_back(b.token(start_token));
  root.push_back(b.byte('['));
  root.push_back(b.ref(call));
  root.push_back(b.ref(more));
  root.push_back(b.byte(']'));
  root.push_back(b.token(end_token));
  const int32_t r = b.rule({std::move(root)});
  return b.build(r, limits.max_elems);
}

}  // namespace lfmd::grammar
