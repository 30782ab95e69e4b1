// JSON Schema -> grammar (constrained decoding for response_format and tool calls).
//
// The grammar generates a subset of the instances the schema accepts, never anything outside it:
//  - object properties come in the schema's order; optional ones may be left out; properties not
//    in `properties` are generated only when `required` names them (then by additionalProperties);
//  - compact JSON, with at most one space after ':' and ',';
//  - integers have at most 15 digits; numbers at most 15 integer and 15 fraction digits and an
//    exponent of at most 2 digits (values a double holds; 1e999 would overflow);
//  - \u escapes exclude surrogates (so string lengths count as Python / JSON Schema count them);
//  - values under `true` / {} schemas and in json_object nest at most Limits::free_depth deep;
//  - counts above the minimum are capped at Limits::max_repeat (maxItems / maxLength larger than
//    minimum + max_repeat generate at most minimum + max_repeat).
// Supported keywords: type (incl. unions), properties, required, additionalProperties, enum,
// const, items, prefixItems, minItems, maxItems, anyOf, oneOf (branches must be told apart by
// type, by const/enum values, or by a required const/enum property), $ref (local: "#",
// "#/$defs/..", "#/definitions/.."), $defs, definitions, minLength, maxLength, pattern (a plain
// regular subset, see compile_pattern), format (date, time, date-time, uuid, email: only valid
// values are generated, e.g. days 01-28; alone, not with other string keywords), minimum,
// maximum, exclusiveMinimum, exclusiveMaximum (numbers: integer values only are generated, so a
// range must hold an integer; bounds beyond 15 digits are clamped to them). Annotations (title, description, default, examples,
// $schema, $id, $comment, deprecated, readOnly, writeOnly) are ignored. Any other keyword throws
// GrammarError naming it, as do limits and unsatisfiable schemas.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/grammar/grammar.h"

namespace lfmd::grammar {

struct SchemaLimits {
  size_t max_depth = 32;        // nesting of subschemas (each $ref use counts one level)
  size_t max_elems = 200000;    // compiled grammar size (elements)
  int free_depth = 3;           // nesting of values generated for `true` / {} / json_object
  int max_repeat = 256;         // optional repetitions generated beyond the minimum
};

// One JSON value valid against `schema`.
std::shared_ptr<const Grammar> compile_json_schema(const nlohmann::ordered_json& schema,
                                                   const SchemaLimits& limits = {});
// Any JSON object (response_format json_object).
std::shared_ptr<const Grammar> compile_json_object(const SchemaLimits& limits = {});

struct ToolSpec {
  std::string name;
  nlohmann::ordered_json parameters;  // {} / null: no parameters
};
// LFM2 tool calls: [start_token] "[" name(k=v, ...) {", " ...} "]" end_token, arguments in the
// tool's parameters schema (keyword arguments; a single dict argument when a property name is not
// an identifier). parallel=false: exactly one call. start_token < 0: the grammar begins at "[".
std::shared_ptr<const Grammar> compile_tool_calls(const std::vector<ToolSpec>& tools, bool parallel,
                                                  int32_t start_token, int32_t end_token,
                                                  const SchemaLimits& limits = {});

// Regular-expression subset for `pattern`: literals (UTF-8), escapes \d \w \s \D \W \S and
// escaped punctuation, \n \t \r, classes [...] / [^...] over ASCII (ranges, escapes), '.',
// groups (...) and (?:...), '|', quantifiers * + ? {n} {n,} {n,m} (lazy '?' suffix accepted),
// '^' at the start and '$' at the end. Generates strings the whole pattern matches (a subset of
// what re.search accepts), as the body of a JSON string (escapes where JSON needs them; the
// negated classes and '.' generate ASCII only). Throws GrammarError for anything else.
int32_t compile_pattern(GrammarBuilder& b, const std::string& pattern, int max_repeat);

// The decimal strings of the integers in [lo, hi] (|lo|, |hi| < 10^18); a rule without
// alternatives when lo > hi.
int32_t compile_integer_range(GrammarBuilder& b, int64_t lo, int64_t hi);

}  // namespace lfmd::grammar
