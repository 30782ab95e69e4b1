// libFuzzer: the Jinja interpreter. Input: template, a NUL byte, then the context as JSON (a
// default chat context when absent or not an object). Parse and render with tight limits; only
// jinja::Error may come out.
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string_view>

#include "jinja/jinja.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const size_t cut = in.find('\0');
  const std::string_view source = in.substr(0, cut);
  nlohmann::ordered_json ctx;
  if (cut != std::string_view::npos)
    ctx = nlohmann::ordered_json::parse(in.substr(cut + 1), nullptr, /*allow_exceptions=*/false);
  if (!ctx.is_object())
    ctx = {{"messages", {{{"role", "user"}, {"content", "hi"}}}}, {"add_generation_prompt", true},
           {"bos_token", "<|startoftext|>"}};
  lfmd::jinja::RenderOptions opt;
  opt.limits.max_iterations = 20000;
  opt.limits.max_output_bytes = 1 << 20;
  opt.limits.max_memory_bytes = 8 << 20;
  opt.limits.max_work_bytes = 64 << 20;
  opt.limits.max_recursion = 50;
  opt.now = [] { return std::tm{}; };
  try {
    const auto t = lfmd::jinja::Template::parse(source);
    (void)t.render(ctx, opt);
  } catch (const lfmd::jinja::Error&) {
  }
  return 0;
}
