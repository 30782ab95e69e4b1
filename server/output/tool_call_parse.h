// Parser for the body of one LFM2 tool-call block (the text between <|tool_call_start|> and
// <|tool_call_end|>), Pythonic or JSON, into OpenAI-shaped calls. Pure function, no state.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace lfmd::output {

struct ParsedCall {
  std::string name;
  std::string arguments;  // compact JSON object text, e.g. {"city":"Paris","n":2}; no args: {}
};

// Accepted forms (surrounding whitespace allowed everywhere):
//   [name(k=v, ...), name2(), ...]     Pythonic, keyword arguments only; dotted/hyphenated names
//   name(k=v), name2()                 the same without brackets (lenient)
//   [name({"k": v})]                   one dict positional argument = the keyword arguments
//   [{"name": "f", "arguments": {...}}, ...]   JSON; "arguments" may be a JSON string, may be
//   {"name": "f", "arguments": {...}}           "parameters", may be absent/null ({}); an OpenAI
//                                               {"function": {...}} wrapper is unwrapped
// Values: Python/JSON literals (True/False/None, true/false/null), ints (any size, underscores),
// floats, strings ('..', "..", '''..''', """..""", r/u prefixes, adjacent literals concatenated,
// Python escapes incl. \xNN \uXXXX \UXXXXXXXX \ooo, JSON \/), lists, tuples (-> arrays), dicts
// (non-string keys converted like json.dumps; duplicate keys: last value, first position), sets
// (-> arrays). Numbers are rendered as Python's json.dumps does: ints exactly (1_000 -> 1000),
// floats by repr() (1.0, 1e-05, 1e+16, 0.0001). Strings are emitted as UTF-8 (not \u-escaped),
// invalid UTF-8 replaced by U+FFFD.
// Returns nullopt for anything else: empty list, positional non-dict args, repeated keyword,
// bare identifiers as values, float overflow (1e999), hex/complex literals, nesting deeper than
// 200, trailing text after the call list.
std::optional<std::vector<ParsedCall>> parse_tool_call_block(std::string_view body);

// Python repr() of a finite double as json.dumps writes it: "1.0", "0.0001", "1e-05", "1e+16".
std::string format_python_float(double v);

// Appends `s` as a JSON string literal (lfmd::append_json_string); invalid UTF-8 becomes U+FFFD.
void append_json_text(std::string_view s, std::string& out);

}  // namespace lfmd::output
