#include "server/protocols/openai_completions.h"

#include <ctime>

#include "server/protocols/wire.h"

namespace lfmd::openai_completions {

using json = nlohmann::ordered_json;

namespace {

struct Bad {
  api::ApiError err;
};

[[noreturn]] void fail(const std::string& param, const std::string& message,
                       const std::string& code = "invalid_value") {
  throw Bad{api::invalid_request(message, param, code)};
}

double number(const json& v, const char* name, double lo, double hi) {
  if (!v.is_number()) fail(name, std::string("'") + name + "' must be a number.", "invalid_type");
  const double d = v.get<double>();
  if (!(d >= lo && d <= hi)) {
    fail(name, std::string("'") + name + "' must be between " + std::to_string(lo) + " and " +
                   std::to_string(hi) + ".");
  }
  return d;
}

int64_t integer(const json& v, const char* name, int64_t lo, int64_t hi) {
  if (!v.is_number_integer())
    fail(name, std::string("'") + name + "' must be an integer.", "invalid_type");
  if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(hi)) {
    fail(name, std::string("'") + name + "' is too large.");
  }
  const int64_t i = v.get<int64_t>();
  if (i < lo || i > hi)
    fail(name, std::string("'") + name + "' must be between " + std::to_string(lo) + " and " +
                   std::to_string(hi) + ".");
  return i;
}

bool boolean(const json& v, const char* name) {
  if (!v.is_boolean()) fail(name, std::string("'") + name + "' must be a boolean.", "invalid_type");
  return v.get<bool>();
}

const json* field(const json& root, const char* name) {
  auto it = root.find(name);
  return it == root.end() || it->is_null() ? nullptr : &*it;
}

std::vector<std::string> prompts_of(const json& p) {
  if (p.is_string()) return {p.get<std::string>()};
  if (!p.is_array() || p.empty())
    fail("prompt", "'prompt' must be a string or a non-empty array of strings.", "invalid_type");
  if (p.size() > 16) fail("prompt", "'prompt' has more than 16 entries.", "array_above_max_length");
  std::vector<std::string> out;
  for (const auto& s : p) {
    if (!s.is_string())
      fail("prompt",
           "'prompt' must be a string or an array of strings (token ids are not accepted).",
           "invalid_type");
    out.push_back(s.get<std::string>());
  }
  return out;
}

std::vector<std::string> stops_of(const json& s) {
  if (s.is_string() && !s.get<std::string>().empty()) return {s.get<std::string>()};
  if (!s.is_array() || s.size() > 4)
    fail("stop", "'stop' must be a non-empty string or an array of at most 4.");
  std::vector<std::string> out;
  for (const auto& x : s) {
    if (!x.is_string() || x.get<std::string>().empty())
      fail("stop", "'stop' entries must be non-empty strings.");
    out.push_back(x.get<std::string>());
  }
  return out;
}

void sampling(const json& root, Conversation& c) {
  if (auto* v = field(root, "max_tokens"))
    c.max_tokens = integer(*v, "max_tokens", 1, INT32_MAX);
  else
    c.max_tokens = 16;  // OpenAI's default for this route
  if (auto* v = field(root, "temperature")) c.temperature = number(*v, "temperature", 0, 2);
  if (auto* v = field(root, "top_p")) c.top_p = number(*v, "top_p", 0, 1);
  if (auto* v = field(root, "presence_penalty"))
    c.presence_penalty = number(*v, "presence_penalty", -2, 2);
  if (auto* v = field(root, "frequency_penalty"))
    c.frequency_penalty = number(*v, "frequency_penalty", -2, 2);
  if (auto* v = field(root, "seed"))
    c.seed = static_cast<uint64_t>(integer(*v, "seed", INT64_MIN, INT64_MAX));
  if (auto* v = field(root, "stop")) c.stop = stops_of(*v);
  if (auto* v = field(root, "logprobs")) {
    c.logprobs = true;
    c.top_logprobs = static_cast<int32_t>(integer(*v, "logprobs", 0, 5));
  }
}

Request parse_or_throw(std::string_view body) {
  auto parsed = api::parse_json_object(body);
  if (auto* e = std::get_if<api::ApiError>(&parsed)) throw Bad{std::move(*e)};
  const json root = std::move(std::get<json>(parsed));
  Request r;
  const json* p = field(root, "prompt");
  if (!p) fail("prompt", "Missing required parameter: 'prompt'.", "missing_required_parameter");
  r.prompts = prompts_of(*p);
  if (auto* v = field(root, "suffix"); v && !(v->is_string() && v->get<std::string>().empty())) {
    fail("suffix", "'suffix' is not supported: LFM2 models have no fill-in-the-middle tokens.",
         "unsupported_value");
  }
  if (auto* v = field(root, "n")) integer(*v, "n", 1, 1);
  if (auto* v = field(root, "best_of")) integer(*v, "best_of", 1, 1);
  if (auto* v = field(root, "echo")) r.echo = boolean(*v, "echo");
  if (auto* v = field(root, "stream")) r.stream = boolean(*v, "stream");
  if (auto* v = field(root, "stream_options")) {
    if (!v->is_object())
      fail("stream_options", "'stream_options' must be an object.", "invalid_type");
    if (!r.stream)
      fail("stream_options", "'stream_options' is only allowed when 'stream' is true.");
    if (auto* u = field(*v, "include_usage"))
      r.include_usage = boolean(*u, "stream_options.include_usage");
  }
  if (field(root, "logit_bias"))
    fail("logit_bias",
         "'logit_bias' is not supported on /v1/completions; use /v1/chat/completions.",
         "unsupported_value");
  sampling(root, r.conv);
  return r;
}

json usage_json(const Usage& u) {
  return {{"prompt_tokens", u.prompt_tokens},
          {"completion_tokens", u.completion_tokens},
          {"total_tokens", u.prompt_tokens + u.completion_tokens}};
}

const char* finish_of(OutputFinish f) {
  return f == OutputFinish::Length ? "length" : "stop";
}

}  // namespace

