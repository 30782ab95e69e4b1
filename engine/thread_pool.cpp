#include "engine/thread_pool.h"

#include <algorithm>

namespace lfmd {
namespace {

inline void cpu_relax() {
#if defined(__x86_64__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

}  // namespace

// The default spin is longer than the serial work between two regions of one forward pass and
// far shorter than the gap between requests.
ThreadPool::ThreadPool(int n_threads, int spin_iterations)
    : n_threads_(std::max(1, n_threads)), spin_(std::max(0, spin_iterations)) {
  for (int i = 1; i < n_threads_; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_.store(true);
    generation_.fetch_add(1);
  }
  cv_start_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::worker_loop(int index) {
  uint64_t seen = 0;
  for (;;) {
    uint64_t g = generation_.load(std::memory_order_acquire);
    for (int i = 0; i < spin_ && g == seen; ++i) {
      cpu_relax();
      g = generation_.load(std::memory_order_acquire);
    }
    if (g == seen) {
      std::unique_lock<std::mutex> lock(mu_);
      sleeping_workers_.fetch_add(1);
      cv_start_.wait(lock, [&] { return generation_.load() != seen; });
      sleeping_workers_.fetch_sub(1);
      g = generation_.load();
    }
    seen = g;
    if (stop_.load()) return;
    if (!enter(g)) continue;  // a shared region its caller has already finished
    (*job_.load(std::memory_order_acquire))(index);
    // seq_cst decrements and load of caller_sleeping_ pair with the caller's store-then-check;
    // region_ last: a caller that sees it back at zero sees pending_ decremented too.
    pending_.fetch_sub(1);
    region_.fetch_sub(1);
    if (caller_sleeping_.load()) {
      std::lock_guard<std::mutex> lock(mu_);
      cv_done_.notify_one();
    }
  }
}

// Succeeds while region_ names generation g and is open. The acquire pairs with start()'s
// release of region_, so job_ is g's; the caller cannot publish another job while this worker
// is inside (its count keeps the region from finishing).
bool ThreadPool::enter(uint64_t g) {
  uint64_t v = region_.load(std::memory_order_acquire);
  while ((v >> 32) == (g & 0xffffffffu) && (v & kClosed) == 0) {
    if (region_.compare_exchange_weak(v, v + 1, std::memory_order_acq_rel)) return true;
  }
  return false;
}

void ThreadPool::start(const std::function<void(int)>& fn) {
  pending_.store(n_threads_ - 1, std::memory_order_relaxed);
  job_.store(&fn, std::memory_order_relaxed);
  const uint64_t g = generation_.load(std::memory_order_relaxed) + 1;  // the caller alone writes it
  region_.store((g & 0xffffffffu) << 32, std::memory_order_release);
  generation_.store(g);  // seq_cst: ordered before the check below
  if (sleeping_workers_.load() > 0) {
    std::lock_guard<std::mutex> lock(mu_);
    cv_start_.notify_all();
  }
}

// Spins on done(), then sleeps until a finishing worker wakes the caller.
template <class Done>
void ThreadPool::wait_done(Done done) {
  for (int i = 0; i < spin_ && !done(); ++i) cpu_relax();
  if (!done()) {
    std::unique_lock<std::mutex> lock(mu_);
    caller_sleeping_.store(true);
    cv_done_.wait(lock, done);
    caller_sleeping_.store(false);
  }
}

// run(): every worker enters, so the region stays open and its generation current until they all
// finish (both counts, so that no late decrement of region_ lands on the next region).
// run_shared(): closed after fn(0); a worker that has not entered by then skips the region.
void ThreadPool::run_region(const std::function<void(int)>& fn, bool shared) {
  if (n_threads_ == 1) {
    fn(0);
    return;
  }
  start(fn);
  fn(0);
  if (shared) region_.fetch_or(kClosed);
  wait_done([&] { return (shared || pending_.load() == 0) && (region_.load() & kInside) == 0; });
}

void ThreadPool::run(const std::function<void(int)>& fn) {
  run_region(fn, false);
}

void ThreadPool::run_shared(const std::function<void(int)>& fn) {
  run_region(fn, true);
}

void ThreadPool::parallel_for(int64_t n, int64_t align,
                              const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  align = std::max<int64_t>(1, align);
  const int64_t units = (n + align - 1) / align;
  const int workers = static_cast<int>(std::min<int64_t>(n_threads_, units));
  if (workers <= 1) {
    fn(0, n);
    return;
  }
  run([&](int w) {
    if (w >= workers) return;
    int64_t u0 = units * w / workers, u1 = units * (w + 1) / workers;
    int64_t b = u0 * align, e = std::min(n, u1 * align);
    if (b < e) fn(b, e);
  });
}

}  // namespace lfmd
