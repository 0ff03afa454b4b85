// Kernel throughput: matrix-vector products (decode) over each weight type from a matrix far
// larger than the caches, reported in weight bytes/s, and prefill GEMMs in FLOP/s.
// Run: build/bench/bench_kernels [--benchmark_filter=Q8_0]
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "core/dtype.h"
#include "core/thread_pool.h"
#include "kernels/int8.h"
#include "kernels/int8_gemm.h"
#include "kernels/ops.h"
#include "kernels/quants.h"

namespace {

using r1::DType;

struct Weights {
  std::vector<uint8_t> bytes;
  r1::ops::Matrix m;
};

Weights make(DType t, int64_t rows, int64_t cols) {
  Weights w;
  const uint64_t rb = *r1::dtype_row_bytes(t, static_cast<uint64_t>(cols));
  w.bytes.resize(rb * rows);
  std::mt19937 rng(1);
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<float> row(static_cast<size_t>(cols));
  for (auto& x : row) x = d(rng);
  std::vector<uint8_t> enc(rb);
  r1::quants::quantize_row(t, row.data(), enc.data(), cols);
  for (int64_t r = 0; r < rows; ++r) std::copy(enc.begin(), enc.end(), w.bytes.begin() + r * rb);
  w.m.dtype = t;
  w.m.data = w.bytes.data();
  w.m.rows = rows;
  w.m.cols = cols;
  w.m.row_bytes = rb;
  return w;
}

void BM_Matvec(benchmark::State& st, DType t) {
  r1::ThreadPool::set_threads(static_cast<int>(st.range(0)));
  const int64_t cols = 2048;
  // About 1 GiB of weights: far beyond the caches.
  const int64_t rows = (1ll << 30) / static_cast<int64_t>(*r1::dtype_row_bytes(t, cols));
  Weights w = make(t, rows, cols);
  std::vector<float> x(static_cast<size_t>(cols), 0.5f), y(static_cast<size_t>(rows));
  for (auto _ : st) {
    r1::ops::matmul(w.m, x.data(), 1, y.data());
    benchmark::DoNotOptimize(y.data());
  }
  st.SetBytesProcessed(static_cast<int64_t>(st.iterations()) *
                       static_cast<int64_t>(w.bytes.size()));
}

// Decode over many matrices of `rows` rows (1408 x 2048: one V2-Lite expert), taken in turn as
// decode does, interleaved by four (what the model loads) or plain (args: threads, cols, rows,
// interleaved 1/0).
void BM_MatvecInterleaved(benchmark::State& st, DType t) {
  r1::ThreadPool::set_threads(static_cast<int>(st.range(0)));
  const int64_t cols = st.range(1), rows = st.range(2);
  const uint64_t rb = *r1::dtype_row_bytes(t, static_cast<uint64_t>(cols));
  const int64_t total = (1ll << 30) / static_cast<int64_t>(rb) / rows * rows;
  Weights w = make(t, total, cols);
  if (st.range(3) != 0) r1::ops::interleave_rows(w.m, w.bytes.data());
  std::vector<float> x(static_cast<size_t>(cols), 0.5f), y(static_cast<size_t>(rows));
  for (auto _ : st) {
    for (int64_t r = 0; r < total; r += rows) {
      r1::ops::matmul(w.m.row_range(r, rows), x.data(), 1, y.data());
      benchmark::DoNotOptimize(y.data());
    }
  }
  st.SetBytesProcessed(static_cast<int64_t>(st.iterations()) *
                       static_cast<int64_t>(w.bytes.size()));
}
BENCHMARK_CAPTURE(BM_MatvecInterleaved, Q8_0, DType::Q8_0)
    ->Args({2, 2048, 65536, 1})
    ->Args({2, 2048, 1408, 1})
    ->Args({2, 2048, 1408, 0})
    ->Args({2, 1408, 2048, 1})
    ->Args({1, 2048, 1408, 1})
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_MatvecInterleaved, Q4_K, DType::Q4_K)
    ->Args({2, 2048, 1408, 1})
    ->Args({2, 2048, 1408, 0})
    ->Args({2, 1536, 8960, 1})
    ->Args({2, 1536, 8960, 0})
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_MatvecInterleaved, Q6_K, DType::Q6_K)
    ->Args({2, 8960, 1536, 1})
    ->Args({2, 8960, 1536, 0})
    ->UseRealTime();

// The same from a 2 MiB matrix that stays in cache: the kernel's compute rate.
void BM_MatvecCached(benchmark::State& st, DType t) {
  r1::ThreadPool::set_threads(static_cast<int>(st.range(0)));
  const int64_t cols = 2048;
  const int64_t rows = (2ll << 20) / static_cast<int64_t>(*r1::dtype_row_bytes(t, cols));
  Weights w = make(t, rows, cols);
  std::vector<float> x(static_cast<size_t>(cols), 0.5f), y(static_cast<size_t>(rows));
  for (auto _ : st) {
    r1::ops::matmul(w.m, x.data(), 1, y.data());
    benchmark::DoNotOptimize(y.data());
  }
  st.SetBytesProcessed(static_cast<int64_t>(st.iterations()) *
                       static_cast<int64_t>(w.bytes.size()));
}

