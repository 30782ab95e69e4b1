// Shared validation helpers (server/api/validate.h).
#include "server/api/validate.h"

#include <charconv>
#include <cmath>
#include <limits>
#include <new>

namespace lfmd::api::check {

namespace {

// Shortest round-trip text of a bound: 2 -> "2", 0.5 -> "0.5".
std::string fmt_num(double v) {
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof(buf), v);
  return std::string(buf, res.ptr);
}

}  // namespace

[[noreturn]] void fail(std::string param, std::string message, std::string code) {
  throw Reject{invalid_request(std::move(message), std::move(param), std::move(code))};
}

const char* type_name(const json& j) {
  switch (j.type()) {
    case json::value_t::null:
      return "null";
    case json::value_t::boolean:
      return "a boolean";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
      return "an integer";
    case json::value_t::number_float:
      return "a decimal number";
    case json::value_t::string:
      return "a string";
    case json::value_t::array:
      return "an array";
    case json::value_t::object:
      return "an object";
    default:
      return "an unsupported value";
  }
}

// The value as the client wrote it when it is a number, else its type name.
std::string describe(const json& j) {
  return j.is_number() ? j.dump() : type_name(j);
}

[[noreturn]] void fail_type(const std::string& p, const std::string& expected, const json& got) {
  fail(p, "'" + p + "' must be " + expected + ", got " + type_name(got) + ".", "invalid_type");
}

[[noreturn]] void fail_missing(const std::string& p) {
  fail(p, "Missing required parameter: '" + p + "'.", "missing_required_parameter");
}

// The member `key` of object `obj`, or nullptr when absent or null (null == absent everywhere).
const json* field(const json& obj, const char* key) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

const json& require(const json& obj, const char* key, const std::string& p) {
  const json* v = field(obj, key);
  if (!v) fail_missing(p);
  return *v;
}

const std::string& as_string(const json& j, const std::string& p) {
  if (!j.is_string()) fail_type(p, "a string", j);
  return j.get_ref<const std::string&>();
}

bool as_bool(const json& j, const std::string& p) {
  if (!j.is_boolean()) fail_type(p, "a boolean", j);
  return j.get<bool>();
}

const json& as_object(const json& j, const std::string& p) {
  if (!j.is_object()) fail_type(p, "an object", j);
  return j;
}

// A JSON number in [lo, hi] (or (lo, hi] with lo_open).
double number_in(const json& j, const std::string& p, double lo, double hi, bool lo_open) {
  if (!j.is_number()) fail_type(p, "a number", j);
  const double v = j.get<double>();
  const bool ok = (lo_open ? v > lo : v >= lo) && v <= hi;
  if (!ok) {
    std::string range = lo_open ? "greater than " + fmt_num(lo) + " and at most " + fmt_num(hi)
                                : "between " + fmt_num(lo) + " and " + fmt_num(hi);
    fail(p, "'" + p + "' must be a number " + range + ", got " + describe(j) + ".");
  }
  return v;
}

// A JSON integer in [lo, hi]. Decimals (2.0, 1e3) are rejected; integers too large for int64
// arrive from the parser as decimals and are reported as out of range.
int64_t int_in(const json& j, const std::string& p, int64_t lo, int64_t hi) {
  auto range_fail = [&]() {
    fail(p, "'" + p + "' must be an integer between " + std::to_string(lo) + " and " +
                std::to_string(hi) + ", got " + describe(j) + ".");
  };
  if (j.is_number_float()) {
    const double d = j.get<double>();
    if (std::isfinite(d) && d == std::trunc(d) && std::fabs(d) >= 9.2e18) range_fail();
    fail(p, "'" + p + "' must be an integer, got " + describe(j) + ".", "invalid_type");
  }
  if (!j.is_number()) fail_type(p, "an integer", j);
  if (j.is_number_unsigned()) {
    const uint64_t u = j.get<uint64_t>();
    if (hi < 0 || u > static_cast<uint64_t>(hi)) range_fail();
    const auto v = static_cast<int64_t>(u);
    if (v < lo) range_fail();
    return v;
  }
  const int64_t v = j.get<int64_t>();
  if (v < lo || v > hi) range_fail();
  return v;
}

