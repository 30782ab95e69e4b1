// What the pipeline produces for one request, whatever the wire protocol: a stream of
// protocol-neutral events that each adapter turns into its own envelope and framing.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "server/output/stream_parser.h"

namespace lfmd {

// How an answer ended, as a protocol sees it (each adapter names it in its own words).
enum class OutputFinish {
  EndOfTurn,     // the model ended its turn (or the generation was cancelled)
  StopSequence,  // a client stop string matched; the text before it is the answer
  Length,        // max_tokens or the context ran out
  ToolCalls,     // the answer holds tool calls
};

struct Usage {
  int64_t prompt_tokens = 0, completion_tokens = 0, cached_tokens = 0;
  int64_t reasoning_tokens = 0;  // of completion_tokens, those spent thinking
};

struct OutputEvent {
  enum class Kind {
    Text,           // text: a content delta
    Reasoning,      // text: a delta of the model's thinking (<think>...</think>), never content
    ToolCallStart,  // index, id, name
    ToolCallArgs,   // index, text: an arguments delta (JSON text)
    ToolCallEnd,    // index
    KeepAlive,      // nothing was sent for keepalive_ms (streaming only)
    Finish,         // finish, usage, content, tool_calls, annotations
    CloudAnswer,    // body: the upstream's whole chat.completion (non-streaming handoff)
    CloudChunk,     // body: one chat.completion.chunk of the upstream's stream
    Error,          // text: what failed; nothing follows
  };
  Kind kind = Kind::Text;
  std::string text;
  bool shutting_down = false;  // Error: the request was never started (graceful stop): a 503
  int index = -1;
  std::string id, name;
  // Text: OpenAI-shaped logprob entries of the tokens since the previous Text event (null when
  // logprobs were not asked for or none are pending); Finish: the ones no Text event took.
  nlohmann::ordered_json logprobs;
  OutputFinish finish = OutputFinish::EndOfTurn;
  std::string stop_sequence;  // Finish with StopSequence: the stop string that matched
  Usage usage;
  std::string content;                       // Finish: all content
  std::string reasoning;                     // Finish: all thinking
  std::vector<output::ToolCall> tool_calls;  // Finish: all tool calls
  // Finish, CloudAnswer, CloudChunk: lfmd's fields for the final object, in order:
  // {"confidence": {...}, "cloud_handoff": bool, "handoff_error"?: {...}}.
  nlohmann::ordered_json annotations;
  nlohmann::ordered_json body;  // CloudAnswer / CloudChunk
};

}  // namespace lfmd
