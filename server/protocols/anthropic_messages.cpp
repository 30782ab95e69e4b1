#include "server/protocols/anthropic_messages.h"

#include <limits>

#include "server/api/messages_request.h"
#include "server/protocols/wire.h"

namespace lfmd::anthropic_messages {

const char* stop_reason(OutputFinish f) {
  switch (f) {
    case OutputFinish::Length:
      return "max_tokens";
    case OutputFinish::ToolCalls:
      return "tool_use";
    case OutputFinish::StopSequence:
      return "stop_sequence";
    case OutputFinish::EndOfTurn:
      return "end_turn";
  }
  return "end_turn";
}

json usage(const Usage& u) {
  return {{"input_tokens", u.prompt_tokens - u.cached_tokens},
          {"cache_creation_input_tokens", 0},
          {"cache_read_input_tokens", u.cached_tokens},
          {"output_tokens", u.completion_tokens}};
}

std::string tool_use_id(const std::string& call_id) {
  const std::string_view prefix = "call_";
  return "toolu_" + (call_id.rfind(prefix, 0) == 0 ? call_id.substr(prefix.size()) : call_id);
}

json content_blocks(const OutputEvent& fin) {
  json blocks = json::array();
  if (!fin.reasoning.empty()) {
    blocks.push_back(
        {{"type", "thinking"}, {"thinking", fin.reasoning}, {"signature", kThinkingSignature}});
  }
  if (!fin.content.empty()) blocks.push_back({{"type", "text"}, {"text", fin.content}});
  for (const auto& c : fin.tool_calls) {
    json input = json::parse(c.arguments, nullptr, false);
    if (!input.is_object()) input = json::object();
    blocks.push_back(
        {{"type", "tool_use"}, {"id", tool_use_id(c.id)}, {"name", c.name}, {"input", input}});
  }
  return blocks;
}

namespace {

json stop_sequence_of(const OutputEvent& fin) {
  return fin.finish == OutputFinish::StopSequence ? json(fin.stop_sequence) : json(nullptr);
}

void annotate(json& j, const json& annotations) {
  if (!annotations.is_object()) return;
  for (const auto& [k, v] : annotations.items()) j[k] = v;
}

}  // namespace

json message(const std::string& id, const std::string& model, const OutputEvent& fin) {
  json m = {{"id", id},
            {"type", "message"},
            {"role", "assistant"},
            {"model", model},
            {"content", content_blocks(fin)},
            {"stop_reason", stop_reason(fin.finish)},
            {"stop_sequence", stop_sequence_of(fin)},
            {"usage", usage(fin.usage)}};
  annotate(m, fin.annotations);
  return m;
}

namespace {

const char* error_type(const api::ApiError& e) {
  switch (e.status) {
    case 401:
      return "authentication_error";
    case 403:
      return "permission_error";
    case 404:
      return "not_found_error";
    case 413:
      return "request_too_large";
    case 429:
    case 503:
    case 529:
      return "overloaded_error";
    default:
      return e.status >= 500 ? "api_error" : "invalid_request_error";
  }
}

}  // namespace

json error_body(const api::ApiError& e) {
  const size_t all = std::numeric_limits<size_t>::max();
  return {
      {"type", "error"},
      {"error", {{"type", error_type(e)}, {"message", api::sanitize_for_message(e.message, all)}}}};
}

http::Response error_response(const api::ApiError& e) {
  http::Response r;
  r.status = (e.status == 429 || e.status == 503) ? 529 : e.status;
  r.body = error_body(e).dump();
  if (e.retry_after_s > 0) r.headers.emplace_back("Retry-After", std::to_string(e.retry_after_s));
  return r;
}

std::string sse_event(const std::string& type, const json& data) {
  return "event: " + type + "\ndata: " + wire::dump(data) + "\n\n";
}

std::string StreamEncoder::start(int64_t prompt_tokens) const {
  json msg = {{"id", id_},
              {"type", "message"},
              {"role", "assistant"},
              {"model", model_},
              {"content", json::array()},
              {"stop_reason", nullptr},
              {"stop_sequence", nullptr},
              {"usage", usage(Usage{prompt_tokens, 0, 0, 0})}};
  return sse_event("message_start", {{"type", "message_start"}, {"message", msg}});
}

std::string StreamEncoder::open(Block b, json content_block) {
  std::string out = close();
  open_ = b;
  ++index_;
  return out + sse_event("content_block_start", {{"type", "content_block_start"},
                                                 {"index", index_},
                                                 {"content_block", std::move(content_block)}});
}

std::string StreamEncoder::close() {
  if (open_ == Block::None) return "";
  std::string out;
  if (open_ == Block::Thinking) {
    out = sse_event("content_block_delta",
                    {{"type", "content_block_delta"},
                     {"index", index_},
                     {"delta", {{"type", "signature_delta"}, {"signature", kThinkingSignature}}}});
  }
  open_ = Block::None;
  return out + sse_event("content_block_stop", {{"type", "content_block_stop"}, {"index", index_}});
}

std::string StreamEncoder::on(const OutputEvent& ev) {
  using K = OutputEvent::Kind;
  auto delta = [&](json d) {
    return sse_event("content_block_delta",
                     {{"type", "content_block_delta"}, {"index", index_}, {"delta", d}});
  };
  switch (ev.kind) {
    case K::Text: {
      if (ev.text.empty()) return "";
      std::string out =
          open_ == Block::Text ? "" : open(Block::Text, {{"type", "text"}, {"text", ""}});
      return out + delta({{"type", "text_delta"}, {"text", ev.text}});
    }
    case K::Reasoning: {
      if (ev.text.empty()) return "";
      std::string out =
          open_ == Block::Thinking
              ? ""
              : open(Block::Thinking, {{"type", "thinking"}, {"thinking", ""}, {"signature", ""}});
      return out + delta({{"type", "thinking_delta"}, {"thinking", ev.text}});
    }
    case K::ToolCallStart:
      return open(Block::Tool, {{"type", "tool_use"},
                                {"id", tool_use_id(ev.id)},
                                {"name", ev.name},
                                {"input", json::object()}});
    case K::ToolCallArgs:
      if (open_ != Block::Tool || ev.text.empty()) return "";
      return delta({{"type", "input_json_delta"}, {"partial_json", ev.text}});
    case K::ToolCallEnd:
      return open_ == Block::Tool ? close() : "";
    case K::KeepAlive:
      return sse_event("ping", {{"type", "ping"}});
    case K::Finish: {
      json md = {
          {"type", "message_delta"},
          {"delta",
           {{"stop_reason", stop_reason(ev.finish)}, {"stop_sequence", stop_sequence_of(ev)}}},
          {"usage", usage(ev.usage)}};
      annotate(md, ev.annotations);
      return close() + sse_event("message_delta", md) +
             sse_event("message_stop", {{"type", "message_stop"}});
    }
    case K::Error:
      return sse_event("error", error_body(failure_of(ev)));
    case K::CloudAnswer:
    case K::CloudChunk:
      return "";  // never: handle() turns proxy handoff into flag
  }
  return "";
}

namespace {

http::Response complete(const std::shared_ptr<Generation>& gen, const std::string& id,
                        const std::string& model, const http::AliveCheck& alive) {
  OutputEvent last;
  auto keep_last = [&](const OutputEvent& ev) {
    last = ev;
    return true;
  };
  const PumpEnd end = gen->pump(keep_last, alive);
  if (end == PumpEnd::ClientGone) return error_response(api::request_timeout());
  if (last.kind != OutputEvent::Kind::Finish) return error_response(failure_of(last));
  http::Response r;
  r.body = wire::dump(message(id, model, last));
  r.headers.emplace_back("x-lfmd-served-by", "local");
  return r;
}

http::Response stream(const std::shared_ptr<Generation>& gen, const std::string& id,
                      const std::string& model, const http::AliveCheck& alive) {
  if (gen->choose_source(alive) == Generation::Source::ClientGone)
    return error_response(api::request_timeout());
  http::Response r = wire::sse_response("local");
  r.stream = [gen, enc = StreamEncoder(id, model), alive](http::StreamWriter& w) mutable {
    if (!w.write(enc.start(gen->prompt_tokens()))) return gen->abandon();
    gen->pump(
        [&](const OutputEvent& ev) {
          const std::string bytes = enc.on(ev);
          return bytes.empty() || w.write(bytes);
        },
        alive);
  };
  return r;
}

}  // namespace

http::Response handle(Pipeline& pipeline, const std::string& model_id, const http::Request& req,
                      const http::AliveCheck& alive) {
  (void)model_id;  // the answer names the model the client asked for, as Anthropic's does
  auto parsed = api::parse_messages_request(req.body, api::Limits{});
  if (auto* err = std::get_if<api::ApiError>(&parsed)) return error_response(*err);
  api::MessagesRequest& mr = std::get<api::MessagesRequest>(parsed);
  // The cloud upstream speaks Chat Completions, not this body: a low-confidence answer is flagged.
  if (pipeline.options().handoff.mode == HandoffMode::Proxy) mr.extra["handoff"] = "flag";
  auto started = pipeline.start(mr, StartOptions{mr.stream, req.body, req.record});
  if (auto* err = std::get_if<api::ApiError>(&started)) return error_response(*err);
  auto gen = std::get<std::shared_ptr<Generation>>(std::move(started));
  const std::string id = "msg_" + wire::random_hex(24);
  return mr.stream ? stream(gen, id, mr.model, alive) : complete(gen, id, mr.model, alive);
}

http::Response count_tokens(Pipeline& pipeline, const http::Request& req) {
  auto parsed = api::parse_messages_request(req.body, api::Limits{}, /*count_tokens=*/true);
  if (auto* err = std::get_if<api::ApiError>(&parsed)) return error_response(*err);
  int64_t n = 0;
  try {
    n = pipeline.count_prompt_tokens(std::get<api::MessagesRequest>(parsed));
  } catch (const std::exception& e) {
    return error_response(api::invalid_request(
        std::string("the chat template rejected these messages: ") + e.what(), "messages"));
  }
  http::Response r;
  r.body = json{{"input_tokens", n}}.dump();
  return r;
}

}  // namespace lfmd::anthropic_messages
