// Shared pieces of the lfmd subcommands: model options, loading with progress, memory report.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "config/options.h"
#include "engine/loader.h"

namespace lfmd::cli {

// --model, --threads, --ctx, --batch, --isa, --repack, --kv-type: appended to every command that
// loads a model.
std::vector<config::OptionSpec> model_options();
// --kv-type parsed; throws std::runtime_error naming the accepted values.
kernels::KvType kv_type_option(const config::Options& opts);

// Loads --model (or the demo model when none is given), showing progress on a terminal and
// logging the memory split. Throws on failure with a one-line message.
// Start-up lines (demo model notice, load time, memory) go to `say` (serve: its log), else to
// stderr as "lfmd: ..." lines. Progress bars (on a terminal) always go to stderr.
std::unique_ptr<LoadedModel> load_from_options(const config::Options& opts,
                                               const std::function<void(const std::string&)>& say = nullptr);

// --model may name a Hub repository, "org/name[:QUANT]", when no such file exists: the GGUF is
// pulled into the Hub cache (or found there, also offline) and its path returned; anything else is
// returned unchanged (also names ending in .gguf: a missing file stays a missing file).
// Defined in cmd_pull.cpp.
std::string resolve_model_path(const std::string& model);

// "12.3 MiB"
std::string mib(uint64_t bytes);

// A (bytes done, bytes total) progress callback printing "<what> NN% ...": on a terminal one line
// rewritten in place at every percent (with the MiB figures), else a new line every 10 %.
std::function<void(uint64_t, uint64_t)> progress_printer(std::string what, bool in_place);

// Runs a subcommand body, turning exceptions into "error: ..." and exit code 1.
int guarded(const char* command, int (*body)(const config::Options&), const config::Command& cmd,
            const std::vector<std::string>& args);

}  // namespace lfmd::cli
