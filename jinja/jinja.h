// lfmd::jinja — a Jinja2 interpreter for LLM chat templates.
//
// Renders byte-identically to Python Jinja2 as Hugging Face transformers configures it:
// ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, loopcontrols), a
// json.dumps-based `tojson` (ensure_ascii=False, key order kept), the globals
// raise_exception(msg) and strftime_now(fmt), and the `{% generation %}` tag.
#pragma once

#include <cstdint>
#include <ctime>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <string_view>

namespace lfmd::jinja {

class Error : public std::runtime_error {
 public:
  enum class Kind {
    Syntax,   // parse error
    Runtime,  // undefined call, type error, bad argument...
    Raised,   // raise_exception(msg) from the template: message() is msg verbatim
    Limit,    // a Limits bound was exceeded
  };
  Error(Kind kind, std::string message, int line = 0, int column = 0);
  Kind kind() const { return kind_; }
  const std::string& message() const { return message_; }  // without position
  int line() const { return line_; }                       // 1-based; 0 = unknown
  int column() const { return column_; }                   // 1-based, in code points
  Error at(int line, int column) const;                    // copy with a position

 private:
  Kind kind_;
  std::string message_;
  int line_, column_;
};

// Bounds for one render, so that a hostile template cannot hang or exhaust memory.
struct Limits {
  std::uint64_t max_iterations = 1'000'000;       // loop iterations, macro calls, items filtered
  std::uint64_t max_output_bytes = 32ull << 20;   // rendered text, and any single string/list
  std::uint64_t max_memory_bytes = 256ull << 20;  // live strings/lists/dicts built by the template
  std::uint64_t max_work_bytes = 4ull << 30;      // bytes copied or scanned by string operations
  int max_recursion = 100;                        // nested macro calls and recursive loops
};

struct RenderOptions {
  Limits limits;
  // Clock for strftime_now(fmt); empty = the current local time.
  std::function<std::tm()> now;
};

class Template {
 public:
  // Throws Error (Kind::Syntax) with line:column.
  static Template parse(std::string_view source);

  // Context keys become template variables (key order of dicts is kept). Throws Error.
  // Thread-safe: one parsed Template may render concurrently.
  std::string render(const nlohmann::ordered_json& context) const;
  std::string render(const nlohmann::ordered_json& context, const RenderOptions& options) const;

  struct Impl;

 private:
  std::shared_ptr<const Impl> impl_;
};

}  // namespace lfmd::jinja
