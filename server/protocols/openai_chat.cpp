#include "server/protocols/openai_chat.h"

#include <ctime>

#include "server/protocols/wire.h"

namespace lfmd::openai_chat {

const char* finish_reason(OutputFinish f) {
  switch (f) {
    case OutputFinish::Length:
      return "length";
    case OutputFinish::ToolCalls:
      return "tool_calls";
    case OutputFinish::EndOfTurn:
    case OutputFinish::StopSequence:
      return "stop";
  }
  return "stop";
}

json usage(const Usage& u) {
  json j = {{"prompt_tokens", u.prompt_tokens},
            {"completion_tokens", u.completion_tokens},
            {"total_tokens", u.prompt_tokens + u.completion_tokens},
            {"prompt_tokens_details", {{"cached_tokens", u.cached_tokens}}}};
  if (u.reasoning_tokens > 0)
    j["completion_tokens_details"] = {{"reasoning_tokens", u.reasoning_tokens}};
  return j;
}

json chunk(const Envelope& e, json delta, const json& finish, const json& logprobs, int index) {
  json c = {{"id", e.id},
            {"object", "chat.completion.chunk"},
            {"created", e.created},
            {"model", e.model},
            {"choices", json::array({{{"index", index},
                                      {"delta", std::move(delta)},
                                      {"logprobs", logprobs},
                                      {"finish_reason", finish}}})}};
  if (e.include_usage) c["usage"] = nullptr;
  return c;
}

json delta(const OutputEvent& ev) {
  output::Event e;
  e.index = ev.index;
  e.text = ev.text;
  e.id = ev.id;
  e.name = ev.name;
  e.kind = ev.kind == OutputEvent::Kind::ToolCallStart  ? output::Event::ToolCallBegin
           : ev.kind == OutputEvent::Kind::ToolCallArgs ? output::Event::ToolCallArgs
           : ev.kind == OutputEvent::Kind::Reasoning    ? output::Event::Reasoning
                                                        : output::Event::Content;
  return output::to_delta(e);
}

void annotate(json& j, const json& annotations) {
  if (!annotations.is_object()) return;
  for (const auto& [k, v] : annotations.items()) j[k] = v;
}

namespace {

std::string model_of(const json& j, const std::string& fallback) {
  return j.is_object() && j.contains("model") && j["model"].is_string()
             ? j["model"].get<std::string>()
             : fallback;
}

bool has_finish(const json& chunk) {
  for (const auto& c : chunk["choices"]) {
    if (!c["finish_reason"].is_null()) return true;
  }
  return false;
}

json with_content(const json& logprobs) {
  return json{{"content", logprobs}};
}

// The message with "reasoning_content" right after "content" (llama-server's place for it).
json with_reasoning(json msg, const std::string& reasoning) {
  json out;
  for (auto& [k, v] : msg.items()) {
    out[k] = v;
    if (k == "content") out["reasoning_content"] = reasoning;
  }
  return out;
}

using Generations = std::vector<std::shared_ptr<Generation>>;

// One local answer, collected.
struct Choice {
  json logprobs = json::array();
  OutputEvent last;
  PumpEnd end = PumpEnd::Finished;
};

Choice collect(Generation& gen, const http::AliveCheck& alive) {
  Choice c;
  c.end = gen.pump(
      [&](const OutputEvent& ev) {
        if ((ev.kind == OutputEvent::Kind::Text || ev.kind == OutputEvent::Kind::Finish) &&
            ev.logprobs.is_array()) {
          c.logprobs.insert(c.logprobs.end(), ev.logprobs.begin(), ev.logprobs.end());
        }
        c.last = ev;
        return true;
      },
      alive);
  return c;
}

json choice_json(int index, const Choice& c, bool want_logprobs) {
  json msg = output::assistant_message(c.last.content, c.last.tool_calls);
  if (!c.last.reasoning.empty()) msg = with_reasoning(std::move(msg), c.last.reasoning);
  return {{"index", index},
          {"message", msg},
          {"logprobs", want_logprobs ? with_content(c.logprobs) : json(nullptr)},
          {"finish_reason", finish_reason(c.last.finish)}};
}

// n choices: the prompt counted once (the first choice's), completions summed.
void add_choice_usage(Usage& total, const Usage& u, bool first) {
  if (first)
    total = u;
  else
    total.completion_tokens += u.completion_tokens, total.reasoning_tokens += u.reasoning_tokens;
}

http::Response complete(const Generations& gens, const Envelope& env, bool want_logprobs,
                        const http::AliveCheck& alive) {
  json choices = json::array();
  Usage total;
  json annotations;
  for (size_t i = 0; i < gens.size(); ++i) {
    const Choice c = collect(*gens[i], alive);
    if (c.end != PumpEnd::Finished || c.last.kind == OutputEvent::Kind::Error) {
      for (size_t j = i + 1; j < gens.size(); ++j) gens[j]->cancel();
      if (c.end == PumpEnd::ClientGone)
        return wire::error_response(api::request_timeout());  // nobody listens
      return wire::error_response(failure_of(c.last));
    }
    http::Response r;
    if (c.last.kind == OutputEvent::Kind::CloudAnswer) {  // n == 1: a proxy handoff
      json body = cloud_completion(env, c.last.body);
      annotate(body, c.last.annotations);
      r.body = wire::dump(body);
      r.headers.emplace_back("x-lfmd-served-by", "cloud");
      return r;
    }
    choices.push_back(choice_json(static_cast<int>(i), c, want_logprobs));
    add_choice_usage(total, c.last.usage, i == 0);
    if (i == 0) annotations = c.last.annotations;
  }
  json body = {{"id", env.id},       {"object", "chat.completion"},   {"created", env.created},
               {"model", env.model}, {"choices", std::move(choices)}, {"usage", usage(total)}};
  annotate(body, annotations);
  http::Response r;
  r.body = wire::dump(body);
  r.headers.emplace_back("x-lfmd-served-by", "local");
  return r;
}

// One local event of choice `index` as SSE (false once the client is gone).
bool write_local(http::StreamWriter& w, const Envelope& env, int index, const OutputEvent& ev) {
  using K = OutputEvent::Kind;
  switch (ev.kind) {
    case K::KeepAlive:
      return w.write(": ping\n\n");
    case K::ToolCallEnd:
      return true;
    case K::Error:
      return w.write(wire::sse(failure_of(ev).body())), true;
    case K::Finish: {
      const json lp = ev.logprobs.is_array() && !ev.logprobs.empty() ? with_content(ev.logprobs)
                                                                     : json(nullptr);
      json last = chunk(env, json::object(), finish_reason(ev.finish), lp, index);
      if (index == 0) annotate(last, ev.annotations);
      return w.write(wire::sse(last));
    }
    default: {
      const json lp = ev.logprobs.is_array() ? with_content(ev.logprobs) : json(nullptr);
      return w.write(wire::sse(chunk(env, delta(ev), nullptr, lp, index)));
    }
  }
}

// Every local choice in turn (each: role, deltas, finish), then usage and [DONE].
void stream_local(http::StreamWriter& w, const Generations& gens, const Envelope& env,
                  const http::AliveCheck& alive) {
  Usage total;
  for (size_t i = 0; i < gens.size(); ++i) {
    const int index = static_cast<int>(i);
    auto stop_rest = [&] {
      for (size_t j = i + 1; j < gens.size(); ++j) gens[j]->cancel();
    };
    // The role comes first (the Node SDK needs it).
    if (!w.write(wire::sse(
            chunk(env, {{"role", "assistant"}, {"content", ""}}, nullptr, nullptr, index)))) {
      gens[i]->abandon();
      return stop_rest();
    }
    bool finished = false;
    auto sink = [&](const OutputEvent& ev) {
      if (ev.kind == OutputEvent::Kind::Finish)
        add_choice_usage(total, ev.usage, i == 0), finished = true;
      return write_local(w, env, index, ev);
    };
    if (gens[i]->pump(sink, alive) != PumpEnd::Finished || !finished) return stop_rest();
  }
  if (env.include_usage) {
    json u = {{"id", env.id},       {"object", "chat.completion.chunk"}, {"created", env.created},
              {"model", env.model}, {"choices", json::array()},          {"usage", usage(total)}};
    if (!w.write(wire::sse(u))) return;
  }
  w.write("data: [DONE]\n\n");
}

// One event of the upstream's stream, re-framed as ours.
bool write_cloud(http::StreamWriter& w, const Envelope& env, const OutputEvent& ev, bool& first) {
  if (ev.kind == OutputEvent::Kind::KeepAlive) return w.write(": ping\n\n");
  if (ev.kind == OutputEvent::Kind::Error)
    return w.write(wire::sse(failure_of(ev).body())), true;
  json out = reframe_chunk(env, ev.body, first);
  if (out["choices"].empty() && !out.contains("usage")) return true;  // nothing of ours to say
  if (!out["choices"].empty()) first = false;
  if (has_finish(out)) annotate(out, ev.annotations);
  return w.write(wire::sse(out));
}

http::Response stream(const Generations& gens, const Envelope& env, const http::AliveCheck& alive) {
  const std::shared_ptr<Generation>& gen = gens.front();
  const Generation::Source src = gen->choose_source(alive);  // n == 1 when a proxy may hand off
  if (src == Generation::Source::ClientGone) return wire::error_response(api::request_timeout());
  http::Response r = wire::sse_response(src == Generation::Source::Cloud ? "cloud" : "local");
  if (src == Generation::Source::Cloud) {
    r.stream = [gen, env, alive](http::StreamWriter& w) {
      bool first = true;
      auto sink = [&](const OutputEvent& ev) { return write_cloud(w, env, ev, first); };
      if (gen->pump_cloud(sink, alive) == PumpEnd::Finished) w.write("data: [DONE]\n\n");
    };
    return r;
  }
  r.stream = [gens, env, alive](http::StreamWriter& w) { stream_local(w, gens, env, alive); };
  return r;
}

// Choice 0 first; with n > 1 the others are submitted once its prompt is computed, so they
// restart from it in the prefix cache (one prefill for all). Seeds: seed + i.
std::variant<Generations, api::ApiError> start_choices(Pipeline& p, const api::ChatRequest& cr,
                                                       const http::Request& req,
                                                       const http::AliveCheck& alive) {
  Generations gens;
  for (int32_t i = 0; i < cr.n; ++i) {
    Conversation c = cr;
    if (c.seed) c.seed = *c.seed + static_cast<uint64_t>(i);
    auto started = p.start(c, StartOptions{cr.stream, req.body, req.record});
    if (auto* err = std::get_if<api::ApiError>(&started)) {
      for (auto& g : gens) g->cancel();
      return *err;
    }
    gens.push_back(std::get<std::shared_ptr<Generation>>(std::move(started)));
    if (cr.n > 1 && i == 0 && !gens[0]->wait_first_event(alive)) return api::request_timeout();
  }
  return gens;
}

}  // namespace

json reframe_chunk(const Envelope& e, const json& up, bool first) {
  json out = {{"id", e.id},
              {"object", "chat.completion.chunk"},
              {"created", e.created},
              {"model", model_of(up, e.model)}};
  json choices = json::array();
  if (up.contains("choices") && up["choices"].is_array()) {
    for (const auto& c : up["choices"]) {
      if (!c.is_object()) continue;
      json d = c.value("delta", json::object());
      if (first && d.is_object() && !d.contains("role")) {
        json with_role = {{"role", "assistant"}};
        for (auto& [k, v] : d.items()) with_role[k] = v;
        d = std::move(with_role);
      }
      choices.push_back({{"index", c.value("index", json(0))},
                         {"delta", d},
                         {"logprobs", c.value("logprobs", json(nullptr))},
                         {"finish_reason", c.value("finish_reason", json(nullptr))}});
    }
  }
  out["choices"] = choices;
  if (up.contains("usage")) out["usage"] = up["usage"];
  return out;
}

json cloud_completion(const Envelope& e, const json& up) {
  json choices = json::array();
  for (const auto& c : up["choices"]) {
    if (!c.is_object()) continue;
    choices.push_back({{"index", c.value("index", json(0))},
                       {"message", c.value("message", json::object())},
                       {"logprobs", c.value("logprobs", json(nullptr))},
                       {"finish_reason", c.value("finish_reason", json(nullptr))}});
  }
  json body = {{"id", e.id},
               {"object", "chat.completion"},
               {"created", e.created},
               {"model", model_of(up, e.model)},
               {"choices", choices}};
  if (up.contains("usage")) body["usage"] = up["usage"];
  return body;
}

http::Response handle(Pipeline& pipeline, const std::string& model_id, const http::Request& req,
                      const http::AliveCheck& alive) {
  auto parsed = api::parse_chat_request(req.body, pipeline.request_limits());
  if (auto* err = std::get_if<api::ApiError>(&parsed)) return wire::error_response(*err);
  const api::ChatRequest& cr = std::get<api::ChatRequest>(parsed);
  if (cr.n > 1) {
    auto policy = resolve_policy(pipeline.options().handoff, cr);
    if (auto* p = std::get_if<HandoffPolicy>(&policy); p && p->mode == HandoffMode::Proxy) {
      return wire::error_response(
          api::invalid_request("handoff \"proxy\" needs n=1", "n", "unsupported_value"));
    }
  }
  auto started = start_choices(pipeline, cr, req, alive);
  if (auto* err = std::get_if<api::ApiError>(&started)) return wire::error_response(*err);
  const Generations& gens = std::get<Generations>(started);
  const Envelope env{"chatcmpl-" + wire::random_hex(24), static_cast<int64_t>(std::time(nullptr)),
                     model_id, cr.include_usage};
  return cr.stream ? stream(gens, env, alive) : complete(gens, env, cr.logprobs, alive);
}

}  // namespace lfmd::openai_chat
