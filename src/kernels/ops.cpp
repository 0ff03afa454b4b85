#include "kernels/ops.h"

#include <algorithm>
#include <cmath>
#include <thread>
#include <vector>

#include "core/check.h"
#include "kernels/quants.h"

namespace r1::ops {

Matrix Matrix::row_range(int64_t r0, int64_t n) const {
  R1_CHECK(r0 >= 0 && n >= 0 && r0 + n <= rows);
  Matrix m = *this;
  m.data = data + static_cast<uint64_t>(r0) * row_bytes;
  m.rows = n;
  m.scale_row0 = scale_row0 + r0;
  return m;
}

void load_row(const Matrix& w, int64_t r, float* out) {
  R1_CHECK(r >= 0 && r < w.rows);
  const uint8_t* src = w.data + static_cast<uint64_t>(r) * w.row_bytes;
  if (w.dtype == DType::F8_E4M3) {
    R1_CHECK(w.fp8_scales != nullptr);
    const float* scale_row = w.fp8_scales + ((w.scale_row0 + r) / 128) * w.scale_cols;
    quants::dequantize_row_fp8_block(src, scale_row, out, w.cols);
    return;
  }
  quants::dequantize_row(w.dtype, src, out, w.cols);
}

float dot(const float* a, const float* b, int64_t n) {
  // Four partial sums: a fixed order, so results do not depend on the thread split.
  float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    s0 += a[i] * b[i];
    s1 += a[i + 1] * b[i + 1];
    s2 += a[i + 2] * b[i + 2];
    s3 += a[i + 3] * b[i + 3];
  }
  for (; i < n; ++i) s0 += a[i] * b[i];
  return (s0 + s1) + (s2 + s3);
}

void axpy(float a, const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += a * x[i];
}

namespace {
void matmul_rows(const Matrix& w, const float* x, int64_t n, float* y, int64_t r0, int64_t r1) {
  std::vector<float> row(static_cast<size_t>(w.cols));
  for (int64_t r = r0; r < r1; ++r) {
    load_row(w, r, row.data());
    for (int64_t t = 0; t < n; ++t) y[t * w.rows + r] = dot(row.data(), x + t * w.cols, w.cols);
  }
}
}  // namespace

void matmul(const Matrix& w, const float* x, int64_t n, float* y) {
  R1_CHECK(w.valid());
  const int64_t work = w.rows * w.cols * std::max<int64_t>(n, 1);
  const int64_t threads =
      std::min<int64_t>(std::max(1u, std::thread::hardware_concurrency()), w.rows);
  if (threads <= 1 || work < (1 << 18)) {
    matmul_rows(w, x, n, y, 0, w.rows);
    return;
  }
  std::vector<std::thread> pool;
  for (int64_t i = 0; i < threads; ++i)
    pool.emplace_back(matmul_rows, std::cref(w), x, n, y, w.rows * i / threads,
                      w.rows * (i + 1) / threads);
  for (auto& t : pool) t.join();
}

void rms_norm(const float* x, const float* weight, int64_t n, int64_t d, float eps, float* out) {
  for (int64_t t = 0; t < n; ++t) {
    const float* v = x + t * d;
    double ss = 0;
    for (int64_t i = 0; i < d; ++i) ss += static_cast<double>(v[i]) * v[i];
    const float inv = static_cast<float>(1.0 / std::sqrt(ss / static_cast<double>(d) + eps));
    for (int64_t i = 0; i < d; ++i) out[t * d + i] = v[i] * inv * weight[i];
  }
}

void silu_mul(const float* gate, const float* up, int64_t n, float* out) {
  for (int64_t i = 0; i < n; ++i) out[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
}

void softmax(float* x, int64_t n) {
  float mx = -INFINITY;
  for (int64_t i = 0; i < n; ++i) mx = std::max(mx, x[i]);
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - mx);
    sum += x[i];
  }
  const float inv = static_cast<float>(1.0 / sum);
  for (int64_t i = 0; i < n; ++i) x[i] *= inv;
}

void rope(float* x, int64_t n_heads, int64_t stride, int64_t rope_offset, int64_t n_freq,
          const float* inv_freq, int64_t pos, bool interleaved) {
  for (int64_t i = 0; i < n_freq; ++i) {
    const double theta = static_cast<double>(pos) * inv_freq[i];
    const float c = static_cast<float>(std::cos(theta)), s = static_cast<float>(std::sin(theta));
    const int64_t a = interleaved ? 2 * i : i;
    const int64_t b = interleaved ? 2 * i + 1 : i + n_freq;
    for (int64_t h = 0; h < n_heads; ++h) {
      float* v = x + h * stride + rope_offset;
      const float x0 = v[a], x1 = v[b];
      v[a] = x0 * c - x1 * s;
      v[b] = x0 * s + x1 * c;
    }
  }
}

}  // namespace r1::ops
