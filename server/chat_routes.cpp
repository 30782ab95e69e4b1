#include "server/chat_routes.h"

#include <algorithm>
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
  HandoffPolicy policy;
  bool low = false;                // the policy's decision (probe window or whole answer)
  json handoff_error = nullptr;    // why a decided handoff was answered locally
  std::vector<json> trace;         // test hook: per-token signals

  void note_token(const TokenEvent& ev, bool want_trace) {
    if (!want_trace || !ev.confidence) return;
    trace.push_back({{"token", ev.token}, {"entropy", ev.confidence->entropy}, {"logprob", ev.confidence->logprob},
                     {"margin", ev.confidence->margin}});
  }

  // The lfmd fields of a final body / chunk: confidence, cloud_handoff, handoff_error.
  void annotate(json& j, const ConfidenceSummary& s, std::optional<int64_t> decided_on = std::nullopt) const {
    j["confidence"] = confidence_json(s, policy);
    if (decided_on) j["confidence"]["decided_on"] = *decided_on;
    if (!trace.empty()) j["confidence"]["trace"] = trace;
    j["cloud_handoff"] = low;
    if (!handoff_error.is_null()) j["handoff_error"] = handoff_error;
  }

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

void count_decision(Metrics& m, HandoffMode mode, bool low) {
  m.count("lfmd_handoff_decisions_total",
          std::string("mode=\"") + handoff_mode_name(mode) + "\",decision=\"" + (low ? "handoff" : "local") + "\"");
}

std::string model_of(const json& j, const std::string& fallback) {
  return j.is_object() && j.contains("model") && j["model"].is_string() ? j["model"].get<std::string>() : fallback;
}

// The upstream's chat.completion, re-enveloped with this request's id and creation time.
http::Response cloud_response(Call& call, const json& up, const ConfidenceSummary& cs) {
  json choices = json::array();
  for (const auto& c : up["choices"]) {
    if (!c.is_object()) continue;
    choices.push_back({{"index", c.value("index", json(0))}, {"message", c.value("message", json::object())},
                       {"logprobs", c.value("logprobs", json(nullptr))},
                       {"finish_reason", c.value("finish_reason", json(nullptr))}});
  }
  json body = {{"id", call.id}, {"object", "chat.completion"}, {"created", call.created},
               {"model", model_of(up, call.model_id)}, {"choices", choices}};
  if (up.contains("usage")) body["usage"] = up["usage"];
  call.annotate(body, cs);
  call.metrics->count("lfmd_responses_served_total", "by=\"cloud\"");
  http::Response r;
  r.body = dump(body);
  r.headers.emplace_back("x-lfmd-served-by", "cloud");
  return r;
}

// One upstream chunk re-framed as ours: same id / created for the whole stream, choices with
// delta, logprobs and finish_reason as the upstream sent them, usage passed through.
json reframe_chunk(const Call& call, const json& up, bool first) {
  json out = {{"id", call.id}, {"object", "chat.completion.chunk"}, {"created", call.created},
              {"model", model_of(up, call.model_id)}};
  json choices = json::array();
  if (up.contains("choices") && up["choices"].is_array()) {
    for (const auto& c : up["choices"]) {
      if (!c.is_object()) continue;
      json delta = c.value("delta", json::object());
      if (first && delta.is_object() && !delta.contains("role")) {
        json d = {{"role", "assistant"}};
        for (auto& [k, v] : delta.items()) d[k] = v;
        delta = std::move(d);
      }
      choices.push_back({{"index", c.value("index", json(0))}, {"delta", delta},
                         {"logprobs", c.value("logprobs", json(nullptr))},
                         {"finish_reason", c.value("finish_reason", json(nullptr))}});
    }
  }
  out["choices"] = choices;
  if (up.contains("usage")) out["usage"] = up["usage"];
  return out;
}

bool has_finish(const json& chunk) {
  for (const auto& c : chunk["choices"]) {
    if (!c["finish_reason"].is_null()) return true;
  }
  return false;
}

