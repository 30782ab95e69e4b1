// parse_responses_request: JSON body -> ResponsesRequest (a Conversation), or a 400 naming the
// offending field. Checks throw check::Reject; check::guarded catches at the entry point.
#include "server/api/responses_request.h"

#include <unordered_set>
#include <utility>

#include "server/api/validate.h"

namespace lfmd::api {

namespace {

using namespace check;  // NOLINT: the shared validation vocabulary

// Text of a content list: parts of the accepted types joined with "" (chat_request's rule).
std::string parts_text(const json& c, const std::string& p, bool assistant) {
  if (c.is_string()) return c.get<std::string>();
  if (!c.is_array()) fail_type(p, "a string or an array of content parts", c);
  std::string text;
  for (size_t k = 0; k < c.size(); ++k) {
    const std::string pk = idx(p, k);
    const json& part = as_object(c[k], pk);
    const std::string& type = as_string(require(part, "type", pk + ".type"), pk + ".type");
    if (type == "input_text" || type == "output_text" || type == "text") {
      text += as_string(require(part, "text", pk + ".text"), pk + ".text");
    } else if (type == "refusal" && assistant) {
      text += as_string(require(part, "refusal", pk + ".refusal"), pk + ".refusal");
    } else if (type == "input_image" || type == "input_file" || type == "input_audio") {
      fail(pk + ".type",
           "Content parts of type '" + type + "' are not supported: this model accepts text only.",
           "unsupported_value");
    } else {
      fail(pk + ".type", "Invalid value for '" + pk + ".type': '" + sanitize_for_message(type, 64) +
                             "'. Supported values are: 'input_text' and 'output_text'.");
    }
  }
  return text;
}

// The text of a reasoning item: its reasoning_text content, else its summary texts.
std::string reasoning_text(const json& item, const std::string& p) {
  std::string text;
  for (const char* key : {"content", "summary"}) {
    const json* list = field(item, key);
    if (!list) continue;
    if (!list->is_array()) fail_type(p + "." + key, "an array", *list);
    for (size_t k = 0; k < list->size(); ++k) {
      const std::string pk = idx(p + "." + key, k);
      const json& part = as_object((*list)[k], pk);
      if (const json* t = field(part, "text")) text += as_string(*t, pk + ".text");
    }
    if (!text.empty()) break;
  }
  return text;
}

class Parser {
 public:
  explicit Parser(const Limits& limits) : L_(limits) {}

  ResponsesRequest run(std::string_view body) {
    const json root = parse_body(body, L_);
    ResponsesRequest r;
    refuse_unsupported(root);
    if (const json* m = field(root, "model")) r.model = as_string(*m, "model");
    if (const json* v = field(root, "stream")) r.stream = as_bool(*v, "stream");
    std::string instructions;
    if (const json* v = field(root, "instructions")) {
      instructions = as_string(*v, "instructions");
      r.messages.push_back({{"role", "system"}, {"content", instructions}});
    }
    parse_input(require(root, "input", "input"), r);
    parse_tools(root, r);
    parse_tool_choice(root, r);
    if (const json* v = field(root, "parallel_tool_calls")) {
      r.parallel_tool_calls = as_bool(*v, "parallel_tool_calls");
    }
    parse_text(root, r);
    parse_sampling(root, r);
    parse_extra(root, r);
    r.echo = {{"instructions", instructions.empty() ? json(nullptr) : json(instructions)},
              {"max_output_tokens", r.max_tokens ? json(*r.max_tokens) : json(nullptr)},
              {"parallel_tool_calls", r.parallel_tool_calls},
              {"temperature", r.temperature},
              {"text", text_echo(r)},
              {"tool_choice", tool_choice_echo(r)},
              {"tools", flat_tools_},
              {"top_p", r.top_p}};
    return r;
  }

 private:
  const Limits& L_;
  json flat_tools_ = json::array();  // the function tools as sent (flat)
  std::string thinking_;             // a reasoning item's text, for the next assistant message

  static void refuse_unsupported(const json& root) {
    if (field(root, "previous_response_id")) {
      fail("previous_response_id",
           "previous_response_id is not supported: send the whole conversation as input "
           "(store: false).",
           "unsupported_parameter");
    }
    if (field(root, "conversation")) {
      fail("conversation",
           "conversation is not supported: send the whole conversation as input (store: false).",
           "unsupported_parameter");
    }
    if (const json* v = field(root, "background"); v && as_bool(*v, "background")) {
      fail("background", "background responses are not supported.", "unsupported_value");
    }
  }

  // ---- input ----

