#include "server/pipeline/constraints.h"

#include <functional>

namespace lfmd {

using GrammarPtr = std::shared_ptr<const grammar::Grammar>;
using grammar::GrammarConstraint;

ConstraintFactory::ConstraintFactory(const LoadedModel& model, grammar::SchemaLimits limits)
    : limits_(limits) {
  vocab_ = std::make_shared<grammar::VocabIndex>(*model.tokenizer, static_cast<int32_t>(model.hp.n_vocab),
                                                 model.never_sample, model.stop_ids);
  call_start_ = model.tokenizer->find("<|tool_call_start|>");
  call_end_ = model.tokenizer->find("<|tool_call_end|>");
}

GrammarPtr ConstraintFactory::cached(const std::string& key, const std::function<GrammarPtr()>& build) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = cache_.find(key);
    if (it != cache_.end()) {
      lru_.splice(lru_.begin(), lru_, it->second.second);
      return it->second.first;
    }
  }
  GrammarPtr g = build();  // outside the lock: compiling may take a while
  std::lock_guard<std::mutex> lock(mu_);
  if (cache_.count(key)) return cache_[key].first;
  lru_.push_front(key);
  cache_[key] = {g, lru_.begin()};
  while (cache_.size() > kCacheEntries) {
    cache_.erase(lru_.back());
    lru_.pop_back();
  }
  return g;
}

std::variant<std::shared_ptr<TokenConstraint>, api::ApiError> ConstraintFactory::make(const Conversation& r, int64_t max_tokens) {
  const bool forced_call = r.has_tools && (r.tool_choice == ToolChoice::Required || r.tool_choice == ToolChoice::Named);
  const bool lazy_calls = r.has_tools && r.tool_choice == ToolChoice::Auto && r.response_format == "text";
  std::string param;
  try {
    if (forced_call || lazy_calls) {
      if (call_start_ < 0 || call_end_ < 0) {
        if (lazy_calls) return std::shared_ptr<TokenConstraint>();
        return api::invalid_request("tool_choice '" + std::string(forced_call ? "required" : "auto") +
                                        "' needs the <|tool_call_start|> and <|tool_call_end|> tokens, which this model's vocabulary lacks",
                                    "tool_choice", "unsupported_value");
      }
      std::vector<grammar::ToolSpec> specs;
      std::string key = std::string(forced_call ? "forced" : "lazy") + (r.parallel_tool_calls ? ":parallel" : ":single");
      for (const auto& t : r.tools) {
        if (r.tool_choice == ToolChoice::Named && t.name != r.tool_choice_name) continue;
        specs.push_back({t.name, t.parameters});
        key += "\n" + t.name + "\n" + t.parameters.dump();
      }
      param = "tools";
      GrammarPtr g = cached(key, [&] {
        return grammar::compile_tool_calls(specs, r.parallel_tool_calls, forced_call ? call_start_ : -1, call_end_, limits_);
      });
      if (forced_call) return std::make_shared<GrammarConstraint>(g, vocab_, GrammarConstraint::Mode::Always, -1, -1, std::vector<int32_t>{}, max_tokens);
      return std::make_shared<GrammarConstraint>(g, vocab_, GrammarConstraint::Mode::Lazy, call_start_,
                                                 r.parallel_tool_calls ? -1 : 1, std::vector<int32_t>{call_end_}, max_tokens);
    }
    if (r.response_format == "json_object") {
      param = "response_format";
      GrammarPtr g = cached("json_object", [&] { return grammar::compile_json_object(limits_); });
      return std::make_shared<GrammarConstraint>(g, vocab_, GrammarConstraint::Mode::Always, -1, -1, std::vector<int32_t>{}, max_tokens);
    }
    if (r.response_format == "json_schema") {
      param = "response_format.json_schema.schema";
      GrammarPtr g = cached("schema\n" + r.json_schema.dump(), [&] { return grammar::compile_json_schema(r.json_schema, limits_); });
      return std::make_shared<GrammarConstraint>(g, vocab_, GrammarConstraint::Mode::Always, -1, -1, std::vector<int32_t>{}, max_tokens);
    }
    if (r.has_tools && r.tool_choice == ToolChoice::None && call_start_ >= 0) {
      return std::make_shared<GrammarConstraint>(nullptr, vocab_, GrammarConstraint::Mode::Free, -1, -1,
                                                 std::vector<int32_t>{call_start_, call_end_});
    }
  } catch (const grammar::GrammarError& e) {
    return api::invalid_request(std::string("Invalid schema for constrained decoding: ") + e.what(), param, "invalid_value");
  } catch (const std::exception& e) {  // e.g. a numeric $ref token out of range: still the client's schema
    return api::invalid_request(std::string("Invalid schema for constrained decoding: ") + e.what(), param, "invalid_value");
  }
  return std::shared_ptr<TokenConstraint>();
}

}  // namespace lfmd
