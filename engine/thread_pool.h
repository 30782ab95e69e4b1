// A fixed pool of worker threads for data-parallel loops inside one forward pass.
// The calling thread takes part as worker 0, so ThreadPool(1) runs everything inline.
//
// A decode step issues a few hundred short parallel regions (one per group of matmuls), so both
// the start and the end of a region are signalled through atomics that the other side spins on
// for a while; only after that spin does a thread block on a condition variable (an idle server
// must not burn its cores). A futex sleep/wake per region cost about 10 % of decode time.
// The model's regions use run_shared: with another process on the second core, run()'s wait for
// a descheduled worker cut decode 4x (350M shape: 18.5 against 77 tok/s with run_shared).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace lfmd {

class ThreadPool {
 public:
  // spin_iterations: how long each side spins before blocking (0: always block; tests use it).
  explicit ThreadPool(int n_threads, int spin_iterations = kDefaultSpin);
  static constexpr int kDefaultSpin = 20000;  // about 0.2-0.5 ms of pause instructions
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_threads_; }
  // Runs fn(worker_index) on every worker (0..size()-1) and returns when all are done.
  // Not reentrant: call from one thread at a time.
  void run(const std::function<void(int)>& fn);
  // For regions whose workers take their work from shared counters, so that fn(0) alone leaves
  // nothing undone: returns once fn(0) has returned and every worker that started fn has
  // finished; a worker not started by then skips the region. A worker descheduled by another
  // process on its core then costs nothing, where run() would wait a scheduler slice for it.
  void run_shared(const std::function<void(int)>& fn);
  // Splits [0, n) into size() contiguous chunks aligned to `align`; fn(begin, end) per chunk.
  void parallel_for(int64_t n, int64_t align, const std::function<void(int64_t, int64_t)>& fn);

 private:
  void worker_loop(int index);
  void start(const std::function<void(int)>& fn);
  void run_region(const std::function<void(int)>& fn, bool shared);
  bool enter(uint64_t generation);
  template <class Done>
  void wait_done(Done done);
  int n_threads_;
  int spin_;
  std::vector<std::thread> workers_;
  // Start: job_ is written, then generation_ is bumped (release); workers spin on generation_.
  std::atomic<const std::function<void(int)>*> job_{nullptr};
  std::atomic<uint64_t> generation_{0};
  std::atomic<bool> stop_{false};
  // Entry: region_ = generation (high 32 bits) | kClosed | workers inside fn (low bits). A worker
  // enters by incrementing it while it names the worker's generation and is open; run_shared's
  // caller closes it, so no worker touches fn after the caller's return.
  static constexpr uint64_t kClosed = uint64_t{1} << 31;
  static constexpr uint64_t kInside = kClosed - 1;
  std::atomic<uint64_t> region_{0};
  // End: each worker that entered decrements pending_ (run) and region_; the caller spins on it.
  std::atomic<int> pending_{0};
  // Blocking fallbacks after the spin budget (both sides re-check their atomic under mu_).
  std::mutex mu_;
  std::condition_variable cv_start_;
  std::condition_variable cv_done_;
  std::atomic<int> sleeping_workers_{0};
  std::atomic<bool> caller_sleeping_{false};
};

}  // namespace lfmd
