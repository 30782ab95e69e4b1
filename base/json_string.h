// JSON string literals: the one escaper used wherever lfmd writes JSON text by hand (the Jinja
// tojson filter, tool-call arguments). nlohmann::json's dump() is used everywhere else.
#pragma once

#include <string>
#include <string_view>

namespace lfmd {

// Appends `s` as a JSON string literal, quotes included: " \ and control characters escaped
// (\b \f \n \r \t, others as \u00XX); every other byte, UTF-8 included, is copied as it is.
void append_json_string(std::string_view s, std::string& out);

}  // namespace lfmd
