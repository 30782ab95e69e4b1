// libFuzzer: every JSON request parser that takes a client's body. The first byte picks the
// parser; the rest is the body. Each must answer a request or an ApiError, never throw or crash.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "server/api/chat_request.h"
#include "server/api/messages_request.h"
#include "server/api/responses_request.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view body(reinterpret_cast<const char*>(data) + 1, size - 1);
  lfmd::api::Limits limits;
  switch (data[0] % 4) {
    case 0: (void)lfmd::api::parse_chat_request(body, limits); break;
    case 1: (void)lfmd::api::parse_responses_request(body, limits); break;
    case 2: (void)lfmd::api::parse_messages_request(body, limits); break;
    default: (void)lfmd::api::parse_json_object(body); break;
  }
  return 0;
}
