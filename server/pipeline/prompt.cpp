#include "server/pipeline/prompt.h"

#include "engine/chat_template_lfm2.h"

namespace lfmd {

namespace {

// Pythonic argument value: JSON literals, double-quoted strings (what LFM2 emits).
std::string py_value(const nlohmann::ordered_json& v) { return v.dump(-1, ' ', false); }

}  // namespace

std::string lfm2_tool_call_text(const nlohmann::ordered_json& tool_calls) {
  std::string out = "<|tool_call_start|>[";
  bool first_call = true;
  for (const auto& tc : tool_calls) {
    const auto& fn = tc.contains("function") ? tc["function"] : tc;
    if (!first_call) out += ", ";
    first_call = false;
    out += fn.value("name", "");
    out += "(";
    bool first_arg = true;
    if (fn.contains("arguments") && fn["arguments"].is_object()) {
      for (const auto& [k, v] : fn["arguments"].items()) {
        if (!first_arg) out += ", ";
        first_arg = false;
        out += k + "=" + py_value(v);
      }
    }
    out += ")";
  }
  return out + "]<|tool_call_end|>";
}

ChatPrompt::ChatPrompt(const std::string& source, std::string bos, std::string eos)
    : tmpl_(jinja::Template::parse(source.empty() ? lfm2_official_chat_template() : source)),
      bos_(std::move(bos)),
      eos_(std::move(eos)),
      builtin_(source.empty()) {
  const std::string& src = source.empty() ? std::string(lfm2_official_chat_template()) : source;
  template_renders_tool_calls_ = src.find("tool_calls") != std::string::npos;
}

std::string ChatPrompt::render(const Conversation& req) const {
  nlohmann::ordered_json messages = nlohmann::ordered_json::array();
  for (auto m : req.messages) {
    if (!template_renders_tool_calls_ && m.value("role", "") == "assistant" && m.contains("tool_calls")) {
      // The call block first, then any text: the order LFM2 itself produces.
      std::string content = m.contains("content") && m["content"].is_string() ? m["content"].get<std::string>() : "";
      m["content"] = lfm2_tool_call_text(m["tool_calls"]) + content;
    }
    messages.push_back(std::move(m));
  }
  nlohmann::ordered_json ctx = {
      {"messages", messages},
      {"bos_token", bos_},
      {"eos_token", eos_},
      {"add_generation_prompt", true},
  };
  // Without tools transformers passes tools=None (defined, none): mirror it.
  ctx["tools"] = req.has_tools ? req.tools_json : nlohmann::ordered_json(nullptr);
  return tmpl_.render(ctx);
}

}  // namespace lfmd
