#include "server/protocols/ollama.h"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <deque>

#include "engine/quantize.h"
#include "server/api/validate.h"
#include "server/hub/sha256.h"
#include "server/protocols/wire.h"

namespace lfmd::ollama {

namespace check = api::check;
using Clock = std::chrono::steady_clock;

namespace {

// ---- Request: Ollama body -> Chat Completions body ----

// Ollama "options" -> Chat Completions sampling fields. Runtime options (num_ctx, num_thread,
// num_gpu, ...) have no meaning here and are ignored, as Ollama ignores options it does not know.
void map_options(const json& options, json& out) {
  if (!options.is_object()) check::fail_type("options", "object", options);
  static const std::pair<const char*, const char*> kSame[] = {
      {"temperature", "temperature"},
      {"top_p", "top_p"},
      {"top_k", "top_k"},
      {"min_p", "min_p"},
      {"seed", "seed"},
      {"presence_penalty", "presence_penalty"},
      {"frequency_penalty", "frequency_penalty"},
      {"repeat_penalty", "repetition_penalty"},
  };
  for (const auto& [from, to] : kSame) {
    if (const json* v = check::field(options, from)) out[to] = *v;
  }
  if (const json* v = check::field(options, "stop")) {
    out["stop"] = v->is_string() ? json::array({*v}) : *v;
  }
  if (const json* v = check::field(options, "num_predict")) {
    if (!v->is_number_integer()) check::fail_type("options.num_predict", "integer", *v);
    const int64_t n = v->get<int64_t>();
    if (n == 0 || n < -2) {
      check::fail("options.num_predict",
                  "options.num_predict must be positive, or -1 / -2 (no limit)");
    }
    if (n > 0) out["max_tokens"] = n;  // -1 and -2: up to the room left in the context
  }
}

// "json" -> json_object; a schema object -> json_schema; "" / absent -> text.
void map_format(const json& format, json& out) {
  if (format.is_string()) {
    const std::string f = format.get<std::string>();
    if (f.empty()) return;
    if (f != "json") check::fail("format", "format must be \"json\" or a JSON schema object");
    out["response_format"] = {{"type", "json_object"}};
    return;
  }
  if (!format.is_object()) check::fail_type("format", "string or object", format);
  out["response_format"] = {
      {"type", "json_schema"},
      {"json_schema", {{"name", "format"}, {"schema", format}, {"strict", true}}}};
}

void reject_images(const json& obj, const std::string& p) {
  if (const json* im = check::field(obj, "images"); im && !(im->is_array() && im->empty())) {
    check::fail(p, "images are not supported: the served model reads text only",
                "unsupported_value");
  }
}

// Ollama messages -> OpenAI messages. Tool calls get ids ("call_<n>"); a tool result answers the
// earliest unanswered call with its tool_name (or the earliest one).
json map_messages(const json& messages) {
  if (!messages.is_array()) check::fail_type("messages", "array", messages);
  json out = json::array();
  std::deque<std::pair<std::string, std::string>> pending;  // (id, name) of unanswered calls
  int next_id = 0;
  for (size_t i = 0; i < messages.size(); ++i) {
    const json& m = messages[i];
    const std::string p = "messages[" + std::to_string(i) + "]";
    if (!m.is_object()) check::fail_type(p, "object", m);
    reject_images(m, p + ".images");
    json o = {{"role", check::require(m, "role", p + ".role")}};
    const json* content = check::field(m, "content");
    o["content"] = content ? *content : json("");
    const std::string role = o["role"].is_string() ? o["role"].get<std::string>() : "";
    if (const json* th = check::field(m, "thinking"); th && role == "assistant")
      o["reasoning_content"] = *th;
    if (const json* calls = check::field(m, "tool_calls"); calls && role == "assistant") {
      if (!calls->is_array()) check::fail_type(p + ".tool_calls", "array", *calls);
      json oc = json::array();
      for (size_t k = 0; k < calls->size(); ++k) {
        const std::string cp = p + ".tool_calls[" + std::to_string(k) + "]";
        const json& c = (*calls)[k];
        const json& fn = check::require(c, "function", cp + ".function");
        if (!fn.is_object()) check::fail_type(cp + ".function", "object", fn);
        const json& name = check::require(fn, "name", cp + ".function.name");
        if (!name.is_string()) check::fail_type(cp + ".function.name", "string", name);
        const json* args = check::field(fn, "arguments");
        const std::string text = !args               ? "{}"
                                 : args->is_string() ? args->get<std::string>()
                                                     : args->dump();
        const std::string id = "call_" + std::to_string(next_id++);
        oc.push_back({{"id", id},
                      {"type", "function"},
                      {"function", {{"name", name}, {"arguments", text}}}});
        pending.emplace_back(id, name.get<std::string>());
      }
      o["tool_calls"] = oc;
    }
    if (role == "tool") {
      const json* tn = check::field(m, "tool_name");
      const std::string want = tn && tn->is_string() ? tn->get<std::string>() : "";
      auto it = pending.begin();
      while (it != pending.end() && !want.empty() && it->second != want) ++it;
      if (it == pending.end()) it = pending.begin();
      o["tool_call_id"] = it == pending.end() ? "call_" + std::to_string(next_id++) : it->first;
      if (it != pending.end()) pending.erase(it);
    }
    out.push_back(std::move(o));
  }
  return out;
}

// /api/generate: [system?, user prompt]; raw prompts skip the template (lfmd_raw_prompt).
json generate_messages(const json& body, json& out) {
  const json* prompt = check::field(body, "prompt");
  if (prompt && !prompt->is_string()) check::fail_type("prompt", "string", *prompt);
  for (const char* unsupported : {"suffix", "template"}) {
    if (const json* v = check::field(body, unsupported);
        v && !(v->is_string() && v->get<std::string>().empty())) {
      check::fail(unsupported, std::string(unsupported) + " is not supported by this server",
                  "unsupported_value");
    }
  }
  if (const json* ctx = check::field(body, "context"); ctx && !(ctx->is_array() && ctx->empty())) {
    check::fail("context",
                "context (token ids of an earlier answer) is not supported: use /api/chat",
                "unsupported_value");
  }
  reject_images(body, "images");
  const std::string text = prompt ? prompt->get<std::string>() : "";
  json msgs = json::array();
  const json* raw = check::field(body, "raw");
  if (raw && !raw->is_boolean()) check::fail_type("raw", "boolean", *raw);
  if (raw && raw->get<bool>()) {
    out["lfmd_raw_prompt"] = text;
  } else if (const json* sys = check::field(body, "system")) {
    if (!sys->is_string()) check::fail_type("system", "string", *sys);
    if (!sys->get<std::string>().empty()) msgs.push_back({{"role", "system"}, {"content", *sys}});
  }
  msgs.push_back({{"role", "user"}, {"content", text}});
  return msgs;
}

json convert(const json& body, bool generate) {
  if (!body.is_object()) check::fail_type("", "object", body);
  json out = json::object();
  const json& model = check::require(body, "model", "model");
  if (!model.is_string() || model.get<std::string>().empty())
    check::fail("model", "model is required");
  out["model"] = model;
  out["messages"] = generate ? generate_messages(body, out)
                             : map_messages(check::require(body, "messages", "messages"));
  if (!generate) {
    if (const json* t = check::field(body, "tools")) out["tools"] = *t;
  }
  if (const json* f = check::field(body, "format")) map_format(*f, out);
  if (const json* o = check::field(body, "options")) map_options(*o, out);
  if (const json* th = check::field(body, "think"); th && !th->is_boolean() && !th->is_string()) {
    check::fail_type("think", "boolean or string", *th);
  }
  // lfmd's own fields pass through: test hooks (with --test-hooks) and the handoff extensions.
  for (const auto& [k, v] : body.items()) {
    const bool ours = k.rfind("lfmd_", 0) == 0 && k != "lfmd_raw_prompt";  // that one is set above
    if (ours || k == "handoff" || k == "confidence_threshold") out[k] = v;
  }
  return out;
}

// ---- Response ----

// RFC 3339 UTC with microseconds, e.g. "2026-12-04T02:21:46.123456Z".
std::string created_at() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  const auto us =
      std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count() %
      1000000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<long long>(us));
  return buf;
}