void BM_Gemm(benchmark::State& st, DType t) {
  r1::ThreadPool::set_threads(static_cast<int>(st.range(0)));
  const int64_t rows = 2048, cols = 2048, n = 128;
  Weights w = make(t, rows, cols);
  std::vector<float> x(static_cast<size_t>(n * cols), 0.5f), y(static_cast<size_t>(n * rows));
  for (auto _ : st) {
    r1::ops::matmul(w.m, x.data(), n, y.data());
    benchmark::DoNotOptimize(y.data());
  }
  st.counters["FLOP/s"] = benchmark::Counter(
      2.0 * rows * cols * n * static_cast<double>(st.iterations()), benchmark::Counter::kIsRate);
}

// Batched decode: n tokens (one per sequence of a server's continuous batch) through a 256 MiB
// matrix, 2 threads; tokens/s = n x products/s. Where products of few tokens switch to the GEMM
// path shows here.
void BM_Batch(benchmark::State& st, DType t) {
  r1::ThreadPool::set_threads(2);
  const int64_t cols = 2048, n = st.range(0);
  const int64_t rows = (256ll << 20) / static_cast<int64_t>(*r1::dtype_row_bytes(t, cols));
  Weights w = make(t, rows, cols);
  std::vector<float> x(static_cast<size_t>(n * cols), 0.5f), y(static_cast<size_t>(n * rows));
  for (auto _ : st) {
    r1::ops::matmul(w.m, x.data(), n, y.data());
    benchmark::DoNotOptimize(y.data());
  }
  st.counters["tokens/s"] =
      benchmark::Counter(static_cast<double>(n * st.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK_CAPTURE(BM_Batch, Q8_0, DType::Q8_0)
    ->DenseRange(1, 16, 1)
    ->Arg(24)
    ->Arg(32)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_Batch, Q4_K, DType::Q4_K)
    ->ArgsProduct({{1, 4, 7, 8, 12, 16, 24, 32}})
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_Batch, Q6_K, DType::Q6_K)
    ->ArgsProduct({{1, 4, 7, 8, 12, 16, 24, 32}})
    ->UseRealTime();

// Prefill products of the R1-Distill-Qwen-1.5B shape (512 tokens): args rows, cols, threads.
void BM_Prefill(benchmark::State& st, DType t) {
  r1::ThreadPool::set_threads(static_cast<int>(st.range(2)));
  const int64_t rows = st.range(0), cols = st.range(1), n = 512;
  Weights w = make(t, rows, cols);
  std::vector<float> x(static_cast<size_t>(n * cols)), y(static_cast<size_t>(n * rows));
  std::mt19937 rng(2);
  std::normal_distribution<float> d(0.0f, 1.0f);
  for (auto& v : x) v = d(rng);
  for (auto _ : st) {
    r1::ops::matmul(w.m, x.data(), n, y.data());
    benchmark::DoNotOptimize(y.data());
  }
  st.counters["OP/s"] = benchmark::Counter(
      2.0 * rows * cols * n * static_cast<double>(st.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK_CAPTURE(BM_Prefill, Q8_0, DType::Q8_0)
    ->Args({8960, 1536, 1})
    ->Args({1536, 8960, 1})
    ->Args({8960, 1536, 2})
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_Prefill, Q4_K, DType::Q4_K)->Args({8960, 1536, 2})->UseRealTime();
BENCHMARK_CAPTURE(BM_Prefill, Q6_K, DType::Q6_K)->Args({1536, 8960, 2})->UseRealTime();

// The integer GEMM kernel alone (weights already unpacked, one thread): args rows, cols.
void BM_Int8GemmKernel(benchmark::State& st) {
  if (!r1::int8::cpu_has_vnni()) {
    st.SkipWithError("no VNNI");
    return;
  }
  const int64_t rows = st.range(0), cols = st.range(1), n = 512;
  Weights w = make(DType::Q8_0, rows, cols);
  r1::int8::GemmW gw;
  r1::int8::load_gemm_rows(DType::Q8_0, w.m.data, w.m.row_bytes, rows, cols, gw);
  std::vector<float> x(static_cast<size_t>(n * cols), 0.5f), y(static_cast<size_t>(n * rows));
  r1::ThreadPool::set_threads(1);
  r1::int8::GemmX gx;
  r1::int8::pack_gemm_x(x.data(), n, cols, gx);
  for (auto _ : st) {
    r1::int8::gemm(gw, gx, y.data(), rows);
    benchmark::DoNotOptimize(y.data());
  }
  st.counters["OP/s"] = benchmark::Counter(
      2.0 * rows * cols * n * static_cast<double>(st.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_Int8GemmKernel)->Args({128, 1536})->Args({28, 8960})->UseRealTime();

#define R1_BENCH_TYPE(T)                                                    \
  BENCHMARK_CAPTURE(BM_Matvec, T, DType::T)->Arg(1)->Arg(2)->UseRealTime(); \
  BENCHMARK_CAPTURE(BM_MatvecCached, T, DType::T)->Arg(1)->UseRealTime();   \
  BENCHMARK_CAPTURE(BM_Gemm, T, DType::T)->Arg(1)->Arg(2)->UseRealTime();
R1_BENCH_TYPE(F32)
R1_BENCH_TYPE(BF16)
R1_BENCH_TYPE(F16)
R1_BENCH_TYPE(Q8_0)
R1_BENCH_TYPE(Q4_0)
R1_BENCH_TYPE(Q4_K)
R1_BENCH_TYPE(Q5_K)
R1_BENCH_TYPE(Q6_K)

}  // namespace

BENCHMARK_MAIN();
