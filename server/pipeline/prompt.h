// Turns a validated chat request into the prompt text: the model's own Jinja chat template
// (tokenizer.chat_template), or the official LFM2 template when the file has none.
#pragma once

#include <memory>
#include <string>

#include "jinja/jinja.h"
#include "server/api/chat_request.h"

namespace lfmd {

class ChatPrompt {
 public:
  // Throws jinja::Error when the template does not parse.
  ChatPrompt(const std::string& template_source, std::string bos_token, std::string eos_token);
  // Renders with add_generation_prompt. Assistant tool_calls are written back in LFM2's own
  // syntax when the template ignores tool_calls, so an agent's history re-renders the same
  // prefix every turn. Throws jinja::Error (e.g. raise_exception in the template).
  std::string render(const Conversation& req) const;
  bool uses_builtin_template() const { return builtin_; }

 private:
  jinja::Template tmpl_;
  std::string bos_, eos_;
  bool builtin_ = false;
  bool template_renders_tool_calls_ = false;
};

// `<|tool_call_start|>[name(a="x", b=2)]<|tool_call_end|>` for an OpenAI tool_calls array
// (arguments as parsed objects).
std::string lfm2_tool_call_text(const nlohmann::ordered_json& tool_calls);

}  // namespace lfmd
