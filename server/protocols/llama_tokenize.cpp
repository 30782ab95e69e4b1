#include "server/protocols/llama_tokenize.h"

#include "engine/tokenizer/tokenizer.h"
#include "server/protocols/wire.h"

namespace lfmd::llama_tokenize {

using json = nlohmann::ordered_json;

namespace {

std::optional<bool> flag(const json& j, const char* name, bool fallback, api::ApiError* err) {
  auto it = j.find(name);
  if (it == j.end() || it->is_null()) return fallback;
  if (!it->is_boolean()) {
    *err = api::invalid_request(std::string("'") + name + "' must be a boolean.", name,
                                "invalid_type");
    return std::nullopt;
  }
  return it->get<bool>();
}

}  // namespace

http::Response tokenize(const Pipeline& pipeline, const http::Request& req) {
  auto parsed = api::parse_json_object(req.body);
  if (auto* err = std::get_if<api::ApiError>(&parsed)) return wire::error_response(*err);
  const json& j = std::get<json>(parsed);
  if (!j.contains("content") || !j["content"].is_string()) {
    return wire::error_response(
        api::invalid_request("'content' must be a string.", "content", "invalid_type"));
  }
  api::ApiError err;
  const auto add_special = flag(j, "add_special", false, &err);
  const auto parse_special = flag(j, "parse_special", true, &err);
  const auto with_pieces = flag(j, "with_pieces", false, &err);
  if (!add_special || !parse_special || !with_pieces) return wire::error_response(err);
  const Tokenizer& tok = *pipeline.model().tokenizer;
  const auto ids = tok.encode(j["content"].get<std::string>(), *add_special, *parse_special);
  json tokens = json::array();
  for (int32_t id : ids) {
    if (*with_pieces)
      tokens.push_back({{"id", id}, {"piece", tok.token_bytes(id)}});
    else
      tokens.push_back(id);
  }
  http::Response r;
  r.body = wire::dump(json{{"tokens", tokens}});
  return r;
}

http::Response detokenize(const Pipeline& pipeline, const http::Request& req) {
  auto parsed = api::parse_json_object(req.body);
  if (auto* err = std::get_if<api::ApiError>(&parsed)) return wire::error_response(*err);
  const json& j = std::get<json>(parsed);
  if (!j.contains("tokens") || !j["tokens"].is_array()) {
    return wire::error_response(
        api::invalid_request("'tokens' must be an array of token ids.", "tokens", "invalid_type"));
  }
  const Tokenizer& tok = *pipeline.model().tokenizer;
  std::vector<int32_t> ids;
  for (const auto& t : j["tokens"]) {
    if (!t.is_number_integer() || t.get<int64_t>() < 0 || t.get<int64_t>() >= tok.n_vocab()) {
      return wire::error_response(api::invalid_request(
          "'tokens' must hold ids from 0 to " + std::to_string(tok.n_vocab() - 1) + ".", "tokens",
          "invalid_value"));
    }
    ids.push_back(static_cast<int32_t>(t.get<int64_t>()));
  }
  http::Response r;
  r.body = wire::dump(json{{"content", tok.decode(ids)}});
  return r;
}

}  // namespace lfmd::llama_tokenize