// Offset of the first bracket nested deeper than max_depth (strings skipped), or npos. A linear
// scan before parsing, so a depth bomb never reaches the parser or any recursive json code.
size_t depth_exceeded_at(std::string_view s, size_t max_depth) {
  size_t depth = 0;
  bool in_str = false, esc = false;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (in_str) {
      if (esc) {
        esc = false;
      } else if (c == '\\') {
        esc = true;
      } else if (c == '"') {
        in_str = false;
      }
    } else if (c == '"') {
      in_str = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth) return i;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return std::string_view::npos;
}

// Nesting depth of a parsed value ({} and [] count 1, scalars 0); iterative.
size_t json_depth(const json& root) {
  size_t max_d = 0;
  std::vector<std::pair<const json*, size_t>> stack{{&root, 0}};
  while (!stack.empty()) {
    auto [j, d] = stack.back();
    stack.pop_back();
    if (!j->is_structured()) continue;
    max_d = std::max(max_d, d + 1);
    for (const auto& child : *j) stack.emplace_back(&child, d + 1);
  }
  return max_d;
}

// nlohmann's parse_error text without its "[json.exception.parse_error.101] " prefix.
std::string parse_error_text(const std::exception& e) {
  std::string_view w = e.what();
  if (auto pos = w.find("] "); w.substr(0, 16) == "[json.exception." && pos != w.npos) {
    w.remove_prefix(pos + 2);
  }
  return sanitize_for_message(w, 300);
}

bool is_tool_name(std::string_view s, bool allow_dot) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-' || (allow_dot && c == '.');
    if (!ok) return false;
  }
  return true;
}

std::string idx(const std::string& p, size_t i) {
  return p + "[" + std::to_string(i) + "]";
}

const json& array_at_most(const json& j, const std::string& p, size_t max) {
  if (!j.is_array()) fail_type(p, "an array", j);
  if (j.size() > max) {
    fail(p, "'" + p + "' has " + std::to_string(j.size()) + " entries; at most " + std::to_string(max) +
                " are allowed.",
         "array_above_max_length");
  }
  return j;
}

void check_unique_name(std::unordered_map<std::string, size_t>& seen, const std::string& name, size_t k,
                       const std::string& p, const std::string& pk) {
  if (auto [it, fresh] = seen.emplace(name, k); !fresh) {
    fail(p, "Duplicate tool name '" + name + "' in tools[" + std::to_string(it->second) + "] and " + pk + ".");
  }
}

json tool_call_entry(const std::string& id, const std::string& name, json args, std::string args_text) {
  json f = json::object();
  f["name"] = name;
  f["arguments"] = std::move(args);
  f["arguments_json"] = std::move(args_text);
  json o = json::object();
  o["id"] = id;
  o["type"] = "function";
  o["function"] = std::move(f);
  return o;
}

json parse_body(std::string_view body, const Limits& limits) {
  if (size_t at = depth_exceeded_at(body, limits.max_body_depth); at != std::string_view::npos) {
    fail("",
         "The JSON body is nested too deeply: more than " + std::to_string(limits.max_body_depth) +
             " levels (at byte " + std::to_string(at) + ").",
         "invalid_json");
  }
  json root;
  try {
    root = json::parse(body);
  } catch (const json::exception& e) {
    fail("", "We could not parse the JSON body of your request: " + parse_error_text(e),
         "invalid_json");
  }
  if (!root.is_object()) {
    fail("", std::string("The request body must be a JSON object, got ") + type_name(root) + ".",
         "invalid_type");
  }
  return root;
}

