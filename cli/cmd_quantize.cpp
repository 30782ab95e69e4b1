// lfmd quantize: llama.cpp's quantization mixes, written by lfmd's reference quantizers.
#include <cstdio>
#include <stdexcept>

#include "engine/quantize.h"
#include "engine/thread_pool.h"
#include "cli/commands.h"
#include "cli/model_file_cli.h"

namespace lfmd::cli {
namespace {

using config::OptType;

int run_quantize(const config::Options& o) {
  if (o.str("in").empty() || o.str("out").empty() || o.str("type").empty()) {
    throw std::runtime_error("usage: lfmd quantize IN.gguf OUT.gguf TYPE");
  }
  quant::FileType ft;
  if (!quant::parse_file_type(o.str("type"), &ft)) {
    throw std::runtime_error("unknown type '" + o.str("type") +
                             "' (types: " + quant::file_type_list() + ")");
  }
  if (o.str("in") == o.str("out")) throw std::runtime_error("IN and OUT are the same file");
  ThreadPool pool(threads_of(o), 0);
  quant::quantize_file(o.str("in"), o.str("out"), ft, &pool, tty_progress("lfmd: quantizing"));
  std::fprintf(stderr, "lfmd: wrote %s (%s)\n", o.str("out").c_str(), quant::file_type_name(ft));
  return 0;
}

config::Command quantize_cmd() {
  static const std::string usage =
      "lfmd quantize IN.gguf OUT.gguf TYPE   (TYPE: " + quant::file_type_list() + ")";
  config::Command c{
      "quantize",
      "Quantize a GGUF with llama.cpp's mix rules (Q4_K_M: Q6_K on some attn_v / ffn_down "
      "layers and the tied embedding). Inputs: F32, F16, BF16, Q8_0 (or any type lfmd reads).",
      usage.c_str(),
      {}};
  c.options.push_back({"in", OptType::String, "", "input GGUF (or the first argument)"});
  c.options.push_back(
      {"out", OptType::String, "", "output GGUF (or the second argument)", 0, 0, 'o'});
  c.options.push_back({"type", OptType::String, "", "file type (or the third argument)"});
  c.options.push_back({"threads", OptType::Int, "0", "threads (0 = all cores)", 0, 1024, 't'});
  return c;
}

}  // namespace

int cmd_quantize(const std::vector<std::string>& a) {
  return guarded("quantize", run_quantize, quantize_cmd(),
                 positionals_to_flags(a, {"in", "out", "type"}));
}

}  // namespace lfmd::cli
