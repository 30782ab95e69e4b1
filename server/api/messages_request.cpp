// parse_messages_request: an Anthropic Messages body -> MessagesRequest, with the shared
// validators of server/api/validate.h.
#include "server/api/messages_request.h"

#include <limits>
#include <unordered_map>

#include "server/api/validate.h"

namespace lfmd::api {

namespace {

using namespace check;

constexpr size_t kMaxStopSequences = 16;

[[noreturn]] void fail_block_type(const std::string& p, const std::string& type,
                                  const char* allowed) {
  if (type == "image" || type == "document" || type == "file") {
    fail(p,
         "Content blocks of type '" + type + "' are not supported: this model accepts text only.",
         "unsupported_value");
  }
  fail(p, "Invalid value for '" + p + "': '" + sanitize_for_message(type, 64) +
              "'. Supported values are: " + allowed + ".");
}

struct Block {
  std::string path;
  const json& b;
  const std::string& type;
};

// Content block k of `c` (an object with a string "type").
Block block(const json& c, size_t k, const std::string& p) {
  std::string pk = idx(p, k);
  const json& b = as_object(c[k], pk);
  const std::string& type = as_string(require(b, "type", pk + ".type"), pk + ".type");
  return {std::move(pk), b, type};
}

void append_text(std::string& to, const std::string& text) {
  if (!to.empty() && !text.empty()) to += "\n\n";
  to += text;
}

class Parser {
 public:
  Parser(const Limits& limits, bool count_tokens) : L_(limits), count_(count_tokens) {}

  MessagesRequest run(std::string_view body) {
    const json root = parse_body(body, L_);
    MessagesRequest r;
    r.model = as_string(require(root, "model", "model"), "model");
    if (const json* v = field(root, "max_tokens")) {
      r.max_tokens = int_in(*v, "max_tokens", 1, std::numeric_limits<int64_t>::max());
    } else if (!count_) {
      fail_missing("max_tokens");
    }
    if (const json* s = field(root, "system")) add_system(r.messages, text_of(*s, "system"));
    parse_messages(root, r);
    parse_tools(root, r);
    parse_tool_choice(root, r);
    parse_sampling(root, r);
    parse_thinking(root, r);
    if (const json* v = field(root, "stream")) r.stream = as_bool(*v, "stream");
    if (const json* v = field(root, "confidence_threshold")) {
      r.extra["confidence_threshold"] = number_in(*v, "confidence_threshold", 0, 1);
    }
    return r;
  }

 private:
  const Limits& L_;
  bool count_;

  // Appends to the one system message at the front (made when missing).
  static void add_system(json& messages, const std::string& text) {
    if (text.empty()) return;
    if (messages.empty() || messages[0]["role"] != "system") {
      messages.insert(messages.begin(), json{{"role", "system"}, {"content", ""}});
    }
    std::string sys = messages[0]["content"].get<std::string>();
    append_text(sys, text);
    messages[0]["content"] = sys;
  }

  // A string, or a non-empty list of text blocks joined with "\n\n".
  std::string text_of(const json& c, const std::string& p) {
    if (c.is_string()) return c.get<std::string>();
    if (!c.is_array()) fail_type(p, "a string or an array of text blocks", c);
    std::string text;
    for (size_t k = 0; k < c.size(); ++k) {
      const auto [pk, b, type] = block(c, k, p);
      if (type != "text") fail_block_type(pk + ".type", type, "'text'");
      append_text(text, as_string(require(b, "text", pk + ".text"), pk + ".text"));
    }
    return text;
  }

  void parse_messages(const json& root, MessagesRequest& r) {
    const json& m = require(root, "messages", "messages");
    if (!m.is_array()) fail_type("messages", "an array", m);
    if (m.empty())
      fail("messages", "'messages' must be a non-empty array, got an empty array.", "empty_array");
    if (m.size() > L_.max_messages) {
      fail("messages",
           "'messages' has " + std::to_string(m.size()) + " entries; at most " +
               std::to_string(L_.max_messages) + " are allowed.",
           "array_above_max_length");
    }
    for (size_t i = 0; i < m.size(); ++i) {
      const std::string p = idx("messages", i);
      const json& msg = as_object(m[i], p);
      const std::string& role = as_string(require(msg, "role", p + ".role"), p + ".role");
      const json& content = require(msg, "content", p + ".content");
      if (role == "user") {
        user_message(content, p + ".content", r.messages);
      } else if (role == "assistant") {
        r.messages.push_back(assistant_message(content, p + ".content"));
      } else if (role == "system") {  // Claude Code sends one: part of the system prompt
        add_system(r.messages, text_of(content, p + ".content"));
      } else {
        fail(p + ".role", "Invalid value for '" + p + ".role': '" + sanitize_for_message(role, 64) +
                              "'. Supported values are: 'user', 'assistant' and 'system'.");
      }
    }
  }

