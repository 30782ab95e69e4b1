// lfmd convert: a Hugging Face LFM2 / LFM2-MoE checkpoint to GGUF.
#include <cstdio>
#include <stdexcept>

#include "engine/hf_convert.h"
#include "engine/quantize.h"
#include "engine/thread_pool.h"
#include "cli/commands.h"
#include "cli/model_file_cli.h"

namespace lfmd::cli {
namespace {

using config::OptType;

int run_convert(const config::Options& o) {
  if (o.str("dir").empty() || o.str("out").empty()) {
    throw std::runtime_error("usage: lfmd convert HF_DIR --out FILE.gguf [--type T]");
  }
  quant::FileType ft;
  if (!quant::parse_file_type(o.str("type"), &ft)) {
    throw std::runtime_error("unknown --type '" + o.str("type") +
                             "' (types: " + quant::file_type_list() + ")");
  }
  ThreadPool pool(threads_of(o), 0);
  hf::ConvertStats st = hf::convert_checkpoint(o.str("dir"), o.str("out"), ft, &pool,
                                               tty_progress("lfmd: converting"));
  std::fprintf(stderr, "lfmd: wrote %s (%s, %s, %zu tensors)\n", o.str("out").c_str(),
               st.arch.c_str(), quant::file_type_name(ft), st.n_tensors);
  return 0;
}

config::Command convert_cmd() {
  static const std::string usage =
      "lfmd convert HF_DIR --out FILE.gguf [--type T]   (T: " + quant::file_type_list() + ")";
  config::Command c{
      "convert",
      "Convert a Hugging Face checkpoint of Lfm2ForCausalLM / Lfm2MoeForCausalLM (config.json, "
      "*.safetensors, tokenizer.json, tokenizer_config.json) into a GGUF.",
      usage.c_str(),
      {}};
  c.options.push_back({"dir", OptType::String, "", "checkpoint directory (or the first argument)"});
  c.options.push_back({"out", OptType::String, "", "output GGUF", 0, 0, 'o'});
  c.options.push_back({"type", OptType::String, "f16", "tensor type / mix of the output"});
  c.options.push_back({"threads", OptType::Int, "0", "threads (0 = all cores)", 0, 1024, 't'});
  return c;
}

}  // namespace

int cmd_convert(const std::vector<std::string>& a) {
  return guarded("convert", run_convert, convert_cmd(), positionals_to_flags(a, {"dir"}));
}

}  // namespace lfmd::cli
