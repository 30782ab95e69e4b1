// Streaming output parser: turns the decoded text pieces of one generation into OpenAI content
// deltas and tool calls, applying stop strings and keeping UTF-8 whole.
//
// Usage (one parser per choice of a request):
//   StreamParser p({.parse_tool_calls = has_tools, .stop = req.stop});
//   for each decoded piece:  send(p.feed(piece)); if (p.stopped()) break;   // cancel generation
//   send(p.finish());  finish_reason = p.finish_reason(hit_max_tokens);
//   non-streaming: p.message() is choices[0].message.
//
// Rules (all decisions depend only on the bytes, never on how they were split into pieces):
// * Content is emitted as soon as it is certain: text that could still start a stop string or
//   <|tool_call_start|> is held back (at most the longest such pattern), and so is an incomplete
//   UTF-8 sequence. Content events are always well-formed UTF-8; ill-formed bytes become U+FFFD
//   (an incomplete sequence at the end too).
// * <|tool_call_start|> BODY <|tool_call_end|> (parse_tool_calls only) is held back whole. When
//   it ends, BODY is parsed (see tool_call_parse.h): on success each call yields ToolCallBegin
//   then one ToolCallArgs with the complete arguments string; indices run 0,1,2... across all
//   blocks of the output. On failure the whole block text, markers included, is emitted as
//   content, verbatim, and parsing continues after it (later blocks can still be calls).
//   A block still open at finish() is emitted as content. A second <|tool_call_start|> inside an
//   open block ends the first one as malformed (content) and opens a new block there.
//   A stray <|tool_call_end|> outside a block is plain content.
// * Stop strings are matched on the raw text outside tool-call blocks (not across a block, not
//   inside one, not in malformed block text). The first pattern to complete wins (stop string or
//   <|tool_call_start|>); on a tie the longer (earlier-starting) one, and a stop string over the
//   marker. On a stop match the content before it is emitted, everything after is dropped,
//   stopped() turns true and later feed() calls are ignored.
// * Cost: O(piece length x number of patterns) per feed(); held-back content is bounded by the
//   longest pattern, block text is appended (never rescanned) until the end marker.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace lfmd::output {

inline constexpr std::string_view kToolCallStart = "<|tool_call_start|>";
inline constexpr std::string_view kToolCallEnd = "<|tool_call_end|>";
inline constexpr std::string_view kThinkStart = "<think>";
inline constexpr std::string_view kThinkEnd = "</think>";

struct Options {
  bool parse_tool_calls = true;   // false (no tools / tool_choice none): markup is plain text
  std::vector<std::string> stop;  // OpenAI `stop`; empty strings are ignored
  // An answer that starts with <think> (after white space): everything up to </think> (or the
  // end) is reasoning, never content; white space after </think> is dropped.
  bool parse_reasoning = true;
  // LFM2.5: content (after any reasoning) that is, as a whole, a bare call list [f(a=1), g()]
  // naming only these tools becomes tool calls. Content starting with '[' is held back until
  // decided. Empty: off.
  std::vector<std::string> bare_call_tools;
  std::function<std::string()> make_call_id;  // default: "call_" + 24 random [A-Za-z0-9]
};

struct Event {
  enum Kind { Content, ToolCallBegin, ToolCallArgs, Reasoning };
  Kind kind = Content;
  std::string text;  // Content / Reasoning: UTF-8 text; ToolCallArgs: arguments fragment; Begin: empty
  int index = -1;    // tool call index (ToolCallBegin / ToolCallArgs)
  std::string id;    // ToolCallBegin only
  std::string name;  // ToolCallBegin only
  std::string raw;   // ToolCallBegin of a block's first call: the block text incl. markers (logs)
};

// The OpenAI chat.completion.chunk `delta` for one event (docs/architecture.md, "Chat Completions on the wire"):
//   Content       -> {"content":"..."}
//   Reasoning     -> {"reasoning_content":"..."}
//   ToolCallBegin -> {"tool_calls":[{"index":i,"id":"call_..","type":"function",
//                                    "function":{"name":"..","arguments":""}}]}
//   ToolCallArgs  -> {"tool_calls":[{"index":i,"function":{"arguments":"<fragment>"}}]}
nlohmann::ordered_json to_delta(const Event& e);

