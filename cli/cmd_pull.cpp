// lfmd pull REPO[:QUANT]: a GGUF from the Hugging Face Hub (or a mirror) into the Hub's cache.
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <stdexcept>

#include "cli/commands.h"
#include "server/hub/hub.h"
#include "cli/model_file_cli.h"

namespace lfmd::cli {
namespace {

using config::OptType;

std::string human_bytes(double b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (b >= 1024 && u < 4) {
    b /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u ? "%.1f %s" : "%.0f %s", b, units[u]);
  return buf;
}

// Bytes, rate and ETA on one rewritten terminal line; nothing when stderr is not a terminal.
hub::Progress terminal_progress() {
  if (!::isatty(STDERR_FILENO)) return {};
  using Clock = std::chrono::steady_clock;
  struct State {
    std::string file;
    Clock::time_point start, last;
    uint64_t start_bytes = 0;
  };
  auto st = std::make_shared<State>();
  return [st](const std::string& file, uint64_t done, uint64_t total) {
    const auto now = Clock::now();
    if (file != st->file) {
      *st = {file, now, now - std::chrono::seconds(1), done};
    }
    if (done < total && now - st->last < std::chrono::milliseconds(200)) return;
    st->last = now;
    const double secs = std::chrono::duration<double>(now - st->start).count();
    const double rate = secs > 0 ? static_cast<double>(done - st->start_bytes) / secs : 0;
    std::string eta = "--:--";
    if (rate > 0 && done < total) {
      const long s = static_cast<long>(static_cast<double>(total - done) / rate);
      char b[32];
      std::snprintf(b, sizeof b, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
      eta = b;
    }
    std::fprintf(stderr, "\r\033[Klfmd: %s %3d%% %s of %s, %s/s, ETA %s", file.c_str(),
                 total ? static_cast<int>(100 * done / total) : 100,
                 human_bytes(static_cast<double>(done)).c_str(),
                 human_bytes(static_cast<double>(total)).c_str(), human_bytes(rate).c_str(),
                 eta.c_str());
    if (done >= total) std::fprintf(stderr, "\n");
  };
}

void warn_line(const std::string& m) {
  std::fprintf(stderr, "lfmd: warning: %s\n", m.c_str());
}

int run_pull(const config::Options& o) {
  hub::ModelRef ref;
  if (!hub::parse_model_ref(o.str("repo"), &ref)) {
    throw std::runtime_error("'" + o.str("repo") +
                             "' is not a repository name (org/name or org/name:QUANT)");
  }
  const std::string path =
      hub::pull(ref, hub::HubConfig::from_env(), terminal_progress(), warn_line);
  std::printf("%s\n", path.c_str());
  return 0;
}

config::Command pull_cmd() {
  return {
      "pull",
      "Download a GGUF from the Hugging Face Hub into its cache ($HF_HOME/hub) and print its path. "
      "QUANT defaults to Q4_K_M (else the closest the repository has). Environment: HF_TOKEN, "
      "HF_ENDPOINT (mirror), HF_HUB_OFFLINE=1 (cache only), HF_HOME / HF_HUB_CACHE.",
      "lfmd pull ORG/NAME[:QUANT]   e.g. lfmd pull LiquidAI/LFM2-8B-A1B-GGUF:Q4_K_M",
      {{"repo", OptType::String, "", "repository (or the first argument)"}}};
}

}  // namespace

std::string resolve_model_path(const std::string& model) {
  hub::ModelRef ref;
  struct stat st {};
  const bool gguf_name = model.size() > 5 && model.compare(model.size() - 5, 5, ".gguf") == 0;
  if (model.empty() || gguf_name || ::stat(model.c_str(), &st) == 0 ||
      !hub::parse_model_ref(model, &ref))
    return model;
  const std::string path =
      hub::pull(ref, hub::HubConfig::from_env(), terminal_progress(), warn_line);
  std::fprintf(stderr, "lfmd: %s is %s\n", model.c_str(), path.c_str());
  return path;
}

int cmd_pull(const std::vector<std::string>& a) {
  return guarded("pull", run_pull, pull_cmd(), positionals_to_flags(a, {"repo"}));
}

}  // namespace lfmd::cli
