// Byte-level BPE tokenizer (GPT-2 family) as LFM2 uses it: the lfm2 / llama3 pre-tokenizer regex,
// the GPT-2 byte<->unicode map, ranked merges, special tokens matched whole.
// Built from GGUF metadata (tokenizer.ggml.*) or from a Hugging Face tokenizer.json.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace lfmd {

// GGUF tokenizer.ggml.token_type values (llama.cpp's llama_token_type).
enum class TokenType : int32_t {
  Undefined = 0,
  Normal = 1,
  Unknown = 2,
  Control = 3,
  UserDefined = 4,
  Unused = 5,
  Byte = 6,
};

// Plain vocabulary data, as stored in GGUF (`tokens` are byte-level-mapped strings).
struct VocabData {
  std::vector<std::string> tokens;  // id -> token text (GPT-2 byte-to-unicode mapped)
  std::vector<int32_t> types;       // id -> TokenType (empty: all Normal)
  std::vector<std::string> merges;  // "left right", highest priority first
  std::string model = "gpt2";       // tokenizer.ggml.model
  std::string pre = "lfm2";         // tokenizer.ggml.pre
  int32_t bos_id = -1, eos_id = -1, pad_id = -1;
  bool add_bos = true;
  bool add_eos = false;
  // When a whole pre-token is in the vocabulary take it directly (llama.cpp does this for
  // pre "lfm2"; HF tokenizer.json states it in model.ignore_merges).
  bool ignore_merges = true;
};

class Tokenizer {
 public:
  // Throws std::runtime_error naming the problem (unknown model/pre, merge of unknown tokens...).
  explicit Tokenizer(VocabData vocab);
  ~Tokenizer();
  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;

  // Parses a Hugging Face tokenizer.json (BPE model, ByteLevel pre-tokenizer/decoder, added
  // tokens). Throws std::runtime_error on anything it does not support.
  static Tokenizer from_hf_json(std::string_view json_text);
  // Same, then bos/eos/pad tokens and add_bos_token/add_eos_token from a tokenizer_config.json
  // (which is where HF keeps the EOS; without it eos falls back to <|im_end|> / <|endoftext|>).
  static Tokenizer from_hf_json(std::string_view json_text, std::string_view tokenizer_config_json);
  // The VocabData from_hf_json would build (throws the same errors).
  static VocabData vocab_from_hf_json(std::string_view json_text,
                                      std::string_view tokenizer_config_json = {});

  // add_bos: prepend BOS when the vocabulary says so (add_bos) and add_bos is true. It plays
  // llama.cpp's add_special: EOS is appended too when the vocabulary's add_eos is set.
  // parse_special: CONTROL (and UNKNOWN) tokens in the text are matched whole; USER_DEFINED ones
  // are matched always; UNUSED / NORMAL never. Matching follows llama.cpp: longest text first
  // over the whole text, then BPE on the fragments between. Invalid UTF-8 in the fragments is
  // replaced like llama.cpp does (U+FFFD per bad lead byte). Thread-safe (const).
  std::vector<int32_t> encode(std::string_view text, bool add_bos, bool parse_special) const;

  // Raw bytes a token stands for (byte-level decoded). Control tokens give their text when
  // `special` is true and "" otherwise. Out-of-range ids give "". Same as llama_token_to_piece.
  std::string token_bytes(int32_t id, bool special = true) const;
  // Concatenated token_bytes (may end inside a UTF-8 sequence). No clean-up of spaces: llama.cpp's
  // llama_detokenize does that for lfm2 (" ," -> ","), its server's /detokenize does not.
  std::string decode(const std::vector<int32_t>& ids, bool special = true) const;

  int32_t n_vocab() const;
  const VocabData& vocab() const;
  int32_t bos_id() const;
  int32_t eos_id() const;
  bool is_control(int32_t id) const;
  TokenType token_type(int32_t id) const;  // Undefined for out-of-range ids
  // Token id for an exact token text, or -1.
  int32_t find(std::string_view token_text) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Turns a stream of token ids into text without ever emitting half a UTF-8 code point.
class IncrementalDetokenizer {
 public:
  explicit IncrementalDetokenizer(const Tokenizer& tok, bool special = true)
      : tok_(&tok), special_(special) {}
  // Bytes that are complete UTF-8 after adding `id` (may be empty).
  std::string push(int32_t id);
  // Whatever is left (an incomplete sequence is emitted as U+FFFD per bad byte).
  std::string flush();

 private:
  const Tokenizer* tok_;
  bool special_;
  std::string pending_;
};

// GPT-2 byte<->unicode map used by byte-level BPE.
std::string byte_level_encode(std::string_view raw_bytes);  // raw bytes -> mapped UTF-8
std::string byte_level_decode(std::string_view mapped);     // mapped UTF-8 -> raw bytes

// Writes a Hugging Face tokenizer.json for `v` (BPE model, Split(lfm2 regex) + ByteLevel
// pre-tokenizer, ByteLevel decoder, TemplateProcessing for add_bos/add_eos). CONTROL / UNKNOWN
// tokens become special added tokens, USER_DEFINED ones non-special added tokens; UNUSED tokens
// are left out (from_hf_json fills id gaps with UNUSED "[PAD{id}]"). merges_as_pairs writes
// merges as ["a", "b"] instead of "a b".
std::string to_hf_json(const VocabData& v, bool merges_as_pairs = false);

// Splits text with the lfm2 / llama3 pre-tokenizer regex (PCRE2, Unicode properties), exactly as
// llama.cpp's LLAMA3 splitter does. Invalid UTF-8 is first replaced like llama.cpp (see
// tokenizer_internal.h), so the pieces concatenate to the input only when it is valid UTF-8.
std::vector<std::string> pretokenize_lfm2(std::string_view text);

}  // namespace lfmd
