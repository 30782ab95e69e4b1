// What the access log says about one HTTP request: filled by the pipeline (tokens, timings, finish,
// handoff) and by the route wrapper (model), read once when the response is fully written.
// Plain data behind a mutex: the stream body of a response may run on another thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>

namespace lfmd {

struct RequestRecord {
  std::mutex mu;
  uint64_t id = 0;  // 1, 2, ... in arrival order (per process)
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
  bool keep_text = false;  // --log-prompts: keep prompt and output text (else never stored)
  std::string protocol;    // "openai.chat", "ollama.generate", ... ("" = not a generation route)
  std::string model;
  int generations = 0;  // answers produced (n > 1 choices, several legacy prompts)
  int64_t prompt_tokens = 0, cached_tokens = 0, completion_tokens = 0;
  double ttft_ms = -1;     // first token of the first answer, from submission (-1: none)
  double decode_tps = -1;  // tokens after the first / time between first and last (-1: n/a)
  std::string finish;      // stop | length | tool_calls | stop_sequence | error | client_gone
  std::string handoff;     // off | local | handoff (the confidence policy's decision)
  std::string upstream;    // "" (not asked) | cloud (served by it) | the fallback's reason
  std::string prompt_text, output_text;  // only with keep_text
};

}  // namespace lfmd
