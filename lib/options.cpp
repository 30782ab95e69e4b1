#include "lib/options.h"

#include <sys/stat.h>

#include <cstdlib>
#include <nlohmann/json.hpp>

#include "../include/lfmd.h"
#include "engine/testmodel/generator.h"
#include "lib/session.h"
#include "server/hub/hub.h"

namespace lfmd::capi {
namespace {

using json = nlohmann::json;

[[noreturn]] void bad(const std::string& what) {
  throw Failure(LFMD_ERR_REQUEST, "options: " + what);
}

int64_t integer(const json& o, const char* key, int64_t lo, int64_t hi, int64_t dflt) {
  if (!o.contains(key)) return dflt;
  const json& v = o[key];
  if (!v.is_number_integer()) bad(std::string(key) + " must be an integer");
  const int64_t x = v.get<int64_t>();
  if (x < lo || x > hi) {
    bad(std::string(key) + " must be in [" + std::to_string(lo) + ", " + std::to_string(hi) +
        "], got " + std::to_string(x));
  }
  return x;
}

double number(const json& o, const char* key, double lo, double hi, double dflt) {
  if (!o.contains(key)) return dflt;
  if (!o[key].is_number()) bad(std::string(key) + " must be a number");
  const double x = o[key].get<double>();
  if (!(x >= lo && x <= hi)) bad(std::string(key) + " is out of range");
  return x;
}

std::string string(const json& o, const char* key, const std::string& dflt) {
  if (!o.contains(key)) return dflt;
  if (!o[key].is_string()) bad(std::string(key) + " must be a string");
  return o[key].get<std::string>();
}

void only_keys(const json& o, std::initializer_list<const char*> keys, const std::string& where) {
  for (const auto& [k, v] : o.items()) {
    bool known = false;
    for (const char* key : keys) known = known || k == key;
    if (!known) bad("unknown key \"" + k + "\"" + where);
  }
}

HandoffConfig handoff_config(const json& h) {
  if (!h.is_object()) bad("handoff must be an object");
  only_keys(h,
            {"mode", "threshold", "window", "probe_tokens", "upstream_url", "upstream_model",
             "upstream_api_key_env", "upstream_timeout_ms", "upstream_ca_file"},
            " in handoff");
  HandoffConfig c;
  c.mode = HandoffMode::Flag;  // confidence_threshold alone sets cloud_handoff (seed behaviour)
  if (h.contains("mode") &&
      (!h["mode"].is_string() || !parse_handoff_mode(h["mode"].get<std::string>(), &c.mode))) {
    bad("handoff.mode must be \"off\", \"flag\" or \"proxy\"");
  }
  c.threshold = number(h, "threshold", 0, 1, 0.7);
  c.window = static_cast<int32_t>(integer(h, "window", 1, 4096, 8));
  c.probe_tokens = static_cast<int32_t>(integer(h, "probe_tokens", 1, 4096, 16));
  c.upstream.base_url = string(h, "upstream_url", "");
  c.upstream.ca_file = string(h, "upstream_ca_file", "");
  c.upstream.timeout_ms = static_cast<int>(integer(h, "upstream_timeout_ms", 1, 600000, 10000));
  c.upstream_model = string(h, "upstream_model", "");
  if (!c.upstream.base_url.empty()) {
    if (std::string why = http::check_upstream_url(c.upstream.base_url); !why.empty())
      bad("handoff.upstream_url: " + why);
  }
  if (c.mode == HandoffMode::Proxy && c.upstream.base_url.empty())
    bad("handoff.mode \"proxy\" needs handoff.upstream_url");
  if (const std::string env = string(h, "upstream_api_key_env", ""); !env.empty()) {
    const char* v = std::getenv(env.c_str());
    if (!v || !*v) bad("handoff.upstream_api_key_env names " + env + ", which is not set");
    c.upstream_key = v;  // never echoed
  }
  return c;
}

}  // namespace

OpenOptions parse_open_options(const std::string& options_json) {
  json o = options_json.empty() ? json::object() : json::parse(options_json, nullptr, false);
  if (o.is_discarded()) bad("not valid JSON");
  if (!o.is_object()) bad("must be a JSON object");
  only_keys(o,
            {"threads", "ctx", "batch", "parallel", "max_queue", "prefill_chunk", "cache_mb", "kv_budget_mb", "isa",
             "kv_type", "handoff", "test_hooks"},
            "");
  OpenOptions r;
  r.load.n_threads = static_cast<int>(integer(o, "threads", 0, 1024, 0));
  r.load.n_ctx = integer(o, "ctx", 0, 1 << 24, 0);
  r.load.max_batch = integer(o, "batch", 1, 65536, 512);
  r.load.isa = string(o, "isa", "");
  const std::string kv = string(o, "kv_type", kernels::kv_type_name(kDefaultKvType));
  if (!kernels::parse_kv_type(kv.c_str(), &r.load.kv_type)) bad("kv_type must be \"f32\", \"f16\" or \"q8_0\"");
  r.engine.parallel = integer(o, "parallel", 1, 256, 4);
  r.engine.max_queue = integer(o, "max_queue", 1, 100000, 16);
  r.engine.prefill_chunk = integer(o, "prefill_chunk", 1, 65536, 64);
  r.engine.cache_bytes = static_cast<size_t>(integer(o, "cache_mb", 0, 1 << 20, 256)) << 20;
  r.engine.kv_budget_bytes = static_cast<uint64_t>(integer(o, "kv_budget_mb", 0, 1 << 30, 0)) << 20;
  r.engine.log = [](const std::string&) {};  // a library does not write to stderr
  r.pipeline.handoff = handoff_config(o.value("handoff", json::object()));
  if (o.contains("test_hooks") && !o["test_hooks"].is_boolean())
    bad("test_hooks must be a boolean");
  r.pipeline.test_hooks = o.value("test_hooks", false);
  return r;
}

std::string resolve_model(const std::string& model, int threads) {
  if (model == LFMD_DEMO_MODEL) {
    try {
      return ensure_demo_model(threads, [](const std::string&) {});
    } catch (const std::exception& e) {
      throw Failure(LFMD_ERR_MODEL, std::string("cannot create the demo model: ") + e.what());
    }
  }
  struct stat st {};
  hub::ModelRef ref;
  if (model.empty())
    throw Failure(LFMD_ERR_MODEL, "no model given (a path, org/name or " LFMD_DEMO_MODEL ")");
  const bool gguf_name = model.size() > 5 && model.compare(model.size() - 5, 5, ".gguf") == 0;
  if (gguf_name || ::stat(model.c_str(), &st) == 0 || !hub::parse_model_ref(model, &ref))
    return model;  // a missing file stays a missing file (load_model says so)
  try {
    return hub::pull(ref, hub::HubConfig::from_env());
  } catch (const std::exception& e) {
    throw Failure(LFMD_ERR_MODEL, "cannot pull " + model + ": " + e.what());
  }
}

}  // namespace lfmd::capi
