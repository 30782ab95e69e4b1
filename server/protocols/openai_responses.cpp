#include "server/protocols/openai_responses.h"

#include <ctime>
#include <utility>

#include "server/api/responses_request.h"
#include "server/protocols/openai_chat.h"
#include "server/protocols/wire.h"

namespace lfmd::openai_responses {

namespace {

using K = OutputEvent::Kind;

bool blank(const std::string& s) {
  return s.find_first_not_of(" \t\r\n") == std::string::npos;
}

// "<prefix>_<the response id's hex>_<n>"
std::string item_id(const Envelope& e, const char* prefix, size_t n) {
  const std::string hex = e.id.size() > 5 ? e.id.substr(5) : e.id;
  return std::string(prefix) + "_" + hex + "_" + std::to_string(n);
}

json text_part(const std::string& text) {
  return {{"type", "output_text"},
          {"text", text},
          {"annotations", json::array()},
          {"logprobs", json::array()}};
}

json reasoning_part(const std::string& text) {
  return {{"type", "reasoning_text"}, {"text", text}};
}

json message_item(const std::string& id, const char* status, json content) {
  return {{"type", "message"},
          {"id", id},
          {"status", status},
          {"role", "assistant"},
          {"content", std::move(content)}};
}

json reasoning_item(const std::string& id, json content) {
  return {{"type", "reasoning"},
          {"id", id},
          {"summary", json::array()},
          {"content", std::move(content)}};
}

json call_item(const std::string& id, const std::string& call_id, const std::string& name,
               const std::string& args, const char* status) {
  return {{"type", "function_call"}, {"id", id},        {"call_id", call_id}, {"name", name},
          {"arguments", args},       {"status", status}};
}

const char* final_status(const OutputEvent& finish) {
  return finish.finish == OutputFinish::Length ? "incomplete" : "completed";
}

}  // namespace

json usage(const Usage& u) {
  return {{"input_tokens", u.prompt_tokens},
          {"input_tokens_details", {{"cached_tokens", u.cached_tokens}}},
          {"output_tokens", u.completion_tokens},
          {"output_tokens_details", {{"reasoning_tokens", u.reasoning_tokens}}},
          {"total_tokens", u.prompt_tokens + u.completion_tokens}};
}

json response(const Envelope& e, const std::string& status, json output, json usage,
              const json& error) {
  json r = {{"id", e.id},
            {"object", "response"},
            {"created_at", e.created},
            {"status", status},
            {"background", false},
            {"error", error},
            {"incomplete_details",
             status == "incomplete" ? json{{"reason", "max_output_tokens"}} : json(nullptr)}};
  const json& echo = e.echo;
  r["instructions"] = echo.value("instructions", json(nullptr));
  r["max_output_tokens"] = echo.value("max_output_tokens", json(nullptr));
  r["model"] = e.model;
  r["output"] = std::move(output);
  r["parallel_tool_calls"] = echo.value("parallel_tool_calls", json(true));
  r["previous_response_id"] = nullptr;
  r["reasoning"] = {{"effort", nullptr}, {"summary", nullptr}};
  r["store"] = false;
  r["temperature"] = echo.value("temperature", json(1.0));
  r["text"] = echo.value("text", json{{"format", {{"type", "text"}}}});
  r["tool_choice"] = echo.value("tool_choice", json("auto"));
  r["tools"] = echo.value("tools", json::array());
  r["top_p"] = echo.value("top_p", json(1.0));
  r["truncation"] = "disabled";
  r["usage"] = std::move(usage);
  r["user"] = nullptr;
  r["metadata"] = json::object();
  return r;
}

json output_items(const Envelope& e, const OutputEvent& f) {
  json out = json::array();
  if (!f.reasoning.empty()) {
    out.push_back(
        reasoning_item(item_id(e, "rs", out.size()), json::array({reasoning_part(f.reasoning)})));
  }
  if (!blank(f.content) || (f.tool_calls.empty() && out.empty())) {
    const char* st = f.finish == OutputFinish::Length ? "incomplete" : "completed";
    out.push_back(
        message_item(item_id(e, "msg", out.size()), st, json::array({text_part(f.content)})));
  }
  for (const auto& c : f.tool_calls) {
    out.push_back(call_item(item_id(e, "fc", out.size()), c.id, c.name, c.arguments, "completed"));
  }
  return out;
}

// ---- EventStream ----

std::string EventStream::frame(json data) {
  const std::string type = data["type"].get<std::string>();
  data["sequence_number"] = seq_++;
  return "event: " + type + "\ndata: " + wire::dump(data) + "\n\n";
}

std::string EventStream::start() {
  std::string s = frame({{"type", "response.created"},
                         {"response", response(env_, "in_progress", json::array(), nullptr)}});
  return s + frame({{"type", "response.in_progress"},
                    {"response", response(env_, "in_progress", json::array(), nullptr)}});
}

std::string EventStream::open_item(Open kind, const OutputEvent& ev) {
  const size_t n = output_.size();
  open_ = kind;
  text_.clear();
  if (kind == Open::Message)
    item_ = message_item(item_id(env_, "msg", n), "in_progress", json::array());
  if (kind == Open::Reasoning) item_ = reasoning_item(item_id(env_, "rs", n), json::array());
  if (kind == Open::Call)
    item_ = call_item(item_id(env_, "fc", n), ev.id, ev.name, "", "in_progress");
  std::string s =
      frame({{"type", "response.output_item.added"}, {"output_index", n}, {"item", item_}});
  if (kind == Open::Call) return s;
  const json part = kind == Open::Message ? text_part("") : reasoning_part("");
  return s + frame({{"type", "response.content_part.added"},
                    {"item_id", item_["id"]},
                    {"output_index", n},
                    {"content_index", 0},
                    {"part", part}});
}

std::string EventStream::close_item(bool incomplete) {
  if (open_ == Open::None) return "";
  const size_t n = output_.size();
  const json id = item_["id"];
  std::string s;
  if (open_ == Open::Call) {
    s = frame({{"type", "response.function_call_arguments.done"},
               {"item_id", id},
               {"output_index", n},
               {"name", item_["name"]},
               {"arguments", text_}});
    item_["arguments"] = text_;
  } else {
    const bool msg = open_ == Open::Message;
    json done = {{"type", msg ? "response.output_text.done" : "response.reasoning_text.done"},
                 {"item_id", id},
                 {"output_index", n},
                 {"content_index", 0},
                 {"text", text_}};
    if (msg) done["logprobs"] = json::array();
    const json part = msg ? text_part(text_) : reasoning_part(text_);
    s = frame(std::move(done));
    s += frame({{"type", "response.content_part.done"},
                {"item_id", id},
                {"output_index", n},
                {"content_index", 0},
                {"part", part}});
    item_["content"] = json::array({part});
  }
  if (item_.contains("status"))
    item_["status"] = incomplete && open_ == Open::Message ? "incomplete" : "completed";
  s += frame({{"type", "response.output_item.done"}, {"output_index", n}, {"item", item_}});
  output_.push_back(std::move(item_));
  open_ = Open::None;
  return s;
}

std::string EventStream::finish(const OutputEvent& ev) {
  const bool incomplete = ev.finish == OutputFinish::Length;
  std::string s = close_item(incomplete);
  if (output_.empty()) {  // nothing was said: one (possibly empty) message, as output_items
    s += open_item(Open::Message, ev);
    text_ = std::exchange(pending_, "");
    s += close_item(incomplete);
  }
  const char* status = final_status(ev);
  json r = response(env_, status, output_, usage(ev.usage));
  openai_chat::annotate(r, ev.annotations);
  return s + frame({{"type", incomplete ? "response.incomplete" : "response.completed"},
                    {"response", r}});
}

std::string EventStream::feed(const OutputEvent& ev) {
  std::string s;
  switch (ev.kind) {
    case K::KeepAlive:
      return ": ping\n\n";
    case K::Text:
    case K::Reasoning: {
      const Open want = ev.kind == K::Text ? Open::Message : Open::Reasoning;
      const bool msg = want == Open::Message;
      std::string delta = ev.text;
      if (open_ != want) {
        if (msg) {  // a message opens on its first non-blank text, as in output_items
          pending_ += ev.text;
          if (blank(pending_)) return "";
          delta = std::exchange(pending_, "");
        }
        pending_.clear();
        s = close_item(false);  // (two statements: the order of a + b is unspecified)
        s += open_item(want, ev);
      }
      text_ += delta;
      json d = {{"type", msg ? "response.output_text.delta" : "response.reasoning_text.delta"},
                {"item_id", item_["id"]},
                {"output_index", output_.size()},
                {"content_index", 0},
                {"delta", std::move(delta)}};
      if (msg) d["logprobs"] = json::array();
      return s + frame(std::move(d));
    }
    case K::ToolCallStart:
      pending_.clear();
      s = close_item(false);
      return s + open_item(Open::Call, ev);
    case K::ToolCallArgs:
      if (open_ != Open::Call) return "";
      text_ += ev.text;
      return frame({{"type", "response.function_call_arguments.delta"},
                    {"item_id", item_["id"]},
                    {"output_index", output_.size()},
                    {"delta", ev.text}});
    case K::ToolCallEnd:
      return close_item(false);
    case K::Finish:
      return finish(ev);
    case K::Error: {
      s = close_item(true);
      const json err = {{"code", "server_error"}, {"message", ev.text}};
      return s + frame({{"type", "response.failed"},
                        {"response", response(env_, "failed", output_, nullptr, err)}});
    }
    case K::CloudAnswer:
    case K::CloudChunk:
      return "";  // never: proxy handoff is refused on this route
  }
  return "";
}

// ---- The route ----

namespace {

http::Response complete(std::shared_ptr<Generation> gen, const Envelope& env,
                        const http::AliveCheck& alive) {
  OutputEvent last;
  const PumpEnd end = gen->pump(
      [&](const OutputEvent& ev) {
        last = ev;
        return true;
      },
      alive);
  if (end == PumpEnd::ClientGone) return wire::error_response(api::request_timeout());
  if (last.kind != K::Finish) return wire::error_response(failure_of(last));
  json body = response(env, final_status(last), output_items(env, last), usage(last.usage));
  openai_chat::annotate(body, last.annotations);
  http::Response r;
  r.body = wire::dump(body);
  r.headers.emplace_back("x-lfmd-served-by", "local");
  return r;
}

http::Response stream(std::shared_ptr<Generation> gen, const Envelope& env,
                      const http::AliveCheck& alive) {
  http::Response r = wire::sse_response("local");
  r.stream = [gen, env, alive](http::StreamWriter& w) {
    EventStream es(env);
    if (!w.write(es.start())) return gen->abandon();
    gen->pump(
        [&](const OutputEvent& ev) {
          const std::string s = es.feed(ev);
          return s.empty() || w.write(s);
        },
        alive);
  };
  return r;
}

}  // namespace

http::Response handle(Pipeline& pipeline, const std::string& model_id, const http::Request& req,
                      const http::AliveCheck& alive) {
  auto parsed = api::parse_responses_request(req.body, pipeline.request_limits());
  if (auto* err = std::get_if<api::ApiError>(&parsed)) return wire::error_response(*err);
  api::ResponsesRequest& rr = std::get<api::ResponsesRequest>(parsed);
  // A proxy handoff would forward this body to a Chat Completions upstream: flag instead.
  if (pipeline.options().handoff.mode == HandoffMode::Proxy && !rr.extra.contains("handoff")) {
    rr.extra["handoff"] = "flag";
  }
  auto started = pipeline.start(rr, StartOptions{rr.stream, req.body, req.record});
  if (auto* err = std::get_if<api::ApiError>(&started)) {
    if (err->param == "messages") err->param = "input";  // the pipeline names Chat's field
    return wire::error_response(*err);
  }
  auto gen = std::get<std::shared_ptr<Generation>>(std::move(started));
  const Envelope env{"resp_" + wire::random_hex(24), static_cast<int64_t>(std::time(nullptr)),
                     model_id, rr.echo};
  return rr.stream ? stream(gen, env, alive) : complete(gen, env, alive);
}

}  // namespace lfmd::openai_responses
