#include "server/pipeline/generation.h"

#include "engine/tokenizer/tokenizer.h"

namespace lfmd {

using json = nlohmann::ordered_json;
using Clock = std::chrono::steady_clock;

namespace {

constexpr std::chrono::milliseconds kPoll{20};  // how often a silent stream checks its client

json bytes_of(const std::string& t) {
  json b = json::array();
  for (unsigned char c : t) b.push_back(static_cast<int>(c));
  return b;
}

// {"token","logprob","bytes","top_logprobs"} of one sampled token.
json logprob_entry(const Tokenizer& tok, const TokenEvent& ev) {
  const std::string text = tok.token_bytes(ev.token);
  json top = json::array();
  for (const auto& t : ev.top) {
    const std::string tt = tok.token_bytes(t.token);
    top.push_back({{"token", tt}, {"logprob", t.logprob}, {"bytes", bytes_of(tt)}});
  }
  return {
      {"token", text}, {"logprob", ev.logprob}, {"bytes", bytes_of(text)}, {"top_logprobs", top}};
}

OutputEvent event_of(OutputEvent::Kind kind, std::string text = {}) {
  OutputEvent e;
  e.kind = kind;
  e.text = std::move(text);
  return e;
}

OutputEvent to_output(const output::Event& e) {
  OutputEvent o;
  o.index = e.index;
  switch (e.kind) {
    case output::Event::Content:
      o.kind = OutputEvent::Kind::Text;
      o.text = e.text;
      break;
    case output::Event::ToolCallBegin:
      o.kind = OutputEvent::Kind::ToolCallStart;
      o.id = e.id;
      o.name = e.name;
      break;
    case output::Event::ToolCallArgs:
      o.kind = OutputEvent::Kind::ToolCallArgs;
      o.text = e.text;
      break;
    case output::Event::Reasoning:
      o.kind = OutputEvent::Kind::Reasoning;
      o.text = e.text;
      break;
  }
  return o;
}

}  // namespace

// A started upstream stream (the answer is committed to the cloud).
struct Generation::Cloud {
  UpstreamStream up;
};

Generation::Generation(GenerationSetup setup)
    : s_(std::move(setup)), parser_(s_.parse), start_(s_.received) {}

Generation::~Generation() = default;

static const char* finish_name(OutputFinish f) {
  switch (f) {
    case OutputFinish::EndOfTurn: return "stop";
    case OutputFinish::StopSequence: return "stop_sequence";
    case OutputFinish::Length: return "length";
    case OutputFinish::ToolCalls: return "tool_calls";
  }
  return "stop";
}

void Generation::record(const char* finish, const OutputEvent* fin) {
  if (!s_.record) return;
  RequestRecord& r = *s_.record;
  std::lock_guard<std::mutex> lock(r.mu);
  r.generations += 1;
  if (r.generations == 1) {
    r.finish = finish;
    r.handoff = s_.policy.mode == HandoffMode::Off ? "off" : low_ ? "handoff" : "local";
    if (cloud_ || std::string_view(finish) == "cloud") r.upstream = "cloud";
    else if (handoff_error_.is_object()) r.upstream = handoff_error_.value("reason", "error");
    if (got_token_) r.ttft_ms = std::chrono::duration<double, std::milli>(first_token_ - start_).count();
    const double decode_s = std::chrono::duration<double>(last_token_ - first_token_).count();
    if (n_tokens_ > 1 && decode_s > 0) r.decode_tps = (n_tokens_ - 1) / decode_s;
    r.prompt_tokens = fin ? fin->usage.prompt_tokens : s_.prompt_tokens;
  }
  if (fin) {
    r.cached_tokens += r.generations == 1 ? fin->usage.cached_tokens : 0;
    r.completion_tokens += fin->usage.completion_tokens;
    if (r.keep_text) {
      if (!fin->reasoning.empty()) r.output_text += "<think>" + fin->reasoning + "</think>";
      r.output_text += fin->content;
      for (const auto& c : fin->tool_calls) r.output_text += "[" + c.name + "(" + c.arguments + ")]";
    }
  } else {
    r.completion_tokens += n_tokens_;
  }
}

void Generation::client_gone() {
  record("client_gone", nullptr);
  s_.cancel();
  s_.metrics->disconnects += 1;
}

void Generation::count_decision(bool low) {
  s_.metrics->count("lfmd_handoff_decisions_total",
                    std::string("mode=\"") + handoff_mode_name(s_.policy.mode) + "\",decision=\"" +
                        (low ? "handoff" : "local") + "\"");
}

std::optional<TokenEvent> Generation::next_event() {
  if (!held_.empty()) {
    TokenEvent ev = std::move(held_.front());
    held_.pop_front();
    return ev;
  }
  return s_.stream->pop(kPoll);
}

bool Generation::wait_first_event(const http::AliveCheck& alive) {
  while (held_.empty()) {
    auto ev = s_.stream->pop(kPoll);
    if (!alive()) {
      client_gone();
      return false;
    }
    if (ev) held_.push_back(std::move(*ev));
  }
  return true;
}

Generation::Source Generation::choose_source(const http::AliveCheck& alive) {
  if (!s_.streaming) return Source::Local;  // decided on the whole answer, in pump()
  if (s_.policy.mode != HandoffMode::Proxy) {
    s_.metrics->count("lfmd_responses_served_total", "by=\"local\"");
    return Source::Local;
  }
  ConfidenceTracker probe(nullptr, 0, s_.handoff->window);
  ConfidenceSummary ps;
  for (;;) {
    auto ev = s_.stream->pop(kPoll);
    if (!alive()) {
      client_gone();
      return Source::ClientGone;
    }
    if (!ev) continue;
    held_.push_back(*ev);
    if (ev->kind == TokenEvent::Kind::Token && ev->confidence) probe.add(*ev->confidence);
    if (ev->kind == TokenEvent::Kind::Done) {
      ps = ev->confidence_summary.value_or(ConfidenceSummary{});
      break;
    }
    if (ev->kind == TokenEvent::Kind::Error) break;
    if (probe.count() >= s_.handoff->probe_tokens) {
      ps = probe.summary();
      break;
    }
  }
  decided_on_ = ps.n;
  probe_summary_ = ps;
  low_ = below_threshold(s_.policy, ps);
  count_decision(low_);
  if (low_ && held_.back().kind != TokenEvent::Kind::Error) {
    auto up = open_upstream_stream(*s_.handoff, s_.proxy_body, alive, *s_.metrics);
    if (auto* us = std::get_if<UpstreamStream>(&up)) {
      s_.cancel();  // the local answer is no longer needed
      cloud_ = std::make_unique<Cloud>(Cloud{std::move(*us)});
      s_.metrics->count("lfmd_responses_served_total", "by=\"cloud\"");
      return Source::Cloud;
    }
    const HandoffError& e = std::get<HandoffError>(up);
    count_fallback(*s_.metrics, e);
    handoff_error_ = e.json();
  }
  s_.metrics->count("lfmd_responses_served_total", "by=\"local\"");
  return Source::Local;
}

void Generation::on_token(const TokenEvent& ev) {
  if (ev.token >= 0) {
    const auto now = Clock::now();
    n_tokens_ += 1;
    if (!got_token_) {
      first_token_ = now;
      s_.metrics->ttft.observe(std::chrono::duration<double>(now - start_).count());
    }
    else
      s_.metrics->itl.observe(std::chrono::duration<double>(now - last_token_).count());
    got_token_ = true;
    last_token_ = now;
  }
  if (s_.want_trace && ev.confidence) {
    trace_.push_back({{"token", ev.token},
                      {"entropy", ev.confidence->entropy_confidence},
                      {"logprob", ev.confidence->logprob},
                      {"margin", ev.confidence->margin}});
  }
  if (s_.logprobs && ev.token >= 0) pending_logprobs_.push_back(logprob_entry(*s_.tokenizer, ev));
}

json Generation::annotations(const ConfidenceSummary& s, std::optional<int64_t> decided_on) const {
  json a;
  a["confidence"] = confidence_json(s, s_.policy);
  if (decided_on) a["confidence"]["decided_on"] = *decided_on;
  if (!trace_.empty()) a["confidence"]["trace"] = trace_;
  a["cloud_handoff"] = low_;
  if (!handoff_error_.is_null()) a["handoff_error"] = handoff_error_;
  return a;
}

OutputEvent Generation::finish_event(const TokenEvent& done) {
  OutputEvent f;
  f.kind = OutputEvent::Kind::Finish;
  if (parser_.stopped()) {
    f.finish = OutputFinish::StopSequence;
    f.stop_sequence = parser_.stop_sequence();
  } else if (!parser_.tool_calls().empty()) {
    f.finish = OutputFinish::ToolCalls;
  } else if (done.finish_reason == FinishReason::Length) {
    f.finish = OutputFinish::Length;
  }
  f.usage = {done.n_prompt, done.n_generated, done.n_cached};
  f.content = parser_.content();
  f.reasoning = parser_.reasoning();
  f.usage.reasoning_tokens = reasoning_tokens_;
  f.tool_calls = parser_.tool_calls();
  if (!pending_logprobs_.empty()) f.logprobs = std::move(pending_logprobs_);
  const ConfidenceSummary cs = done.confidence_summary.value_or(ConfidenceSummary{});
  // A streaming proxy decided on its probe window: the whole answer only annotates now.
  const bool low_now = below_threshold(s_.policy, cs);
  if (s_.policy.mode != HandoffMode::Off &&
      !(s_.streaming && s_.policy.mode == HandoffMode::Proxy)) {
    count_decision(low_now);
  }
  low_ = low_ || low_now;
  f.annotations = annotations(cs, decided_on_);
  if (!s_.prompt_ids.is_null()) f.annotations["confidence"]["prompt_ids"] = s_.prompt_ids;
  return f;
}

// A non-streaming proxy request decided low on its whole answer: the upstream's answer, or
// nullopt (the local answer stands, with handoff_error saying why).
std::optional<OutputEvent> Generation::try_cloud_answer(const ConfidenceSummary& cs,
                                                        const http::AliveCheck& alive) {
  if (s_.streaming || s_.policy.mode != HandoffMode::Proxy || !low_) return std::nullopt;
  auto up = call_upstream(*s_.handoff, s_.proxy_body, alive, *s_.metrics);
  if (auto* j = std::get_if<json>(&up)) {
    OutputEvent c;
    c.kind = OutputEvent::Kind::CloudAnswer;
    c.body = std::move(*j);
    c.annotations = annotations(cs, std::nullopt);
    s_.metrics->count("lfmd_responses_served_total", "by=\"cloud\"");
    return c;
  }
  const HandoffError& e = std::get<HandoffError>(up);
  count_fallback(*s_.metrics, e);
  handoff_error_ = e.json();
  return std::nullopt;
}

PumpEnd Generation::pump(const EventSink& sink, const http::AliveCheck& alive) {
  auto send = [&](const std::vector<output::Event>& events) {
    for (const auto& e : events) {
      OutputEvent o = to_output(e);
      if (o.kind == OutputEvent::Kind::Text && !pending_logprobs_.empty())
        o.logprobs = std::exchange(pending_logprobs_, json::array());
      if (!sink(o)) return false;
      if (o.kind == OutputEvent::Kind::ToolCallArgs) {
        OutputEvent end = event_of(OutputEvent::Kind::ToolCallEnd);
        end.index = o.index;
        if (!sink(end)) return false;
      }
    }
    return true;
  };
  auto last_write = Clock::now();
  for (;;) {
    auto ev = next_event();
    // A client that hung up is noticed within one poll, without waiting for a failed write.
    if (!alive()) return client_gone(), PumpEnd::ClientGone;
    if (!ev) {
      if (s_.streaming && Clock::now() - last_write >= std::chrono::milliseconds(s_.keepalive_ms)) {
        if (!sink(event_of(OutputEvent::Kind::KeepAlive)))
          return client_gone(), PumpEnd::ClientGone;
        last_write = Clock::now();
      }
      continue;
    }
    if (ev->kind == TokenEvent::Kind::Token) {
      on_token(*ev);
      const bool thinking =
          parser_.in_reasoning() || (ev->text.find(output::kThinkStart) != std::string::npos);
      auto events = parser_.feed(ev->text);
      if (thinking && (parser_.in_reasoning() || !parser_.reasoning().empty()))
        reasoning_tokens_ += 1;
      if (!send(events)) return client_gone(), PumpEnd::ClientGone;
      if (s_.on_token) s_.on_token(*ev);
      if (!events.empty()) last_write = Clock::now();
      if (parser_.stopped()) s_.cancel();
      continue;
    }
    if (ev->kind == TokenEvent::Kind::Error) {
      record("error", nullptr);
      OutputEvent err = event_of(OutputEvent::Kind::Error, ev->error);
      err.shutting_down = ev->shutting_down;
      sink(std::move(err));
      return PumpEnd::Failed;
    }
    if (!send(parser_.finish())) return client_gone(), PumpEnd::ClientGone;
    OutputEvent fin = finish_event(*ev);
    if (auto cloud =
            try_cloud_answer(ev->confidence_summary.value_or(ConfidenceSummary{}), alive)) {
      record("cloud", &fin);
      return sink(*cloud) ? PumpEnd::Finished : (client_gone(), PumpEnd::ClientGone);
    }
    if (!handoff_error_.is_null()) fin.annotations["handoff_error"] = handoff_error_;
    if (!s_.streaming) s_.metrics->count("lfmd_responses_served_total", "by=\"local\"");
    record(finish_name(fin.finish), &fin);
    return sink(fin) ? PumpEnd::Finished : (client_gone(), PumpEnd::ClientGone);
  }
}

PumpEnd Generation::pump_cloud(const EventSink& sink, const http::AliveCheck& alive) {
  UpstreamStream& up = cloud_->up;
  const json notes = annotations(probe_summary_, probe_summary_.n);
  auto gone = [&] {
    record("client_gone", nullptr);
    up.call->cancel();
    s_.metrics->disconnects += 1;
    return PumpEnd::ClientGone;
  };
  auto emit = [&](json chunk) {
    OutputEvent c;
    c.kind = OutputEvent::Kind::CloudChunk;
    c.body = std::move(chunk);
    c.annotations = notes;
    return sink(c);
  };
  for (auto& c : up.first) {
    if (!emit(c)) return gone();
  }
  auto last_write = Clock::now();
  bool done = up.done;
  while (!done) {
    auto ev = up.call->next(kPoll);
    if (!alive()) return gone();
    if (!ev) {
      if (Clock::now() - last_write >= std::chrono::milliseconds(s_.keepalive_ms)) {
        if (!sink(event_of(OutputEvent::Kind::KeepAlive))) return gone();
        last_write = Clock::now();
      }
      continue;
    }
    using K = http::UpstreamCall::Event::Kind;
    if (ev->kind == K::End) break;  // ended without [DONE]: our stream still ends properly
    if (ev->kind == K::Fail) {
      // Committed to the cloud answer: the break is reported in-band, as any stream error.
      count_fallback(*s_.metrics,
                     HandoffError{"stream_broken", "the upstream stream broke: " + ev->error, 0});
      record("error", nullptr);
      sink(event_of(OutputEvent::Kind::Error, "upstream stream interrupted"));
      return PumpEnd::Failed;
    }
    if (ev->kind != K::Data) continue;
    up.reader.feed(ev->data);
    while (auto data = up.reader.next()) {
      if (*data == "[DONE]") {
        done = true;
        break;
      }
      json c = json::parse(*data, nullptr, false);
      if (!c.is_object()) continue;
      if (!emit(std::move(c))) return gone();
      last_write = Clock::now();
    }
  }
  up.call->cancel();
  record("cloud", nullptr);
  return PumpEnd::Finished;
}

api::ApiError failure_of(const OutputEvent& ev) {
  return ev.shutting_down ? api::shutting_down() : api::server_error(ev.text);
}

}  // namespace lfmd
