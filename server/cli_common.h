// Shared pieces of the lfmd subcommands: model options, loading with progress, memory report.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "config/options.h"
#include "engine/loader.h"

namespace lfmd::cli {

// --model, --threads, --ctx, --batch, --isa: appended to every command that loads a model.
std::vector<config::OptionSpec> model_options();

// Loads --model (or the demo model when none is given), showing progress on a terminal and
// logging the memory split. Throws on failure with a one-line message.
std::unique_ptr<LoadedModel> load_from_options(const config::Options& opts);

// "12.3 MiB"
std::string mib(uint64_t bytes);

// Runs a subcommand body, turning exceptions into "error: ..." and exit code 1.
int guarded(const char* command, int (*body)(const config::Options&), const config::Command& cmd,
            const std::vector<std::string>& args);

}  // namespace lfmd::cli