int64_t ns(Clock::duration d) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
}

// Answer timing: prompt evaluation until the first output, evaluation after it.
struct Timing {
  Clock::time_point start = Clock::now();
  std::optional<Clock::time_point> first;
  void output() {
    if (!first) first = Clock::now();
  }
  void add_to(json& j) const {
    const auto end = Clock::now();
    const auto split = first.value_or(end);
    j["total_duration"] = ns(end - start);
    j["load_duration"] = 0;  // the model is loaded once, at start-up
    j["prompt_eval_duration"] = ns(split - start);
    j["eval_duration"] = ns(end - split);
  }
};

json arguments_object(const std::string& text) {
  json a = json::parse(text, nullptr, false);
  return a.is_discarded() ? json(text) : a;
}

json tool_call(int index, const std::string& name, const std::string& args) {
  return {{"function", {{"index", index}, {"name", name}, {"arguments", arguments_object(args)}}}};
}

// The envelope of one line / answer; `generate` answers carry "response", chat ones "message".
struct Shape {
  bool generate = false;
  std::string model;
  json head() const { return {{"model", model}, {"created_at", created_at()}}; }
  json delta(const std::string& content, const std::string& thinking, const json& calls) const {
    json j = head();
    if (generate) {
      j["response"] = content;
      if (!thinking.empty()) j["thinking"] = thinking;
    } else {
      json m = {{"role", "assistant"}, {"content", content}};
      if (!thinking.empty()) m["thinking"] = thinking;
      if (!calls.empty()) m["tool_calls"] = calls;
      j["message"] = m;
    }
    j["done"] = false;
    return j;
  }
  // The last object: done, done_reason, counts and durations (content only when not streamed).
  json done(json j, const char* reason, const Usage& u, const Timing& t) const {
    j["done"] = true;
    j["done_reason"] = reason;
    t.add_to(j);
    j["prompt_eval_count"] = u.prompt_tokens;
    j["eval_count"] = u.completion_tokens;
    return j;
  }
};

