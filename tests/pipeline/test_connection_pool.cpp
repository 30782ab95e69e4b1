// The HTTP connection pool (server/connection_pool.h): grows to its cap, refuses at the cap
// instead of queueing, and shutdown waits for running jobs. Jobs block on a gate the test opens.
#include <doctest/doctest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>

#include "server/connection_pool.h"

namespace lfmd::http {
namespace {

struct Gate {
  std::mutex mu;
  std::condition_variable cv;
  bool open = false;
  int entered = 0;
  void enter_and_wait() {
    std::unique_lock<std::mutex> lock(mu);
    ++entered;
    cv.notify_all();
    cv.wait(lock, [&] { return open; });
  }
  void wait_entered(int n) {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return entered >= n; });
  }
  void release() {
    std::lock_guard<std::mutex> lock(mu);
    open = true;
    cv.notify_all();
  }
};

TEST_CASE("connection pool: grows to its cap, then refuses at once") {
  ConnectionPool pool(2, 6);
  Gate gate;
  std::atomic<int> done{0};
  for (int i = 0; i < 6; ++i)
    REQUIRE(pool.try_run([&] {
      gate.enter_and_wait();
      ++done;
    }));
  gate.wait_entered(6);  // six jobs run at once: the pool grew beyond its minimum of 2
  CHECK(pool.counts().threads == 6);
  CHECK(pool.counts().busy == 6);
  CHECK_FALSE(pool.try_run([] {}));
  CHECK(pool.counts().refused == 1);
  gate.release();
  pool.shutdown();  // waits for the six jobs
  CHECK(done == 6);
  CHECK(pool.counts().threads == 0);
  CHECK_FALSE(pool.try_run([] {}));  // shut down
}

}  // namespace
}  // namespace lfmd::http
