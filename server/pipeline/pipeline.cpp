#include "server/pipeline/pipeline.h"

#include <algorithm>
#include <limits>
#include <random>

#include "engine/tokenizer/tokenizer.h"

namespace lfmd {

Pipeline::Pipeline(Engine& engine, const LoadedModel& model, PipelineOptions opt, Metrics& metrics)
    : engine_(engine),
      model_(model),
      opt_(std::move(opt)),
      metrics_(metrics),
      prompt_(model.chat_template, model.tokenizer->token_bytes(model.tokenizer->bos_id()),
              model.tokenizer->token_bytes(model.tokenizer->eos_id())),
      constraints_(model) {}

output::Options Pipeline::parse_options(const Conversation& c) const {
  output::Options o;
  o.parse_tool_calls = c.has_tools && c.tool_choice != ToolChoice::None;
  o.stop = c.stop;
  o.parse_reasoning = !c.raw_reasoning;
  // A bare [f(a=1)] answer is a call only when tools are offered and free text is allowed.
  if (o.parse_tool_calls && c.tool_choice == ToolChoice::Auto && c.response_format == "text") {
    for (const ToolDef& t : c.tools) o.bare_call_tools.push_back(t.name);
  }
  return o;
}

api::Limits Pipeline::request_limits() const {
  api::Limits lim;
  lim.max_tokens_cap = std::numeric_limits<int32_t>::max();
  lim.n_vocab = static_cast<int32_t>(model_.hp.n_vocab);
  return lim;
}

std::vector<int32_t> Pipeline::tokenize_prompt(const Conversation& c, std::string* text) const {
  if (c.raw_prompt) {
    *text = *c.raw_prompt;
    return model_.tokenizer->encode(*text, true, true);
  }
  *text = prompt_.render(c);  // the template writes the BOS itself
  return model_.tokenizer->encode(*text, false, true);
}

int64_t Pipeline::count_prompt_tokens(const Conversation& c) const {
  std::string text;
  return static_cast<int64_t>(tokenize_prompt(c, &text).size());
}

GenerateRequest Pipeline::generate_request(const Conversation& c, std::vector<int32_t> prompt,
                                           int64_t max_tokens) const {
  GenerateRequest g;
  g.prompt = std::move(prompt);
  g.max_tokens = max_tokens;
  SamplingParams& s = g.sampling;
  s.temperature = static_cast<float>(c.temperature);
  s.top_p = static_cast<float>(c.top_p);
  s.top_k = c.top_k;
  s.min_p = static_cast<float>(c.min_p);
  s.repetition_penalty = static_cast<float>(c.repetition_penalty);
  s.presence_penalty = static_cast<float>(c.presence_penalty);
  s.frequency_penalty = static_cast<float>(c.frequency_penalty);
  s.logit_bias = c.logit_bias;
  s.seed = c.seed ? *c.seed : std::random_device{}();
  g.top_logprobs = c.logprobs ? c.top_logprobs : -1;
  for (std::string_view marker :
       {output::kToolCallStart, output::kToolCallEnd, output::kThinkStart, output::kThinkEnd}) {
    if (int32_t id = model_.tokenizer->find(std::string(marker)); id >= 0)
      g.visible_specials.push_back(id);
  }
  g.want_confidence = true;
  g.confidence_window = opt_.handoff.window;
  return g;
}

// Test hooks (accepted only with --test-hooks): forced output, a pause after each forward pass
// (a slow model for the tests), per-token confidence signals and the prompt's ids.
void Pipeline::apply_test_hooks(std::string_view raw_body, const std::string& prompt,
                                GenerateRequest& g, GenerationSetup& setup) const {
  if (!opt_.test_hooks) return;
  auto body = nlohmann::json::parse(raw_body, nullptr, false);
  if (!opt_.forced_output.empty())
    g.forced = model_.tokenizer->encode(opt_.forced_output, false, true);
  for (auto it = opt_.script.rbegin(); it != opt_.script.rend(); ++it) {
    if (it->when.empty() || prompt.find(it->when) != std::string::npos) {
      g.forced = model_.tokenizer->encode(it->output, false, true);
      break;
    }
  }
  if (!body.is_object()) return;
  if (body.contains("lfmd_forced_output") && body["lfmd_forced_output"].is_string()) {
    g.forced = model_.tokenizer->encode(body["lfmd_forced_output"].get<std::string>(), false, true);
  }
  if (body.contains("lfmd_step_delay_ms") && body["lfmd_step_delay_ms"].is_number_integer()) {
    g.test_step_delay_ms = static_cast<int32_t>(
        std::clamp<int64_t>(body["lfmd_step_delay_ms"].get<int64_t>(), 0, 1000));
  }
  if (body.value("lfmd_confidence_trace", false) == true) {
    setup.want_trace = true;
    setup.prompt_ids = g.prompt;
  }
}

std::variant<std::shared_ptr<Generation>, api::ApiError> Pipeline::start(
    const Conversation& c, const StartOptions& so, std::function<void(const TokenEvent&)> on_token) {
  const auto received = std::chrono::steady_clock::now();
  auto pol = resolve_policy(opt_.handoff, c);
  if (auto* err = std::get_if<api::ApiError>(&pol)) return *err;
  std::string text;
  std::vector<int32_t> prompt;
  try {
    prompt = tokenize_prompt(c, &text);
  } catch (const std::exception& e) {
    return api::invalid_request(
        std::string("the chat template rejected these messages: ") + e.what(), "messages");
  }
  if (prompt.empty()) return api::invalid_request("the prompt is empty", "prompt");
  const int64_t n_prompt = static_cast<int64_t>(prompt.size());
  // The context, or less when one sequence of the full context would not fit --kv-budget.
  const int64_t n_ctx = engine_.context_limit();
  if (n_prompt >= n_ctx) {
    if (n_ctx < model_.n_ctx) return api::kv_budget_exceeded(n_ctx, n_prompt, engine_.kv_budget());
    return api::context_length_exceeded(n_ctx, n_prompt, c.max_tokens.value_or(1));
  }
  const int64_t room = n_ctx - n_prompt;
  GenerateRequest g =
      generate_request(c, std::move(prompt), std::min(c.max_tokens.value_or(room), room));
  auto constraint = constraints_.make(c, g.max_tokens);
  if (auto* err = std::get_if<api::ApiError>(&constraint)) return *err;
  g.constraint = std::get<std::shared_ptr<TokenConstraint>>(std::move(constraint));

  GenerationSetup setup;
  setup.received = received;
  setup.stream = std::make_shared<RequestStream>();
  setup.metrics = &metrics_;
  setup.tokenizer = model_.tokenizer.get();
  setup.parse = parse_options(c);
  setup.streaming = so.stream;
  setup.logprobs = c.logprobs;
  setup.keepalive_ms = opt_.keepalive_ms;
  setup.policy = std::get<HandoffPolicy>(pol);
  setup.handoff = &opt_.handoff;
  setup.proxy_body = std::string(so.raw_body);
  setup.prompt_tokens = n_prompt;
  setup.on_token = std::move(on_token);
  setup.record = so.record;
  if (so.record) {
    std::lock_guard<std::mutex> lock(so.record->mu);
    if (so.record->keep_text && so.record->prompt_text.empty()) so.record->prompt_text = text;
  }
  apply_test_hooks(so.raw_body, text, g, setup);
  const uint64_t id = engine_.submit(std::move(g), setup.stream);
  if (id == 0) return engine_.draining() ? api::shutting_down() : api::rate_limited(1);
  setup.cancel = [&engine = engine_, id] { engine.cancel(id); };
  return std::make_shared<Generation>(std::move(setup));
}

}  // namespace lfmd
