// libFuzzer: every JSON request parser that takes a client's body (OpenAI, Anthropic, Ollama). The first byte picks the
// parser; the rest is the body. Each must answer a request or an ApiError, never throw or crash.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "server/api/chat_request.h"
#include "server/api/messages_request.h"
#include "server/api/responses_request.h"
#include "server/protocols/ollama.h"

// Ollama's /api/chat (generate = false) and /api/generate bodies: mapped to a Chat Completions
// body, which goes through the same validator as the server's.
static void ollama(std::string_view body, bool generate, const lfmd::api::Limits& limits) {
  auto parsed = lfmd::ollama::json::parse(body, nullptr, false);
  if (parsed.is_discarded()) return;
  auto mapped = lfmd::ollama::to_chat_body(parsed, generate);
  if (auto* chat = std::get_if<lfmd::ollama::json>(&mapped)) (void)lfmd::api::parse_chat_request(chat->dump(), limits);
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view body(reinterpret_cast<const char*>(data) + 1, size - 1);
  lfmd::api::Limits limits;
  switch (data[0] % 6) {
    case 0: (void)lfmd::api::parse_chat_request(body, limits); break;
    case 1: (void)lfmd::api::parse_responses_request(body, limits); break;
    case 2: (void)lfmd::api::parse_messages_request(body, limits); break;
    case 3: (void)lfmd::api::parse_json_object(body); break;
    default: ollama(body, data[0] % 6 == 5, limits); break;
  }
  return 0;
}
