// A fixed pool of worker threads for data-parallel loops inside one forward pass.
// The calling thread takes part as worker 0, so ThreadPool(1) runs everything inline.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace lfmd {

class ThreadPool {
 public:
  explicit ThreadPool(int n_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_threads_; }
  // Runs fn(worker_index) on every worker (0..size()-1) and returns when all are done.
  // Not reentrant: call from one thread at a time.
  void run(const std::function<void(int)>& fn);
  // Splits [0, n) into size() contiguous chunks aligned to `align`; fn(begin, end) per chunk.
  void parallel_for(int64_t n, int64_t align, const std::function<void(int64_t, int64_t)>& fn);

 private:
  void worker_loop(int index);
  int n_threads_;
  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable cv_start_;
  std::condition_variable cv_done_;
  const std::function<void(int)>* job_ = nullptr;
  uint64_t generation_ = 0;
  int pending_ = 0;
  bool stop_ = false;
  std::atomic<uint64_t> spin_generation_{0};
};

}  // namespace lfmd
