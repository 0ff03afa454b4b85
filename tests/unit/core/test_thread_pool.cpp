// The persistent thread pool: every index runs exactly once, nested and concurrent callers are
// safe, exceptions reach the caller, the pool can be resized, and its workers can be niced.
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

#include "core/thread_pool.h"

namespace {

using r1::ThreadPool;

TEST(ThreadPool, EveryIndexOnceForManySizesAndGrains) {
  for (int threads : {1, 2, 3, 5}) {
    ThreadPool pool(threads);
    EXPECT_EQ(pool.threads(), threads);
    for (int64_t n : {0, 1, 2, 7, 64, 1000, 4097})
      for (int64_t grain : {0, 1, 3, 64, 5000}) {
        std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
        pool.parallel_for(n, grain, [&](int64_t b, int64_t e) {
          ASSERT_LT(b, e);
          ASSERT_LE(e, n);
          for (int64_t i = b; i < e; ++i) hits[i].fetch_add(1);
        });
        for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[i].load(), 1) << n << " " << grain;
      }
  }
}

TEST(ThreadPool, ManyBackToBackLoops) {
  ThreadPool pool(3);
  std::atomic<int64_t> sum{0};
  for (int k = 0; k < 20000; ++k)
    pool.parallel_for(8, 1, [&](int64_t b, int64_t e) { sum.fetch_add(e - b); });
  EXPECT_EQ(sum.load(), 8 * 20000);
}

TEST(ThreadPool, NestedLoopsRunSeriallyInside) {
  ThreadPool pool(4);
  std::atomic<int> total{0};
  pool.parallel_for(16, 1, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i)
      pool.parallel_for(10, 1, [&](int64_t b2, int64_t e2) { total.fetch_add(int(e2 - b2)); });
  });
  EXPECT_EQ(total.load(), 160);
}

TEST(ThreadPool, ConcurrentCallersAllComplete) {
  ThreadPool pool(3);
  std::atomic<int64_t> total{0};
  std::vector<std::thread> callers;
  for (int c = 0; c < 4; ++c)
    callers.emplace_back([&] {
      for (int k = 0; k < 500; ++k)
        pool.parallel_for(100, 7, [&](int64_t b, int64_t e) { total.fetch_add(e - b); });
    });
  for (auto& t : callers) t.join();
  EXPECT_EQ(total.load(), 4 * 500 * 100);
}

TEST(ThreadPool, ExceptionReachesTheCallerAndPoolStaysUsable) {
  ThreadPool pool(3);
  EXPECT_THROW(pool.parallel_for(100, 1,
                                 [&](int64_t b, int64_t) {
                                   if (b == 37) throw std::runtime_error("chunk 37");
                                 }),
               std::runtime_error);
  std::atomic<int> n{0};
  pool.parallel_for(50, 1, [&](int64_t b, int64_t e) { n.fetch_add(int(e - b)); });
  EXPECT_EQ(n.load(), 50);
}

TEST(ThreadPool, GlobalPoolResizes) {
  ThreadPool::set_threads(1);
  EXPECT_EQ(ThreadPool::global().threads(), 1);
  ThreadPool::set_threads(3);
  EXPECT_EQ(ThreadPool::global().threads(), 3);
  ThreadPool::set_threads(ThreadPool::default_threads());
  EXPECT_GE(ThreadPool::global().threads(), 1);
  EXPECT_GE(r1::balanced_grain(100, 2, 4), 4);
  EXPECT_EQ(r1::balanced_grain(800, 2), 100);
}

// Workers take the lower priority; the calling thread keeps its own.
TEST(ThreadPool, WorkerNiceLowersOnlyTheWorkers) {
  ThreadPool pool(3);
  const int caller_nice = getpriority(PRIO_PROCESS, static_cast<id_t>(gettid()));
  const int want = std::min(19, caller_nice + 2);
  ASSERT_TRUE(pool.set_worker_nice(want));
  std::mutex mu;
  std::set<int> nice_of_others;
  int nice_of_caller = -100;
  const auto caller = std::this_thread::get_id();
  for (int round = 0; round < 50 && nice_of_others.empty(); ++round)
    pool.parallel_for(64, 1, [&](int64_t, int64_t) {
      const int n = getpriority(PRIO_PROCESS, static_cast<id_t>(gettid()));
      std::lock_guard lock(mu);
      if (std::this_thread::get_id() == caller)
        nice_of_caller = n;
      else
        nice_of_others.insert(n);
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    });
  EXPECT_EQ(nice_of_others, std::set<int>{want});
  EXPECT_EQ(nice_of_caller, caller_nice);
}

}  // namespace
