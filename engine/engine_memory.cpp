// The engine's KV memory budget: every running sequence's state plus the prefix cache stay
// under EngineOptions::kv_budget_bytes. Requests wait until their prompt fits; when running
// sequences grow past the budget the prefix cache gives memory back first, then the newest
// sequences are paused (their state goes to the prefix cache) and resumed later from the
// longest cached prefix, recomputing the rest. Batch invariance makes the resumed output exact.
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <string>

#include "engine/engine.h"
#include "engine/engine_seq.h"
#include "engine/session.h"

namespace lfmd {

namespace {

constexpr uint64_t kMiB = 1ull << 20;
constexpr uint64_t kMinDefaultBudget = 64 * kMiB;

// A "Key:   123 kB" line of /proc/meminfo, in bytes; 0 when absent.
uint64_t meminfo_bytes(const std::string& key) {
  std::ifstream f("/proc/meminfo");
  std::string k;
  uint64_t v = 0;
  std::string unit;
  while (f >> k >> v) {
    std::getline(f, unit);
    if (k == key + ":") return v * 1024;
  }
  return 0;
}

// What the cgroup (v2) still allows this process tree: memory.max - memory.current; 0 = no limit.
uint64_t cgroup_room() {
  std::ifstream mx("/sys/fs/cgroup/memory.max"), cur("/sys/fs/cgroup/memory.current");
  std::string max_text;
  uint64_t used = 0;
  if (!(mx >> max_text) || max_text == "max" || !(cur >> used)) return 0;
  const uint64_t limit = std::stoull(max_text);
  return limit > used ? limit - used : 1;
}

std::string mib(uint64_t bytes) { return std::to_string(bytes / kMiB) + " MiB"; }

}  // namespace

uint64_t default_kv_budget(const LoadedModel& m, std::string* how) {
  uint64_t avail = meminfo_bytes("MemAvailable");
  const uint64_t cg = cgroup_room();
  const bool by_cgroup = cg > 0 && (avail == 0 || cg < avail);
  if (by_cgroup) avail = cg;
  // Mapped weights are page cache (counted as available) but must stay resident.
  const uint64_t anon = m.model ? m.model->anon_weight_bytes() : 0;
  const uint64_t mapped = m.weight_bytes > anon ? m.weight_bytes - anon : 0;
  const uint64_t free_after = avail > mapped ? avail - mapped : 0;
  const uint64_t budget = std::max(kMinDefaultBudget, free_after / 2);
  if (how) {
    *how = "half of the " + mib(free_after) + " available (" + std::string(by_cgroup ? "cgroup limit" : "MemAvailable") +
           " " + mib(avail) + " - mapped weights " + mib(mapped) + ")";
    if (budget > free_after / 2) *how += "; raised to the " + mib(kMinDefaultBudget) + " minimum";
  }
  return budget;
}

void Engine::init_budget() {
  budget_ = opt_.kv_budget_bytes > 0 ? opt_.kv_budget_bytes : default_kv_budget(m_, nullptr);
  // With the disk tier, an eighth is for evicted entries waiting to be written (Engine::open_disk_cache).
  const bool disk = opt_.cache_bytes > 0 && !opt_.disk_cache_dir.empty() && opt_.disk_cache_bytes > 0;
  write_reserve_ = disk ? budget_ / 8 : 0;
  probe_ = m_.model->new_sequence(m_.n_ctx);
  probe_->set_snapshot_interval(opt_.cache_bytes > 0 ? opt_.snapshot_interval : 0);
  context_limit_ = longest_alone();
  if (disk) write_reserve_ = std::max(write_reserve_, whole_entry_reserve());
  // The prefix cache lives inside the budget.
  cache_ = std::make_unique<PrefixCache>(std::min<size_t>(opt_.cache_bytes, states_budget()));
  stats_.cache_budget_bytes = local_.cache_budget_bytes = static_cast<int64_t>(cache_->budget());
  local_.kv_budget_bytes = static_cast<int64_t>(budget_);
  local_.context_limit = context_limit_;
}

// The longest sequence that fits alone in states_budget() (with the extra snapshot at its
// prompt's end).
int64_t Engine::longest_alone() const {
  int64_t lo = 0, hi = m_.n_ctx;
  while (lo < hi) {
    const int64_t mid = lo + (hi - lo + 1) / 2;
    if (fresh_bytes(mid) <= states_budget()) lo = mid; else hi = mid - 1;
  }
  return lo;
}

// A write share that holds the largest entry the cache can get (a sequence at context_limit_,
// plus two snapshots a restored state may carry), as far as the budget has room for it beside
// that sequence: context_limit_ never shrinks for it. Entries past the share are dropped while
// running (the 24B-A2B shape's 30k-token entry is 854 MB, over the default budget's eighth).
size_t Engine::whole_entry_reserve() const {
  const size_t state = fresh_bytes(context_limit_);
  const size_t entry = state + 2 * snapshot_bytes();
  return std::min(entry, budget_ > state ? budget_ - state : 0);
}

size_t Engine::state_bytes() const {
  size_t b = 0;
  for (const auto& s : running_) {
    if (s->state) b += s->state->bytes();
  }
  return b;
}

size_t Engine::held_disk_bytes() const {
  size_t b = 0;
  for (const auto& j : waiting_) {
    if (j->disk_state) b += j->disk_state->bytes();
  }
  return b;
}

// One conv-state snapshot (every conv layer's rows).
size_t Engine::snapshot_bytes() const {
  return static_cast<size_t>(probe_->n_conv_layers() * probe_->conv_floats()) * sizeof(float);
}

size_t Engine::fresh_bytes(int64_t n_tokens) const {
  return probe_->bytes_at(n_tokens) + (probe_->snapshot_interval() > 0 ? snapshot_bytes() : 0);
}

// Whether a new sequence of n tokens fits beside what the running ones hold once their prompts
// are in (the prefix cache can shrink); their growth while decoding may pause the newest later.
// With nothing running it always may start: the caller keeps requests within context_limit().
bool Engine::fits_now(int64_t n_tokens) const {
  if (running_.empty()) return true;
  size_t committed = 0;
  for (const auto& s : running_) {
    if (!s->state) continue;
    const int64_t n = std::max<int64_t>(s->state->n_past(), static_cast<int64_t>(s->target().size()) + 1);
    committed += s->state->bytes_at(n);
  }
  return committed + held_disk_bytes() + fresh_bytes(n_tokens) <= states_budget();
}

// Paused sequences first (they are older), then queued requests, in order, while a slot and
// memory for the whole prompt (plus one token) are free. A request that does not fit yet holds
// the queue: later ones do not overtake it.
void Engine::admit_or_resume() {
  local_.memory_waiting = 0;
  while (static_cast<int64_t>(running_.size()) < opt_.parallel && !paused_.empty()) {
    if (!fits_now(static_cast<int64_t>(paused_.front()->target().size()) + 1)) {
      local_.memory_waiting = static_cast<int64_t>(waiting_.size());
      return;
    }
    std::unique_ptr<Seq> s = std::move(paused_.front());
    paused_.pop_front();
    resume(std::move(s));
  }
  while (static_cast<int64_t>(running_.size()) < opt_.parallel && !waiting_.empty()) {
    std::shared_ptr<Job>& next = waiting_.front();
    if (!fits_now(static_cast<int64_t>(next->req.prompt.size()) + 1)) {
      if (!next->waited_for_memory) local_.memory_waits_total += 1;
      next->waited_for_memory = true;
      local_.memory_waiting = static_cast<int64_t>(waiting_.size());
      return;
    }
    std::shared_ptr<Job> job = std::move(next);
    waiting_.pop_front();
    if (start_disk_load(job)) {  // comes back through take_disk_loads()
      loading_.push_back(std::move(job));
      continue;
    }
    n_waiting_.fetch_sub(1);
    admit(std::move(job));
  }
}

// The newest running sequence stops: its state goes to the prefix cache (from where it, or a
// longer-lived disk copy, restarts it), and it waits in paused_ with what it must feed again.
void Engine::preempt_newest() {
  auto newest = std::max_element(running_.begin(), running_.end(), [](const auto& a, const auto& b) {
    return (a->done ? 0 : a->order) < (b->done ? 0 : b->order);
  });
  if (newest == running_.end() || (*newest)->done) return;
  std::unique_ptr<Seq> s = std::move(*newest);
  running_.erase(newest);
  // Decoding: the prompt and generated tokens so far (a resumed one keeps its list).
  if (s->pending >= 0 && s->refeed.empty()) s->refeed = s->fed;
  if (cache_->budget() > 0 && s->state && !s->fed.empty()) {
    cache_->insert(std::move(s->fed), std::move(s->state));
  }
  s->state.reset();
  s->fed.clear();
  local_.preemptions_total += 1;
  auto at = std::find_if(paused_.begin(), paused_.end(), [&](const auto& p) { return p->order > s->order; });
  paused_.insert(at, std::move(s));
}

// A paused sequence starts again from the longest cached prefix of what it had fed.
void Engine::resume(std::unique_ptr<Seq> s) {
  const std::vector<int32_t>& target = s->target();
  const int64_t n_target = static_cast<int64_t>(target.size());
  s->state = m_.model->new_sequence(m_.n_ctx);
  s->state->set_snapshot_interval(opt_.cache_bytes > 0 ? opt_.snapshot_interval : 0);
  if (opt_.cache_bytes > 0) s->state->add_snapshot_point(s->n_prompt);
  // Before its first token the prompt's last logits are still needed; afterwards the next
  // token is known and every fed token can come from the cache.
  const int64_t limit = s->pending < 0 ? n_target - 1 : n_target;
  PrefixCache::Hit best = cache_->find(target, limit);
  if (PrefixCache::Hit run = best_running(target, limit); run.n > best.n) best = run;
  if (best.n > 0) s->state->copy_prefix_from(*best.state, best.n);
  s->fed.assign(target.begin(), target.begin() + best.n);
  local_.recomputed_tokens_total += n_target - best.n;
  running_.push_back(std::move(s));
}

// Every decoding sequence needs room for one more token: the cache shrinks, then the newest
// sequences pause until the rest fit (the oldest always runs).
void Engine::make_room_for_decode() {
  for (;;) {
    size_t growth = 0;
    for (const auto& s : running_) {
      if (!s->done && !s->prefilling()) growth += s->state->bytes_at(s->state->n_past() + 1) - s->state->bytes();
    }
    if (state_bytes() + held_disk_bytes() + growth <= states_budget() || running_.size() <= 1) break;
    preempt_newest();
  }
}

// Prompt tokens of `s` (at most `want`) whose state growth still fits beside `growth` bytes
// already planned for this pass; adds theirs to `growth`.
int64_t Engine::affordable(const Seq& s, int64_t want, size_t& growth) const {
  const size_t used = state_bytes() + held_disk_bytes() + growth, now = s.state->bytes();
  const int64_t n_past = s.state->n_past();
  auto fits = [&](int64_t k) { return used + (s.state->bytes_at(n_past + k) - now) <= states_budget(); };
  int64_t lo = 0, hi = std::max<int64_t>(want, 0);
  // Alone it always runs: it is within context_limit(), sized to fit the budget by itself (a
  // state restored from the cache may carry a snapshot or two more than a fresh one).
  if (running_.size() <= 1 || fits(hi)) {
    lo = hi;
  } else {
    while (lo < hi) {
      const int64_t mid = lo + (hi - lo + 1) / 2;
      if (fits(mid)) lo = mid; else hi = mid - 1;
    }
  }
  growth += s.state->bytes_at(n_past + lo) - now;
  return lo;
}

// The prefix cache holds at most what the running states (and disk entries read for queued
// requests) leave of their share after this pass. An entry the cache evicts is memory until the
// I/O thread has written it: the write queue has the rest of the budget (write_reserve_).
void Engine::give_back_cache(size_t growth) {
  const size_t need = state_bytes() + held_disk_bytes() + growth;
  cache_->shrink_to(need >= states_budget() ? 0 : states_budget() - need);
}

}  // namespace lfmd