const char* done_reason(OutputFinish f) {
  return f == OutputFinish::Length ? "length" : "stop";
}

std::string line(const json& j) {
  return wire::dump(j) + "\n";
}

// The upstream's chat.completion (a proxy handoff) in Ollama's shape.
json cloud_answer(const Shape& s, const json& up, const Timing& t) {
  json msg = up.contains("choices") && up["choices"].is_array() && !up["choices"].empty()
                 ? up["choices"][0].value("message", json::object())
                 : json::object();
  const std::string content =
      msg.value("content", json("")).is_string() ? msg["content"].get<std::string>() : "";
  json calls = json::array();
  if (msg.contains("tool_calls") && msg["tool_calls"].is_array()) {
    int i = 0;
    for (const auto& c : msg["tool_calls"]) {
      const json fn = c.value("function", json::object());
      calls.push_back(tool_call(i++, fn.value("name", ""), fn.value("arguments", "{}")));
    }
  }
  Usage u;
  if (up.contains("usage") && up["usage"].is_object()) {
    u.prompt_tokens = up["usage"].value("prompt_tokens", int64_t{0});
    u.completion_tokens = up["usage"].value("completion_tokens", int64_t{0});
  }
  return s.done(s.delta(content, "", calls), "stop", u, t);
}

http::Response json_response(const json& j) {
  http::Response r;
  r.body = wire::dump(j);
  return r;
}

