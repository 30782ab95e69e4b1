// parse_chat_request: JSON body -> validated ChatRequest, or a 400 naming the offending field.
// Validation failures are thrown internally as Reject and caught at the single entry point.
#include "server/api/chat_request.h"

#include <charconv>
#include <limits>
#include <unordered_map>

#include "server/api/validate.h"

namespace lfmd::api {

namespace {

using namespace check;

class Parser {
 public:
  explicit Parser(const Limits& limits) : L_(limits) {}

  ChatRequest run(std::string_view body) {
    const json root = parse_body(body, L_);
    ChatRequest r;
    if (const json* m = field(root, "model")) r.model = as_string(*m, "model");
    parse_messages(root, r);
    parse_tools(root, r);
    parse_tool_choice(root, r);
    if (const json* v = field(root, "parallel_tool_calls")) {
      r.parallel_tool_calls = as_bool(*v, "parallel_tool_calls");
    }
    parse_response_format(root, r);
    parse_stream(root, r);
    parse_sampling(root, r);
    parse_logprobs(root, r);
    parse_logit_bias(root, r);
    parse_stop(root, r);
    if (const json* v = field(root, "n")) {
      const int64_t n = int_in(*v, "n", 1, std::numeric_limits<int64_t>::max());
      if (n > kMaxChoices) {
        fail("n", "At most n=" + std::to_string(kMaxChoices) + " is supported, got n=" + std::to_string(n) + ".",
             "unsupported_value");
      }
      r.n = static_cast<int32_t>(n);
    }
    parse_extra(root, r);
    return r;
  }

 private:
  const Limits& L_;

  // ---- messages ----

  void parse_messages(const json& root, ChatRequest& r) {
    const json& m = require(root, "messages", "messages");
    if (!m.is_array()) fail_type("messages", "an array", m);
    if (m.empty()) {
      fail("messages", "'messages' must be a non-empty array, got an empty array.", "empty_array");
    }
    if (m.size() > L_.max_messages) {
      fail("messages",
           "'messages' has " + std::to_string(m.size()) + " entries; at most " +
               std::to_string(L_.max_messages) + " are allowed.",
           "array_above_max_length");
    }
    r.messages = json::array();
    for (size_t i = 0; i < m.size(); ++i)
      r.messages.push_back(parse_message(m[i], idx("messages", i)));
  }

  json parse_message(const json& msg, const std::string& p) {
    as_object(msg, p);
    const std::string& role = as_string(require(msg, "role", p + ".role"), p + ".role");
    std::string out_role;
    if (role == "system" || role == "user" || role == "assistant" || role == "tool") {
      out_role = role;
    } else if (role == "developer") {
      out_role = "system";
    } else if (role == "function") {
      fail(p + ".role",
           "The deprecated role 'function' is not supported; send tool results with role "
           "'tool' and 'tool_call_id'.",
           "unsupported_value");
    } else {
      fail(p + ".role", "Invalid value for '" + p + ".role': '" + sanitize_for_message(role, 64) +
                            "'. Supported values are: 'system', 'developer', 'user', "
                            "'assistant' and 'tool'.");
    }
    const bool assistant = role == "assistant";
    json calls = json::array();
    if (assistant) {
      if (const json* tc = field(msg, "tool_calls"))
        calls = parse_tool_calls(*tc, p + ".tool_calls");
    }
    json out = json::object();
    out["role"] = out_role;
    if (const json* c = field(msg, "content")) {
      out["content"] = parse_content(*c, p + ".content", assistant);
    } else if (assistant && !calls.empty()) {
      out["content"] = "";
    } else {
      fail(p + ".content",
           "Missing required parameter: '" + p + ".content'" +
               (assistant ? " (it may be null only when 'tool_calls' is given)." : "."),
           "missing_required_parameter");
    }
    if (const json* nm = field(msg, "name")) out["name"] = as_string(*nm, p + ".name");
    if (!calls.empty()) out["tool_calls"] = std::move(calls);
    if (assistant) {
      if (const json* rc = field(msg, "reasoning_content")) out["thinking"] = as_string(*rc, p + ".reasoning_content");
    }
    if (role == "tool") {
      out["tool_call_id"] =
          as_string(require(msg, "tool_call_id", p + ".tool_call_id"), p + ".tool_call_id");
    }
    return out;
  }