  void parse_input(const json& in, ResponsesRequest& r) {
    if (in.is_string()) {
      r.messages.push_back({{"role", "user"}, {"content", in.get<std::string>()}});
      return;
    }
    if (!in.is_array()) fail_type("input", "a string or an array of input items", in);
    if (in.empty()) fail("input", "'input' must not be an empty array.", "empty_array");
    check_array_max(in, "input", L_.max_messages);
    for (size_t i = 0; i < in.size(); ++i) parse_item(in[i], idx("input", i), r.messages);
  }

  void parse_item(const json& item, const std::string& p, json& msgs) {
    as_object(item, p);
    std::string type = "message";
    if (const json* t = field(item, "type")) {
      type = as_string(*t, p + ".type");
    } else if (!field(item, "role")) {
      fail_missing(p + ".type");
    }
    if (type == "message") {
      add_message(item, p, msgs);
    } else if (type == "function_call") {
      add_call(item, p, msgs);
    } else if (type == "function_call_output") {
      const std::string& id = as_string(require(item, "call_id", p + ".call_id"), p + ".call_id");
      const std::string out =
          parts_text(require(item, "output", p + ".output"), p + ".output", false);
      msgs.push_back({{"role", "tool"}, {"content", out}, {"tool_call_id", id}});
      thinking_.clear();  // thinking belongs to the assistant turn right after it
    } else if (type == "reasoning") {
      thinking_ += reasoning_text(item, p);
    } else {
      fail(p + ".type",
           "Input items of type '" + sanitize_for_message(type, 64) +
               "' are not supported. Supported types are: 'message', "
               "'function_call', 'function_call_output' and 'reasoning'.",
           "unsupported_value");
    }
  }

  void add_message(const json& item, const std::string& p, json& msgs) {
    const std::string& role = as_string(require(item, "role", p + ".role"), p + ".role");
    if (role != "system" && role != "developer" && role != "user" && role != "assistant") {
      fail(p + ".role", "Invalid value for '" + p + ".role': '" + sanitize_for_message(role, 64) +
                            "'. Supported values are: 'system', 'developer', 'user' and "
                            "'assistant'.");
    }
    const bool assistant = role == "assistant";
    json m = {{"role", role == "developer" ? "system" : role},
              {"content",
               parts_text(require(item, "content", p + ".content"), p + ".content", assistant)}};
    std::string thinking = std::exchange(thinking_, "");  // only the assistant turn right after it
    if (assistant && !thinking.empty()) m["thinking"] = std::move(thinking);
    msgs.push_back(std::move(m));
  }

  // A function_call joins the assistant message just before it, or starts one.
  void add_call(const json& item, const std::string& p, json& msgs) {
    const std::string& id = as_string(require(item, "call_id", p + ".call_id"), p + ".call_id");
    const std::string& name = as_string(require(item, "name", p + ".name"), p + ".name");
    if (name.empty()) fail(p + ".name", "'" + p + ".name' must not be empty.");
    const std::string& args =
        as_string(require(item, "arguments", p + ".arguments"), p + ".arguments");
    json call = {{"id", id},
                 {"type", "function"},
                 {"function",
                  {{"name", name},
                   {"arguments", parse_arguments_text(args, p + ".arguments", L_)},
                   {"arguments_json", args}}}};
    if (msgs.empty() || msgs.back()["role"] != "assistant") {
      msgs.push_back({{"role", "assistant"}, {"content", ""}});
    }
    json& m = msgs.back();
    if (m.contains("tool_calls") && m["tool_calls"].size() >= L_.max_tools) {
      fail(p, "More than " + std::to_string(L_.max_tools) + " function calls in one turn.",
           "array_above_max_length");
    }
    std::string thinking = m.value("thinking", std::string()) + std::exchange(thinking_, "");
    m.erase("thinking");  // keep the documented key order: ..., tool_calls, thinking
    m["tool_calls"].push_back(std::move(call));
    if (!thinking.empty()) m["thinking"] = std::move(thinking);
  }

  // ---- tools ----

  void parse_tools(const json& root, ResponsesRequest& r) {
    const json* t = field(root, "tools");
    if (!t) return;
    if (!t->is_array()) fail_type("tools", "an array", *t);
    check_array_max(*t, "tools", L_.max_tools);
    std::unordered_set<std::string> seen;
    for (size_t k = 0; k < t->size(); ++k) {
      const std::string pk = idx("tools", k);
      const json& tool = as_object((*t)[k], pk);
      if (as_string(require(tool, "type", pk + ".type"), pk + ".type") != "function") continue;
      ToolDef d;
      d.name = as_string(require(tool, "name", pk + ".name"), pk + ".name");
      check_name(d.name, pk + ".name", true);
      if (!seen.insert(d.name).second) fail(pk + ".name", "Duplicate tool name '" + d.name + "'.");
      if (const json* v = field(tool, "description"))
        d.description = as_string(*v, pk + ".description");
      d.parameters = json::object();
      if (const json* v = field(tool, "parameters")) {
        check_schema(*v, pk + ".parameters", L_);
        d.parameters = *v;
      }
      if (const json* v = field(tool, "strict")) d.strict = as_bool(*v, pk + ".strict");
      json fn = {{"name", d.name}};
      if (!d.description.empty()) fn["description"] = d.description;
      fn["parameters"] = d.parameters;
      d.raw = {{"type", "function"}, {"function", std::move(fn)}};
      r.tools_json.push_back(d.raw);
      flat_tools_.push_back(
          {{"type", "function"},
           {"name", d.name},
           {"description", d.description.empty() ? json(nullptr) : json(d.description)},
           {"parameters", d.parameters},
           {"strict", d.strict}});
      r.tools.push_back(std::move(d));
    }
    r.has_tools = !r.tools.empty();
  }

