// The operations the model calls: matrix products over any stored weight type, norms,
// activations, softmax and RoPE. Scalar reference implementations; no model knowledge.
#pragma once

#include <cstdint>

#include "core/dtype.h"

namespace r1::ops {

// A row-major [rows, cols] weight matrix in its stored type (zero-copy view). FP8 weights carry
// their 128x128 block scales (row-major [ceil(rows/128), ceil(cols/128)] floats); `scale_row0`
// is the row of the full tensor this view starts at, so views of row ranges keep their scales.
// How rows are stored: as in the file, or (Q8_0, Q4_K, Q6_K) interleaved by four
// (kernels/interleave.h).
enum class RowLayout : uint8_t { kPlain, kInterleaved4 };

struct Matrix {
  DType dtype = DType::F32;
  RowLayout layout = RowLayout::kPlain;
  const uint8_t* data = nullptr;
  int64_t rows = 0, cols = 0;
  uint64_t row_bytes = 0;
  const float* fp8_scales = nullptr;
  int64_t scale_cols = 0;
  int64_t scale_row0 = 0;

  // Rows [r0, r0 + n) as a matrix of their own.
  Matrix row_range(int64_t r0, int64_t n) const;
  bool valid() const { return data != nullptr && rows > 0 && cols > 0; }
};

// Whether decode reads w faster interleaved by four (a Q8_0, Q4_K or Q6_K matrix that fits the
// layout, on a CPU with the integer kernel for it).
bool gains_from_interleaving(const Matrix& w);
// Rewrites w's bytes (writable: w.data's memory) in place interleaved by four; requires
// interleave::fits. Results of every product stay equal bit for bit.
void interleave_rows(Matrix& w, uint8_t* writable);

// Dequantizes row r of W into out[0..cols).
void load_row(const Matrix& w, int64_t r, float* out);

// Y[t, :] = W · X[t, :] for t < n: X is [n, cols], Y is [n, rows]. Each weight row is decoded
// once per call and used for all n inputs (prefill), accumulation in float64-free float32 with
// pairwise-safe ordering; work is split over the cores for large products.
void matmul(const Matrix& w, const float* x, int64_t n, float* y);

// Several products of the same input (q/k/v, gate/up): y_i = W_i · X for i < count. Where the
// weights share a type and row length, the activations are quantized once and all rows run in
// one parallel loop (one barrier instead of `count`); otherwise one matmul each.
void matmul_many(const Matrix* const* w, float* const* y, int count, const float* x, int64_t n);

// Products with inputs of their own: y_i = W_i · X_i ([n, cols_i] each) for i < count. For few
// tokens on the integer kernels (decode: the chosen experts' down projections) they run in one
// parallel loop; otherwise one matmul each. Every result equals its own matmul bit for bit.
void matmul_each(const Matrix* const* w, const float* const* x, float* const* y, int count,
                 int64_t n);

// out = x / sqrt(mean(x²) + eps) ⊙ weight, for n vectors of size d.
void rms_norm(const float* x, const float* weight, int64_t n, int64_t d, float eps, float* out);

// out[i] = silu(gate[i]) * up[i]
void silu_mul(const float* gate, const float* up, int64_t n, float* out);

// In-place softmax of n values (max-subtracted).
void softmax(float* x, int64_t n);

// Rotates `n_heads` vectors of size head_dim (stride `stride` floats) by position `pos` on their
// dims [rope_offset, rope_offset + 2 * n_freq). inv_freq[i] is the angle per position of pair i.
// interleaved: pairs (2i, 2i+1) (GPT-J / DeepSeek / llama.cpp NORM); otherwise pairs
// (i, i + n_freq) (rotate-half, NEOX / Qwen2).
void rope(float* x, int64_t n_heads, int64_t stride, int64_t rope_offset, int64_t n_freq,
          const float* inv_freq, int64_t pos, bool interleaved);

float dot(const float* a, const float* b, int64_t n);
// y += a * x
void axpy(float a, const float* x, float* y, int64_t n);

}  // namespace r1::ops
