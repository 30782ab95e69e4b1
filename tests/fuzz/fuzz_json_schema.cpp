// libFuzzer: the JSON-Schema -> grammar compiler on arbitrary JSON (response_format and tool
// parameters come from clients). Unsupported or oversized schemas must be refused with an
// exception carrying a message, never a crash, a hang or unbounded memory.
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "engine/grammar/json_schema.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto schema = nlohmann::ordered_json::parse(data, data + size, nullptr, /*allow_exceptions=*/false);
  if (schema.is_discarded()) return 0;
  lfmd::grammar::SchemaLimits limits;
  limits.max_elems = 20000;
  try {
    (void)lfmd::grammar::compile_json_schema(schema, limits);
    (void)lfmd::grammar::compile_tool_calls({{"f", schema}}, true, -1, -1, limits);
  } catch (const std::exception&) {
  }
  return 0;
}
