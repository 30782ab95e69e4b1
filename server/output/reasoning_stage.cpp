// The two stages of StreamParser around its content logic (stream_parser.cpp): the model's
// thinking at the start of an answer (<think>...</think> -> Reasoning events) and LFM2.5's bare
// call lists ([f(a=1)] as the whole content -> tool calls).
#include <algorithm>
#include <cctype>

#include "base/utf8.h"
#include "server/output/stream_parser.h"
#include "server/output/tool_call_parse.h"

namespace lfmd::output {

namespace {

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

// Whether held content "  [ x..." may still be a call list: after '[' and white space comes a
// name or a JSON object (or nothing yet).
bool could_be_call_list(std::string_view held) {
  size_t i = held.find('[');
  if (i == std::string_view::npos) return true;
  for (++i; i < held.size() && is_space(held[i]); ++i) {
  }
  if (i == held.size()) return true;
  const auto c = static_cast<unsigned char>(held[i]);
  return std::isalpha(c) || c == '_' || c == '{';
}

}  // namespace

void StreamParser::replay(std::string_view bytes, std::vector<Event>& ev) {
  for (char b : bytes) {
    if (done_) return;
    if (in_block_) {
      block_byte(b, ev);
    } else {
      content_byte(b, ev);
    }
  }
}

void StreamParser::front_byte(char c, std::vector<Event>& ev) {
  if (think_ == Think::Inside) return think_byte(c, ev);
  if (think_ == Think::Done) {
    if (skip_space_ && is_space(c)) return;
    skip_space_ = false;
    return content_byte(c, ev);
  }
  think_buf_.push_back(c);
  const size_t lead = think_buf_.find_first_not_of(" \t\r\n");
  if (lead == std::string::npos) return;  // only white space so far
  const std::string_view rest = std::string_view(think_buf_).substr(lead);
  if (rest == kThinkStart) {
    think_ = Think::Inside;
    think_buf_.clear();
    think_end_m_.state = 0;
    return;
  }
  if (kThinkStart.substr(0, rest.size()) == rest) return;  // may still become <think>
  think_ = Think::Done;  // an ordinary answer: its bytes are content
  const std::string buf = std::move(think_buf_);
  think_buf_.clear();
  replay(buf, ev);
}

void StreamParser::think_byte(char c, std::vector<Event>& ev) {
  reasoning_pending_.push_back(c);
  if (!think_end_m_.step(c)) return;
  emit_reasoning(
      std::string_view(reasoning_pending_).substr(0, reasoning_pending_.size() - kThinkEnd.size()),
      true, ev);
  reasoning_pending_.clear();
  think_ = Think::Done;
  skip_space_ = true;
}

void StreamParser::emit_reasoning(std::string_view text, bool final, std::vector<Event>& ev) {
  std::string out;
  const std::string in = reasoning_carry_ + std::string(text);
  reasoning_carry_ = in.substr(utf8_sanitize(in, final, out));
  if (out.empty()) return;
  reasoning_ += out;
  if (!ev.empty() && ev.back().kind == Event::Reasoning) {
    ev.back().text += out;
  } else {
    Event e;
    e.kind = Event::Reasoning;
    e.text = std::move(out);
    ev.push_back(std::move(e));
  }
}

void StreamParser::emit_content(std::string_view text, bool final, std::vector<Event>& ev) {
  if (bare_ == Bare::Off) return emit_text(text, final, ev);
  bare_held_ += text;
  if (bare_ == Bare::Undecided) {
    const size_t lead = bare_held_.find_first_not_of(" \t\r\n");
    if (lead == std::string::npos && !final) return;  // only white space so far
    bare_ = lead != std::string::npos && bare_held_[lead] == '[' ? Bare::Holding : Bare::Off;
  }
  if (bare_ == Bare::Holding && could_be_call_list(bare_held_)) return;  // decided at the end
  bare_ = Bare::Off;
  const std::string held = std::move(bare_held_);
  bare_held_.clear();
  emit_text(held, final, ev);
}

void StreamParser::resolve_bare(std::vector<Event>& ev) {
  if (bare_ != Bare::Holding) return;
  bare_ = Bare::Off;
  const std::string held = std::move(bare_held_);
  bare_held_.clear();
  const size_t a = held.find_first_not_of(" \t\r\n"), b = held.find_last_not_of(" \t\r\n");
  auto parsed = parse_tool_call_block(std::string_view(held).substr(a, b - a + 1));
  const auto& tools = opts_.bare_call_tools;
  const bool calls =
      parsed && std::all_of(parsed->begin(), parsed->end(), [&](const ParsedCall& c) {
        return std::find(tools.begin(), tools.end(), c.name) != tools.end();
      });
  if (calls) {
    emit_calls(*parsed, held, ev);
  } else {
    emit_text(held, true, ev);
  }
}

}  // namespace lfmd::output