  std::string parse_content(const json& c, const std::string& p, bool assistant) {
    if (c.is_string()) return c.get<std::string>();
    if (!c.is_array()) fail_type(p, "a string or an array of content parts", c);
    if (c.empty()) fail(p, "'" + p + "' must not be an empty array.", "empty_array");
    std::string text;
    for (size_t k = 0; k < c.size(); ++k) {
      const std::string pk = idx(p, k);
      const json& part = as_object(c[k], pk);
      const std::string& type = as_string(require(part, "type", pk + ".type"), pk + ".type");
      if (type == "text") {
        text += as_string(require(part, "text", pk + ".text"), pk + ".text");
      } else if (type == "refusal" && assistant) {
        text += as_string(require(part, "refusal", pk + ".refusal"), pk + ".refusal");
      } else if (type == "image_url" || type == "input_audio" || type == "file" ||
                 type == "input_image" || type == "input_file" || type == "image" ||
                 type == "audio") {
        fail(
            pk + ".type",
            "Content parts of type '" + type + "' are not supported: this model accepts text only.",
            "unsupported_value");
      } else {
        fail(pk + ".type", "Invalid value for '" + pk + ".type': '" +
                               sanitize_for_message(type, 64) + "'. Supported values are: 'text'" +
                               (assistant ? " and 'refusal'." : "."));
      }
    }
    return text;
  }

  json parse_tool_calls(const json& tc, const std::string& p) {
    if (!tc.is_array()) fail_type(p, "an array", tc);
    if (tc.size() > L_.max_tools) {
      fail(p,
           "'" + p + "' has " + std::to_string(tc.size()) + " entries; at most " +
               std::to_string(L_.max_tools) + " are allowed.",
           "array_above_max_length");
    }
    json out = json::array();
    for (size_t k = 0; k < tc.size(); ++k) {
      const std::string pk = idx(p, k);
      const json& call = as_object(tc[k], pk);
      const std::string& id = as_string(require(call, "id", pk + ".id"), pk + ".id");
      if (const json* t = field(call, "type"); t && as_string(*t, pk + ".type") != "function") {
        fail(pk + ".type",
             "'" + pk + ".type' must be 'function', got '" +
                 sanitize_for_message(t->get_ref<const std::string&>(), 64) + "'.",
             "unsupported_value");
      }
      const std::string pf = pk + ".function";
      const json& fn = as_object(require(call, "function", pf), pf);
      const std::string& name = as_string(require(fn, "name", pf + ".name"), pf + ".name");
      if (name.empty()) fail(pf + ".name", "'" + pf + ".name' must not be empty.");
      json args = json::object();
      std::string args_text = "{}";
      if (const json* a = field(fn, "arguments")) {
        if (a->is_string()) {
          args_text = a->get<std::string>();
          args = check::parse_arguments_text(args_text, pf + ".arguments", L_);
        } else if (a->is_object()) {  // lenient: some clients send the object itself
          if (json_depth(*a) > L_.max_json_depth) {
            fail(pf + ".arguments", "'" + pf + ".arguments' is nested more than " +
                                        std::to_string(L_.max_json_depth) + " levels deep.");
          }
          args = *a;
          args_text = a->dump();
        } else {
          fail_type(pf + ".arguments", "a JSON-encoded object string", *a);
        }
      }
      out.push_back(tool_call_entry(id, name, std::move(args), std::move(args_text)));
    }
    return out;
  }

  // ---- tools ----

