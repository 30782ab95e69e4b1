#include "server/service.h"

#include "server/protocols/llama_tokenize.h"
#include "server/protocols/anthropic_messages.h"
#include "server/protocols/openai_chat.h"
#include "server/protocols/openai_completions.h"
#include "server/protocols/ollama.h"
#include "server/protocols/openai_responses.h"
#include "server/protocols/wire.h"

namespace lfmd {

using json = nlohmann::ordered_json;

Service::Service(Engine& engine, const LoadedModel& model, std::string model_id,
                 PipelineOptions opt, Metrics& metrics)
    : pipeline_(engine, model, std::move(opt), metrics),
      model_id_(std::move(model_id)),
      metrics_(metrics) {}

const std::vector<Service::Route>& Service::routes() {
  static const std::vector<Route> kRoutes = {
      {"POST", "/v1/chat/completions",
       [](Service& s, const http::Request& r, const http::AliveCheck& a) {
         return openai_chat::handle(s.pipeline(), s.model_id(), r, a);
       }},
      {"POST", "/v1/responses",
       [](Service& s, const http::Request& r, const http::AliveCheck& a) {
         return openai_responses::handle(s.pipeline(), s.model_id(), r, a);
       }},
      {"POST", "/v1/completions",
       [](Service& s, const http::Request& r, const http::AliveCheck& a) {
         return openai_completions::handle(s.pipeline(), s.model_id(), r, a);
       }},
      {"POST", "/tokenize",
       [](Service& s, const http::Request& r, const http::AliveCheck&) {
         return llama_tokenize::tokenize(s.pipeline(), r);
       }},
      {"POST", "/detokenize",
       [](Service& s, const http::Request& r, const http::AliveCheck&) {
         return llama_tokenize::detokenize(s.pipeline(), r);
       }},
      {"POST", "/v1/messages",
       [](Service& s, const http::Request& r, const http::AliveCheck& a) {
         return anthropic_messages::handle(s.pipeline(), s.model_id(), r, a);
       }},
      {"POST", "/v1/messages/count_tokens",
       [](Service& s, const http::Request& r, const http::AliveCheck&) {
         return anthropic_messages::count_tokens(s.pipeline(), r);
       }},
      {"GET", "/v1/models",
       [](Service& s, const http::Request& r, const http::AliveCheck& a) {
         return s.list_models(r, a);
       }},
      {"GET", "/v1/models/{id}",
       [](Service& s, const http::Request& r, const http::AliveCheck& a) {
         return s.get_model(r, a);
       }},
      // Ollama's API (server/protocols/ollama.cpp).
      {"POST", "/api/chat",
       [](Service& s, const http::Request& r, const http::AliveCheck& a) {
         return ollama::chat(s.pipeline(), s.model_id(), r, a);
       }},
      {"POST", "/api/generate",
       [](Service& s, const http::Request& r, const http::AliveCheck& a) {
         return ollama::generate(s.pipeline(), s.model_id(), r, a);
       }},
      {"GET", "/api/tags",
       [](Service& s, const http::Request&, const http::AliveCheck&) {
         return ollama::tags(s.pipeline(), s.model_id());
       }},
      {"POST", "/api/show",
       [](Service& s, const http::Request& r, const http::AliveCheck&) {
         return ollama::show(s.pipeline(), s.model_id(), r);
       }},
      {"GET", "/api/ps",
       [](Service& s, const http::Request&, const http::AliveCheck&) {
         return ollama::ps(s.pipeline(), s.model_id());
       }},
      {"GET", "/api/version",
       [](Service&, const http::Request&, const http::AliveCheck&) { return ollama::version(); }},
      {"GET", "/metrics",
       [](Service& s, const http::Request& r, const http::AliveCheck& a) {
         return s.metrics_text(r, a);
       }},
  };
  return kRoutes;
}

json Service::model_entry() const {
  const LoadedModel& m = pipeline_.model();
  return {{"id", model_id_},
          {"object", "model"},
          {"created", created_},
          {"owned_by", "lfmd"},
          {"context_length", m.n_ctx},
          {"architecture", m.hp.arch},
          {"capabilities", {{"tools", true}, {"streaming", true}}}};
}

http::Response Service::list_models(const http::Request&, const http::AliveCheck&) {
  http::Response r;
  r.body = json{{"object", "list"}, {"data", json::array({model_entry()})}}.dump();
  return r;
}

http::Response Service::get_model(const http::Request& req, const http::AliveCheck&) {
  if (req.path_params.empty() || req.path_params[0] != model_id_) {
    return wire::error_response(
        api::model_not_found(req.path_params.empty() ? "" : req.path_params[0]));
  }
  http::Response r;
  r.body = model_entry().dump();
  return r;
}

http::Response Service::metrics_text(const http::Request&, const http::AliveCheck&) {
  http::Response r;
  r.content_type = "text/plain; version=0.0.4";
  r.body = metrics_.render(pipeline_.engine().stats());
  return r;
}

}  // namespace lfmd
