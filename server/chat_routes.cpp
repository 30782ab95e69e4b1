#include "server/chat_routes.h"

#include <ctime>
#include <random>

#include "server/output/stream_parser.h"

namespace lfmd {

using json = nlohmann::ordered_json;
using Clock = std::chrono::steady_clock;

http::Response error_response(const api::ApiError& e) {
  http::Response r;
  r.status = e.status;
  r.body = e.body().dump();
  if (e.retry_after_s > 0) r.headers.emplace_back("Retry-After", std::to_string(e.retry_after_s));
  return r;
}

namespace {

std::string random_hex(size_t n) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  static const char* hex = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < n; ++i) s += hex[rng() & 15];
  return s;
}

json logprob_entry(const LoadedModel& m, const TokenEvent& ev) {
  auto bytes_of = [](const std::string& t) {
    json b = json::array();
    for (unsigned char c : t) b.push_back(static_cast<int>(c));
    return b;
  };
  const std::string text = m.tokenizer->token_bytes(ev.token);
  json top = json::array();
  for (const auto& t : ev.top) {
    const std::string tt = m.tokenizer->token_bytes(t.token);
    top.push_back({{"token", tt}, {"logprob", t.logprob}, {"bytes", bytes_of(tt)}});
  }
  return {{"token", text}, {"logprob", ev.logprob}, {"bytes", bytes_of(text)}, {"top_logprobs", top}};
}

// Everything one request needs while its output is produced (shared with the stream callback).
struct Call {
  Engine* engine;
  const LoadedModel* model;
  Metrics* metrics;
  api::ChatRequest req;
  uint64_t engine_id = 0;
  std::shared_ptr<RequestStream> stream = std::make_shared<RequestStream>();
  std::string id = "chatcmpl-" + random_hex(24);
  int64_t created = static_cast<int64_t>(std::time(nullptr));
  std::string model_id;
  Clock::time_point start = Clock::now(), last_token;
  bool got_token = false;
  int keepalive_ms = 5000;

  void observe_token() {
    const auto now = Clock::now();
    if (!got_token) metrics->ttft.observe(std::chrono::duration<double>(now - start).count());
    else metrics->itl.observe(std::chrono::duration<double>(now - last_token).count());
    got_token = true;
    last_token = now;
  }

  json usage(const TokenEvent& done) const {
    return {{"prompt_tokens", done.n_prompt},
            {"completion_tokens", done.n_generated},
            {"total_tokens", done.n_prompt + done.n_generated},
            {"prompt_tokens_details", {{"cached_tokens", done.n_cached}}}};
  }

  json chunk(json delta, const json& finish, const json& logprobs = nullptr) const {
    json c = {{"id", id}, {"object", "chat.completion.chunk"}, {"created", created}, {"model", model_id},
              {"choices", json::array({{{"index", 0}, {"delta", std::move(delta)}, {"logprobs", logprobs}, {"finish_reason", finish}}})}};
    if (req.include_usage) c["usage"] = nullptr;
    return c;
  }
};

// Token texts may hold part of a UTF-8 character (logprobs of a single token): such bytes are
// replaced (U+FFFD) instead of making the serializer throw; the raw bytes are in "bytes".
std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }
std::string sse(const json& j) { return "data: " + dump(j) + "\n\n"; }

}  // namespace

ChatService::ChatService(Engine& engine, const LoadedModel& model, ChatServiceOptions opt, Metrics& metrics)
    : engine_(engine), model_(model), opt_(std::move(opt)), metrics_(metrics),
      created_(static_cast<int64_t>(std::time(nullptr))) {
  const auto& tok = *model.tokenizer;
  prompt_ = std::make_unique<ChatPrompt>(model.chat_template, tok.token_bytes(tok.bos_id()), tok.token_bytes(tok.eos_id()));
  constraints_ = std::make_unique<ConstraintFactory>(model);
}

