// Shared building blocks of request validation (chat_request.cpp, messages_request.cpp): typed
// field access that rejects with an ApiError naming the field path. A rejection is thrown as
// Reject and caught at each parser's single entry point (guarded()).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <unordered_map>
#include <variant>

#include "server/api/chat_request.h"

namespace lfmd::api::check {

using json = nlohmann::ordered_json;

struct Reject {
  ApiError error;
};

[[noreturn]] void fail(std::string param, std::string message, std::string code = "invalid_value");
[[noreturn]] void fail_type(const std::string& p, const std::string& expected, const json& got);
[[noreturn]] void fail_missing(const std::string& p);
const char* type_name(const json& j);
// The value as the client wrote it when it is a number, else its type name.
std::string describe(const json& j);

// The member `key` of object `obj`, or nullptr when absent or null (null == absent everywhere).
const json* field(const json& obj, const char* key);
const json& require(const json& obj, const char* key, const std::string& p);
const std::string& as_string(const json& j, const std::string& p);
bool as_bool(const json& j, const std::string& p);
const json& as_object(const json& j, const std::string& p);
// A JSON number in [lo, hi] (or (lo, hi] with lo_open).
double number_in(const json& j, const std::string& p, double lo, double hi, bool lo_open = false);
// A JSON integer in [lo, hi]; decimals (2.0) are rejected.
int64_t int_in(const json& j, const std::string& p, int64_t lo, int64_t hi);

// Offset of the first bracket nested deeper than max_depth (strings skipped), or npos.
size_t depth_exceeded_at(std::string_view s, size_t max_depth);
// Nesting depth of a parsed value ({} and [] count 1, scalars 0); iterative.
size_t json_depth(const json& root);
// nlohmann's parse_error text without its "[json.exception.parse_error.101] " prefix.
std::string parse_error_text(const std::exception& e);
bool is_tool_name(std::string_view s, bool allow_dot);
std::string idx(const std::string& p, size_t i);  // "p[i]"

// An array of at most `max` entries (array_above_max_length beyond).
const json& array_at_most(const json& j, const std::string& p, size_t max);
// Records `name` of entry `pk` in `seen`; a second one is "Duplicate tool name ..." at `p`.
void check_unique_name(std::unordered_map<std::string, size_t>& seen, const std::string& name, size_t k,
                       const std::string& p, const std::string& pk);

// An assistant tool call as Conversation holds it: {"id","type":"function","function":{"name",
// "arguments": object, "arguments_json": text}}.
json tool_call_entry(const std::string& id, const std::string& name, json args, std::string args_text);

// The body as a JSON object: depth-checked, parsed, or rejected (invalid_json / invalid_type).
json parse_body(std::string_view body, const Limits& limits);
// A free-form schema object within the size and depth limits.
void check_schema(const json& s, const std::string& p, const Limits& limits);
// A stop string: non-empty, at most max_stop_len bytes.
std::string stop_string(const json& j, const std::string& p, const Limits& limits);

// Tool-call arguments text -> object ("" or blanks -> {}); depth-checked before parsing.
json parse_arguments_text(const std::string& s, const std::string& p, const Limits& L);
// Names: [A-Za-z0-9_-] (and '.' with allow_dot), 1..64 characters; else a 400 naming p.
void check_name(const std::string& name, const std::string& p, bool allow_dot);
// A named tool_choice: the tool must be among c.tools (param "tool_choice").
void check_named_tool(const Conversation& c, const std::string& name);
// tool_choice as a word: auto | none | required (which needs tools). `object_form` shows the
// protocol's object form in the error message.
ToolChoice tool_choice_word(const std::string& s, bool has_tools, const char* object_form);
// tool_choice.type of the object form: only "function".
void check_tool_choice_type(const std::string& type);
// An array of at most `max` entries (array_above_max_length otherwise).
void check_array_max(const json& a, const std::string& p, size_t max);

// Runs a parser: its value, or the ApiError it rejected with (413 on bad_alloc, 500 on anything
// else). Never throws.
ApiError error_of_current_exception();  // call from a catch (...) block
template <class T>
std::variant<T, ApiError> guarded(const std::function<T()>& run) {
  try {
    return run();
  } catch (...) {
    return error_of_current_exception();
  }
}

}  // namespace lfmd::api::check