struct ParsedCall;  // tool_call_parse.h

struct ToolCall {
  std::string id, name, arguments;  // arguments: JSON object text
};

// OpenAI message: {"role":"assistant","content":...,"tool_calls":[...]}. content is null when
// there are tool calls and the content is empty or whitespace only; tool_calls only if any.
nlohmann::ordered_json assistant_message(const std::string& content, const std::vector<ToolCall>& calls);

class StreamParser {
 public:
  explicit StreamParser(Options opts = {});

  // Feeds the next decoded piece (may split UTF-8, markup or stop strings anywhere). Returns the
  // events that became certain, in order; adjacent content is merged into one event.
  std::vector<Event> feed(std::string_view piece);
  // Generation ended (EOS, length, cancel): flushes held-back text. Later calls return nothing.
  std::vector<Event> finish();

  bool stopped() const { return stopped_; }  // a stop string matched: stop generating
  bool done() const { return done_; }        // stopped() or finish() called
  // "tool_calls" if any call was emitted, else "stop" on a stop string, else "length" when
  // hit_length (the caller ran out of max_tokens / context), else "stop".
  std::string finish_reason(bool hit_length) const;

  const std::string& content() const { return content_; }  // all content emitted so far
  const std::string& reasoning() const { return reasoning_; }  // all reasoning emitted so far
  bool in_reasoning() const { return think_ == Think::Inside; }
  const std::vector<ToolCall>& tool_calls() const { return calls_; }
  // assistant_message(content(), tool_calls()).
  nlohmann::ordered_json message() const { return assistant_message(content_, calls_); }

 private:
  // Streaming KMP matcher for one pattern.
  struct Matcher {
    std::string pat;
    std::vector<size_t> fail;
    size_t state = 0;  // length of the longest pattern prefix that ends the text seen so far
    bool is_stop = false;
    explicit Matcher(std::string p, bool stop = false);
    bool step(char c);  // true when the pattern just completed
  };

  void front_byte(char c, std::vector<Event>& ev);  // reasoning stage, then content_byte
  void think_byte(char c, std::vector<Event>& ev);
  void replay(std::string_view bytes, std::vector<Event>& ev);  // feed's dispatch, for held bytes
  void emit_reasoning(std::string_view text, bool final, std::vector<Event>& ev);
  void resolve_bare(std::vector<Event>& ev);
  void content_byte(char c, std::vector<Event>& ev);
  void block_byte(char c, std::vector<Event>& ev);
  void end_block(std::vector<Event>& ev);
  void flush_safe(std::vector<Event>& ev);
  void emit_content(std::string_view text, bool final, std::vector<Event>& ev);  // bare-call gate
  void emit_text(std::string_view text, bool final, std::vector<Event>& ev);
  void emit_calls(std::vector<ParsedCall>& calls, const std::string& raw, std::vector<Event>& ev);
  void reset_content_matchers();

  Options opts_;
  std::vector<Matcher> content_m_;  // stop strings, then the start marker
  Matcher end_m_, restart_m_;       // inside a block
  bool in_block_ = false;
  bool stopped_ = false, done_ = false;
  std::string pending_;  // content not yet emitted (held back)
  std::string block_;    // open block text, from its start marker
  std::string carry_;    // incomplete UTF-8 sequence at the end of emitted content
  std::string content_;
  std::string reasoning_;
  enum class Think { Undecided, Inside, Done } think_ = Think::Undecided;
  std::string think_buf_;           // Undecided: the bytes so far (white space + a <think> prefix)
  Matcher think_end_m_;             // </think> inside the reasoning
  std::string reasoning_pending_;   // reasoning held back (a partial </think>)
  std::string reasoning_carry_;     // incomplete UTF-8 at the end of emitted reasoning
  bool skip_space_ = false;         // drop white space right after </think>
  enum class Bare { Undecided, Holding, Off } bare_ = Bare::Off;
  std::string bare_held_;           // content held while it may be a bare call list
  std::vector<ToolCall> calls_;
};

}  // namespace lfmd::output