  void parse_tools(const json& root, ChatRequest& r) {
    const json* t = field(root, "tools");
    if (!t) return;
    array_at_most(*t, "tools", L_.max_tools);
    std::unordered_map<std::string, size_t> seen;
    for (size_t k = 0; k < t->size(); ++k) {
      const std::string pk = idx("tools", k);
      const json& tool = as_object((*t)[k], pk);
      if (const json* ty = field(tool, "type")) {
        const std::string& type = as_string(*ty, pk + ".type");
        if (type != "function") {
          fail(pk + ".type",
               "Only tools of type 'function' are supported, got '" +
                   sanitize_for_message(type, 64) + "'.",
               "unsupported_value");
        }
      }
      const std::string pf = pk + ".function";
      const json& fn = as_object(require(tool, "function", pf), pf);
      ToolDef d;
      d.name = as_string(require(fn, "name", pf + ".name"), pf + ".name");
      if (!is_tool_name(d.name, true)) {
        fail(pf + ".name", "Invalid '" + pf + ".name': '" + sanitize_for_message(d.name, 80) +
                               "'. Expected 1 to 64 characters from a-z, A-Z, 0-9, '_', '.' "
                               "and '-'.");
      }
      check_unique_name(seen, d.name, k, pf + ".name", pk);
      if (const json* v = field(fn, "description"))
        d.description = as_string(*v, pf + ".description");
      if (const json* v = field(fn, "parameters")) {
        check_schema(*v, pf + ".parameters", L_);
        d.parameters = *v;
      } else {
        d.parameters = json::object();
      }
      if (const json* v = field(fn, "strict")) d.strict = as_bool(*v, pf + ".strict");
      d.raw = tool;
      r.tools.push_back(std::move(d));
    }
    r.tools_json = *t;
    r.has_tools = !r.tools.empty();
  }

  void parse_tool_choice(const json& root, ChatRequest& r) {
    const json* tc = field(root, "tool_choice");
    if (!tc) return;
    if (tc->is_string()) {
      const std::string& s = tc->get_ref<const std::string&>();
      if (s == "auto") {
        r.tool_choice = ToolChoice::Auto;
      } else if (s == "none") {
        r.tool_choice = ToolChoice::None;
      } else if (s == "required") {
        if (!r.has_tools) {
          fail("tool_choice", "'tool_choice' is 'required' but no 'tools' were given.");
        }
        r.tool_choice = ToolChoice::Required;
      } else {
        fail("tool_choice", "Invalid value for 'tool_choice': '" + sanitize_for_message(s, 64) +
                                "'. Supported values are: 'none', 'auto', 'required' or "
                                "{\"type\": \"function\", \"function\": {\"name\": ...}}.");
      }
      return;
    }
    if (!tc->is_object()) fail_type("tool_choice", "a string or an object", *tc);
    const std::string& type =
        as_string(require(*tc, "type", "tool_choice.type"), "tool_choice.type");
    if (type != "function") {
      fail("tool_choice.type",
           "Only 'tool_choice' objects of type 'function' are supported, got '" +
               sanitize_for_message(type, 64) + "'.",
           "unsupported_value");
    }
    const json& fn =
        as_object(require(*tc, "function", "tool_choice.function"), "tool_choice.function");
    const std::string& name =
        as_string(require(fn, "name", "tool_choice.function.name"), "tool_choice.function.name");
    if (!r.has_tools) {
      fail("tool_choice", "'tool_choice' names the function '" + sanitize_for_message(name, 80) +
                              "' but no 'tools' were given.");
    }
    bool found = false;
    for (const auto& d : r.tools) found = found || d.name == name;
    if (!found) {
      fail("tool_choice", "'tool_choice' names the function '" + sanitize_for_message(name, 80) +
                              "', which is not in 'tools'.");
    }
    r.tool_choice = ToolChoice::Named;
    r.tool_choice_name = name;
  }

  // ---- output shape ----

