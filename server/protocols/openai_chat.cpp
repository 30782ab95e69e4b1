#include "server/protocols/openai_chat.h"

#include <ctime>

#include "server/protocols/wire.h"

namespace lfmd::openai_chat {

const char* finish_reason(OutputFinish f) {
  switch (f) {
    case OutputFinish::Length: return "length";
    case OutputFinish::ToolCalls: return "tool_calls";
    case OutputFinish::EndOfTurn:
    case OutputFinish::StopSequence: return "stop";
  }
  return "stop";
}

json usage(const Usage& u) {
  json j = {{"prompt_tokens", u.prompt_tokens},
            {"completion_tokens", u.completion_tokens},
            {"total_tokens", u.prompt_tokens + u.completion_tokens},
            {"prompt_tokens_details", {{"cached_tokens", u.cached_tokens}}}};
  if (u.reasoning_tokens > 0) j["completion_tokens_details"] = {{"reasoning_tokens", u.reasoning_tokens}};
  return j;
}

json chunk(const Envelope& e, json delta, const json& finish, const json& logprobs) {
  json c = {{"id", e.id}, {"object", "chat.completion.chunk"}, {"created", e.created}, {"model", e.model},
            {"choices", json::array({{{"index", 0}, {"delta", std::move(delta)}, {"logprobs", logprobs}, {"finish_reason", finish}}})}};
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
  return j.is_object() && j.contains("model") && j["model"].is_string() ? j["model"].get<std::string>() : fallback;
}

bool has_finish(const json& chunk) {
  for (const auto& c : chunk["choices"]) {
    if (!c["finish_reason"].is_null()) return true;
  }
  return false;
}

json with_content(const json& logprobs) { return json{{"content", logprobs}}; }

// The message with "reasoning_content" right after "content" (llama-server's place for it).
json with_reasoning(json msg, const std::string& reasoning) {
  json out;
  for (auto& [k, v] : msg.items()) {
    out[k] = v;
    if (k == "content") out["reasoning_content"] = reasoning;
  }
  return out;
}

http::Response complete(std::shared_ptr<Generation> gen, const Envelope& env, bool want_logprobs,
                        const http::AliveCheck& alive) {
  json logprobs = json::array();
  OutputEvent last;
  auto take = [&](const json& entries) {
    if (entries.is_array()) logprobs.insert(logprobs.end(), entries.begin(), entries.end());
  };
  const PumpEnd end = gen->pump(
      [&](const OutputEvent& ev) {
        if (ev.kind == OutputEvent::Kind::Text || ev.kind == OutputEvent::Kind::Finish) take(ev.logprobs);
        last = ev;
        return true;
      },
      alive);
  if (end == PumpEnd::ClientGone) return wire::error_response(api::request_timeout());  // nobody listens
  if (last.kind == OutputEvent::Kind::Error) return wire::error_response(api::server_error(last.text));
  http::Response r;
  if (last.kind == OutputEvent::Kind::CloudAnswer) {
    json body = cloud_completion(env, last.body);
    annotate(body, last.annotations);
    r.body = wire::dump(body);
    r.headers.emplace_back("x-lfmd-served-by", "cloud");
    return r;
  }
  json msg = output::assistant_message(last.content, last.tool_calls);
  if (!last.reasoning.empty()) msg = with_reasoning(std::move(msg), last.reasoning);
  json body = {{"id", env.id}, {"object", "chat.completion"}, {"created", env.created}, {"model", env.model},
               {"choices", json::array({{{"index", 0}, {"message", msg},
                                         {"logprobs", want_logprobs ? with_content(logprobs) : json(nullptr)},
                                         {"finish_reason", finish_reason(last.finish)}}})},
               {"usage", usage(last.usage)}};
  annotate(body, last.annotations);
  r.body = wire::dump(body);
  r.headers.emplace_back("x-lfmd-served-by", "local");
  return r;
}

// One local event as SSE (false once the client is gone).
bool write_local(http::StreamWriter& w, const Envelope& env, const OutputEvent& ev) {
  using K = OutputEvent::Kind;
  switch (ev.kind) {
    case K::KeepAlive: return w.write(": ping\n\n");
    case K::ToolCallEnd: return true;
    case K::Error: return w.write(wire::sse(api::server_error(ev.text).body())), true;
    case K::Finish: {
      const json lp = ev.logprobs.is_array() && !ev.logprobs.empty() ? with_content(ev.logprobs) : json(nullptr);
      json last = chunk(env, json::object(), finish_reason(ev.finish), lp);
      annotate(last, ev.annotations);
      if (!w.write(wire::sse(last))) return false;
      if (env.include_usage) {
        json u = {{"id", env.id}, {"object", "chat.completion.chunk"}, {"created", env.created},
                  {"model", env.model}, {"choices", json::array()}, {"usage", usage(ev.usage)}};
        if (!w.write(wire::sse(u))) return false;
      }
      w.write("data: [DONE]\n\n");
      return true;
    }
    default: {
      const json lp = ev.logprobs.is_array() ? with_content(ev.logprobs) : json(nullptr);
      return w.write(wire::sse(chunk(env, delta(ev), nullptr, lp)));
    }
  }
}

// One event of the upstream's stream, re-framed as ours.
bool write_cloud(http::StreamWriter& w, const Envelope& env, const OutputEvent& ev, bool& first) {
  if (ev.kind == OutputEvent::Kind::KeepAlive) return w.write(": ping\n\n");
  if (ev.kind == OutputEvent::Kind::Error) return w.write(wire::sse(api::server_error(ev.text).body())), true;
  json out = reframe_chunk(env, ev.body, first);
  if (out["choices"].empty() && !out.contains("usage")) return true;  // nothing of ours to say
  if (!out["choices"].empty()) first = false;
  if (has_finish(out)) annotate(out, ev.annotations);
  return w.write(wire::sse(out));
}

http::Response stream(std::shared_ptr<Generation> gen, const Envelope& env, const http::AliveCheck& alive) {
  const Generation::Source src = gen->choose_source(alive);
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
  r.stream = [gen, env, alive](http::StreamWriter& w) {
    // The role comes first (the Node SDK needs it).
    if (!w.write(wire::sse(chunk(env, {{"role", "assistant"}, {"content", ""}}, nullptr)))) return gen->abandon();
    gen->pump([&](const OutputEvent& ev) { return write_local(w, env, ev); }, alive);
  };
  return r;
}

}  // namespace

