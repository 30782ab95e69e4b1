// Constrained decoding for a chat request: response_format json_object / json_schema and
// tool_choice (required, named, auto, none) become a TokenConstraint on the engine request.
// Compiled grammars are cached by (kind, schema) text; the vocabulary index is built once.
#pragma once

#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <variant>

#include "engine/constraint.h"
#include "engine/grammar/json_schema.h"
#include "engine/grammar/matcher.h"
#include "engine/loader.h"
#include "server/api/chat_request.h"

namespace lfmd {

class ConstraintFactory {
 public:
  explicit ConstraintFactory(const LoadedModel& model, grammar::SchemaLimits limits = {});
  // Which constraint applies (first match):
  //   tool_choice required / named -> the call block is forced: <|tool_call_start|>[f(..)]
  //                                   <|tool_call_end|>, then only end-of-turn
  //   response_format json_object / json_schema -> the whole output is that JSON value
  //   tools with tool_choice auto  -> free text; after <|tool_call_start|> the call grammar holds
  //                                   until <|tool_call_end|> (parallel_tool_calls=false: one block
  //                                   with one call, then the start token is forbidden); a stray
  //                                   <|tool_call_end|> outside a block is never sampled
  //   tools with tool_choice none  -> <|tool_call_start|> / <|tool_call_end|> are never sampled
  // max_tokens: the request's budget (outputs are steered to finish within it, see
  // GrammarConstraint). nullptr when nothing applies. A schema the compiler rejects (unsupported
  // keyword, limit, unsatisfiable) is a 400 naming the problem.
  std::variant<std::shared_ptr<TokenConstraint>, api::ApiError> make(const Conversation& r,
                                                                     int64_t max_tokens);

 private:
  std::shared_ptr<const grammar::Grammar> cached(
      const std::string& key,
      const std::function<std::shared_ptr<const grammar::Grammar>()>& build);

  grammar::SchemaLimits limits_;
  std::shared_ptr<const grammar::VocabIndex> vocab_;
  int32_t call_start_ = -1, call_end_ = -1;
  std::mutex mu_;
  std::list<std::string> lru_;  // most recent first
  std::unordered_map<std::string, std::pair<std::shared_ptr<const grammar::Grammar>,
                                            std::list<std::string>::iterator>>
      cache_;
  static constexpr size_t kCacheEntries = 64;
};

}  // namespace lfmd