  void user_message(const json& c, const std::string& p, json& out) {
    if (c.is_string()) return out.push_back({{"role", "user"}, {"content", c}});
    if (!c.is_array()) fail_type(p, "a string or an array of content blocks", c);
    if (c.empty()) fail(p, "'" + p + "' must not be an empty array.", "empty_array");
    std::string text;
    bool any_text = false;
    for (size_t k = 0; k < c.size(); ++k) {
      const auto [pk, b, type] = block(c, k, p);
      if (type == "text") {
        append_text(text, as_string(require(b, "text", pk + ".text"), pk + ".text"));
        any_text = true;
      } else if (type == "tool_result") {
        out.push_back(tool_result(b, pk));
      } else {
        fail_block_type(pk + ".type", type, "'text' and 'tool_result'");
      }
    }
    if (any_text) out.push_back({{"role", "user"}, {"content", text}});
  }

  json tool_result(const json& b, const std::string& p) {
    json t = json::object();
    t["role"] = "tool";
    std::string content;
    if (const json* c = field(b, "content")) content = text_of(*c, p + ".content");
    if (const json* e = field(b, "is_error"); e && as_bool(*e, p + ".is_error"))
      content = "Error: " + content;
    t["content"] = content;
    t["tool_call_id"] =
        as_string(require(b, "tool_use_id", p + ".tool_use_id"), p + ".tool_use_id");
    return t;
  }

  json assistant_message(const json& c, const std::string& p) {
    json out = json::object();
    out["role"] = "assistant";
    if (c.is_string()) {
      out["content"] = c;
      return out;
    }
    if (!c.is_array()) fail_type(p, "a string or an array of content blocks", c);
    std::string text, thinking;
    json calls = json::array();
    for (size_t k = 0; k < c.size(); ++k) {
      const auto [pk, b, type] = block(c, k, p);
      if (type == "text") {
        append_text(text, as_string(require(b, "text", pk + ".text"), pk + ".text"));
      } else if (type == "tool_use") {
        calls.push_back(tool_use(b, pk));
      } else if (type == "thinking") {
        append_text(thinking,
                    as_string(require(b, "thinking", pk + ".thinking"), pk + ".thinking"));
      } else if (type != "redacted_thinking") {
        fail_block_type(pk + ".type", type,
                        "'text', 'tool_use', 'thinking' and 'redacted_thinking'");
      }
    }
    if (calls.size() > L_.max_tools)
      fail(p, "'" + p + "' has too many tool_use blocks.", "array_above_max_length");
    out["content"] = text;
    if (!calls.empty()) out["tool_calls"] = std::move(calls);
    if (!thinking.empty()) out["thinking"] = thinking;
    return out;
  }

  json tool_use(const json& b, const std::string& p) {
    const std::string& id = as_string(require(b, "id", p + ".id"), p + ".id");
    const std::string& name = as_string(require(b, "name", p + ".name"), p + ".name");
    if (name.empty()) fail(p + ".name", "'" + p + ".name' must not be empty.");
    json input = json::object();
    if (const json* v = field(b, "input")) {
      as_object(*v, p + ".input");
      if (json_depth(*v) > L_.max_json_depth) {
        fail(p + ".input", "'" + p + ".input' is nested more than " +
                               std::to_string(L_.max_json_depth) + " levels deep.");
      }
      input = *v;
    }
    std::string text = input.dump();
    return tool_call_entry(id, name, std::move(input), std::move(text));
  }

