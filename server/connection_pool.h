// Threads for HTTP connections (one connection = one thread while it is open, as in httplib):
// starts with a few, grows on demand up to a cap, and lets threads above the minimum exit after
// an idle spell. try_run() never blocks and never queues behind busy threads: at the cap it
// returns false so the caller can answer "overloaded" at once instead of leaving a client hanging.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>

namespace lfmd::http {

class ConnectionPool {
 public:
  ConnectionPool(int min_threads, int max_threads, int idle_exit_ms = 30000);
  ~ConnectionPool();  // shutdown()
  ConnectionPool(const ConnectionPool&) = delete;
  ConnectionPool& operator=(const ConnectionPool&) = delete;

  // Runs job on an idle or a new thread; false (job not taken) when all max_threads are busy or
  // the pool is shut down.
  bool try_run(std::function<void()> job);
  // Stops taking jobs, waits for the running ones to return, and for every thread to exit.
  void shutdown();

  struct Counts {
    int threads = 0;  // alive
    int busy = 0;     // running a job
    long long refused = 0;  // try_run() calls answered false since start
  };
  Counts counts() const;

 private:
  void worker();

  const int min_threads_, max_threads_, idle_exit_ms_;
  mutable std::mutex mu_;
  std::condition_variable work_cv_;  // a job arrived, or shutdown
  std::condition_variable exit_cv_;  // a thread exited
  std::deque<std::function<void()>> jobs_;
  int threads_ = 0, idle_ = 0;
  long long refused_ = 0;
  bool stopping_ = false;
};

}  // namespace lfmd::http
