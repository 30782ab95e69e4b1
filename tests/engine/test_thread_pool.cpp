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
