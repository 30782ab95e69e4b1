// The HTTP routes of `lfmd serve` over one pipeline: each wire protocol's adapter, the model
// list, and /metrics. cli/cmd_serve.cpp registers kRoutes (with auth, Host and CORS filters).
#pragma once

#include <ctime>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "server/http.h"
#include "server/metrics.h"
#include "server/pipeline/pipeline.h"

namespace lfmd {

class Service {
 public:
  Service(Engine& engine, const LoadedModel& model, std::string model_id, PipelineOptions opt,
          Metrics& metrics);

  Pipeline& pipeline() { return pipeline_; }
  const std::string& model_id() const { return model_id_; }
  bool draining() { return pipeline_.engine().draining(); }  // a graceful stop has begun

  http::Response list_models(const http::Request& req, const http::AliveCheck&);
  http::Response get_model(const http::Request& req, const http::AliveCheck&);
  http::Response metrics_text(const http::Request& req, const http::AliveCheck&);

  struct Route {
    const char* method;
    const char* pattern;  // exact path, or one "{id}" segment
    http::Response (*handle)(Service& s, const http::Request& req, const http::AliveCheck& alive);
  };
  // Every route the service answers; one line per protocol adapter (server/protocols/).
  static const std::vector<Route>& routes();

 private:
  nlohmann::ordered_json model_entry() const;

  Pipeline pipeline_;
  std::string model_id_;
  Metrics& metrics_;
  int64_t created_ = static_cast<int64_t>(std::time(nullptr));
};

}  // namespace lfmd
