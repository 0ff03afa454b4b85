// Integer matrix-matrix product for prefill (many tokens): activations quantized on the fly to
// int8 per 32 values (scale amax / 127, as llama.cpp's Q8_0), weights as their stored integer
// codes with their block scales, products in AVX-512 VNNI (vpdpbusd) with 16 tokens per
// vector. Exact integer sums per block; the only rounding beyond float accumulation is the
// activations' (|error| <= d / 2 = amax / 254 per value). No model knowledge.
//
// Per output y[t, r] = sum over weight blocks b of G values (G = 32, or 16 for Q6_K):
//   scale[r, b] * dx[t, b32] * sum_{k in b} q[r, k] * xq[t, k]  -  min[r, b32] * dx[t, b32] *
//   sum_{k in b32} xq[t, k]
// where the second term exists only for the types with block minimums (Q4_K, Q5_K).
#pragma once

#include <cstdint>
#include <vector>

#include "core/dtype.h"

namespace r1::int8 {

// n tokens of `cols` values (cols a multiple of 32), quantized and interleaved for the kernel:
// tokens in groups of 16 (the last padded with zeros); within a group, 4 consecutive values of
// each token side by side: q[((g * cols / 4) + k / 4) * 64 + 4 * token + k % 4] = xq + 128.
struct GemmX {
  int64_t n = 0, cols = 0, groups = 0;
  std::vector<uint8_t> q;
  std::vector<float> d;   // [groups][cols / 32][16]: the scales
  std::vector<float> ds;  // [groups][cols / 32][16]: scale x sum of the block's codes
};

// A tile of weight rows in the kernel's form.
struct GemmW {
  int64_t rows = 0, cols = 0;
  int group = 32;             // values per scale: 32, or 16 (Q6_K)
  bool has_min = false;       // Q4_K / Q5_K
  std::vector<int8_t> q;      // [rows][cols]: the integer codes
  std::vector<float> scale;   // [rows][cols / group]
  std::vector<int32_t> corr;  // [rows][cols / group]: -128 x sum of the block's codes
  std::vector<float> min;     // [rows][cols / 32] (has_min only)
};

// The stored types this product takes (Q8_0, Q4_0, Q4_K, Q5_K, Q6_K), whatever the CPU.
bool gemm_type(DType t);
// True when integer kernels are enabled and the CPU has VNNI.
bool gemm_supported(DType t);

// Quantizes x [n, cols] (cols % 32 == 0). Work is split over the global pool when large.
void pack_gemm_x(const float* x, int64_t n, int64_t cols, GemmX& out);
// The same in plain C++ (the reference pack_gemm_x is tested against), on the calling thread.
void pack_gemm_x_reference(const float* x, int64_t n, int64_t cols, GemmX& out);

// Rows [0, rows) of a stored matrix (`row_bytes` apart, cols a multiple of the type's block)
// into the kernel's form.
void load_gemm_rows(DType t, const uint8_t* data, uint64_t row_bytes, int64_t rows, int64_t cols,
                    GemmW& out);
// The same in plain C++ (the reference load_gemm_rows is tested against).
void load_gemm_rows_reference(DType t, const uint8_t* data, uint64_t row_bytes, int64_t rows,
                              int64_t cols, GemmW& out);

// y[t * ldy + r] = (row r of w) . (token t of x) for r < w.rows, t < x.n, with VNNI
// (requires cpu_has_vnni()).
void gemm(const GemmW& w, const GemmX& x, float* y, int64_t ldy);
// The same integer math in plain C++.
void gemm_reference(const GemmW& w, const GemmX& x, float* y, int64_t ldy);

// Operations (multiply-add = 2) done by `iters` rounds of independent vpdpbusd on this thread
// (requires cpu_has_vnni()): the machine's int8 peak, for the roofline.
double vnni_peak_ops_one_thread(int64_t iters);

}  // namespace r1::int8
