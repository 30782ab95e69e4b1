// The protocol-neutral request pipeline: Conversation -> prompt (the GGUF's chat template) ->
// tokens -> GenerateRequest (sampling, grammar, confidence) -> Engine::submit -> a Generation
// whose event pump yields OutputEvents. Every wire protocol is an adapter over this one class.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <variant>

#include "engine/engine.h"
#include "server/api/chat_request.h"
#include "server/metrics.h"
#include "server/pipeline/constraints.h"
#include "server/pipeline/conversation.h"
#include "server/pipeline/generation.h"
#include "server/pipeline/handoff.h"
#include "server/pipeline/prompt.h"

namespace lfmd {

struct PipelineOptions {
  int keepalive_ms = 5000;    // streaming: a KeepAlive event after this long without output
  bool test_hooks = false;    // accept the lfmd_* test fields of a request body (tests only)
  std::string forced_output;  // test hooks: every request emits exactly this text
  // Test hooks: scripted outputs across turns. A request emits the output of the LAST entry whose
  // `when` is empty or occurs in its rendered prompt (e.g. "<|tool_response_start|>" for the turn
  // after a tool result), so a real agent's tool round trip can be driven end to end.
  struct ScriptEntry {
    std::string when, output;
  };
  std::vector<ScriptEntry> script;
  HandoffConfig handoff;  // confidence policy and cloud upstream
};

// What a request wants besides its conversation.
struct StartOptions {
  bool stream =
      false;  // events as they come (keep-alives, probe window) or one decision at the end
  // The client's raw body: its test-hook fields (with --test-hooks), and for Chat Completions the
  // request a proxy handoff forwards upstream (handoff.h upstream_body).
  std::string_view raw_body;
  // The HTTP request's access-log record: the generation adds its tokens, timings and outcome.
  std::shared_ptr<RequestRecord> record;
};

class Pipeline {
 public:
  Pipeline(Engine& engine, const LoadedModel& model, PipelineOptions opt, Metrics& metrics);

  // Renders, tokenizes, checks the context, builds the grammar and submits. max_tokens beyond the
  // room the prompt leaves in the context is clamped to it (the answer then ends with Length).
  // Errors: the template rejects the messages (400, param "messages"), the prompt alone does not
  // fit (400 context_length_exceeded), a schema the grammar compiler refuses (400), a bad handoff
  // field (400), a full queue (429). Never throws.
  // on_token: an observer of each generated token (GenerationSetup::on_token; the C library's
  // per-token callback), or empty.
  std::variant<std::shared_ptr<Generation>, api::ApiError> start(
      const Conversation& c, const StartOptions& so,
      std::function<void(const TokenEvent&)> on_token = {});

  // The validation limits of a request to this model: its vocabulary size, and no max_tokens cap
  // (beyond the room left the output is clamped).
  api::Limits request_limits() const;

  // The prompt's token count as start() would submit it (throws jinja::Error on a template error).
  int64_t count_prompt_tokens(const Conversation& c) const;

  const LoadedModel& model() const { return model_; }
  const PipelineOptions& options() const { return opt_; }
  Engine& engine() { return engine_; }
  Metrics& metrics() { return metrics_; }

 private:
  // The prompt's tokens and text: the chat template's rendering, or the raw prompt.
  std::vector<int32_t> tokenize_prompt(const Conversation& c, std::string* text) const;
  GenerateRequest generate_request(const Conversation& c, std::vector<int32_t> prompt,
                                   int64_t max_tokens) const;
  void apply_test_hooks(std::string_view raw_body, const std::string& prompt, GenerateRequest& g,
                        GenerationSetup& setup) const;
  output::Options parse_options(const Conversation& c) const;

  Engine& engine_;
  const LoadedModel& model_;
  PipelineOptions opt_;
  Metrics& metrics_;
  ChatPrompt prompt_;
  ConstraintFactory constraints_;
};

}  // namespace lfmd
