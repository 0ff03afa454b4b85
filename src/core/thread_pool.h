// A persistent pool of worker threads for the data-parallel loops of the forward pass.
// Workers spin briefly, then sleep on an atomic wait, so back-to-back loops (hundreds per decoded
// token) cost microseconds, not thread creations. Work is handed out in chunks from a shared
// counter, so a thread that finishes early takes the next chunk instead of idling at the barrier.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace r1 {

class ThreadPool {
 public:
  // n_threads counts the calling thread: a pool of 1 runs everything on the caller.
  explicit ThreadPool(int n_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int threads() const { return static_cast<int>(workers_.size()) + 1; }

  // Lowers the scheduling priority of the worker threads (not the caller's) to `nice` (0..19),
  // so that latency-bound threads of the same process (a server's connection threads) run first
  // when the cores are contended. Raising priority back needs privileges; returns false when the
  // system refused.
  bool set_worker_nice(int nice);

  // Calls fn(begin, end) over [0, n) in chunks of at most `grain` items, on all threads, and
  // returns when every chunk is done. A call from inside a running loop (nested), or while
  // another thread is using the pool, runs serially on the caller. Exceptions thrown by fn are
  // rethrown on the caller (the first one; the remaining chunks are skipped).
  void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

  // The process-wide pool, sized by set_threads (default: the hardware threads).
  static ThreadPool& global();
  // Resizes the global pool (1..1024). Not to be called while it runs a loop.
  static void set_threads(int n);
  static int default_threads();

 private:
  void worker_main(int index);
  void run_chunks();

  std::vector<std::thread> workers_;
  std::vector<int> worker_tids_;  // kernel thread ids, set by each worker before it waits
  std::atomic<int> started_{0};
  std::mutex use_;  // one loop at a time
  // The current job.
  const std::function<void(int64_t, int64_t)>* fn_ = nullptr;
  int64_t n_ = 0, grain_ = 1;
  std::atomic<int64_t> next_{0};
  std::atomic<int> active_{0};  // workers still inside the current job
  std::atomic<uint64_t> generation_{0};
  std::atomic<bool> stop_{false};
  std::atomic<bool> failed_{false};
  std::exception_ptr error_;
  std::mutex error_mutex_;
};

// Sets the calling thread's nice value (Linux: per thread); false when refused.
bool set_current_thread_nice(int nice);

// Grain that splits n items into about 4 chunks per thread (at least `min_grain` items each).
int64_t balanced_grain(int64_t n, int threads, int64_t min_grain = 1);

}  // namespace r1