  void parse_tools(const json& root, MessagesRequest& r) {
    const json* t = field(root, "tools");
    if (!t) return;
    array_at_most(*t, "tools", L_.max_tools);
    std::unordered_map<std::string, size_t> seen;
    for (size_t k = 0; k < t->size(); ++k) {
      const std::string pk = idx("tools", k);
      const json& tool = as_object((*t)[k], pk);
      const json* ty = field(tool, "type");
      const bool custom = !ty || (ty->is_string() && ty->get_ref<const std::string&>() == "custom");
      if (!custom) continue;  // a server tool (web_search_..., bash_...): not ours to run
      ToolDef d;
      d.name = as_string(require(tool, "name", pk + ".name"), pk + ".name");
      if (!is_tool_name(d.name, false)) {
        fail(pk + ".name", "Invalid '" + pk + ".name': '" + sanitize_for_message(d.name, 80) +
                               "'. Expected 1 to 64 characters from a-z, A-Z, 0-9, '_' and '-'.");
      }
      check_unique_name(seen, d.name, k, pk + ".name", pk);
      if (const json* v = field(tool, "description"))
        d.description = as_string(*v, pk + ".description");
      const json& schema = require(tool, "input_schema", pk + ".input_schema");
      check_schema(schema, pk + ".input_schema", L_);
      d.parameters = schema;
      d.raw = {
          {"type", "function"},
          {"function", {{"name", d.name}, {"description", d.description}, {"parameters", schema}}}};
      r.tools_json.push_back(d.raw);
      r.tools.push_back(std::move(d));
    }
    r.has_tools = !r.tools.empty();
  }

  void parse_tool_choice(const json& root, MessagesRequest& r) {
    const json* tc = field(root, "tool_choice");
    if (!tc) return;
    as_object(*tc, "tool_choice");
    const std::string& type =
        as_string(require(*tc, "type", "tool_choice.type"), "tool_choice.type");
    if (const json* v = field(*tc, "disable_parallel_tool_use")) {
      r.parallel_tool_calls = !as_bool(*v, "tool_choice.disable_parallel_tool_use");
    }
    if (type == "auto") {
      r.tool_choice = ToolChoice::Auto;
    } else if (type == "none") {
      r.tool_choice = ToolChoice::None;
    } else if (type == "any" || type == "tool") {
      if (!r.has_tools)
        fail("tool_choice", "'tool_choice' is '" + type + "' but no 'tools' were given.");
      r.tool_choice = ToolChoice::Required;
      if (type == "any") return;
      const std::string& name =
          as_string(require(*tc, "name", "tool_choice.name"), "tool_choice.name");
      bool found = false;
      for (const auto& d : r.tools) found = found || d.name == name;
      if (!found) {
        fail("tool_choice.name", "'tool_choice' names the tool '" + sanitize_for_message(name, 80) +
                                     "', which is not in 'tools'.");
      }
      r.tool_choice = ToolChoice::Named;
      r.tool_choice_name = name;
    } else {
      fail("tool_choice.type", "Invalid value for 'tool_choice.type': '" +
                                   sanitize_for_message(type, 64) +
                                   "'. Supported values are: 'auto', 'any', 'tool' and 'none'.");
    }
  }

  void parse_sampling(const json& root, MessagesRequest& r) {
    if (const json* v = field(root, "temperature"))
      r.temperature = number_in(*v, "temperature", 0, 1);
    if (const json* v = field(root, "top_p")) r.top_p = number_in(*v, "top_p", 0, 1);
    if (const json* v = field(root, "top_k")) {
      r.top_k = static_cast<int32_t>(int_in(*v, "top_k", 0, std::numeric_limits<int32_t>::max()));
    }
    const json* st = field(root, "stop_sequences");
    if (!st) return;
    if (!st->is_array()) fail_type("stop_sequences", "an array of strings", *st);
    if (st->size() > kMaxStopSequences) {
      fail("stop_sequences",
           "'stop_sequences' may contain at most " + std::to_string(kMaxStopSequences) +
               " strings, got " + std::to_string(st->size()) + ".",
           "array_above_max_length");
    }
    for (size_t k = 0; k < st->size(); ++k)
      r.stop.push_back(stop_string((*st)[k], idx("stop_sequences", k), L_));
  }

  void parse_thinking(const json& root, MessagesRequest& r) {
    const json* t = field(root, "thinking");
    if (!t) return;
    as_object(*t, "thinking");
    const std::string& type = as_string(require(*t, "type", "thinking.type"), "thinking.type");
    if (type != "enabled" && type != "disabled" && type != "adaptive") {
      fail("thinking.type", "Invalid value for 'thinking.type': '" +
                                sanitize_for_message(type, 64) +
                                "'. Supported values are: 'enabled', 'disabled' and 'adaptive'.");
    }
    r.thinking = type != "disabled";
    if (const json* v = field(*t, "budget_tokens")) {
      r.thinking_budget =
          int_in(*v, "thinking.budget_tokens", 0, std::numeric_limits<int64_t>::max());
    }
  }
};

}  // namespace

std::variant<MessagesRequest, ApiError> parse_messages_request(std::string_view body,
                                                               const Limits& limits,
                                                               bool count_tokens) {
  return check::guarded<MessagesRequest>([&] { return Parser(limits, count_tokens).run(body); });
}

}  // namespace lfmd::api
