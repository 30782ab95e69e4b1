// lfmd_open's options JSON -> the loader's, the scheduler's and the pipeline's options.
#pragma once

#include <string>

#include "engine/engine.h"
#include "engine/loader.h"
#include "server/pipeline/pipeline.h"

namespace lfmd::capi {

struct OpenOptions {
  LoadOptions load;  // path left empty
  EngineOptions engine;
  PipelineOptions pipeline;
};

// Parses options_json ("" = all defaults; see include/lfmd.h for the keys). Throws Failure
// (LFMD_ERR_REQUEST) naming the first bad key: not an object, unknown key, wrong type, range.
OpenOptions parse_open_options(const std::string& options_json);

// The model reference as a file path: "lfmd:demo" -> the demo model (generated once into the
// cache directory), an existing path as is, "org/name[:QUANT]" -> pulled into the Hub cache.
// Throws Failure (LFMD_ERR_MODEL).
std::string resolve_model(const std::string& model, int threads);

}  // namespace lfmd::capi