http::Response complete(const std::shared_ptr<Generation>& gen, const Shape& s,
                        const http::AliveCheck& alive) {
  Timing t;
  OutputEvent last;
  const PumpEnd end = gen->pump(
      [&](const OutputEvent& ev) {
        if (ev.kind != OutputEvent::Kind::KeepAlive) t.output();
        last = ev;
        return true;
      },
      alive);
  if (end == PumpEnd::ClientGone) return error_response(api::request_timeout());
  if (last.kind == OutputEvent::Kind::Error) return error_response(failure_of(last));
  if (last.kind == OutputEvent::Kind::CloudAnswer)
    return json_response(cloud_answer(s, last.body, t));
  json calls = json::array();
  for (size_t i = 0; i < last.tool_calls.size(); ++i) {
    calls.push_back(
        tool_call(static_cast<int>(i), last.tool_calls[i].name, last.tool_calls[i].arguments));
  }
  return json_response(s.done(s.delta(last.content, last.reasoning, calls),
                              done_reason(last.finish), last.usage, t));
}

// Local events as NDJSON lines (false once the client is gone).
struct LineWriter {
  http::StreamWriter& w;
  const Shape& s;
  Timing& t;
  std::string name, args;  // the tool call being streamed
  bool operator()(const OutputEvent& ev) {
    using K = OutputEvent::Kind;
    if (ev.kind != K::KeepAlive) t.output();
    switch (ev.kind) {
      case K::Text:
        return ev.text.empty() || w.write(line(s.delta(ev.text, "", json::array())));
      case K::Reasoning:
        return ev.text.empty() || w.write(line(s.delta("", ev.text, json::array())));
      case K::ToolCallStart:
        name = ev.name, args.clear();
        return true;
      case K::ToolCallArgs:
        args += ev.text;
        return true;
      case K::ToolCallEnd:
        return w.write(line(s.delta("", "", json::array({tool_call(ev.index, name, args)}))));
      case K::Finish:
        return w.write(
            line(s.done(s.delta("", "", json::array()), done_reason(ev.finish), ev.usage, t)));
      case K::Error:
        return w.write(line({{"error", ev.text}})), true;
      default:
        return true;  // KeepAlive: NDJSON has no comment line (clients parse every line)
    }
  }
};

// The upstream's stream (a streaming proxy handoff): its content deltas, then our done line.
void stream_cloud(http::StreamWriter& w, Generation& gen, const Shape& s,
                  const http::AliveCheck& alive) {
  Timing t;
  Usage u;
  const char* reason = "stop";
  const PumpEnd end = gen.pump_cloud(
      [&](const OutputEvent& ev) {
        if (ev.kind == OutputEvent::Kind::Error) return w.write(line({{"error", ev.text}})), true;
        if (ev.kind != OutputEvent::Kind::CloudChunk) return true;
        t.output();
        const json& c = ev.body;
        if (c.contains("usage") && c["usage"].is_object()) {
          u.prompt_tokens = c["usage"].value("prompt_tokens", int64_t{0});
          u.completion_tokens = c["usage"].value("completion_tokens", int64_t{0});
        }
        if (!c.contains("choices") || !c["choices"].is_array() || c["choices"].empty()) return true;
        const json& ch = c["choices"][0];
        if (ch.value("finish_reason", json(nullptr)) == "length") reason = "length";
        const json d = ch.value("delta", json::object());
        const json content = d.value("content", json(""));
        if (!content.is_string() || content.get<std::string>().empty()) return true;
        return w.write(line(s.delta(content.get<std::string>(), "", json::array())));
      },
      alive);
  if (end == PumpEnd::Finished) w.write(line(s.done(s.delta("", "", json::array()), reason, u, t)));
}