  void parse_response_format(const json& root, ChatRequest& r) {
    const json* rf = field(root, "response_format");
    if (!rf) return;
    as_object(*rf, "response_format");
    const std::string& type =
        as_string(require(*rf, "type", "response_format.type"), "response_format.type");
    if (type != "text" && type != "json_object" && type != "json_schema") {
      fail("response_format.type", "Invalid value for 'response_format.type': '" +
                                       sanitize_for_message(type, 64) +
                                       "'. Supported values are: 'text', 'json_object' and "
                                       "'json_schema'.");
    }
    r.response_format = type;
    if (type != "json_schema") return;
    const std::string p = "response_format.json_schema";
    const json& js = as_object(require(*rf, "json_schema", p), p);
    if (const json* v = field(js, "name")) {
      r.json_schema_name = as_string(*v, p + ".name");
      if (!is_tool_name(r.json_schema_name, false)) {
        fail(p + ".name", "Invalid '" + p + ".name': '" +
                              sanitize_for_message(r.json_schema_name, 80) +
                              "'. Expected 1 to 64 characters from a-z, A-Z, 0-9, '_' and '-'.");
      }
    }
    if (const json* v = field(js, "schema")) {
      check_schema(*v, p + ".schema", L_);
      r.json_schema = *v;
    } else {
      r.json_schema = json::object();
    }
    if (const json* v = field(js, "strict")) r.json_schema_strict = as_bool(*v, p + ".strict");
  }

  void parse_stream(const json& root, ChatRequest& r) {
    if (const json* v = field(root, "stream")) r.stream = as_bool(*v, "stream");
    const json* so = field(root, "stream_options");
    if (!so) return;
    if (!r.stream) {
      fail("stream_options",
           "The 'stream_options' parameter is only allowed when 'stream' is true.");
    }
    as_object(*so, "stream_options");
    if (const json* v = field(*so, "include_usage")) {
      r.include_usage = as_bool(*v, "stream_options.include_usage");
    }
  }

  // ---- sampling ----

  std::optional<int64_t> parse_max_tokens(const json& root, const char* key) {
    const json* v = field(root, key);
    if (!v) return std::nullopt;
    const int64_t n = int_in(*v, key, 1, std::numeric_limits<int64_t>::max());
    if (n > L_.max_tokens_cap) {
      fail(key, std::string(key) + " is too large: " + std::to_string(n) +
                    ". This model supports at most " + std::to_string(L_.max_tokens_cap) +
                    " completion tokens, whereas you provided " + std::to_string(n) + ".");
    }
    return n;
  }

  void parse_sampling(const json& root, ChatRequest& r) {
    auto mt = parse_max_tokens(root, "max_tokens");
    auto mct = parse_max_tokens(root, "max_completion_tokens");
    r.max_tokens = mct ? mct : mt;
    if (const json* v = field(root, "temperature"))
      r.temperature = number_in(*v, "temperature", 0, 2);
    if (const json* v = field(root, "top_p")) r.top_p = number_in(*v, "top_p", 0, 1);
    if (const json* v = field(root, "top_k")) {
      r.top_k = static_cast<int32_t>(int_in(*v, "top_k", 0, std::numeric_limits<int32_t>::max()));
    }
    if (const json* v = field(root, "min_p")) r.min_p = number_in(*v, "min_p", 0, 1);
    if (const json* v = field(root, "presence_penalty")) {
      r.presence_penalty = number_in(*v, "presence_penalty", -2, 2);
    }
    if (const json* v = field(root, "frequency_penalty")) {
      r.frequency_penalty = number_in(*v, "frequency_penalty", -2, 2);
    }
    if (const json* v = field(root, "repetition_penalty")) {
      r.repetition_penalty = number_in(*v, "repetition_penalty", 0, 10, /*lo_open=*/true);
    }
    if (const json* v = field(root, "seed")) {
      const int64_t s = int_in(*v, "seed", std::numeric_limits<int64_t>::min(),
                               std::numeric_limits<int64_t>::max());
      r.seed = static_cast<uint64_t>(s);
    }
  }

