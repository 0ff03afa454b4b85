#include "kernels/roofline.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <vector>

#include "core/thread_pool.h"
#include "kernels/amx.h"
#include "kernels/amx_int8.h"
#include "kernels/int8.h"
#include "kernels/int8_gemm.h"
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

namespace {
// The best over `reps` runs of every thread running one_thread() at once (it returns the
// operations it did), in operations per second.
template <class Fn>
double peak_over_threads(int reps, Fn one_thread) {
  ThreadPool& pool = ThreadPool::global();
  const int threads = pool.threads();
  double best = 0;
  for (int r = 0; r < reps; ++r) {
    std::atomic<double> ops{0};
    const auto t0 = std::chrono::steady_clock::now();
    pool.parallel_for(threads, 1, [&](int64_t, int64_t) {
      const double f = one_thread();
      double cur = ops.load();
      while (!ops.compare_exchange_weak(cur, cur + f)) {
      }
    });
    best = std::max(best, ops.load() / seconds_since(t0));
  }
  return best;
}
}  // namespace

double fp32_peak(int reps) {
  return peak_over_threads(reps, [] {
    float sink;
    const double f = simd::fma_loop(20'000'000, &sink);
    return f + (sink == 12345.0f ? 1 : 0);
  });
}

double amx_bf16_peak(int reps) {
  if (!amx::available()) return 0;
  return peak_over_threads(reps, [] { return amx::peak_flops_one_thread(2'000'000); });
}

double amx_int8_peak(int reps) {
  if (!amx::int8_available()) return 0;
  return peak_over_threads(reps, [] { return amx::int8_peak_ops_one_thread(1'000'000); });
}

double int8_peak(int reps) {
  if (!int8::cpu_has_vnni()) return 0;
  return peak_over_threads(reps, [] { return int8::vnni_peak_ops_one_thread(20'000'000); });
}

}  // namespace r1::roofline