http::Response stream(const std::shared_ptr<Generation>& gen, const Shape& s,
                      const http::AliveCheck& alive) {
  const Generation::Source src = gen->choose_source(alive);
  if (src == Generation::Source::ClientGone) return error_response(api::request_timeout());
  http::Response r;
  r.content_type = "application/x-ndjson";
  r.headers.emplace_back("x-lfmd-served-by", src == Generation::Source::Cloud ? "cloud" : "local");
  if (src == Generation::Source::Cloud) {
    r.stream = [gen, s, alive](http::StreamWriter& w) { stream_cloud(w, *gen, s, alive); };
    return r;
  }
  r.stream = [gen, s, alive](http::StreamWriter& w) {
    Timing t;
    LineWriter lw{w, s, t, "", ""};
    gen->pump([&](const OutputEvent& ev) { return lw(ev); }, alive);
  };
  return r;
}

// An empty chat or generate request only loads the model in Ollama: done_reason "load".
bool is_load_only(const json& body, bool generate) {
  if (!body.is_object()) return false;
  if (generate) {
    const json* p = check::field(body, "prompt");
    return !p || (p->is_string() && p->get<std::string>().empty());
  }
  const json* m = check::field(body, "messages");
  return !m || (m->is_array() && m->empty());
}

http::Response answer(Pipeline& p, const std::string& model_id, const http::Request& req,
                      const http::AliveCheck& alive, bool generate) {
  const json body = json::parse(req.body, nullptr, false);
  if (body.is_discarded())
    return error_response(api::invalid_request("the body is not valid JSON"));
  const bool want_stream =
      !(body.is_object() && body.contains("stream") && body["stream"] == false);
  const Shape shape{generate, body.is_object() && body.value("model", json()).is_string()
                                  ? body["model"].get<std::string>()
                                  : model_id};
  if (is_load_only(body, generate) && body.contains("model")) {
    json j = shape.head();
    if (generate)
      j["response"] = "";
    else
      j["message"] = {{"role", "assistant"}, {"content", ""}};
    j["done"] = true;
    j["done_reason"] = "load";
    return json_response(j);
  }
  auto converted = to_chat_body(body, generate);
  if (auto* e = std::get_if<api::ApiError>(&converted)) return error_response(*e);
  json& chat_body = std::get<json>(converted);
  std::optional<std::string> raw;
  if (chat_body.contains("lfmd_raw_prompt")) {
    raw = chat_body["lfmd_raw_prompt"].get<std::string>();
    chat_body.erase("lfmd_raw_prompt");
  }
  const std::string text = wire::dump(chat_body);
  auto parsed = api::parse_chat_request(text, p.request_limits());
  if (auto* e = std::get_if<api::ApiError>(&parsed)) return error_response(*e);
  api::ChatRequest& cr = std::get<api::ChatRequest>(parsed);
  cr.raw_prompt = raw;
  cr.stream = want_stream;
  auto started = p.start(cr, StartOptions{want_stream, text, req.record});
  if (auto* e = std::get_if<api::ApiError>(&started)) return error_response(*e);
  const auto& gen = std::get<std::shared_ptr<Generation>>(started);
  return want_stream ? stream(gen, shape, alive) : complete(gen, shape, alive);
}

// ---- Model information ----

std::string parameter_size(const LoadedModel& m) {
  int64_t n = 0;
  for (const auto& t : m.file->tensors()) n += t.n_elements();
  char buf[32];
  if (n >= 1000000000)
    std::snprintf(buf, sizeof buf, "%.1fB", n / 1e9);
  else
    std::snprintf(buf, sizeof buf, "%.0fM", n / 1e6);
  return buf;
}

int64_t parameter_count(const LoadedModel& m) {
  int64_t n = 0;
  for (const auto& t : m.file->tensors()) n += t.n_elements();
  return n;
}

std::string quantization(const LoadedModel& m) {
  const auto ft = m.file->get_uint_opt("general.file_type");
  if (!ft) return "unknown";
  quant::FileType t{};
  for (const char* name :
       {"f32", "f16", "bf16", "q8_0", "q4_0", "q4_k_s", "q4_k_m", "q5_k_s", "q5_k_m", "q6_k"}) {
    if (quant::parse_file_type(name, &t) && static_cast<uint64_t>(t) == *ft)
      return quant::file_type_name(t);
  }
  return "unknown";
}