  void parse_logprobs(const json& root, ChatRequest& r) {
    if (const json* v = field(root, "logprobs")) r.logprobs = as_bool(*v, "logprobs");
    if (const json* v = field(root, "top_logprobs")) {
      r.top_logprobs = static_cast<int32_t>(int_in(*v, "top_logprobs", 0, L_.max_top_logprobs));
      if (r.top_logprobs > 0 && !r.logprobs) {
        fail("top_logprobs", "'top_logprobs' requires 'logprobs' to be true.");
      }
    }
  }

  void parse_logit_bias(const json& root, ChatRequest& r) {
    const json* lb = field(root, "logit_bias");
    if (!lb) return;
    as_object(*lb, "logit_bias");
    if (lb->size() > L_.max_logit_bias) {
      fail("logit_bias",
           "'logit_bias' has " + std::to_string(lb->size()) + " entries; at most " +
               std::to_string(L_.max_logit_bias) + " are allowed.",
           "array_above_max_length");
    }
    for (const auto& [key, val] : lb->items()) {
      uint64_t id = 0;
      const bool digits = !key.empty() && key.size() <= 10 &&
                          key.find_first_not_of("0123456789") == std::string::npos;
      if (digits) std::from_chars(key.data(), key.data() + key.size(), id);
      if (!digits) {
        fail("logit_bias", "Invalid key in 'logit_bias': '" + sanitize_for_message(key, 32) +
                               "' is not a token id (a decimal integer string).");
      }
      if (L_.n_vocab <= 0 || id >= static_cast<uint64_t>(L_.n_vocab)) {
        fail("logit_bias", "Token id " + key +
                               " in 'logit_bias' is out of range: valid ids are 0 to " +
                               std::to_string(static_cast<int64_t>(L_.n_vocab) - 1) + ".");
      }
      const double bias = number_in(val, "logit_bias", -100, 100);
      r.logit_bias.emplace_back(static_cast<int32_t>(id), static_cast<float>(bias));
    }
  }

  void parse_stop(const json& root, ChatRequest& r) {
    const json* st = field(root, "stop");
    if (!st) return;
    if (st->is_string()) {
      r.stop.push_back(stop_string(*st, "stop", L_));
      return;
    }
    if (!st->is_array()) fail_type("stop", "a string or an array of strings", *st);
    if (st->size() > L_.max_stop) {
      fail("stop",
           "'stop' may contain at most " + std::to_string(L_.max_stop) + " strings, got " +
               std::to_string(st->size()) + ".",
           "array_above_max_length");
    }
    for (size_t k = 0; k < st->size(); ++k) r.stop.push_back(stop_string((*st)[k], idx("stop", k), L_));
  }

  void parse_extra(const json& root, ChatRequest& r) {
    if (const json* v = field(root, "confidence_threshold")) {
      r.extra["confidence_threshold"] = number_in(*v, "confidence_threshold", 0, 1);
    }
    if (const json* v = field(root, "handoff")) r.extra["handoff"] = *v;
    if (const json* v = field(root, "reasoning_format")) {
      const std::string& f = as_string(*v, "reasoning_format");
      if (f != "none" && f != "auto" && f != "deepseek" && f != "deepseek-legacy") {
        fail("reasoning_format", "Invalid value for 'reasoning_format': '" + sanitize_for_message(f, 32) +
                                     "'. Supported values are: 'auto', 'none', 'deepseek'.");
      }
      r.raw_reasoning = f == "none";
    }
  }
};

}  // namespace

std::variant<nlohmann::ordered_json, ApiError> parse_json_object(std::string_view body, size_t max_depth) {
  Limits limits;
  limits.max_body_depth = max_depth;
  return check::guarded<json>([&] { return parse_body(body, limits); });
}

std::variant<ChatRequest, ApiError> parse_chat_request(std::string_view body,
                                                       const Limits& limits) {
  return check::guarded<ChatRequest>([&] { return Parser(limits).run(body); });
}

}  // namespace lfmd::api
