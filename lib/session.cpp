#include "lib/session.h"

#include <chrono>

#include "../include/lfmd.h"
#include "lib/options.h"
#include "server/api/chat_request.h"

namespace lfmd::capi {
namespace {

using json = nlohmann::ordered_json;
using Clock = std::chrono::steady_clock;

int status_of(const api::ApiError& e) {
  if (e.status == 429) return LFMD_ERR_BUSY;
  return e.status >= 500 ? LFMD_ERR_INTERNAL : LFMD_ERR_REQUEST;
}

[[noreturn]] void fail(const api::ApiError& e) {
  throw Failure(status_of(e), e.param.empty() ? e.message : e.message + " (" + e.param + ")");
}

const char* finish_name(OutputFinish f) {
  switch (f) {
    case OutputFinish::Length:
      return "length";
    case OutputFinish::ToolCalls:
      return "tool_calls";
    default:
      return "stop";
  }
}

// Arguments as typed JSON (the parser checked them); the text itself if it is not JSON.
json typed_arguments(const std::string& text) {
  json a = json::parse(text.empty() ? std::string("{}") : text, nullptr, false);
  return a.is_discarded() ? json(text) : a;
}

// Wall-clock figures of one completion.
struct Timing {
  Clock::time_point start = Clock::now(), first, last;
  int64_t tokens = 0;  // generated tokens seen
  void token() {
    last = Clock::now();
    if (tokens++ == 0) first = last;
  }
  static double ms(Clock::duration d) {
    return std::chrono::duration<double, std::milli>(d).count();
  }
};

// The result object of include/lfmd.h from the pump's last event.
json result_json(const OutputEvent& last, bool cancelled, const Timing& t) {
  json r;
  json calls = json::array();
  Usage u = last.usage;
  if (last.kind == OutputEvent::Kind::CloudAnswer) {  // a proxy handoff: the upstream's answer
    const json& choice = last.body.value("choices", json::array()).empty()
                             ? json::object()
                             : last.body["choices"][0];
    const json msg = choice.value("message", json::object());
    r["text"] = msg.value("content", json("")).is_string() ? msg["content"] : json("");
    r["reasoning"] = "";
    for (const auto& c : msg.value("tool_calls", json::array())) {
      const json fn = c.value("function", json::object());
      calls.push_back({{"id", c.value("id", "")},
                       {"name", fn.value("name", "")},
                       {"arguments", typed_arguments(fn.value("arguments", "{}"))}});
    }
    r["tool_calls"] = calls;
    r["finish_reason"] = choice.value("finish_reason", json("stop"));
    const json up = last.body.value("usage", json::object());
    u = {up.value("prompt_tokens", int64_t{0}), up.value("completion_tokens", int64_t{0}), 0, 0};
  } else {
    r["text"] = last.content;
    r["reasoning"] = last.reasoning;
    for (const auto& c : last.tool_calls)
      calls.push_back(
          {{"id", c.id}, {"name", c.name}, {"arguments", typed_arguments(c.arguments)}});
    r["tool_calls"] = calls;
    r["finish_reason"] = cancelled ? "cancelled" : finish_name(last.finish);
  }
  r["usage"] = {{"prompt_tokens", u.prompt_tokens},
                {"completion_tokens", u.completion_tokens},
                {"total_tokens", u.prompt_tokens + u.completion_tokens},
                {"cached_tokens", u.cached_tokens},
                {"reasoning_tokens", u.reasoning_tokens}};
  const json& notes = last.annotations;
  r["confidence"] = notes.is_object() ? notes.value("confidence", json::object()) : json::object();
  r["cloud_handoff"] = notes.is_object() && notes.value("cloud_handoff", false);
  if (notes.is_object() && notes.contains("handoff_error"))
    r["handoff_error"] = notes["handoff_error"];
  r["served_by"] = last.kind == OutputEvent::Kind::CloudAnswer ? "cloud" : "local";
  const auto end = Clock::now();
  const double ttft = t.tokens ? Timing::ms(t.first - t.start) : 0.0;
  const double decode_ms = t.tokens > 1 ? Timing::ms(t.last - t.first) : 0.0;
  const int64_t computed = u.prompt_tokens - u.cached_tokens;  // prompt tokens not from the cache
  r["time_to_first_token_ms"] = ttft;
  r["total_time_ms"] = Timing::ms(end - t.start);
  r["prefill_tps"] = ttft > 0 ? computed * 1000.0 / ttft : 0.0;
  r["decode_tps"] = decode_ms > 0 ? (t.tokens - 1) * 1000.0 / decode_ms : 0.0;
  const MemoryUsage mem = current_memory_usage();
  r["ram_usage_mb"] = static_cast<double>(mem.rss_file + mem.rss_anon) / (1 << 20);
  return r;
}

}  // namespace

// One running completion: cancel_all() flags it and stops its generation.
struct Session::Call {
  std::atomic<bool> cancelled{false};
  std::shared_ptr<Generation> gen;  // set by attach() under mu_
};

Session::Session(const std::string& model, const std::string& options_json) {
  OpenOptions o = parse_open_options(options_json);
  o.load.path = resolve_model(model, o.load.n_threads);
  try {
    model_ = load_model(o.load);
  } catch (const std::exception& e) {
    throw Failure(LFMD_ERR_MODEL, "cannot load model " + o.load.path + ": " + e.what());
  }
  engine_opt_ = std::move(o.engine);
  pipeline_opt_ = std::move(o.pipeline);
  rt_ = make_runtime();
}

Session::~Session() {
  shutdown();
}

std::shared_ptr<Session::Runtime> Session::make_runtime() {
  auto rt = std::make_shared<Runtime>();
  rt->engine = std::make_unique<Engine>(*model_, engine_opt_);
  rt->pipeline = std::make_unique<Pipeline>(*rt->engine, *model_, pipeline_opt_, rt->metrics);
  return rt;
}

std::shared_ptr<Session::Runtime> Session::runtime() {
  std::lock_guard<std::mutex> lock(mu_);
  if (!rt_) throw Failure(LFMD_ERR_CLOSED, "the model was closed");
  return rt_;
}

void Session::attach(Call* call, std::shared_ptr<Generation> gen) {
  std::lock_guard<std::mutex> lock(mu_);
  call->gen = std::move(gen);
  if (call->cancelled) call->gen->cancel();  // cancelled while it was being submitted
}

void Session::cancel_all() {
  std::lock_guard<std::mutex> lock(mu_);
  for (Call* c : calls_) {
    c->cancelled = true;
    if (c->gen) c->gen->cancel();
  }
}

void Session::reset() {
  std::shared_ptr<Runtime> fresh = make_runtime();  // outside the lock: allocates the sequences
  std::shared_ptr<Runtime> old;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!rt_) throw Failure(LFMD_ERR_CLOSED, "the model was closed");
    for (Call* c : calls_) {
      c->cancelled = true;
      if (c->gen) c->gen->cancel();
    }
    old = std::exchange(rt_, std::move(fresh));
  }
  old->engine->shutdown();  // running completions drain; the last one frees it
}

