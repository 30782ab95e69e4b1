// lfmd subcommands; each returns the process exit code.
#pragma once

#include <string>
#include <vector>

namespace lfmd::cli {

int cmd_serve(const std::vector<std::string>& args);
int cmd_complete(const std::vector<std::string>& args);
int cmd_chat(const std::vector<std::string>& args);
int cmd_tokenize(const std::vector<std::string>& args);
int cmd_logits(const std::vector<std::string>& args);
int cmd_dequant(const std::vector<std::string>& args);
int cmd_gen_model(const std::vector<std::string>& args);
int cmd_bench(const std::vector<std::string>& args);
// Getting a model (cmd_quantize.cpp, cmd_convert.cpp, cmd_pull.cpp).
int cmd_quantize(const std::vector<std::string>& args);
int cmd_convert(const std::vector<std::string>& args);
int cmd_pull(const std::vector<std::string>& args);

}  // namespace lfmd::cli