http::Response ChatService::chat_completions(const http::Request& hreq, const http::AliveCheck& alive) {
  api::Limits lim;
  lim.max_tokens_cap = model_.n_ctx;
  lim.n_vocab = static_cast<int32_t>(model_.hp.n_vocab);
  auto parsed = api::parse_chat_request(hreq.body, lim);
  if (auto* err = std::get_if<api::ApiError>(&parsed)) return error_response(*err);
  auto call = std::make_shared<Call>();
  call->engine = &engine_;
  call->model = &model_;
  call->metrics = &metrics_;
  call->req = std::move(std::get<api::ChatRequest>(parsed));
  call->model_id = opt_.model_id;
  call->keepalive_ms = opt_.keepalive_ms;
  const api::ChatRequest& cr = call->req;
  std::string text;
  try {
    text = prompt_->render(cr);
  } catch (const std::exception& e) {
    return error_response(api::invalid_request(std::string("the chat template rejected these messages: ") + e.what(), "messages"));
  }
  GenerateRequest g;
  g.prompt = model_.tokenizer->encode(text, false, true);
  const int64_t n_prompt = static_cast<int64_t>(g.prompt.size());
  const int64_t n_ctx = model_.n_ctx;
  if (cr.max_tokens ? n_prompt + *cr.max_tokens > n_ctx : n_prompt >= n_ctx) {
    return error_response(api::context_length_exceeded(n_ctx, n_prompt, cr.max_tokens.value_or(1)));
  }
  g.max_tokens = cr.max_tokens.value_or(n_ctx - n_prompt);
  auto constraint = constraints_->make(cr, g.max_tokens);
  if (auto* err = std::get_if<api::ApiError>(&constraint)) return error_response(*err);
  SamplingParams& s = g.sampling;
  s.temperature = static_cast<float>(cr.temperature);
  s.top_p = static_cast<float>(cr.top_p);
  s.top_k = cr.top_k;
  s.min_p = static_cast<float>(cr.min_p);
  s.repetition_penalty = static_cast<float>(cr.repetition_penalty);
  s.presence_penalty = static_cast<float>(cr.presence_penalty);
  s.frequency_penalty = static_cast<float>(cr.frequency_penalty);
  s.logit_bias = cr.logit_bias;
  s.seed = cr.seed ? *cr.seed : std::random_device{}();
  g.top_logprobs = cr.logprobs ? cr.top_logprobs : -1;
  g.constraint = std::get<std::shared_ptr<TokenConstraint>>(std::move(constraint));
  for (const char* marker : {"<|tool_call_start|>", "<|tool_call_end|>"}) {
    if (int32_t id = model_.tokenizer->find(marker); id >= 0) g.visible_specials.push_back(id);
  }
  if (opt_.test_hooks) {
    // Test hook: the engine emits exactly these tokens (to exercise tool-call streaming).
    auto body = nlohmann::json::parse(hreq.body, nullptr, false);
    if (body.is_object() && body.contains("lfmd_forced_output") && body["lfmd_forced_output"].is_string()) {
      g.forced = model_.tokenizer->encode(body["lfmd_forced_output"].get<std::string>(), false, true);
    }
  }
  call->engine_id = engine_.submit(std::move(g), call->stream);
  if (call->engine_id == 0) return error_response(api::rate_limited(1));

  output::Options oo;
  oo.parse_tool_calls = cr.has_tools && cr.tool_choice != api::ToolChoice::None;
  oo.stop = cr.stop;

  if (!cr.stream) {
    output::StreamParser parser(oo);
    json logprobs = json::array();
    for (;;) {
      auto ev = call->stream->pop(std::chrono::milliseconds(20));
      if (!ev || ev->kind == TokenEvent::Kind::Token) {
        if (!alive()) {
          engine_.cancel(call->engine_id);
          metrics_.disconnects += 1;
          return error_response(api::request_timeout());  // nobody is listening any more
        }
        if (!ev) continue;
      }
      if (ev->kind == TokenEvent::Kind::Token) {
        if (ev->token >= 0) call->observe_token();
        if (cr.logprobs && ev->token >= 0) logprobs.push_back(logprob_entry(model_, *ev));
        parser.feed(ev->text);
        if (parser.stopped()) engine_.cancel(call->engine_id);
        continue;
      }
      if (ev->kind == TokenEvent::Kind::Error) return error_response(api::server_error(ev->error));
      parser.finish();
      json msg = parser.message();
      const std::string finish = parser.stopped() ? "stop" : parser.finish_reason(ev->finish_reason == "length");
      json body = {{"id", call->id}, {"object", "chat.completion"}, {"created", call->created}, {"model", call->model_id},
                   {"choices", json::array({{{"index", 0}, {"message", msg},
                                             {"logprobs", cr.logprobs ? json{{"content", logprobs}} : json(nullptr)},
                                             {"finish_reason", finish}}})},
                   {"usage", call->usage(*ev)}};
      http::Response r;
      r.body = dump(body);
      return r;
    }
  }

  http::Response r;
  r.content_type = "text/event-stream";
  r.headers.emplace_back("Cache-Control", "no-cache");
  r.headers.emplace_back("X-Accel-Buffering", "no");
  r.stream = [call, oo, alive](http::StreamWriter& w) {
    Engine& engine = *call->engine;
    output::StreamParser parser(oo);
    json pending_logprobs = json::array();
    auto gone = [&] {
      engine.cancel(call->engine_id);
      call->metrics->disconnects += 1;
    };
    // Events go out as they are produced; the role comes first (the Node SDK needs it).
    if (!w.write(sse(call->chunk({{"role", "assistant"}, {"content", ""}}, nullptr)))) return gone();
    auto send_events = [&](const std::vector<output::Event>& events) {
      for (const auto& e : events) {
        json lp = nullptr;
        if (e.kind == output::Event::Content && !pending_logprobs.empty()) {
          lp = json{{"content", pending_logprobs}};
          pending_logprobs = json::array();
        }
        if (!w.write(sse(call->chunk(output::to_delta(e), nullptr, lp)))) return false;
      }
      return true;
    };
    auto last_write = Clock::now();
    for (;;) {
      auto ev = call->stream->pop(std::chrono::milliseconds(20));
      // A client that hung up is noticed within one poll, without waiting for a failed write.
      if (!alive()) return gone();
      if (!ev) {
        if (Clock::now() - last_write >= std::chrono::milliseconds(call->keepalive_ms)) {
          if (!w.write(": ping\n\n")) return gone();
          last_write = Clock::now();
        }
        continue;
      }
      if (ev->kind == TokenEvent::Kind::Token) {
        if (ev->token >= 0) call->observe_token();
        if (call->req.logprobs && ev->token >= 0) pending_logprobs.push_back(logprob_entry(*call->model, *ev));
        auto events = parser.feed(ev->text);
        if (!send_events(events)) return gone();
        if (!events.empty()) last_write = Clock::now();
        if (parser.stopped()) engine.cancel(call->engine_id);
        continue;
      }
      if (ev->kind == TokenEvent::Kind::Error) {
        w.write(sse(api::server_error(ev->error).body()));
        return;
      }
      if (!send_events(parser.finish())) return gone();
      const std::string finish = parser.stopped() ? "stop" : parser.finish_reason(ev->finish_reason == "length");
      json lp = pending_logprobs.empty() ? json(nullptr) : json{{"content", pending_logprobs}};
      if (!w.write(sse(call->chunk(json::object(), finish, lp)))) return gone();
      if (call->req.include_usage) {
        json u = {{"id", call->id}, {"object", "chat.completion.chunk"}, {"created", call->created},
                  {"model", call->model_id}, {"choices", json::array()}, {"usage", call->usage(*ev)}};
        if (!w.write(sse(u))) return gone();
      }
      w.write("data: [DONE]\n\n");
      return;
    }
  };
  return r;
}

http::Response ChatService::models(const http::Request& req, bool single) {
  json entry = {{"id", opt_.model_id}, {"object", "model"}, {"created", created_}, {"owned_by", "lfmd"},
                {"context_length", model_.n_ctx}, {"architecture", model_.hp.arch},
                {"capabilities", {{"tools", true}, {"streaming", true}}}};
  http::Response r;
  if (single) {
    if (req.path_params.empty() || req.path_params[0] != opt_.model_id) {
      return error_response(api::model_not_found(req.path_params.empty() ? "" : req.path_params[0]));
    }
    r.body = entry.dump();
  } else {
    r.body = json{{"object", "list"}, {"data", json::array({entry})}}.dump();
  }
  return r;
}

http::Response ChatService::metrics_text(const http::Request&, const http::AliveCheck&) {
  http::Response r;
  r.content_type = "text/plain; version=0.0.4";
  r.body = metrics_.render(engine_.stats());
  return r;
}

}  // namespace lfmd
