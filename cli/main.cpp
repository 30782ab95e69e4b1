// lfmd: local inference daemon for LFM2 / LFM2-MoE GGUF models. Dispatches subcommands.
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "cli/commands.h"

namespace {

struct Subcommand {
  const char* name;
  int (*run)(const std::vector<std::string>&);
  const char* summary;
};

constexpr Subcommand kCommands[] = {
    {"serve", lfmd::cli::cmd_serve, "serve the model over the OpenAI API"},
    {"complete", lfmd::cli::cmd_complete, "generate a continuation of a prompt"},
    {"chat", lfmd::cli::cmd_chat, "interactive chat in the terminal"},
    {"tokenize", lfmd::cli::cmd_tokenize, "print the token ids of a text"},
    {"logits", lfmd::cli::cmd_logits, "dump the logits of every position (float32)"},
    {"dequant", lfmd::cli::cmd_dequant, "write an F32 copy of a GGUF (dequantized)"},
    {"bench", lfmd::cli::cmd_bench, "measure prefill and decode speed (one JSON line)"},
    {"gen-model", lfmd::cli::cmd_gen_model, "write a random-weight test model of an LFM2 shape"},
    {"pull", lfmd::cli::cmd_pull, "download a GGUF from the Hugging Face Hub (org/name[:QUANT])"},
    {"convert", lfmd::cli::cmd_convert, "convert a Hugging Face LFM2 checkpoint to GGUF"},
    {"quantize", lfmd::cli::cmd_quantize, "quantize a GGUF (Q4_K_M, Q5_K_M, Q8_0, ...)"},
};

void usage(std::FILE* out) {
  std::fprintf(out, "lfmd - local inference for LFM2 / LFM2-MoE GGUF models\n\nusage: lfmd COMMAND [options]\n\ncommands:\n");
  for (const auto& c : kCommands) std::fprintf(out, "  %-12s %s\n", c.name, c.summary);
  std::fprintf(out, "\n'lfmd COMMAND --help' lists a command's options. Without --model, the built-in demo model\n"
                    "(random weights) is used.\n");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h") || !std::strcmp(argv[1], "help")) {
    usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  if (!std::strcmp(argv[1], "--version")) {
    std::printf("lfmd 0.1.0\n");
    return 0;
  }
  std::vector<std::string> args(argv + 2, argv + argc);
  for (const auto& c : kCommands) {
    if (argv[1] == std::string(c.name)) return c.run(args);
  }
  std::fprintf(stderr, "lfmd: unknown command '%s'\n\n", argv[1]);
  usage(stderr);
  return 2;
}