std::variant<Request, api::ApiError> parse(std::string_view body) {
  try {
    return parse_or_throw(body);
  } catch (const Bad& b) {
    return b.err;
  }
}

json legacy_logprobs(const json& entries, size_t offset0) {
  json tokens = json::array(), lps = json::array(), tops = json::array(), offsets = json::array();
  size_t at = offset0;
  for (const auto& e : entries) {
    tokens.push_back(e["token"]);
    lps.push_back(e["logprob"]);
    json top = json::object();
    for (const auto& t : e["top_logprobs"]) top[t["token"].get<std::string>()] = t["logprob"];
    tops.push_back(std::move(top));
    offsets.push_back(at);
    at += e["bytes"].size();
  }
  return {{"tokens", tokens},
          {"token_logprobs", lps},
          {"top_logprobs", tops},
          {"text_offset", offsets}};
}

namespace {

struct Envelope {
  std::string id;
  int64_t created;
  std::string model;
};

json choice(int index, std::string text, const json& logprobs, const json& finish) {
  return {{"text", std::move(text)},
          {"index", index},
          {"logprobs", logprobs},
          {"finish_reason", finish}};
}

json object(const Envelope& e, json choices) {
  return {{"id", e.id},
          {"object", "text_completion"},
          {"created", e.created},
          {"model", e.model},
          {"choices", std::move(choices)}};
}

// One prompt's answer, run to its end.
struct Answer {
  std::string text;
  json logprobs = json::array();
  OutputEvent finish;
};

using Generations = std::vector<std::shared_ptr<Generation>>;

// Submits every prompt at once (they share the engine's batches); the error of the first that
// cannot start, after cancelling the others.
std::variant<Generations, api::ApiError> start_all(Pipeline& p, const Request& r, bool stream,
                                                   const std::shared_ptr<RequestRecord>& record) {
  Generations gens;
  for (const std::string& prompt : r.prompts) {
    Conversation c = r.conv;
    c.raw_prompt = prompt;
    auto started = p.start(c, StartOptions{stream, "", record});
    if (auto* err = std::get_if<api::ApiError>(&started)) {
      for (auto& g : gens) g->cancel();
      return *err;
    }
    gens.push_back(std::get<std::shared_ptr<Generation>>(std::move(started)));
  }
  return gens;
}

// Runs one generation to its end; false when the client left or the engine failed (a.finish
// then holds the Error event).
bool run(Generation& g, Answer& a, const http::AliveCheck& alive, const EventSink& also = nullptr) {
  const PumpEnd end = g.pump(
      [&](const OutputEvent& ev) {
        if (ev.kind == OutputEvent::Kind::Text || ev.kind == OutputEvent::Kind::Finish) {
          if (ev.logprobs.is_array())
            a.logprobs.insert(a.logprobs.end(), ev.logprobs.begin(), ev.logprobs.end());
        }
        if (ev.kind == OutputEvent::Kind::Text) a.text += ev.text;
        if (ev.kind == OutputEvent::Kind::Finish || ev.kind == OutputEvent::Kind::Error)
          a.finish = ev;
        return also ? also(ev) : true;
      },
      alive);
  return end == PumpEnd::Finished;
}

void add_usage(Usage& total, const Usage& u) {
  total.prompt_tokens += u.prompt_tokens;
  total.completion_tokens += u.completion_tokens;
}

http::Response complete(const Generations& gens, const Request& r, const Envelope& env,
                        const http::AliveCheck& alive) {
  json choices = json::array();
  Usage total;
  for (size_t i = 0; i < gens.size(); ++i) {
    Answer a;
    if (!run(*gens[i], a, alive)) {
      for (size_t j = i + 1; j < gens.size(); ++j) gens[j]->cancel();
      if (a.finish.kind == OutputEvent::Kind::Error)
        return wire::error_response(failure_of(a.finish));
      return wire::error_response(api::request_timeout());
    }
    const std::string head = r.echo ? r.prompts[i] : "";
    const json lp = r.conv.logprobs ? legacy_logprobs(a.logprobs, head.size()) : json(nullptr);
    choices.push_back(choice(static_cast<int>(i), head + a.text, lp, finish_of(a.finish.finish)));
    add_usage(total, a.finish.usage);
  }
  json body = object(env, std::move(choices));
  body["usage"] = usage_json(total);
  http::Response resp;
  resp.body = wire::dump(body);
  return resp;
}

// One prompt's answer as SSE chunks; false when the stream ended early (client gone, error).
bool stream_one(http::StreamWriter& w, Generation& g, const Request& r, size_t i,
                const Envelope& env, const http::AliveCheck& alive, Usage& total) {
  const int index = static_cast<int>(i);
  if (r.echo && !w.write(wire::sse(
                    object(env, json::array({choice(index, r.prompts[i], nullptr, nullptr)}))))) {
    return false;
  }
  size_t offset = r.echo ? r.prompts[i].size() : 0;
  auto sink = [&](const OutputEvent& ev) {
    if (ev.kind == OutputEvent::Kind::KeepAlive) return w.write(": ping\n\n");
    if (ev.kind != OutputEvent::Kind::Text) return true;
    const json lp = ev.logprobs.is_array() ? legacy_logprobs(ev.logprobs, offset) : json(nullptr);
    offset += ev.text.size();
    return w.write(wire::sse(object(env, json::array({choice(index, ev.text, lp, nullptr)}))));
  };
  Answer a;
  if (!run(g, a, alive, sink)) {
    if (a.finish.kind == OutputEvent::Kind::Error)
      w.write(wire::sse(failure_of(a.finish).body()));
    return false;
  }
  const json lp =
      a.finish.logprobs.is_array() ? legacy_logprobs(a.finish.logprobs, offset) : json(nullptr);
  add_usage(total, a.finish.usage);
  return w.write(
      wire::sse(object(env, json::array({choice(index, "", lp, finish_of(a.finish.finish))}))));
}

http::Response stream(const Generations& gens, const Request& r, const Envelope& env,
                      const http::AliveCheck& alive) {
  http::Response resp = wire::sse_response("local");
  resp.stream = [gens, r, env, alive](http::StreamWriter& w) {
    Usage total;
    for (size_t i = 0; i < gens.size(); ++i) {
      if (!stream_one(w, *gens[i], r, i, env, alive, total)) {
        for (size_t j = i + 1; j < gens.size(); ++j) gens[j]->cancel();
        return;
      }
    }
    if (r.include_usage) {
      json u = object(env, json::array());
      u["usage"] = usage_json(total);
      if (!w.write(wire::sse(u))) return;
    }
    w.write("data: [DONE]\n\n");
  };
  return resp;
}

}  // namespace

http::Response handle(Pipeline& pipeline, const std::string& model_id, const http::Request& req,
                      const http::AliveCheck& alive) {
  auto parsed = parse(req.body);
  if (auto* err = std::get_if<api::ApiError>(&parsed)) return wire::error_response(*err);
  const Request& r = std::get<Request>(parsed);
  auto started = start_all(pipeline, r, r.stream, req.record);
  if (auto* err = std::get_if<api::ApiError>(&started)) return wire::error_response(*err);
  const Generations& gens = std::get<Generations>(started);
  const Envelope env{"cmpl-" + wire::random_hex(24), static_cast<int64_t>(std::time(nullptr)),
                     model_id};
  return r.stream ? stream(gens, r, env, alive) : complete(gens, r, env, alive);
}

}  // namespace lfmd::openai_completions
