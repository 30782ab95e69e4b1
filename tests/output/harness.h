// Test helpers: run a StreamParser over a text cut into given pieces and check the stream's shape.
#pragma once

#include <doctest/doctest.h>

#include <random>
#include <string>
#include <vector>

#include "server/output/stream_parser.h"
#include "base/utf8.h"

namespace lfmd::output::test {

struct Call {
  int index;
  std::string id, name, args;  // args: joined ToolCallArgs fragments
  bool operator==(const Call&) const = default;
};

struct Run {
  std::string content;  // concatenated Content events
  std::string reasoning;  // concatenated Reasoning events
  std::string replay;   // content and raw block texts in stream order (accounts for the input)
  std::vector<Call> calls;
  std::string finish;  // finish_reason(false)
  bool stopped = false;
  nlohmann::ordered_json message;
  std::string shape_error;  // first violation of the streaming contract, empty if none
};

inline Options make_opts(std::vector<std::string> stop = {}, bool tools = true) {
  Options o;
  o.parse_tool_calls = tools;
  o.stop = std::move(stop);
  o.make_call_id = [n = 0]() mutable { return "call_" + std::to_string(n++); };  // per copy
  return o;
}

// Feeds `text` cut at the sorted offsets `cuts`, then finish().
// Call ids are call_0, call_1, ... per parser.
inline Run run_pieces(const std::string& text, const std::vector<size_t>& cuts, Options o) {
  o.make_call_id = [n = 0]() mutable { return "call_" + std::to_string(n++); };
  StreamParser p(std::move(o));
  Run r;
  std::vector<Event> all;
  size_t prev = 0;
  auto take = [&](std::vector<Event> ev) {
    for (auto& e : ev) all.push_back(std::move(e));
  };
  for (size_t c : cuts) {
    take(p.feed(std::string_view(text).substr(prev, c - prev)));
    prev = c;
  }
  take(p.feed(std::string_view(text).substr(prev)));
  take(p.finish());
  auto fail = [&](const std::string& why) {
    if (r.shape_error.empty()) r.shape_error = why;
  };
  int begun = 0;
  for (const auto& e : all) {
    switch (e.kind) {
      case Event::Content:
        if (e.text.empty()) fail("empty content event");
        if (!utf8_valid(e.text)) fail("content event is not valid UTF-8");
        r.content += e.text;
        r.replay += e.text;
        break;
      case Event::ToolCallBegin:
        if (e.index != begun) fail("index not consecutive");
        if (e.id.empty() || e.name.empty()) fail("begin without id or name");
        ++begun;
        r.replay += e.raw;
        r.calls.push_back({e.index, e.id, e.name, ""});
        break;
      case Event::Reasoning:
        if (e.text.empty()) fail("empty reasoning event");
        if (!utf8_valid(e.text)) fail("reasoning event is not valid UTF-8");
        r.reasoning += e.text;
        break;
      case Event::ToolCallArgs:
        if (e.index != begun - 1) fail("args for a call that is not the open one");
        if (!e.id.empty() || !e.name.empty()) fail("args event repeats id or name");
        if (!r.calls.empty()) r.calls.back().args += e.text;
        break;
    }
  }
  r.finish = p.finish_reason(false);
  r.stopped = p.stopped();
  r.message = p.message();
  if (p.content() != r.content) fail("content() differs from the events");
  if (p.reasoning() != r.reasoning) fail("reasoning() differs from the events");
  return r;
}

inline Run run_whole(const std::string& text, const Options& o) {
  return run_pieces(text, {}, o);
}

// Random cut offsets with piece sizes in [1, max_piece] (fixed-seed generator passed in).
inline std::vector<size_t> random_cuts(size_t n, size_t max_piece, std::mt19937& rng) {
  std::vector<size_t> cuts;
  std::uniform_int_distribution<size_t> d(1, max_piece);
  for (size_t at = d(rng); at < n; at += d(rng)) cuts.push_back(at);
  return cuts;
}

}  // namespace lfmd::output::test
