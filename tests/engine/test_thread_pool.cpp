// ThreadPool: every worker runs every region exactly once and run() returns only after all have
// finished, on the spinning path and on the blocking path (spin 0: every hand-off sleeps).
#include <doctest/doctest.h>

#include <atomic>
#include <vector>

#include "engine/thread_pool.h"

namespace {

void check_regions(lfmd::ThreadPool& pool, int regions) {
  const int n = pool.size();
  std::vector<int64_t> hits(static_cast<size_t>(n), 0);
  int64_t expected_sum = 0;
  std::atomic<int64_t> sum{0};
  for (int r = 0; r < regions; ++r) {
    pool.run([&](int w) {
      hits[static_cast<size_t>(w)] += 1;  // each worker owns its slot
      sum.fetch_add(r * 10 + w, std::memory_order_relaxed);
    });
    for (int w = 0; w < n; ++w) expected_sum += r * 10 + w;
    // run() returned: every worker's effects of this region are visible.
    REQUIRE(sum.load() == expected_sum);
  }
  for (int w = 0; w < n; ++w) CHECK(hits[static_cast<size_t>(w)] == regions);
}

}  // namespace

TEST_CASE("thread pool: every worker runs every region once, spinning and blocking hand-offs") {
  for (int threads : {1, 2, 3, 4}) {
    for (int spin : {0, 50, lfmd::ThreadPool::kDefaultSpin}) {
      CAPTURE(threads);
      CAPTURE(spin);
      lfmd::ThreadPool pool(threads, spin);
      check_regions(pool, 500);
    }
  }
}

TEST_CASE("thread pool: parallel_for covers [0, n) once in aligned chunks") {
  lfmd::ThreadPool pool(3, 0);
  for (int64_t n : {1, 7, 16, 17, 1000}) {
    std::vector<int> seen(static_cast<size_t>(n), 0);
    pool.parallel_for(n, 4, [&](int64_t b, int64_t e) {
      CHECK(b % 4 == 0);
      for (int64_t i = b; i < e; ++i) seen[static_cast<size_t>(i)] += 1;
    });
    for (int v : seen) CHECK(v == 1);
  }
}

// run_shared: items taken from a shared counter are each done exactly once, whichever workers
// join; a worker is never inside fn after run_shared returned (the region's flag stays false).
TEST_CASE("thread pool: run_shared does every item once and returns with no worker inside") {
  for (int threads : {1, 2, 3}) {
    for (int spin : {0, 50, lfmd::ThreadPool::kDefaultSpin}) {
      CAPTURE(threads);
      CAPTURE(spin);
      lfmd::ThreadPool pool(threads, spin);
      std::atomic<bool> returned{false};
      std::atomic<int> late{0};
      int64_t joined = 0;  // worker entries other than the caller's
      for (int r = 0; r < 2000; ++r) {
        const int64_t items = 1 + r % 37;
        std::vector<std::atomic<int>> done(static_cast<size_t>(items));
        std::atomic<int64_t> next{0}, entries{0};
        returned.store(false);
        pool.run_shared([&](int w) {
          if (returned.load()) late.fetch_add(1);
          if (w != 0) entries.fetch_add(1);
          for (int64_t i; (i = next.fetch_add(1)) < items;) {
            volatile int64_t x = 0;
            for (int k = 0; k < 2000; ++k) x = x + k;  // ~1 us of work per item
            done[static_cast<size_t>(i)].fetch_add(1);
          }
        });
        returned.store(true);
        joined += entries.load();
        for (auto& d : done) REQUIRE(d.load() == 1);
        REQUIRE(entries.load() <= threads - 1);
      }
      CHECK(late.load() == 0);
      MESSAGE("worker entries in 2000 shared regions: " << joined);
    }
  }
}
