// lfmd complete / lfmd chat: text generation in the terminal.
#include <chrono>
#include <cstdio>
#include <iostream>
#include <string>

#include "engine/sampler.h"
#include "engine/session.h"
#include "server/pipeline/prompt.h"
#include "cli/cli_common.h"
#include "cli/commands.h"

namespace lfmd::cli {
namespace {

using config::OptionSpec;
using config::OptType;
using Clock = std::chrono::steady_clock;

std::vector<OptionSpec> sampling_options() {
  return {
      {"temp", OptType::Float, "0.3", "sampling temperature (0 = greedy)", 0, 100},
      {"top-k", OptType::Int, "0", "keep the k most likely tokens (0 = off)", 0, 1 << 20},
      {"top-p", OptType::Float, "1.0", "nucleus sampling mass", 0, 1},
      {"min-p", OptType::Float, "0.15", "drop tokens below min-p x the top probability", 0, 1},
      {"repeat-penalty", OptType::Float, "1.05", "penalty for tokens seen in the last 64", 0.01, 100},
      {"seed", OptType::Int, "0", "random seed (same seed, same output)", 0, 9.2e18, 's'},
  };
}

SamplingParams sampling_from(const config::Options& o) {
  SamplingParams p;
  p.temperature = static_cast<float>(o.number("temp"));
  p.top_k = static_cast<int32_t>(o.integer("top-k"));
  p.top_p = static_cast<float>(o.number("top-p"));
  p.min_p = static_cast<float>(o.number("min-p"));
  p.repetition_penalty = static_cast<float>(o.number("repeat-penalty"));
  p.seed = static_cast<uint64_t>(o.integer("seed"));
  return p;
}

bool is_stop(const LoadedModel& m, int32_t t) {
  for (int32_t s : m.stop_ids) {
    if (s == t) return true;
  }
  return false;
}

struct GenStats {
  std::vector<int32_t> ids;  // every sampled token, the stop token included
  int64_t n_generated = 0;
  double decode_s = 0;
  std::string finish = "length";
};

// Samples from `logits` and decodes until a stop token, `max_new` tokens or the context end.
// Each complete UTF-8 piece goes to `out` as it is produced.
GenStats generate(LoadedModel& m, Session& s, std::vector<float> logits, Sampler& sampler,
                  int64_t max_new, bool print_stop_token, const std::function<void(const std::string&)>& out) {
  GenStats st;
  IncrementalDetokenizer detok(*m.tokenizer);
  auto t0 = Clock::now();
  for (;;) {
    if (st.n_generated >= max_new) break;
    int32_t tok = sampler.sample(logits.data(), m.hp.n_vocab);
    ++st.n_generated;
    st.ids.push_back(tok);
    if (is_stop(m, tok)) {
      st.finish = "stop";
      if (print_stop_token) out(detok.push(tok));
      // Keep the stop token in the sequence so that a chat continues from a closed turn.
      if (s.n_past() < s.n_ctx()) s.step(tok);
      break;
    }
    out(detok.push(tok));
    if (s.n_past() >= s.n_ctx()) {
      st.finish = "context";
      break;
    }
    logits = s.step(tok);
  }
  out(detok.flush());
  st.decode_s = std::chrono::duration<double>(Clock::now() - t0).count();
  return st;
}

int run_complete(const config::Options& o) {
  auto m = load_from_options(o);
  const std::string prompt = o.str("prompt");
  std::vector<int32_t> tokens = m->tokenizer->encode(prompt, !o.flag("no-bos"), true);
  if (tokens.empty()) throw std::runtime_error("the prompt is empty (give --prompt TEXT)");
  Session s(*m);
  if (static_cast<int64_t>(tokens.size()) > s.n_ctx()) throw ContextOverflow("prompt: " + input_too_long_message(s.n_ctx(), tokens.size()));
  auto t0 = Clock::now();
  std::vector<float> logits = s.prefill(tokens);
  double prefill_s = std::chrono::duration<double>(Clock::now() - t0).count();
  Sampler sampler(sampling_from(o), &m->never_sample);
  for (int32_t t : tokens) sampler.accept(t);
  GenStats st = generate(*m, s, std::move(logits), sampler, o.integer("n"), false, [](const std::string& piece) {
    std::fwrite(piece.data(), 1, piece.size(), stdout);
    std::fflush(stdout);
  });
  if (o.is_set("ids-out")) {
    std::FILE* f = std::fopen(o.str("ids-out").c_str(), "w");
    if (!f) throw std::runtime_error("cannot create " + o.str("ids-out"));
    for (size_t i = 0; i < st.ids.size(); ++i) std::fprintf(f, "%s%d", i ? "," : "", st.ids[i]);
    std::fclose(f);
  }
  std::fputc('\n', stdout);
  std::fflush(stdout);
  if (st.finish == "context") std::fprintf(stderr, "lfmd: stopped: the context of %lld tokens is full\n", static_cast<long long>(s.n_ctx()));
  std::fprintf(stderr, "lfmd: prefill %zu tokens in %.3f s (%.1f tok/s); decode %lld tokens in %.3f s (%.1f tok/s); finish: %s\n",
               tokens.size(), prefill_s, tokens.size() / std::max(prefill_s, 1e-9), static_cast<long long>(st.n_generated),
               st.decode_s, st.n_generated / std::max(st.decode_s, 1e-9), st.finish.c_str());
  return 0;
}

// Each turn renders the whole conversation with the model's own chat template; when the new
// prompt extends what the sequence already holds, only the new tokens are processed.
int run_chat(const config::Options& o) {
  auto m = load_from_options(o);
  const auto& tok = *m->tokenizer;
  ChatPrompt prompt(m->chat_template, tok.token_bytes(tok.bos_id()), tok.token_bytes(tok.eos_id()));
  Session s(*m);
  Sampler sampler(sampling_from(o), &m->never_sample);
  api::ChatRequest conv;
  conv.messages = nlohmann::ordered_json::array();
  if (!o.str("system").empty()) conv.messages.push_back({{"role", "system"}, {"content", o.str("system")}});
  std::vector<int32_t> held;  // tokens in the sequence, in order
  std::fprintf(stderr, "lfmd chat: type a message; /reset starts over, /exit or Ctrl-D quits\n");
  std::string line;
  for (;;) {
    std::fprintf(stderr, "> ");
    if (!std::getline(std::cin, line)) break;
    if (line == "/exit" || line == "/quit") break;
    if (line == "/reset") {
      s.reset();
      held.clear();
      nlohmann::ordered_json keep = nlohmann::ordered_json::array();
      if (!o.str("system").empty()) keep.push_back(conv.messages[0]);
      conv.messages = keep;
      continue;
    }
    if (line.empty()) continue;
    conv.messages.push_back({{"role", "user"}, {"content", line}});
    std::vector<int32_t> toks = tok.encode(prompt.render(conv), false, true);
    if (static_cast<int64_t>(toks.size()) >= s.n_ctx()) {
      std::fprintf(stderr, "lfmd: the conversation no longer fits the context (%zu of %lld tokens); /reset to start over\n",
                   toks.size(), static_cast<long long>(s.n_ctx()));
      conv.messages.erase(conv.messages.end() - 1);
      continue;
    }
    const bool extends = held.size() <= toks.size() && std::equal(held.begin(), held.end(), toks.begin());
    if (!extends) {
      s.reset();
      held.clear();
    }
    std::vector<int32_t> fresh(toks.begin() + static_cast<long>(held.size()), toks.end());
    for (int32_t t : fresh) sampler.accept(t);
    std::vector<float> logits = s.prefill(fresh);
    held = toks;
    std::string reply;
    GenStats st = generate(*m, s, std::move(logits), sampler, o.integer("n"), false, [&](const std::string& p) {
      reply += p;
      std::fwrite(p.data(), 1, p.size(), stdout);
      std::fflush(stdout);
    });
    std::fputc('\n', stdout);
    held.insert(held.end(), st.ids.begin(), st.ids.end());
    if (static_cast<int64_t>(held.size()) > s.n_past()) held.resize(s.n_past());
    conv.messages.push_back({{"role", "assistant"}, {"content", reply}});
    std::fprintf(stderr, "[%lld tokens, %.1f tok/s, %s]\n", static_cast<long long>(st.n_generated),
                 st.n_generated / std::max(st.decode_s, 1e-9), st.finish.c_str());
  }
  return 0;
}

config::Command complete_cmd() {
  config::Command c{"complete", "Generate a continuation of a prompt; text to stdout, timings to stderr.",
                    "lfmd complete [--model M] --prompt TEXT [-n N] [--temp T] [--seed S] [--threads T]", model_options()};
  c.options.push_back({"prompt", OptType::String, "", "prompt text (special tokens such as <|im_start|> are parsed)", 0, 0, 'p'});
  c.options.push_back({"n", OptType::Int, "128", "tokens to generate at most", 0, 1 << 24, 'n'});
  c.options.push_back({"no-bos", OptType::Bool, "", "do not add the BOS token"});
  c.options.push_back({"ids-out", OptType::String, "", "also write the generated token ids (comma-separated) to this file"});
  for (auto& s : sampling_options()) c.options.push_back(s);
  return c;
}

config::Command chat_cmd() {
  config::Command c{"chat", "Interactive multi-turn chat in the terminal, in the model's chat format.",
                    "lfmd chat [--model M] [--system TEXT] [options]", model_options()};
  c.options.push_back({"system", OptType::String, "", "system prompt"});
  c.options.push_back({"n", OptType::Int, "512", "tokens per reply at most", 1, 1 << 24, 'n'});
  for (auto& s : sampling_options()) c.options.push_back(s);
  return c;
}

}  // namespace

int cmd_complete(const std::vector<std::string>& args) { return guarded("complete", run_complete, complete_cmd(), args); }
int cmd_chat(const std::vector<std::string>& args) { return guarded("chat", run_chat, chat_cmd(), args); }

}  // namespace lfmd::cli
