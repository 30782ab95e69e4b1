#include "engine/engine.h"

#include <algorithm>
#include <cmath>

#include "engine/session.h"

namespace lfmd {

namespace {
struct CancelledInPrefill {};
}  // namespace

void RequestStream::push(TokenEvent e) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    q_.push_back(std::move(e));
  }
  cv_.notify_one();
}

std::optional<TokenEvent> RequestStream::pop(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  if (!cv_.wait_for(lock, timeout, [&] { return !q_.empty(); })) return std::nullopt;
  TokenEvent e = std::move(q_.front());
  q_.pop_front();
  return e;
}

Engine::Engine(LoadedModel& model, int64_t max_queue)
    : m_(model), max_queue_(max_queue), thread_([this] { loop(); }) {}

Engine::~Engine() {
  shutdown();
  if (thread_.joinable()) thread_.join();
}

uint64_t Engine::submit(GenerateRequest req, std::shared_ptr<RequestStream> stream) {
  std::lock_guard<std::mutex> lock(mu_);
  if (stopping_ || static_cast<int64_t>(queue_.size()) >= max_queue_) return 0;
  auto job = std::make_shared<Job>();
  job->id = next_id_++;
  job->req = std::move(req);
  job->stream = std::move(stream);
  live_[job->id] = job;
  queue_.push_back(job);
  stats_.queued = static_cast<int64_t>(queue_.size());
  cv_.notify_one();
  return job->id;
}

void Engine::cancel(uint64_t id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = live_.find(id);
  if (it != live_.end()) it->second->cancelled = true;
}

EngineStats Engine::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

void Engine::shutdown() {
  std::lock_guard<std::mutex> lock(mu_);
  stopping_ = true;
  for (auto& [id, job] : live_) job->cancelled = true;
  cv_.notify_all();
}

void Engine::loop() {
  for (;;) {
    std::shared_ptr<Job> job;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping and drained
      job = queue_.front();
      queue_.pop_front();
      stats_.queued = static_cast<int64_t>(queue_.size());
      stats_.running = 1;
    }
    const int64_t n_prompt = static_cast<int64_t>(job->req.prompt.size());
    try {
      run(*job);
    } catch (const CancelledInPrefill&) {
      TokenEvent done;
      done.kind = TokenEvent::Kind::Done;
      done.finish_reason = "cancelled";
      done.n_prompt = n_prompt;
      job->stream->push(std::move(done));
    } catch (const std::exception& e) {
      TokenEvent err;
      err.kind = TokenEvent::Kind::Error;
      err.error = e.what();
      job->stream->push(std::move(err));
    }
    std::lock_guard<std::mutex> lock(mu_);
    live_.erase(job->id);
    stats_.running = 0;
    stats_.requests_total += 1;
    stats_.prompt_tokens_total += n_prompt;
    if (job->cancelled) stats_.cancelled_total += 1;
  }
}

namespace {

// log-softmax of logits[id] and the `k` most likely tokens, from the unmodified distribution.
void fill_logprobs(const std::vector<float>& logits, const std::vector<uint8_t>& masked, int32_t chosen,
                   int32_t k, TokenEvent& ev) {
  float mx = -INFINITY;
  for (size_t i = 0; i < logits.size(); ++i) {
    if (!masked[i]) mx = std::max(mx, logits[i]);
  }
  double sum = 0;
  for (size_t i = 0; i < logits.size(); ++i) {
    if (!masked[i]) sum += std::exp(static_cast<double>(logits[i] - mx));
  }
  const double lse = mx + std::log(sum);
  ev.logprob = static_cast<float>(logits[chosen] - lse);
  if (k <= 0) return;
  std::vector<int32_t> idx;
  for (size_t i = 0; i < logits.size(); ++i) {
    if (!masked[i]) idx.push_back(static_cast<int32_t>(i));
  }
  k = std::min<int32_t>(k, static_cast<int32_t>(idx.size()));
  std::partial_sort(idx.begin(), idx.begin() + k, idx.end(), [&](int32_t a, int32_t b) {
    return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
  });
  for (int32_t i = 0; i < k; ++i) ev.top.push_back({idx[i], static_cast<float>(logits[idx[i]] - lse)});
}

}  // namespace

void Engine::run(Job& job) {
  const GenerateRequest& r = job.req;
  Session s(m_);
  const int64_t n_prompt = static_cast<int64_t>(r.prompt.size());
  if (n_prompt == 0) throw std::invalid_argument("empty prompt");
  if (job.cancelled) throw CancelledInPrefill{};
  std::vector<float> logits = s.prefill(r.prompt, [&](int64_t done, int64_t total) {
    // Prefill runs in chunks; a cancel between chunks ends the request (no output yet).
    if (done < total && job.cancelled) throw CancelledInPrefill{};
  });
  Sampler sampler(r.sampling, &m_.never_sample);
  for (int32_t t : r.prompt) sampler.accept(t);
  IncrementalDetokenizer detok(*m_.tokenizer, /*special=*/false);
  int64_t n_gen = 0;
  std::string finish = "length";
  while (n_gen < r.max_tokens) {
    if (job.cancelled) {
      finish = "cancelled";
      break;
    }
    TokenEvent ev;
    int32_t tok;
    if (!r.forced.empty()) {
      tok = n_gen < static_cast<int64_t>(r.forced.size()) ? r.forced[n_gen] : m_.stop_ids.front();
    } else {
      if (r.top_logprobs >= 0) {
        // logprobs come from the model's distribution before penalties and temperature.
        std::vector<float> raw = logits;
        if (r.constraint) r.constraint->mask_logits(logits.data(), m_.hp.n_vocab);
        tok = sampler.sample(logits.data(), m_.hp.n_vocab);
        fill_logprobs(raw, m_.never_sample, tok, r.top_logprobs, ev);
      } else {
        if (r.constraint) r.constraint->mask_logits(logits.data(), m_.hp.n_vocab);
        tok = sampler.sample(logits.data(), m_.hp.n_vocab);
      }
      if (r.constraint) r.constraint->accept(tok);
    }
    ++n_gen;
    ev.token = tok;
    const bool stop = std::find(m_.stop_ids.begin(), m_.stop_ids.end(), tok) != m_.stop_ids.end();
    if (stop) {
      finish = "stop";
      break;
    }
    if (std::find(r.visible_specials.begin(), r.visible_specials.end(), tok) != r.visible_specials.end()) {
      ev.text = detok.flush() + m_.tokenizer->token_bytes(tok, true);
    } else {
      ev.text = detok.push(tok);
    }
    job.stream->push(std::move(ev));
    {
      std::lock_guard<std::mutex> lock(mu_);
      stats_.generated_tokens_total += 1;
    }
    if (n_gen >= r.max_tokens) break;
    if (s.n_past() >= s.n_ctx()) break;  // "length": the context is full
    logits = s.step(tok);
  }
  std::string tail = detok.flush();
  if (!tail.empty()) {
    TokenEvent ev;
    ev.text = std::move(tail);
    job.stream->push(std::move(ev));
  }
  TokenEvent done;
  done.kind = TokenEvent::Kind::Done;
  done.finish_reason = finish;
  done.n_prompt = n_prompt;
  done.n_generated = n_gen - (finish == "stop" ? 1 : 0);  // the end-of-turn token is not content
  job.stream->push(std::move(done));
}

}  // namespace lfmd