  void parse_tool_choice(const json& root, ResponsesRequest& r) {
    const json* tc = field(root, "tool_choice");
    if (!tc) return;
    if (tc->is_string()) {
      r.tool_choice = tool_choice_word(tc->get<std::string>(), r.has_tools,
                                       "{\"type\": \"function\", \"name\": ...}");
      return;
    }
    if (!tc->is_object()) fail_type("tool_choice", "a string or an object", *tc);
    const std::string& type =
        as_string(require(*tc, "type", "tool_choice.type"), "tool_choice.type");
    check_tool_choice_type(type);
    const std::string& name =
        as_string(require(*tc, "name", "tool_choice.name"), "tool_choice.name");
    check_named_tool(r, name);
    r.tool_choice = ToolChoice::Named;
    r.tool_choice_name = name;
  }

  static json tool_choice_echo(const ResponsesRequest& r) {
    switch (r.tool_choice) {
      case ToolChoice::None:
        return "none";
      case ToolChoice::Required:
        return "required";
      case ToolChoice::Named:
        return {{"type", "function"}, {"name", r.tool_choice_name}};
      case ToolChoice::Auto:
        break;
    }
    return "auto";
  }

  // ---- output shape and sampling ----

  void parse_text(const json& root, ResponsesRequest& r) {
    const json* t = field(root, "text");
    if (!t) return;
    as_object(*t, "text");
    const json* f = field(*t, "format");
    if (!f) return;
    const std::string p = "text.format";
    as_object(*f, p);
    const std::string& type = as_string(require(*f, "type", p + ".type"), p + ".type");
    if (type != "text" && type != "json_object" && type != "json_schema") {
      fail(p + ".type", "Invalid value for '" + p + ".type': '" + sanitize_for_message(type, 64) +
                            "'. Supported values are: 'text', 'json_object' and 'json_schema'.");
    }
    r.response_format = type;
    if (type != "json_schema") return;
    r.json_schema_name = as_string(require(*f, "name", p + ".name"), p + ".name");
    check_name(r.json_schema_name, p + ".name", false);
    const json& s = require(*f, "schema", p + ".schema");
    check_schema(s, p + ".schema", L_);
    r.json_schema = s;
    if (const json* v = field(*f, "strict")) r.json_schema_strict = as_bool(*v, p + ".strict");
  }

  static json text_echo(const ResponsesRequest& r) {
    json f = {{"type", r.response_format}};
    if (r.response_format == "json_schema") {
      f["name"] = r.json_schema_name;
      f["schema"] = r.json_schema;
      f["strict"] = r.json_schema_strict;
    }
    return {{"format", f}};
  }

  void parse_sampling(const json& root, ResponsesRequest& r) {
    if (const json* v = field(root, "max_output_tokens")) {
      r.max_tokens = int_in(*v, "max_output_tokens", 1, L_.max_tokens_cap);
    }
    if (const json* v = field(root, "temperature"))
      r.temperature = number_in(*v, "temperature", 0, 2);
    if (const json* v = field(root, "top_p")) r.top_p = number_in(*v, "top_p", 0, 1);
  }

  void parse_extra(const json& root, ResponsesRequest& r) {
    if (const json* v = field(root, "confidence_threshold")) {
      r.extra["confidence_threshold"] = number_in(*v, "confidence_threshold", 0, 1);
    }
    if (const json* v = field(root, "handoff")) {
      if (v->is_string() && v->get_ref<const std::string&>() == "proxy") {
        fail("handoff",
             "handoff \"proxy\" is not available on /v1/responses (the upstream speaks "
             "Chat Completions); use \"flag\".",
             "unsupported_value");
      }
      r.extra["handoff"] = *v;
    }
  }
};

}  // namespace

std::variant<ResponsesRequest, ApiError> parse_responses_request(std::string_view body,
                                                                 const Limits& limits) {
  return guarded<ResponsesRequest>([&] { return Parser(limits).run(body); });
}

}  // namespace lfmd::api