void check_schema(const json& s, const std::string& p, const Limits& limits) {
  as_object(s, p);
  if (json_depth(s) > limits.max_json_depth) {
    fail(p, "'" + p + "' is nested more than " + std::to_string(limits.max_json_depth) +
                " levels deep.");
  }
  const size_t bytes = s.dump().size();
  if (bytes > limits.max_tool_schema_bytes) {
    fail(p, "'" + p + "' is too large: " + std::to_string(bytes) + " bytes; at most " +
                std::to_string(limits.max_tool_schema_bytes) + " are allowed.");
  }
}

std::string stop_string(const json& j, const std::string& p, const Limits& limits) {
  const std::string& s = as_string(j, p);
  if (s.empty()) fail(p, "'" + p + "' must not be an empty string.");
  if (s.size() > limits.max_stop_len) {
    fail(p, "'" + p + "' is too long: " + std::to_string(s.size()) + " bytes; at most " +
                std::to_string(limits.max_stop_len) + " are allowed.");
  }
  return s;
}

ApiError error_of_current_exception() {
  try {
    throw;
  } catch (Reject& r) {
    return std::move(r.error);
  } catch (const std::bad_alloc&) {
    ApiError e = invalid_request("The request is too large to process.", "", "request_too_large");
    e.status = 413;
    return e;
  } catch (const std::exception& e) {
    return server_error(e.what());
  } catch (...) {
    return server_error("unexpected failure while parsing the request");
  }
}

json parse_arguments_text(const std::string& s, const std::string& p, const Limits& L) {
  if (s.find_first_not_of(" \t\r\n") == std::string::npos) return json::object();
  if (depth_exceeded_at(s, L.max_json_depth) != std::string_view::npos) {
    fail(p,
         "'" + p + "' is nested more than " + std::to_string(L.max_json_depth) + " levels deep.");
  }
  json v;
  try {
    v = json::parse(s);
  } catch (const json::exception& e) {
    fail(p, "'" + p + "' must be a JSON-encoded object, but it is not valid JSON: " +
                parse_error_text(e));
  }
  if (!v.is_object()) {
    fail(p, "'" + p + "' must be a JSON-encoded object, got " + type_name(v) + ".");
  }
  return v;
}

void check_name(const std::string& name, const std::string& p, bool allow_dot) {
  if (is_tool_name(name, allow_dot)) return;
  fail(p, "Invalid '" + p + "': '" + sanitize_for_message(name, 80) +
              "'. Expected 1 to 64 characters from a-z, A-Z, 0-9, '_'" +
              (allow_dot ? ", '.'" : "") + " and '-'.");
}

void check_named_tool(const Conversation& c, const std::string& name) {
  if (!c.has_tools) {
    fail("tool_choice", "'tool_choice' names the function '" + sanitize_for_message(name, 80) +
                            "' but no 'tools' were given.");
  }
  bool found = false;
  for (const auto& d : c.tools) found = found || d.name == name;
  if (!found) {
    fail("tool_choice", "'tool_choice' names the function '" + sanitize_for_message(name, 80) +
                            "', which is not in 'tools'.");
  }
}

ToolChoice tool_choice_word(const std::string& s, bool has_tools, const char* object_form) {
  if (s == "auto") return ToolChoice::Auto;
  if (s == "none") return ToolChoice::None;
  if (s == "required" && has_tools) return ToolChoice::Required;
  if (s == "required")
    fail("tool_choice", "'tool_choice' is 'required' but no 'tools' were given.");
  fail("tool_choice", "Invalid value for 'tool_choice': '" + sanitize_for_message(s, 64) +
                          "'. Supported values are: 'none', 'auto', 'required' or " + object_form +
                          ".");
}

void check_tool_choice_type(const std::string& type) {
  if (type == "function") return;
  fail("tool_choice.type",
       "Only 'tool_choice' objects of type 'function' are supported, got '" +
           sanitize_for_message(type, 64) + "'.",
       "unsupported_value");
}

void check_array_max(const json& a, const std::string& p, size_t max) {
  if (a.size() <= max) return;
  fail(p,
       "'" + p + "' has " + std::to_string(a.size()) + " entries; at most " + std::to_string(max) +
           " are allowed.",
       "array_above_max_length");
}

}  // namespace lfmd::api::check
