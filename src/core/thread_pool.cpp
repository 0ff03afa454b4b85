#include "core/thread_pool.h"

#include <algorithm>
#include <chrono>
#include <memory>

#include <sys/resource.h>
#include <unistd.h>

#include "core/check.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define R1_PAUSE() _mm_pause()
#else
#define R1_PAUSE() std::this_thread::yield()
#endif

namespace r1 {

namespace {
thread_local bool t_inside_loop = false;

// Spin for about this long before sleeping: covers the gap between the loops of one token.
constexpr auto kSpin = std::chrono::microseconds(200);
}  // namespace

ThreadPool::ThreadPool(int n_threads) {
  R1_CHECK(n_threads >= 1);
  workers_.reserve(static_cast<size_t>(n_threads - 1));
  worker_tids_.assign(static_cast<size_t>(n_threads - 1), 0);
  for (int i = 1; i < n_threads; ++i) workers_.emplace_back([this, i] { worker_main(i); });
  // Each worker publishes its id first thing; wait for them so set_worker_nice sees them all.
  for (int s; (s = started_.load(std::memory_order_acquire)) < n_threads - 1;)
    started_.wait(s, std::memory_order_acquire);
}

bool ThreadPool::set_worker_nice(int nice) {
  bool ok = true;
  for (int tid : worker_tids_)
    ok = setpriority(PRIO_PROCESS, static_cast<id_t>(tid), nice) == 0 && ok;
  return ok;
}

bool set_current_thread_nice(int nice) {
  return setpriority(PRIO_PROCESS, static_cast<id_t>(gettid()), nice) == 0;
}

ThreadPool::~ThreadPool() {
  stop_.store(true);
  generation_.fetch_add(1);
  generation_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::run_chunks() {
  for (;;) {
    const int64_t b = next_.fetch_add(grain_, std::memory_order_relaxed);
    if (b >= n_ || failed_.load(std::memory_order_relaxed)) return;
    try {
      (*fn_)(b, std::min(n_, b + grain_));
    } catch (...) {
      std::lock_guard<std::mutex> lock(error_mutex_);
      if (!error_) error_ = std::current_exception();
      failed_.store(true);
    }
  }
}

void ThreadPool::worker_main(int index) {
  t_inside_loop = true;  // a worker never starts a nested parallel loop
  worker_tids_[static_cast<size_t>(index - 1)] = static_cast<int>(gettid());
  started_.fetch_add(1, std::memory_order_release);
  started_.notify_all();
  uint64_t seen = 0;
  for (;;) {
    // Wait for a new generation: spin first, then sleep.
    const auto until = std::chrono::steady_clock::now() + kSpin;
    uint64_t g;
    int spins = 0;
    while ((g = generation_.load(std::memory_order_acquire)) == seen) {
      if (++spins % 64 == 0 && std::chrono::steady_clock::now() > until) {
        generation_.wait(seen, std::memory_order_acquire);
        spins = 0;
      } else {
        R1_PAUSE();
      }
    }
    seen = g;
    if (stop_.load()) return;
    run_chunks();
    active_.fetch_sub(1, std::memory_order_acq_rel);
    active_.notify_one();
  }
}

void ThreadPool::parallel_for(int64_t n, int64_t grain,
                              const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(grain, 1);
  std::unique_lock<std::mutex> lock(use_, std::try_to_lock);
  if (workers_.empty() || t_inside_loop || !lock.owns_lock() || n <= grain) {
    for (int64_t b = 0; b < n; b += grain) fn(b, std::min(n, b + grain));
    return;
  }
  fn_ = &fn;
  n_ = n;
  grain_ = grain;
  error_ = nullptr;
  failed_.store(false);
  next_.store(0, std::memory_order_relaxed);
  active_.store(static_cast<int>(workers_.size()), std::memory_order_relaxed);
  generation_.fetch_add(1, std::memory_order_acq_rel);
  generation_.notify_all();
  t_inside_loop = true;
  run_chunks();
  t_inside_loop = false;
  // Wait for the workers to leave the job.
  int a;
  int spins = 0;
  while ((a = active_.load(std::memory_order_acquire)) != 0) {
    if (++spins > 4096)
      active_.wait(a, std::memory_order_acquire);
    else
      R1_PAUSE();
  }
  fn_ = nullptr;
  if (error_) std::rethrow_exception(error_);
}

namespace {
std::unique_ptr<ThreadPool>& global_slot() {
  static std::unique_ptr<ThreadPool> pool;
  return pool;
}
std::mutex g_global_mutex;
}  // namespace

int ThreadPool::default_threads() {
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

ThreadPool& ThreadPool::global() {
  std::lock_guard<std::mutex> lock(g_global_mutex);
  auto& p = global_slot();
  if (!p) p = std::make_unique<ThreadPool>(default_threads());
  return *p;
}

void ThreadPool::set_threads(int n) {
  R1_CHECK(n >= 1 && n <= 1024);
  std::lock_guard<std::mutex> lock(g_global_mutex);
  auto& p = global_slot();
  if (p && p->threads() == n) return;
  p.reset();
  p = std::make_unique<ThreadPool>(n);
}

int64_t balanced_grain(int64_t n, int threads, int64_t min_grain) {
  const int64_t chunks = static_cast<int64_t>(threads) * 4;
  return std::max<int64_t>(min_grain, (n + chunks - 1) / chunks);
}

}  // namespace r1