json details(const LoadedModel& m) {
  return {{"parent_model", ""},
          {"format", "gguf"},
          {"family", m.hp.arch},
          {"families", json::array({m.hp.arch})},
          {"parameter_size", parameter_size(m)},
          {"quantization_level", quantization(m)}};
}

// Identifies the served model (its id and file size), not a registry manifest.
std::string digest(const LoadedModel& m, const std::string& model_id) {
  const std::string key = model_id + "\n" + std::to_string(m.file->file_size());
  hub::Sha256 h;
  h.update(key.data(), key.size());
  return h.hex();
}

json model_entry(const LoadedModel& m, const std::string& model_id) {
  const std::string name = listed_name(model_id);
  return {{"name", name},
          {"model", name},
          {"modified_at", created_at()},
          {"size", m.file->file_size()},
          {"digest", digest(m, model_id)},
          {"details", details(m)}};
}

bool names_model(const std::string& asked, const std::string& model_id) {
  return asked == model_id || asked == listed_name(model_id);
}

}  // namespace

std::variant<json, api::ApiError> to_chat_body(const json& body, bool generate) {
  return check::guarded<json>([&] { return convert(body, generate); });
}

std::string listed_name(const std::string& model_id) {
  return model_id.find(':') == std::string::npos ? model_id + ":latest" : model_id;
}

http::Response error_response(const api::ApiError& e) {
  http::Response r;
  r.status = e.status;
  r.body = wire::dump(json{{"error", e.message}});
  if (e.retry_after_s > 0) r.headers.emplace_back("Retry-After", std::to_string(e.retry_after_s));
  return r;
}

http::Response chat(Pipeline& p, const std::string& model_id, const http::Request& req,
                    const http::AliveCheck& alive) {
  return answer(p, model_id, req, alive, false);
}

http::Response generate(Pipeline& p, const std::string& model_id, const http::Request& req,
                        const http::AliveCheck& alive) {
  return answer(p, model_id, req, alive, true);
}

http::Response tags(const Pipeline& p, const std::string& model_id) {
  return json_response({{"models", json::array({model_entry(p.model(), model_id)})}});
}

http::Response show(const Pipeline& p, const std::string& model_id, const http::Request& req) {
  const json body = json::parse(req.body, nullptr, false);
  if (!body.is_object())
    return error_response(api::invalid_request("the body must be a JSON object"));
  const json name = body.contains("model") ? body["model"] : body.value("name", json());
  if (!name.is_string() || name.get<std::string>().empty()) {
    return error_response(api::invalid_request("model is required", "model"));
  }
  if (!names_model(name.get<std::string>(), model_id)) {
    api::ApiError e = api::model_not_found(name.get<std::string>());
    e.message = "model '" + name.get<std::string>() + "' not found";
    return error_response(e);
  }
  const LoadedModel& m = p.model();
  const std::string arch = m.hp.arch;
  return json_response(
      {{"modelfile", "# served by lfmd from " + m.file->path() + "\nFROM " + m.file->path() + "\n"},
       {"parameters", ""},
       {"template", m.chat_template},
       {"details", details(m)},
       {"model_info",
        {{"general.architecture", arch},
         {"general.parameter_count", parameter_count(m)},
         {arch + ".context_length", m.n_ctx}}},
       {"capabilities", json::array({"completion", "tools"})},
       {"modified_at", created_at()}});
}

http::Response ps(Pipeline& p, const std::string& model_id) {
  json e = model_entry(p.model(), model_id);
  e.erase("modified_at");
  e["expires_at"] =
      "2318-01-01T00:00:00Z";  // loaded for the server's lifetime (no keep_alive unload)
  e["size_vram"] = 0;          // CPU inference
  e["context_length"] = p.model().n_ctx;
  return json_response({{"models", json::array({e})}});
}

http::Response version() {
  return json_response({{"version", "0.1.0"}});
}

}  // namespace lfmd::ollama
