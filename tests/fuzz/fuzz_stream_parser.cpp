// libFuzzer: the model-output parsers (tool-call blocks, <think> reasoning, bare call lists,
// stop strings). The first byte picks options and the piece size; the output is fed in pieces
// as a model would produce it. Also the tool-call block parser on the whole input.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "server/output/stream_parser.h"
#include "server/output/tool_call_parse.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t opt = data[0];
  const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  lfmd::output::Options o;
  o.parse_tool_calls = opt & 1;
  o.parse_reasoning = opt & 2;
  if (opt & 4) o.bare_call_tools = {"get_weather", "f"};
  if (opt & 8) o.stop = {"\n\n", "END"};
  o.make_call_id = [] { return std::string("call_0"); };
  const size_t piece = 1 + (opt >> 4);
  lfmd::output::StreamParser p(o);
  for (size_t i = 0; i < text.size() && !p.stopped(); i += piece) (void)p.feed(text.substr(i, piece));
  (void)p.finish();
  (void)p.message();
  (void)lfmd::output::parse_tool_call_block(text);
  return 0;
}
