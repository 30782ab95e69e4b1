#include "engine/engine.h"

#include <concurrentqueue/blockingconcurrentqueue.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "engine/engine_seq.h"
#include "engine/session.h"

namespace lfmd {

struct Engine::Queue {
  moodycamel::BlockingConcurrentQueue<std::shared_ptr<Job>> q;  // nullptr = wake-up
};

Engine::Engine(LoadedModel& model, EngineOptions opt)
    : m_(model), opt_(opt), queue_(std::make_unique<Queue>()) {
  if (opt_.parallel < 1 || opt_.parallel > m_.max_batch) {
    throw std::invalid_argument("parallel sequences must be between 1 and the batch size (" + std::to_string(m_.max_batch) + ")");
  }
  if (opt_.prefill_chunk < 1) throw std::invalid_argument("prefill chunk must be at least 1 token");
  logits_.resize(static_cast<size_t>(opt_.parallel * m_.hp.n_vocab));
  init_budget();
  if (opt_.cache_bytes > 0 && !opt_.disk_cache_dir.empty() && opt_.disk_cache_bytes > 0) open_disk_cache();
  publish_stats();
  thread_ = std::thread([this] { loop(); });
}

// The disk tier is an optimisation: when it cannot be opened the server runs without it.
void Engine::open_disk_cache() {
  auto log = opt_.log ? opt_.log : [](const std::string& line) { std::fprintf(stderr, "lfmd: %s\n", line.c_str()); };
  try {
    DiskCache::Options d;
    d.dir = opt_.disk_cache_dir;
    d.budget_bytes = opt_.disk_cache_bytes;
    d.key.model_id = model_identity(m_.file->path(), m_.file->data_offset());
    d.key.kv_type = static_cast<uint32_t>(m_.model->kv_type());  // the sequences' KV type
    d.n_ctx = m_.n_ctx;
    d.snap_every = opt_.snapshot_interval;
    // States queued for writing are memory too: they get their own share of the KV budget
    // (Engine::init_budget; more are dropped), which the states and the prefix cache leave free.
    d.max_pending_bytes = write_reserve_;
    d.test_load_delay_ms = opt_.test_disk_load_delay_ms;
    disk_ = std::make_unique<DiskCache>(m_.hp, d, log, [this] { queue_->q.enqueue(nullptr); });
    cache_->set_evict_sink([this](std::vector<int32_t> t, std::unique_ptr<SequenceState> st) {
      disk_->store(std::move(t), std::move(st));
    });
  } catch (const std::exception& e) {
    log(std::string("warning: prefix cache: disk tier off: ") + e.what());
    disk_.reset();
    write_reserve_ = 0;
    context_limit_ = local_.context_limit = longest_alone();
  }
}

Engine::~Engine() {
  shutdown();
  if (thread_.joinable()) thread_.join();
}

uint64_t Engine::submit(GenerateRequest req, std::shared_ptr<RequestStream> stream) {
  submitting_.fetch_add(1);
  struct Leave {
    std::atomic<int64_t>& n;
    ~Leave() { n.fetch_sub(1); }
  } leave{submitting_};
  if (stopping_.load() || draining_.load()) return 0;
  if (n_waiting_.fetch_add(1) >= opt_.max_queue) {
    n_waiting_.fetch_sub(1);
    return 0;
  }
  auto job = std::make_shared<Job>();
  job->id = next_id_.fetch_add(1);
  job->req = std::move(req);
  job->stream = std::move(stream);
  {
    std::lock_guard<std::mutex> lock(live_mu_);
    live_[job->id] = job;
  }
  const uint64_t id = job->id;
  queue_->q.enqueue(std::move(job));
  return id;
}

void Engine::cancel(uint64_t id) {
  std::lock_guard<std::mutex> lock(live_mu_);
  auto it = live_.find(id);
  if (it != live_.end()) it->second->cancelled = true;
}

EngineStats Engine::stats() const {
  EngineStats s;
  {
    std::lock_guard<std::mutex> lock(stats_mu_);
    s = stats_;
  }
  s.queued = n_waiting_.load();
  // The I/O thread's figures as of now: an idle engine publishes nothing, and writes finish
  // after the step that queued them. Used KV counts the smaller queue: a state moved from the
  // cache to the queue since the last publish is still in that publish's cache bytes.
  if (disk_) {
    const int64_t published_pending = s.disk.pending_bytes;
    s.disk = disk_->stats();
    s.kv_used_bytes += std::min(published_pending, s.disk.pending_bytes) - published_pending;
  }
  return s;
}

void Engine::shutdown() {
  if (stopping_.exchange(true)) return;
  queue_->q.enqueue(nullptr);  // wakes an idle engine thread
}

void Engine::drain() {
  if (draining_.exchange(true)) return;
  queue_->q.enqueue(nullptr);  // wakes an idle engine thread to reject what is queued
}

bool Engine::wait_idle(std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(stats_mu_);
  return stats_cv_.wait_for(lock, timeout, [&] { return stats_.running == 0 && n_waiting_.load() == 0; });
}

const char* finish_reason_name(FinishReason r) {
  switch (r) {
    case FinishReason::Stop: return "stop";
    case FinishReason::Length: return "length";
    case FinishReason::Cancelled: return "cancelled";
  }
  return "stop";
}

namespace {

TokenEvent done_event(FinishReason reason, int64_t n_prompt, int64_t n_gen, int64_t n_cached) {
  TokenEvent e;
  e.kind = TokenEvent::Kind::Done;
  e.finish_reason = reason;
  e.n_prompt = n_prompt;
  e.n_generated = n_gen;
  e.n_cached = n_cached;
  return e;
}

// log-softmax of logits[id] and the `k` most likely tokens, from the unmodified distribution.
void fill_logprobs(const float* logits, int64_t n_vocab, const std::vector<uint8_t>& masked, int32_t chosen,
                   int32_t k, TokenEvent& ev) {
  float mx = -INFINITY;
  for (int64_t i = 0; i < n_vocab; ++i) {
    if (!masked[i]) mx = std::max(mx, logits[i]);
  }
  double sum = 0;
  for (int64_t i = 0; i < n_vocab; ++i) {
    if (!masked[i]) sum += std::exp(static_cast<double>(logits[i] - mx));
  }
  const double lse = mx + std::log(sum);
  ev.logprob = static_cast<float>(logits[chosen] - lse);
  if (k <= 0) return;
  std::vector<int32_t> idx;
  for (int64_t i = 0; i < n_vocab; ++i) {
    if (!masked[i]) idx.push_back(static_cast<int32_t>(i));
  }
  k = std::min<int32_t>(k, static_cast<int32_t>(idx.size()));
  std::partial_sort(idx.begin(), idx.begin() + k, idx.end(), [&](int32_t a, int32_t b) {
    return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
  });
  for (int32_t i = 0; i < k; ++i) ev.top.push_back({idx[i], static_cast<float>(logits[idx[i]] - lse)});
}

}  // namespace

void Engine::loop() {
  for (;;) {
    // Idle: block until a submission (or the shutdown wake-up) arrives.
    if (running_.empty() && paused_.empty() && waiting_.empty() && !stopping_.load()) {
      std::shared_ptr<Job> job;
      queue_->q.wait_dequeue(job);
      if (job) waiting_.push_back(std::move(job));
    }
    std::shared_ptr<Job> job;
    while (queue_->q.try_dequeue(job)) {
      if (job) waiting_.push_back(std::move(job));
    }
    if (stopping_.load()) break;
    if (disk_) take_disk_loads();
    if (draining_.load()) {  // graceful stop: queued requests are answered "shutting down" now
      for (auto& j : waiting_) reject_waiting(*j);
      waiting_.clear();
    }
    // Cancelled requests leave at once: queued ones end, running ones free their state.
    for (auto* q : {&waiting_, &loading_}) {
      for (auto it = q->begin(); it != q->end();) {
        if ((*it)->cancelled) {
          cancel_waiting(**it);
          it = q->erase(it);
        } else {
          ++it;
        }
      }
    }
    for (auto& s : running_) {
      if (s->job->cancelled && !s->done) finish(*s, FinishReason::Cancelled);
    }
    for (auto& s : paused_) {
      if (s->job->cancelled && !s->done) finish(*s, FinishReason::Cancelled);
    }
    std::erase_if(running_, [](const std::unique_ptr<Seq>& s) { return s->done; });
    std::erase_if(paused_, [](const std::unique_ptr<Seq>& s) { return s->done; });
    admit_or_resume();
    if (!running_.empty()) step();
    std::erase_if(running_, [](const std::unique_ptr<Seq>& s) { return s->done; });
    publish_stats();
  }
  // Shutdown: no new admissions; everything in flight ends with a final event.
  while (submitting_.load() > 0) std::this_thread::yield();
  std::shared_ptr<Job> job;
  while (queue_->q.try_dequeue(job)) {
    if (job) waiting_.push_back(std::move(job));
  }
  for (auto& s : running_) {
    if (!s->done) finish(*s, FinishReason::Cancelled);
  }
  for (auto& s : paused_) {
    if (!s->done) finish(*s, FinishReason::Cancelled);
  }
  running_.clear();
  paused_.clear();
  for (auto& j : waiting_) cancel_waiting(*j);
  waiting_.clear();
  for (auto& j : loading_) cancel_waiting(*j);
  loading_.clear();
  {
    std::lock_guard<std::mutex> lock(live_mu_);
    live_.clear();
  }
  // What the memory cache holds goes to disk (the writes finish in ~DiskCache). Moving it into
  // the write queue adds no memory, so the queue's share of the budget does not apply.
  if (disk_) {
    cache_->drain([this](std::vector<int32_t> t, std::unique_ptr<SequenceState> st) {
      disk_->store(std::move(t), std::move(st), /*past_queue_limit=*/true);
    });
  }
  cache_->clear();
  publish_stats();
}

// Best restart point among the running sequences' states.
PrefixCache::Hit Engine::best_running(const std::vector<int32_t>& prompt, int64_t limit) const {
  PrefixCache::Hit best;
  for (const auto& o : running_) {
    if (!o->state) continue;
    const int64_t lcp = std::min(common_prefix(o->fed, prompt), limit);
    const int64_t n = o->state->resume_point(std::min<int64_t>(lcp, o->state->n_past()));
    if (n > best.n) best = {o->state.get(), n};
  }
  return best;
}

// A request whose prompt restarts further from a disk entry than from anything in memory waits
// (still queued) while the I/O thread reads the entry; the engine keeps stepping meanwhile.
bool Engine::start_disk_load(const std::shared_ptr<Job>& job) {
  if (!disk_ || job->disk_checked) return false;
  job->disk_checked = true;
  const auto& prompt = job->req.prompt;
  const int64_t n_prompt = static_cast<int64_t>(prompt.size());
  if (n_prompt < 2 || n_prompt > m_.n_ctx) return false;
  const int64_t limit = n_prompt - 1;
  const int64_t in_memory = std::max(cache_->peek(prompt, limit), best_running(prompt, limit).n);
  const DiskCache::Candidate c = disk_->find(prompt, limit);
  if (c.n <= in_memory) return false;
  // Requests sharing a prefix (parallel agents after a restart) wait for one read of it.
  const bool in_flight = std::any_of(loading_.begin(), loading_.end(), [&](const auto& j) { return j->disk_id == c.id; });
  job->disk_id = c.id;
  if (!in_flight) disk_->load(c.id, c.id);
  return true;
}

// Finished disk reads (tag = entry id): the requests waiting for an entry go back to the front
// of the queue in their order; the first gets the state, the others find it in memory once the
// first is admitted. A failed read leaves them to compute the prompt.
void Engine::take_disk_loads() {
  std::vector<DiskCache::Loaded> loaded = disk_->take_loaded();
  for (DiskCache::Loaded& l : loaded) {
    std::vector<std::shared_ptr<Job>> jobs;
    for (auto it = loading_.begin(); it != loading_.end();) {
      if ((*it)->disk_id == l.tag) {
        jobs.push_back(std::move(*it));
        it = loading_.erase(it);
      } else {
        ++it;
      }
    }
    if (jobs.empty()) {  // all cancelled meanwhile: keep the entry in memory anyway
      if (l.state) cache_->insert(std::move(l.tokens), std::move(l.state));
      continue;
    }
    jobs.front()->disk_tokens = std::move(l.tokens);
    jobs.front()->disk_state = std::move(l.state);
    for (auto it = jobs.rbegin(); it != jobs.rend(); ++it) {
      (*it)->disk_id = 0;
      waiting_.push_front(std::move(*it));
    }
  }
  if (!loaded.empty()) give_back_cache(0);  // the states read are memory now: within the budget
}

// A request that never got a slot ends: counters and stats first, then its final event.
void Engine::cancel_waiting(Job& job) {
  n_waiting_.fetch_sub(1);
  local_.requests_total += 1;
  local_.cancelled_total += 1;
  {
    std::lock_guard<std::mutex> lock(live_mu_);
    live_.erase(job.id);
  }
  publish_stats();
  job.stream->push(done_event(FinishReason::Cancelled, static_cast<int64_t>(job.req.prompt.size()), 0, 0));
}

void Engine::reject_waiting(Job& job) {
  n_waiting_.fetch_sub(1);
  {
    std::lock_guard<std::mutex> lock(live_mu_);
    live_.erase(job.id);
  }
  TokenEvent e;
  e.kind = TokenEvent::Kind::Error;
  e.error = "the server is shutting down";
  e.shutting_down = true;
  job.stream->push(std::move(e));
  publish_stats();
}

void Engine::admit(std::shared_ptr<Job> job) {
  auto s = std::make_unique<Seq>();
  s->job = std::move(job);
  const GenerateRequest& r = s->job->req;
  s->n_prompt = static_cast<int64_t>(r.prompt.size());
  if (s->n_prompt == 0 || s->n_prompt > context_limit_) {
    fail(*s, s->n_prompt == 0 ? "empty prompt" : input_too_long_message(context_limit_, s->n_prompt));
    return;
  }
  s->order = ++next_order_;
  s->state = m_.model->new_sequence(m_.n_ctx);
  s->state->set_snapshot_interval(opt_.cache_bytes > 0 ? opt_.snapshot_interval : 0);
  if (opt_.cache_bytes > 0) {
    // Longest restart point among cached and running sequences; at least one prompt token is
    // left to compute (its logits start the generation).
    const int64_t limit = s->n_prompt - 1;
    PrefixCache::Hit best = cache_->find(r.prompt, limit);
    if (PrefixCache::Hit run = best_running(r.prompt, limit); run.n > best.n) best = run;
    s->cache_source = "memory";
    if (Job& j = *s->job; j.disk_state) {
      const int64_t n = j.disk_state->resume_point(std::min(common_prefix(j.disk_tokens, r.prompt), limit));
      if (n > best.n) {
        best = {j.disk_state.get(), n};
        s->cache_source = "disk";
      }
    }
    if (best.n > 0) {
      s->state->copy_prefix_from(*best.state, best.n);
      s->n_cached = best.n;
      const bool disk = s->cache_source[0] == 'd';
      (disk ? local_.cache_hits_disk : local_.cache_hits_memory) += 1;
      (disk ? local_.cache_hit_tokens_disk : local_.cache_hit_tokens_memory) += best.n;
    } else {
      s->cache_source = "";
    }
    // An entry read from disk stays in memory for the next request (it is on disk already).
    if (Job& j = *s->job; j.disk_state) cache_->insert(std::move(j.disk_tokens), std::move(j.disk_state));
  }
  // The next turn of a conversation usually extends this prompt: keep its exact end restartable.
  if (opt_.cache_bytes > 0) s->state->add_snapshot_point(s->n_prompt);
  s->fed.assign(r.prompt.begin(), r.prompt.begin() + s->n_cached);
  s->sampler = std::make_unique<Sampler>(r.sampling, &m_.never_sample);
  for (int32_t t : r.prompt) s->sampler->accept(t);
  s->detok = std::make_unique<IncrementalDetokenizer>(*m_.tokenizer, /*special=*/false);
  if (r.want_confidence) s->confidence = std::make_unique<ConfidenceTracker>(&m_.never_sample, m_.hp.n_vocab, r.confidence_window);
  local_.cached_prompt_tokens_total += s->n_cached;
  running_.push_back(std::move(s));
}

void Engine::step() {
  make_room_for_decode();  // may pause the newest sequences
  Batch batch;
  int64_t n_rows = 0;
  int32_t delay_ms = 0;  // test hook, the largest of the requests in this pass
  size_t growth = 0;     // bytes the states grow by in this pass
  // Decode tokens first: every running stream advances by one token each step.
  for (auto& s : running_) {
    s->logits_row = -1;
    if (s->done || s->prefilling()) continue;
    growth += s->state->bytes_at(s->state->n_past() + 1) - s->state->bytes();
    batch.add(s->pending, s->state->n_past(), s->state.get(), true);
    s->fed.push_back(s->pending);
    s->logits_row = n_rows++;
    delay_ms = std::max(delay_ms, s->job->req.test_step_delay_ms);
  }
  // Then prompt tokens, oldest request first, up to one chunk while others decode (so a long
  // prompt delays running streams by at most one chunk) or a full batch when none do.
  const int64_t budget = std::min<int64_t>(m_.max_batch, batch.size() > 0 ? static_cast<int64_t>(batch.size()) + opt_.prefill_chunk : m_.max_batch);
  for (auto& s : running_) {
    if (s->done || !s->prefilling()) continue;
    const int64_t room = budget - static_cast<int64_t>(batch.size());
    if (room <= 0) break;
    const std::vector<int32_t>& target = s->target();
    const int64_t n_target = static_cast<int64_t>(target.size());
    const int64_t start = static_cast<int64_t>(s->fed.size());
    const int64_t end = start + affordable(*s, std::min(n_target, start + room) - start, growth);
    delay_ms = std::max(delay_ms, s->job->req.test_step_delay_ms);
    for (int64_t i = start; i < end; ++i) {
      // The prompt's last token starts the generation; after a pause the next token is known.
      const bool last = i == n_target - 1 && s->pending < 0;
      batch.add(target[i], s->state->n_past() + (i - start), s->state.get(), last);
      s->fed.push_back(target[i]);
      if (last) s->logits_row = n_rows++;
    }
    local_.prefill_tokens_total += end - start;
    if (!s->prefilling() && !s->refeed.empty()) s->refeed.clear();  // resumed: decoding again
  }
  if (batch.size() == 0) {  // nothing fits: pause the newest so that the oldest can go on
    if (running_.size() > 1) preempt_newest();
    return;
  }
  give_back_cache(growth);
  try {
    m_.model->forward(batch, logits_.data());
  } catch (const std::exception& e) {
    for (auto& s : running_) {
      if (!s->done) fail(*s, std::string("forward pass failed: ") + e.what());
    }
    return;
  }
  local_.decode_steps_total += 1;
  local_.batch_tokens_total += static_cast<int64_t>(batch.size());
  for (auto& s : running_) {
    if (s->done || s->logits_row < 0) continue;
    try {
      handle_logits(*s, logits_.data() + s->logits_row * m_.hp.n_vocab);
    } catch (const std::exception& e) {
      fail(*s, e.what());
    }
  }
  if (delay_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
}

// One sampled token for `s` from its logits row: emit it, then end or queue it for the next step.
void Engine::handle_logits(Seq& s, float* logits) {
  const GenerateRequest& r = s.job->req;
  if (s.job->cancelled) {
    finish(s, FinishReason::Cancelled);
    return;
  }
  TokenEvent ev;
  int32_t tok;
  const float* dist = logits;  // the model's distribution (for logprobs and confidence)
  if (!r.forced.empty()) {
    tok = s.n_gen < static_cast<int64_t>(r.forced.size()) ? r.forced[s.n_gen] : m_.stop_ids.front();
  } else {
    if (r.top_logprobs >= 0 || s.confidence) {
      // logprobs and confidence come from the distribution before penalties and temperature.
      raw_.assign(logits, logits + m_.hp.n_vocab);
      dist = raw_.data();
    }
    // Constrained decoding: disallowed tokens are masked before sampling (logprobs and confidence
    // still describe the model's own distribution).
    if (r.constraint) r.constraint->mask_logits(logits, m_.hp.n_vocab);
    tok = s.sampler->sample(logits, m_.hp.n_vocab);
    if (r.constraint) r.constraint->accept(tok);
    if (r.top_logprobs >= 0) fill_logprobs(dist, m_.hp.n_vocab, m_.never_sample, tok, r.top_logprobs, ev);
  }
  if (s.confidence) ev.confidence = s.confidence->observe(dist, tok);  // the end-of-turn token counts
  ++s.n_gen;
  ev.token = tok;
  if (std::find(m_.stop_ids.begin(), m_.stop_ids.end(), tok) != m_.stop_ids.end()) {
    finish(s, FinishReason::Stop);
    return;
  }
  if (std::find(r.visible_specials.begin(), r.visible_specials.end(), tok) != r.visible_specials.end()) {
    ev.text = s.detok->flush() + m_.tokenizer->token_bytes(tok, true);
  } else {
    ev.text = s.detok->push(tok);
  }
  s.job->stream->push(std::move(ev));
  local_.generated_tokens_total += 1;
  if (s.n_gen >= r.max_tokens || s.state->n_past() >= context_limit_) {
    finish(s, FinishReason::Length);  // max_tokens reached, or the context (or budget) is full
    return;
  }
  s.pending = tok;
}

// Bookkeeping first, then the final event: a client that saw Done also sees the freed memory in
// stats().
void Engine::finish(Seq& s, FinishReason reason) {
  std::string tail = s.detok ? s.detok->flush() : std::string();
  if (!tail.empty()) {
    TokenEvent ev;
    ev.text = std::move(tail);
    s.job->stream->push(std::move(ev));
  }
  s.done = true;
  local_.requests_total += 1;
  local_.prompt_tokens_total += s.n_prompt;
  if (reason == FinishReason::Cancelled) {
    local_.cancelled_total += 1;  // a cancelled request's memory is released, not cached
  } else if (cache_->budget() > 0 && s.state && !s.prefilling()) {
    cache_->insert(std::move(s.fed), std::move(s.state));
  }
  s.state.reset();
  {
    std::lock_guard<std::mutex> lock(live_mu_);
    live_.erase(s.job->id);
  }
  publish_stats();
  // The end-of-turn token is not content.
  const int64_t n_gen = s.n_gen - (reason == FinishReason::Stop ? 1 : 0);
  TokenEvent done = done_event(reason, s.n_prompt, n_gen, s.n_cached);
  done.cache_source = s.cache_source;
  if (s.confidence) done.confidence_summary = s.confidence->summary();
  s.job->stream->push(std::move(done));
}

void Engine::fail(Seq& s, const std::string& message) {
  s.done = true;
  s.state.reset();
  local_.requests_total += 1;
  {
    std::lock_guard<std::mutex> lock(live_mu_);
    live_.erase(s.job->id);
  }
  publish_stats();
  TokenEvent err;
  err.kind = TokenEvent::Kind::Error;
  err.error = message;
  s.job->stream->push(std::move(err));
}

void Engine::publish_stats() {
  local_.paused = static_cast<int64_t>(paused_.size());
  local_.running = local_.paused + static_cast<int64_t>(std::count_if(running_.begin(), running_.end(), [](const auto& s) { return !s->done; }));
  local_.sequence_bytes = static_cast<int64_t>(state_bytes() + held_disk_bytes());
  local_.cache_bytes = static_cast<int64_t>(cache_->bytes());
  local_.cache_entries = static_cast<int64_t>(cache_->entries());
  if (disk_) local_.disk = disk_->stats();
  local_.kv_used_bytes = local_.sequence_bytes + local_.cache_bytes + (disk_ ? local_.disk.pending_bytes : 0);
  local_.kv_peak_bytes = std::max(local_.kv_peak_bytes, local_.kv_used_bytes);
  local_.disk_enabled = disk_ != nullptr;
  std::lock_guard<std::mutex> lock(stats_mu_);
  stats_ = local_;
  stats_cv_.notify_all();
}

}  // namespace lfmd