void Session::shutdown() {
  std::shared_ptr<Runtime> old;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (Call* c : calls_) c->cancelled = true;
    old = std::move(rt_);
  }
  if (old) old->engine->shutdown();
}

int Session::complete(const std::string& body, TokenCallback cb, void* user, std::string* result) {
  std::shared_ptr<Runtime> rt = runtime();
  auto parsed = api::parse_chat_request(body, rt->pipeline->request_limits());
  if (auto* err = std::get_if<api::ApiError>(&parsed)) fail(*err);
  const api::ChatRequest& cr = std::get<api::ChatRequest>(parsed);
  if (cr.n != 1) throw Failure(LFMD_ERR_REQUEST, "n must be 1 (one answer per lfmd_complete call)");

  Call call;
  {
    std::lock_guard<std::mutex> lock(mu_);
    calls_.insert(&call);
  }
  struct Unregister {
    Session* s;
    Call* c;
    ~Unregister() {
      std::lock_guard<std::mutex> lock(s->mu_);
      s->calls_.erase(c);
    }
  } unregister{this, &call};

  Timing timing;
  std::string pending;  // content released since the last token's callback
  auto deliver = [&](int32_t token_id) {
    if (cb && !call.cancelled && cb(pending.data(), pending.size(), token_id, user) != 0) {
      call.cancelled = true;
      if (call.gen) call.gen->cancel();
    }
    pending.clear();
  };
  auto on_token = [&](const TokenEvent& ev) {
    if (ev.token >= 0) timing.token();
    deliver(ev.token);
  };
  StartOptions so;
  so.raw_body = body;
  auto started = rt->pipeline->start(cr, so, on_token);
  if (auto* err = std::get_if<api::ApiError>(&started)) fail(*err);
  attach(&call, std::get<std::shared_ptr<Generation>>(std::move(started)));

  OutputEvent last;
  const PumpEnd end = call.gen->pump(
      [&](const OutputEvent& ev) {
        if (ev.kind == OutputEvent::Kind::Text) pending += ev.text;
        if (ev.kind == OutputEvent::Kind::Finish && !pending.empty()) deliver(-1);
        last = ev;
        return true;
      },
      [] { return true; });
  if (end != PumpEnd::Finished || last.kind == OutputEvent::Kind::Error)
    throw Failure(LFMD_ERR_GENERATION, "generation failed: " + last.text);
  *result = result_json(last, call.cancelled, timing)
                .dump(-1, ' ', false, json::error_handler_t::replace);
  return call.cancelled ? LFMD_CANCELLED : LFMD_OK;
}

}  // namespace lfmd::capi
