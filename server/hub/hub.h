// Getting a GGUF from the Hugging Face Hub (`lfmd pull`, `--model org/name[:QUANT]`).
// Files go into the Hub's own cache layout, so that files other tools downloaded are reused:
//   $HF_HUB_CACHE (else $HF_HOME/hub, else ~/.cache/huggingface/hub)/models--org--name/
//     blobs/<sha256>           complete files, named by their LFS sha256
//     blobs/<sha256>.incomplete  a download in progress (resumed with Range)
//     snapshots/<commit>/<file>  symlinks to ../../blobs/<sha256>
//     refs/main                the commit "main" resolved to
// Environment: HF_ENDPOINT (mirror; http:// allowed only here), HF_TOKEN, HF_HUB_OFFLINE=1.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace lfmd::hub {

struct HubConfig {
  std::string endpoint = "https://huggingface.co";  // no trailing slash
  std::string token;
  std::string cache_dir;
  bool offline = false;
  int retries = 5;              // attempts after the first, per file
  int backoff_ms = 500;         // delay before the first retry, doubled each time
  static HubConfig from_env();  // HF_* variables (LFMD_HUB_BACKOFF_MS overrides the backoff)
};

struct ModelRef {
  std::string repo;   // "org/name"
  std::string quant;  // upper case; "" = default
};

// "org/name" or "org/name:QUANT" (no further '/', no whitespace). False otherwise.
bool parse_model_ref(const std::string& s, ModelRef* out);

// The quantization label in a GGUF file name ("LFM2-8B-A1B-Q4_K_M.gguf" -> "Q4_K_M"), or "".
std::string quant_of(const std::string& filename);

// (file, bytes done, bytes total) as a download proceeds; done == total at the end of a file.
using Progress = std::function<void(const std::string&, uint64_t, uint64_t)>;

// Makes sure the GGUF (all parts of a split one) is in the cache and returns the local path of
// its first part. Default quantization: Q4_K_M, else the closest one the repository has; an
// explicit one that does not exist is an error listing those that do. Throws std::runtime_error
// with one line; never leaves a partial file under a complete file's name.
// When the Hub cannot be reached at all, a cached copy is used and warn() told so. A file that
// another process is downloading into the same cache is waited for (warn() told), not fetched twice.
std::string pull(const ModelRef& ref, const HubConfig& cfg, const Progress& progress = {},
                 const std::function<void(const std::string&)>& warn = {});

}  // namespace lfmd::hub
