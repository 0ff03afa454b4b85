#include "kernels/roofline.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <vector>

#include "core/thread_pool.h"
#include "kernels/amx.h"
#include "kernels/simd.h"

namespace r1::roofline {

namespace {
double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}
}  // namespace

double read_bandwidth(uint64_t bytes, int reps) {
  ThreadPool& pool = ThreadPool::global();
  const int threads = pool.threads();
  const int64_t n = static_cast<int64_t>(bytes / sizeof(float));
  std::unique_ptr<float[]> buf(new float[static_cast<size_t>(n)]);
  // First touch from the threads that will read (pages land near them).
  pool.parallel_for(threads, 1, [&](int64_t b, int64_t) {
    const int64_t lo = n * b / threads, hi = n * (b + 1) / threads;
    std::fill(buf.get() + lo, buf.get() + hi, 1.0f);
  });
  std::atomic<float> sink{0};
  double best = 0;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    pool.parallel_for(threads, 1, [&](int64_t b, int64_t) {
      const int64_t lo = n * b / threads, hi = n * (b + 1) / threads;
      sink.store(simd::sum_f32(buf.get() + lo, hi - lo), std::memory_order_relaxed);
    });
    best = std::max(best, static_cast<double>(bytes) / seconds_since(t0));
  }
  return best;
}

double fp32_peak(int reps) {
  ThreadPool& pool = ThreadPool::global();
  const int threads = pool.threads();
  constexpr int64_t kIters = 20'000'000;
  double best = 0;
  for (int r = 0; r < reps; ++r) {
    std::atomic<double> flops{0};
    const auto t0 = std::chrono::steady_clock::now();
    pool.parallel_for(threads, 1, [&](int64_t, int64_t) {
      float sink;
      const double f = simd::fma_loop(kIters, &sink);
      double cur = flops.load();
      while (!flops.compare_exchange_weak(cur, cur + f + (sink == 12345.0f ? 1 : 0))) {
      }
    });
    best = std::max(best, flops.load() / seconds_since(t0));
  }
  return best;
}

double amx_bf16_peak(int reps) {
  if (!amx::available()) return 0;
  ThreadPool& pool = ThreadPool::global();
  const int threads = pool.threads();
  constexpr int64_t kIters = 2'000'000;
  double best = 0;
  for (int r = 0; r < reps; ++r) {
    std::atomic<double> flops{0};
    const auto t0 = std::chrono::steady_clock::now();
    pool.parallel_for(threads, 1, [&](int64_t, int64_t) {
      const double f = amx::peak_flops_one_thread(kIters);
      double cur = flops.load();
      while (!flops.compare_exchange_weak(cur, cur + f)) {
      }
    });
    best = std::max(best, flops.load() / seconds_since(t0));
  }
  return best;
}

}  // namespace r1::roofline