// Streams the upstream's answer, already started by open_upstream_stream, through our framing.
http::Response cloud_stream(std::shared_ptr<Call> call, std::shared_ptr<UpstreamStream> up, ConfidenceSummary probe,
                            const http::AliveCheck& alive) {
  call->metrics->count("lfmd_responses_served_total", "by=\"cloud\"");
  http::Response r;
  r.content_type = "text/event-stream";
  r.headers.emplace_back("Cache-Control", "no-cache");
  r.headers.emplace_back("X-Accel-Buffering", "no");
  r.headers.emplace_back("x-lfmd-served-by", "cloud");
  r.stream = [call, up, probe, alive](http::StreamWriter& w) {
    bool first = true;
    auto emit = [&](const json& c) {
      json out = reframe_chunk(*call, c, first);
      if (out["choices"].empty() && !out.contains("usage")) return true;  // nothing of ours to say
      if (!out["choices"].empty()) first = false;
      if (has_finish(out)) call->annotate(out, probe, probe.n);
      return w.write(sse(out));
    };
    auto gone = [&] {
      up->call->cancel();
      call->metrics->disconnects += 1;
    };
    for (const auto& c : up->first) {
      if (!emit(c)) return gone();
    }
    auto last_write = Clock::now();
    bool done = up->done;
    while (!done) {
      auto ev = up->call->next(std::chrono::milliseconds(20));
      if (!alive()) return gone();
      if (!ev) {
        if (Clock::now() - last_write >= std::chrono::milliseconds(call->keepalive_ms)) {
          if (!w.write(": ping\n\n")) return gone();
          last_write = Clock::now();
        }
        continue;
      }
      using K = http::UpstreamCall::Event::Kind;
      if (ev->kind == K::Fail || ev->kind == K::End) {
        if (ev->kind == K::End) break;  // ended without [DONE]: close our stream properly
        // Committed to the cloud answer: the break is reported in-band, as any stream error.
        HandoffError e{"stream_broken", "the upstream stream broke: " + ev->error, 0};
        count_fallback(*call->metrics, e);
        w.write(sse(api::server_error("upstream stream interrupted").body()));
        return;
      }
      if (ev->kind != K::Data) continue;
      up->reader.feed(ev->data);
      while (auto data = up->reader.next()) {
        if (*data == "[DONE]") {
          done = true;
          break;
        }
        json c = json::parse(*data, nullptr, false);
        if (!c.is_object()) continue;
        if (!emit(c)) return gone();
        last_write = Clock::now();
      }
    }
    up->call->cancel();
    w.write("data: [DONE]\n\n");
  };
  return r;
}

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
  auto pol = resolve_policy(opt_.handoff, cr);
  if (auto* err = std::get_if<api::ApiError>(&pol)) return error_response(*err);
  call->policy = std::get<HandoffPolicy>(pol);
  const HandoffMode mode = call->policy.mode;
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
  g.want_confidence = true;
  g.confidence_window = opt_.handoff.window;
  bool want_trace = false;
  json prompt_ids = nullptr;
  if (opt_.test_hooks) {
    // Test hook: the engine emits exactly these tokens (to exercise tool-call streaming).
    auto body = nlohmann::json::parse(hreq.body, nullptr, false);
    if (!opt_.forced_output.empty()) g.forced = model_.tokenizer->encode(opt_.forced_output, false, true);
    if (body.is_object() && body.contains("lfmd_forced_output") && body["lfmd_forced_output"].is_string()) {
      g.forced = model_.tokenizer->encode(body["lfmd_forced_output"].get<std::string>(), false, true);
    }
    // Test hook: a pause after each forward pass of this request (a slow model, for the tests).
    if (body.is_object() && body.contains("lfmd_step_delay_ms") &&
        body["lfmd_step_delay_ms"].is_number_integer()) {
      g.test_step_delay_ms = static_cast<int32_t>(
          std::clamp<int64_t>(body["lfmd_step_delay_ms"].get<int64_t>(), 0, 1000));
    }
    // Test hook: per-token confidence signals and the prompt's ids (checked against `lfmd logits`).
    if (body.is_object() && body.value("lfmd_confidence_trace", false) == true) {
      want_trace = true;
      prompt_ids = g.prompt;
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
        call->note_token(*ev, want_trace);
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
      const ConfidenceSummary cs = ev->confidence_summary.value_or(ConfidenceSummary{});
      const auto score = confidence_score(cs);
      call->low = mode != HandoffMode::Off && score && *score < call->policy.threshold;
      if (mode != HandoffMode::Off) count_decision(metrics_, mode, call->low);
      if (mode == HandoffMode::Proxy && call->low) {
        // Decided on the whole local answer, which stays ready as the fallback.
        auto up = call_upstream(opt_.handoff, hreq.body, alive, metrics_);
        if (auto* j = std::get_if<json>(&up)) return cloud_response(*call, *j, cs);
        const HandoffError& e = std::get<HandoffError>(up);
        count_fallback(metrics_, e);
        call->handoff_error = e.json();
      }
      call->annotate(body, cs);
      if (!prompt_ids.is_null()) body["confidence"]["prompt_ids"] = prompt_ids;
      metrics_.count("lfmd_responses_served_total", "by=\"local\"");
      http::Response r;
      r.body = dump(body);
      r.headers.emplace_back("x-lfmd-served-by", "local");
      return r;
    }
  }

  // Streaming proxy requests hold back the first probe_tokens tokens and decide on them before
  // anything (headers included) is sent: the answer then comes from one source only.
  auto held = std::make_shared<std::deque<TokenEvent>>();
  std::optional<int64_t> decided_on;
  if (mode == HandoffMode::Proxy) {
    ConfidenceTracker probe(nullptr, 0, opt_.handoff.window);
    ConfidenceSummary ps;
    for (;;) {
      auto ev = call->stream->pop(std::chrono::milliseconds(20));
      if (!alive()) {
        engine_.cancel(call->engine_id);
        metrics_.disconnects += 1;
        return error_response(api::request_timeout());
      }
      if (!ev) continue;
      held->push_back(*ev);
      if (ev->kind == TokenEvent::Kind::Token && ev->confidence) probe.add(*ev->confidence);
      if (ev->kind == TokenEvent::Kind::Done) {
        ps = ev->confidence_summary.value_or(ConfidenceSummary{});
        break;
      }
      if (ev->kind == TokenEvent::Kind::Error) break;
      if (probe.count() >= opt_.handoff.probe_tokens) {
        ps = probe.summary();
        break;
      }
    }
    decided_on = ps.n;
    const auto score = confidence_score(ps);
    call->low = score && *score < call->policy.threshold;
    count_decision(metrics_, mode, call->low);
    if (call->low && held->back().kind != TokenEvent::Kind::Error) {
      auto up = open_upstream_stream(opt_.handoff, hreq.body, alive, metrics_);
      if (auto* us = std::get_if<UpstreamStream>(&up)) {
        engine_.cancel(call->engine_id);  // the local answer is no longer needed
        return cloud_stream(call, std::make_shared<UpstreamStream>(std::move(*us)), ps, alive);
      }
      const HandoffError& e = std::get<HandoffError>(up);
      count_fallback(metrics_, e);
      call->handoff_error = e.json();
    }
  }

  http::Response r;
  r.content_type = "text/event-stream";
  r.headers.emplace_back("Cache-Control", "no-cache");
  r.headers.emplace_back("X-Accel-Buffering", "no");
  r.headers.emplace_back("x-lfmd-served-by", "local");
  metrics_.count("lfmd_responses_served_total", "by=\"local\"");
  r.stream = [call, oo, alive, held, decided_on, want_trace, prompt_ids, mode](http::StreamWriter& w) {
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
      std::optional<TokenEvent> ev;
      if (!held->empty()) {
        ev = std::move(held->front());  // the probe window, held back until the decision
        held->pop_front();
      } else {
        ev = call->stream->pop(std::chrono::milliseconds(20));
      }
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
        call->note_token(*ev, want_trace);
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
      json last = call->chunk(json::object(), finish, lp);
      const ConfidenceSummary cs = ev->confidence_summary.value_or(ConfidenceSummary{});
      // After the decision the policy only annotates (flag mode decides here, on the whole answer).
      const auto score = confidence_score(cs);
      const bool low_now = mode != HandoffMode::Off && score && *score < call->policy.threshold;
      if (mode == HandoffMode::Flag) count_decision(*call->metrics, mode, low_now);
      call->low = call->low || low_now;
      call->annotate(last, cs, decided_on);
      if (!prompt_ids.is_null()) last["confidence"]["prompt_ids"] = prompt_ids;
      if (!w.write(sse(last))) return gone();
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
