#include "server/connection_pool.h"

#include <pthread.h>

#include <algorithm>
#include <chrono>

namespace lfmd::http {

namespace {

// Connection threads run parsers and the request pipeline, never deep recursion on model data:
// 1 MiB of stack each keeps a thousand of them cheap in address space (only touched pages count).
constexpr size_t kThreadStackBytes = 1 << 20;

bool start_detached(void* (*fn)(void*), void* arg) {
  pthread_attr_t attr;
  if (pthread_attr_init(&attr) != 0) return false;
  pthread_attr_setstacksize(&attr, kThreadStackBytes);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_t t;
  const bool ok = pthread_create(&t, &attr, fn, arg) == 0;
  pthread_attr_destroy(&attr);
  return ok;
}

}  // namespace

ConnectionPool::ConnectionPool(int min_threads, int max_threads, int idle_exit_ms)
    : min_threads_(std::max(1, min_threads)),
      max_threads_(std::max(std::max(1, min_threads), max_threads)),
      idle_exit_ms_(idle_exit_ms) {}

ConnectionPool::~ConnectionPool() { shutdown(); }

bool ConnectionPool::try_run(std::function<void()> job) {
  std::unique_lock<std::mutex> lock(mu_);
  if (stopping_) return false;
  // Jobs already waiting will take idle threads first; spawn when none would be left for this one.
  if (idle_ > static_cast<int>(jobs_.size())) {
    jobs_.push_back(std::move(job));
    work_cv_.notify_one();
    return true;
  }
  if (threads_ >= max_threads_) {
    ++refused_;
    return false;
  }
  jobs_.push_back(std::move(job));
  ++threads_;
  auto entry = [](void* self) -> void* {
    static_cast<ConnectionPool*>(self)->worker();
    return nullptr;
  };
  if (!start_detached(entry, this)) {  // out of threads (ulimit -u, memory): refuse, don't hang
    --threads_;
    jobs_.pop_back();
    ++refused_;
    return false;
  }
  return true;
}

void ConnectionPool::worker() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    ++idle_;
    const bool woke = work_cv_.wait_for(lock, std::chrono::milliseconds(idle_exit_ms_),
                                        [&] { return stopping_ || !jobs_.empty(); });
    --idle_;
    if (jobs_.empty() && (stopping_ || (!woke && threads_ > min_threads_))) break;
    if (jobs_.empty()) continue;
    std::function<void()> job = std::move(jobs_.front());
    jobs_.pop_front();
    lock.unlock();
    job();
    job = nullptr;  // release captures before taking the lock again
    lock.lock();
  }
  --threads_;
  exit_cv_.notify_all();
}

void ConnectionPool::shutdown() {
  std::unique_lock<std::mutex> lock(mu_);
  stopping_ = true;
  work_cv_.notify_all();
  exit_cv_.wait(lock, [&] { return threads_ == 0; });
}

ConnectionPool::Counts ConnectionPool::counts() const {
  std::lock_guard<std::mutex> lock(mu_);
  return {threads_, threads_ - idle_, refused_};
}

}  // namespace lfmd::http
