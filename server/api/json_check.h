// Validation helpers shared by the request parsers (chat_request.cpp, responses_request.cpp).
// A failed check throws Reject; each parser's entry point catches it with guarded(). The helpers
// name the offending field by its path p, e.g. "input[2].content[0].type".
#pragma once

#include <cstddef>
#include <cstdint>
#include <new>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
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
const char* type_name(const json& j);  // "a string", "an object", ...

// The member `key` of object `obj`, or nullptr when absent or null (null == absent everywhere).
const json* field(const json& obj, const char* key);
const json& require(const json& obj, const char* key, const std::string& p);
const std::string& as_string(const json& j, const std::string& p);
bool as_bool(const json& j, const std::string& p);
const json& as_object(const json& j, const std::string& p);
// A JSON number in [lo, hi] (or (lo, hi] with lo_open).
double number_in(const json& j, const std::string& p, double lo, double hi, bool lo_open = false);
// A JSON integer in [lo, hi] (decimals such as 2.0 are rejected).
int64_t int_in(const json& j, const std::string& p, int64_t lo, int64_t hi);
size_t json_depth(const json& root);              // {} and [] count 1, scalars 0
std::string idx(const std::string& p, size_t i);  // p + "[i]"

// The body as a JSON object: depth-checked before parsing, then parsed (invalid_json otherwise).
json parse_body(std::string_view body, const Limits& L);
// Tool-call arguments text -> object ("" or blanks -> {}); depth-checked before parsing.
json parse_arguments_text(const std::string& s, const std::string& p, const Limits& L);
// A free-form schema object (tool parameters, json_schema): an object within the size/depth limits.
void check_schema(const json& s, const std::string& p, const Limits& L);
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

// Runs parse() and turns a Reject / bad_alloc / other exception into an ApiError. Never throws.
template <typename T, typename F>
std::variant<T, ApiError> guarded(F&& parse) {
  try {
    return parse();
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

}  // namespace lfmd::api::check
