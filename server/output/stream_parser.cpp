#include "server/output/stream_parser.h"

#include <random>

#include "server/output/tool_call_parse.h"
#include "base/utf8.h"

namespace lfmd::output {

namespace {

std::string random_call_id() {
  static constexpr char kAlnum[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::uniform_int_distribution<size_t> pick(0, sizeof kAlnum - 2);
  std::string id = "call_";
  for (int i = 0; i < 24; ++i) id.push_back(kAlnum[pick(rng)]);
  return id;
}

}  // namespace

StreamParser::Matcher::Matcher(std::string p, bool stop) : pat(std::move(p)), is_stop(stop) {
  fail.assign(pat.size(), 0);
  for (size_t i = 1, k = 0; i < pat.size(); ++i) {
    while (k > 0 && pat[i] != pat[k]) k = fail[k - 1];
    if (pat[i] == pat[k]) ++k;
    fail[i] = k;
  }
}

bool StreamParser::Matcher::step(char c) {
  while (state > 0 && pat[state] != c) state = fail[state - 1];
  if (pat[state] == c) ++state;
  if (state < pat.size()) return false;
  state = fail[state - 1];
  return true;
}

StreamParser::StreamParser(Options opts)
    : opts_(std::move(opts)),
      end_m_(std::string(kToolCallEnd)),
      restart_m_(std::string(kToolCallStart)),
      think_end_m_(std::string(kThinkEnd)) {
  if (!opts_.make_call_id) opts_.make_call_id = random_call_id;
  if (!opts_.parse_reasoning) think_ = Think::Done;
  if (!opts_.bare_call_tools.empty()) bare_ = Bare::Undecided;
  for (const auto& s : opts_.stop)
    if (!s.empty()) content_m_.emplace_back(s, true);
  if (opts_.parse_tool_calls) content_m_.emplace_back(std::string(kToolCallStart));
}

std::vector<Event> StreamParser::feed(std::string_view piece) {
  std::vector<Event> ev;
  for (size_t i = 0; i < piece.size() && !done_; ++i) {
    if (in_block_) {
      block_byte(piece[i], ev);
    } else {
      front_byte(piece[i], ev);
    }
  }
  if (!done_ && !in_block_ && think_ == Think::Done) flush_safe(ev);
  if (!done_ && think_ == Think::Inside) {  // all but a partial </think> is certain
    const size_t n = reasoning_pending_.size() - think_end_m_.state;
    emit_reasoning(std::string_view(reasoning_pending_).substr(0, n), false, ev);
    reasoning_pending_.erase(0, n);
  }
  return ev;
}

std::vector<Event> StreamParser::finish() {
  std::vector<Event> ev;
  if (done_) return ev;
  if (think_ == Think::Undecided) {  // never became "<think>": the bytes are content
    think_ = Think::Done;
    const std::string buf = std::move(think_buf_);
    think_buf_.clear();
    replay(buf, ev);
  }
  if (think_ == Think::Inside) {  // unterminated thinking (max_tokens): all of it is reasoning
    emit_reasoning(reasoning_pending_, true, ev);
    reasoning_pending_.clear();
  }
  if (done_) return ev;  // a stop string matched in the replayed bytes
  done_ = true;
  // Held-back content (a partial stop string / marker) or an unterminated block is content.
  emit_content(in_block_ ? block_ : pending_, true, ev);
  block_.clear();
  pending_.clear();
  in_block_ = false;
  resolve_bare(ev);
  return ev;
}

void StreamParser::content_byte(char c, std::vector<Event>& ev) {
  pending_.push_back(c);
  const Matcher* hit = nullptr;
  for (auto& m : content_m_)
    if (m.step(c) && (!hit || m.pat.size() > hit->pat.size())) hit = &m;
  if (!hit) return;
  // The match lies inside pending_: its prefix was a partial match, which flush_safe holds back.
  const size_t start = pending_.size() - hit->pat.size();
  if (hit->is_stop) {
    emit_content(std::string_view(pending_).substr(0, start), true, ev);
    pending_.clear();
    stopped_ = done_ = true;
    resolve_bare(ev);
    return;
  }
  emit_content(std::string_view(pending_).substr(0, start), false, ev);
  pending_.clear();
  in_block_ = true;
  block_.assign(kToolCallStart);
  end_m_.state = restart_m_.state = 0;
}

void StreamParser::block_byte(char c, std::vector<Event>& ev) {
  block_.push_back(c);
  if (end_m_.step(c)) {
    end_block(ev);
  } else if (restart_m_.step(c)) {
    // A new start marker inside an open block: the text before it is malformed -> content.
    emit_content(std::string_view(block_).substr(0, block_.size() - kToolCallStart.size()), false,
                 ev);
    block_.assign(kToolCallStart);
    end_m_.state = restart_m_.state = 0;
  }
}

void StreamParser::end_block(std::vector<Event>& ev) {
  const std::string_view body = std::string_view(block_).substr(
      kToolCallStart.size(), block_.size() - kToolCallStart.size() - kToolCallEnd.size());
  auto parsed = parse_tool_call_block(body);
  if (!parsed) {
    emit_content(block_, false, ev);
  } else {
    if (bare_ == Bare::Holding) {  // marked calls after held text: that text was content
      emit_text(bare_held_, false, ev);
      bare_held_.clear();
    }
    bare_ = Bare::Off;
    emit_calls(*parsed, block_, ev);
  }
  block_.clear();
  in_block_ = false;
  reset_content_matchers();  // stop strings do not match across a block
}

void StreamParser::flush_safe(std::vector<Event>& ev) {
  size_t hold = 0;
  for (const auto& m : content_m_) hold = std::max(hold, m.state);
  if (pending_.size() <= hold) return;
  const size_t n = pending_.size() - hold;
  emit_content(std::string_view(pending_).substr(0, n), false, ev);
  pending_.erase(0, n);  // what remains is < longest pattern
}

void StreamParser::emit_calls(std::vector<ParsedCall>& calls, const std::string& raw, std::vector<Event>& ev) {
  bool first = true;
  for (auto& pc : calls) {
    const int index = static_cast<int>(calls_.size());
    ToolCall tc{opts_.make_call_id(), std::move(pc.name), std::move(pc.arguments)};
    Event begin;
    begin.kind = Event::ToolCallBegin;
    begin.index = index;
    begin.id = tc.id;
    begin.name = tc.name;
    if (first) begin.raw = raw;
    first = false;
    ev.push_back(std::move(begin));
    Event args;
    args.kind = Event::ToolCallArgs;
    args.index = index;
    args.text = tc.arguments;
    ev.push_back(std::move(args));
    calls_.push_back(std::move(tc));
  }
}

void StreamParser::emit_text(std::string_view text, bool final, std::vector<Event>& ev) {
  std::string out;
  if (carry_.empty()) {
    const size_t used = utf8_sanitize(text, final, out);
    carry_.assign(text.substr(used));
  } else {
    const std::string in = carry_ + std::string(text);
    const size_t used = utf8_sanitize(in, final, out);
    carry_ = in.substr(used);
  }
  if (out.empty()) return;
  content_ += out;
  if (!ev.empty() && ev.back().kind == Event::Content) {
    ev.back().text += out;
  } else {
    Event e;
    e.text = std::move(out);
    ev.push_back(std::move(e));
  }
}

void StreamParser::reset_content_matchers() {
  for (auto& m : content_m_) m.state = 0;
}

nlohmann::ordered_json to_delta(const Event& e) {
  nlohmann::ordered_json d, call;
  switch (e.kind) {
    case Event::Content:
      d["content"] = e.text;
      return d;
    case Event::Reasoning:
      d["reasoning_content"] = e.text;
      return d;
    case Event::ToolCallBegin:
      call["index"] = e.index;
      call["id"] = e.id;
      call["type"] = "function";
      call["function"] = {{"name", e.name}, {"arguments", ""}};
      break;
    case Event::ToolCallArgs:
      call["index"] = e.index;
      call["function"] = {{"arguments", e.text}};
      break;
  }
  d["tool_calls"] = nlohmann::ordered_json::array({std::move(call)});
  return d;
}

std::string StreamParser::finish_reason(bool hit_length) const {
  if (!calls_.empty()) return "tool_calls";
  if (stopped_) return "stop";
  return hit_length ? "length" : "stop";
}

nlohmann::ordered_json assistant_message(const std::string& content, const std::vector<ToolCall>& calls) {
  nlohmann::ordered_json m;
  m["role"] = "assistant";
  const bool blank = content.find_first_not_of(" \t\r\n") == std::string::npos;
  if (!calls.empty() && blank) {
    m["content"] = nullptr;
  } else {
    m["content"] = content;
  }
  if (!calls.empty()) {
    auto arr = nlohmann::ordered_json::array();
    for (const auto& c : calls) {
      nlohmann::ordered_json f;
      f["name"] = c.name;
      f["arguments"] = c.arguments;
      arr.push_back({{"id", c.id}, {"type", "function"}, {"function", std::move(f)}});
    }
    m["tool_calls"] = std::move(arr);
  }
  return m;
}

}  // namespace lfmd::output