json reframe_chunk(const Envelope& e, const json& up, bool first) {
  json out = {{"id", e.id}, {"object", "chat.completion.chunk"}, {"created", e.created}, {"model", model_of(up, e.model)}};
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
      choices.push_back({{"index", c.value("index", json(0))}, {"delta", d},
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
    choices.push_back({{"index", c.value("index", json(0))}, {"message", c.value("message", json::object())},
                       {"logprobs", c.value("logprobs", json(nullptr))},
                       {"finish_reason", c.value("finish_reason", json(nullptr))}});
  }
  json body = {{"id", e.id}, {"object", "chat.completion"}, {"created", e.created},
               {"model", model_of(up, e.model)}, {"choices", choices}};
  if (up.contains("usage")) body["usage"] = up["usage"];
  return body;
}

http::Response handle(Pipeline& pipeline, const std::string& model_id, const http::Request& req,
                      const http::AliveCheck& alive) {
  auto parsed = api::parse_chat_request(req.body, pipeline.request_limits());
  if (auto* err = std::get_if<api::ApiError>(&parsed)) return wire::error_response(*err);
  const api::ChatRequest& cr = std::get<api::ChatRequest>(parsed);
  auto started = pipeline.start(cr, StartOptions{cr.stream, req.body});
  if (auto* err = std::get_if<api::ApiError>(&started)) return wire::error_response(*err);
  auto gen = std::get<std::shared_ptr<Generation>>(std::move(started));
  const Envelope env{"chatcmpl-" + wire::random_hex(24), static_cast<int64_t>(std::time(nullptr)), model_id,
                     cr.include_usage};
  return cr.stream ? stream(gen, env, alive) : complete(gen, env, cr.logprobs, alive);
}

}  // namespace lfmd::openai_chat
