// libFuzzer: the tokenizer. Mode 0 (first byte even): encode arbitrary bytes with and without
// special-token parsing, decode again; valid UTF-8 without special tokens must round-trip exactly.
// Mode 1: the tokenizer.json reader on arbitrary text (errors are std::runtime_error).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <string_view>

#include "base/utf8.h"
#include "engine/testmodel/vocab_builder.h"
#include "engine/tokenizer/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const lfmd::Tokenizer tok{lfmd::make_lfm2_test_vocab(1500, 2048)};
  if (size == 0) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] & 1) {
    try {
      (void)lfmd::Tokenizer::vocab_from_hf_json(text);
    } catch (const std::runtime_error&) {
    }
    return 0;
  }
  (void)tok.decode(tok.encode(text, true, true));
  const auto ids = tok.encode(text, false, false);
  if (lfmd::utf8_valid(text) && tok.decode(ids, false) != text) std::abort();
  return 0;
}
