// Helpers shared by the model-file commands (quantize, convert, pull).
#pragma once

#include <unistd.h>

#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "cli/cli_common.h"

namespace lfmd::cli {

// Maps leading positional arguments to --NAME flags (the option parser knows only flags).
inline std::vector<std::string> positionals_to_flags(const std::vector<std::string>& args,
                                                     const std::vector<std::string>& names) {
  std::vector<std::string> out;
  size_t next = 0, i = 0;
  for (; i < args.size() && next < names.size(); ++i) {
    if (!args[i].empty() && args[i][0] == '-') break;
    out.push_back("--" + names[next++]);
    out.push_back(args[i]);
  }
  out.insert(out.end(), args.begin() + static_cast<std::ptrdiff_t>(i), args.end());
  return out;
}

// Progress on a terminal only; silent when stderr is piped.
inline std::function<void(uint64_t, uint64_t)> tty_progress(const std::string& what) {
  if (!::isatty(STDERR_FILENO)) return {};
  return progress_printer(what, true);
}

inline int threads_of(const config::Options& o) {
  const int64_t t = o.integer("threads");
  if (t > 0) return static_cast<int>(t);
  const unsigned hc = std::thread::hardware_concurrency();
  return hc ? static_cast<int>(hc) : 1;
}

}  // namespace lfmd::cli
