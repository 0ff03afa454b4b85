#include "kernels/ops.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/check.h"
#include "core/thread_pool.h"
#include "kernels/amx.h"
#include "kernels/amx_int8.h"
#include "kernels/int8.h"
#include "kernels/int8_gemm.h"
#include "kernels/interleave.h"
#include "kernels/quants.h"
#include "kernels/simd.h"

namespace r1::ops {

Matrix Matrix::row_range(int64_t r0, int64_t n) const {
  R1_CHECK(r0 >= 0 && n >= 0 && r0 + n <= rows);
  R1_CHECK(layout == RowLayout::kPlain ||
           (r0 % interleave::kRows == 0 && n % interleave::kRows == 0));
  Matrix m = *this;
  m.data = data + static_cast<uint64_t>(r0) * row_bytes;
  m.rows = n;
  m.scale_row0 = scale_row0 + r0;
  return m;
}

bool gains_from_interleaving(const Matrix& w) {
  return interleave::fits(w.dtype, w.rows, w.cols) && w.layout == RowLayout::kPlain &&
         int8::cpu_has_vnni();
}

void interleave_rows(Matrix& w, uint8_t* writable) {
  R1_CHECK(w.layout == RowLayout::kPlain && interleave::fits(w.dtype, w.rows, w.cols));
  R1_CHECK(writable == w.data);
  interleave::pack_in_place(w.dtype, writable, w.rows, w.cols);
  w.layout = RowLayout::kInterleaved4;
}

namespace {
// Rows [r, r + n) of w in the plain layout: w's own bytes, or (interleaved; r and n multiples of
// 4) a copy in this thread's buffer, valid until the next call on this thread.
const uint8_t* plain_rows(const Matrix& w, int64_t r, int64_t n) {
  const uint8_t* at = w.data + static_cast<uint64_t>(r) * w.row_bytes;
  if (w.layout == RowLayout::kPlain) return at;
  thread_local std::vector<uint8_t> buf;
  buf.resize(static_cast<size_t>(n) * w.row_bytes);
  interleave::unpack_rows(w.dtype, at, n, w.cols, buf.data());
  return buf.data();
}
}  // namespace

void load_row(const Matrix& w, int64_t r, float* out) {
  R1_CHECK(r >= 0 && r < w.rows);
  const uint8_t* src = w.data + static_cast<uint64_t>(r) * w.row_bytes;
  if (w.layout == RowLayout::kInterleaved4) {
    thread_local std::vector<uint8_t> row;
    row.resize(w.row_bytes);
    const int64_t g = r / interleave::kRows;
    interleave::unpack_row(w.dtype,
                           w.data + static_cast<uint64_t>(g * interleave::kRows) * w.row_bytes,
                           static_cast<int>(r % interleave::kRows), w.cols, row.data());
    src = row.data();
  }
  if (simd::dequant_row(w.dtype, src, w.cols, out)) return;
  if (w.dtype == DType::F8_E4M3) {
    R1_CHECK(w.fp8_scales != nullptr);
    const float* scale_row = w.fp8_scales + ((w.scale_row0 + r) / 128) * w.scale_cols;
    quants::dequantize_row_fp8_block(src, scale_row, out, w.cols);
    return;
  }
  quants::dequantize_row(w.dtype, src, out, w.cols);
}

float dot(const float* a, const float* b, int64_t n) {
  return simd::dot_f32(a, b, n);
}

void axpy(float a, const float* x, float* y, int64_t n) {
  simd::axpy_f32(a, x, y, n);
}

namespace {
// Products with fewer tokens than this read each weight row once and take dot products per
// token (decode); larger ones decode a tile of rows to float32 and run a register-tiled GEMM.
// With integer dot products the per-token path stays ahead of decoding to float32 up to
// kInt8MaxTokens tokens (bench_kernels BM_Batch: Q8_0 16 tokens 367 vs 272 tokens/s, Q4_K 262
// vs 162, on a 2-core Zen 5) where the integer GEMM is unavailable (a type it lacks); AMX tiles
// take over from kAmxMinTokens where the CPU has them, the integer GEMM where it does not (see
// matmul).
constexpr int64_t kGemmMinTokens = 8;
constexpr int64_t kInt8MaxTokens = 32;
constexpr int64_t kAmxMinTokens = 16;

std::vector<float>& scratch(size_t n) {
  thread_local std::vector<float> buf;
  if (buf.size() < n) buf.resize(n);
  return buf;
}

// Rows [r0, r1) for n (few) tokens. gsum: [n, groups] sums of x over groups of 16.
// packed: [n] activations quantized for the integer kernel, or null for float activations.
void matvec_rows(const Matrix& w, const float* x, int64_t n, const float* gsum, int64_t groups,
                 const int8::PackedX* packed, float* y, int64_t r0, int64_t r1) {
  if (!simd::has_row_dot(w.dtype)) {
    std::vector<float>& row = scratch(static_cast<size_t>(w.cols));
    for (int64_t r = r0; r < r1; ++r) {
      load_row(w, r, row.data());
      for (int64_t t = 0; t < n; ++t)
        y[t * w.rows + r] = simd::dot_f32(row.data(), x + t * w.cols, w.cols);
    }
    return;
  }
  const bool interleaved = w.layout == RowLayout::kInterleaved4;
  R1_CHECK(!interleaved || (r0 % 4 == 0 && r1 % 4 == 0));
  for (int64_t r = r0; r < r1; r += 4) {
    const int nr = static_cast<int>(std::min<int64_t>(4, r1 - r));
    float out[4];
    if (interleaved && packed != nullptr) {
      const uint8_t* group = w.data + static_cast<uint64_t>(r) * w.row_bytes;
      for (int64_t t = 0; t < n; ++t) {
        int8::dot_group4(w.dtype, group, packed[t], w.cols, out);
        for (int i = 0; i < 4; ++i) y[t * w.rows + r + i] = out[i];
      }
      continue;
    }
    const uint8_t* first = plain_rows(w, r, nr);
    const uint8_t* rows[4];
    for (int i = 0; i < nr; ++i) rows[i] = first + static_cast<uint64_t>(i) * w.row_bytes;
    for (int64_t t = 0; t < n; ++t) {
      if (packed != nullptr) {
        int8::dot_rows(w.dtype, rows, nr, packed[t], w.cols, out);
        for (int i = 0; i < nr; ++i) y[t * w.rows + r + i] = out[i];
        continue;
      }
      simd::dot_rows(w.dtype, rows, nr, x + t * w.cols, gsum + t * groups, w.cols, out);
      for (int i = 0; i < nr; ++i) y[t * w.rows + r + i] = out[i];
    }
  }
}

// Rows [r0, r1) for many tokens: decode `tile` rows at a time to float32, then GEMM (on AMX
// tiles when `packed` holds the activations in their layout).
void gemm_rows(const Matrix& w, const float* x, int64_t n, const amx::PackedActivations* packed,
               float* y, int64_t r0, int64_t r1, int64_t tile) {
  std::vector<float>& buf = scratch(static_cast<size_t>(tile * w.cols));
  for (int64_t r = r0; r < r1; r += tile) {
    const int64_t m = std::min(tile, r1 - r);
    for (int64_t i = 0; i < m; ++i) load_row(w, r + i, buf.data() + i * w.cols);
    if (packed != nullptr)
      amx::gemm(buf.data(), m, *packed, y + r, w.rows);
    else
      simd::gemm_f32(buf.data(), m, x, n, w.cols, y + r, w.rows);
  }
}
}  // namespace

namespace {
enum class Path { kPerTokenInt8, kPerTokenFloat, kGemmInt8, kGemmFloat };

bool amx_int8_gemm(DType t) {
  return int8::enabled() && int8::gemm_type(t) && amx::int8_available();
}

Path choose_path(const Matrix& w, int64_t n) {
  const bool int8_ok =
      int8::supported(w.dtype) && w.cols % (w.dtype == DType::Q8_0 ? 32 : 256) == 0;
  const bool tiles_possible = int8::enabled() && amx::available();
  // The integer GEMM runs on AMX-INT8 tiles where the CPU has them (then it also beats the bf16
  // tiles, which round the weights), else on VNNI where there are no bf16 tiles.
  const bool gemm_int8 =
      (amx_int8_gemm(w.dtype) || (!tiles_possible && int8::gemm_supported(w.dtype))) &&
      w.cols % dtype_traits(w.dtype).block_elems == 0;
  // From this many tokens the integer GEMM (weights unpacked once per call, 16 tokens per
  // vector) beats per-token integer dot products (bench_kernels BM_Batch, 2-core Zen 5: Q8_0
  // 8 tokens 329 vs 273 tokens/s, 32 tokens 1132 vs 365; Q4_K 12 tokens 283 vs 252). K-quants
  // cost more to unpack, so they cross later. This is what MoE prefill's experts see.
  const int64_t kInt8GemmMinTokens = w.dtype == DType::Q8_0 || w.dtype == DType::Q4_0 ? 6 : 11;
  const int64_t per_token_max = gemm_int8                   ? kInt8GemmMinTokens - 1
                                : tiles_possible && int8_ok ? kAmxMinTokens - 1
                                : int8_ok                   ? kInt8MaxTokens
                                                            : kGemmMinTokens - 1;
  if (n <= per_token_max) return int8_ok ? Path::kPerTokenInt8 : Path::kPerTokenFloat;
  return gemm_int8 ? Path::kGemmInt8 : Path::kGemmFloat;
}

// Rows [r0, r1) of the products stacked one above the other: fn(i, local r0, local r1) for each
// product i the range covers.
template <class Fn>
void for_stacked_rows(const Matrix* const* w, int count, int64_t r0, int64_t r1, Fn fn) {
  int64_t base = 0;
  for (int i = 0; i < count && base < r1; base += w[i]->rows, ++i) {
    const int64_t lo = std::max(r0, base), hi = std::min(r1, base + w[i]->rows);
    if (lo < hi) fn(i, lo - base, hi - base);
  }
}

// The per-token integer path over stacked products, each with its own input x[i] ([n, cols_i]);
// an input shared by products of one type and row length is quantized once.
void per_token_int8(const Matrix* const* w, float* const* y, int count, const float* const* x,
                    int64_t n) {
  thread_local std::vector<int8::PackedX> packed;
  thread_local std::vector<int64_t> first;  // per product: its input's first packed token
  first.assign(static_cast<size_t>(count), -1);
  int64_t used = 0, rows = 0, work = 0;
  for (int i = 0; i < count; ++i) {
    const Matrix& m = *w[i];
    rows += m.rows;
    work += m.rows * m.cols * n;
    for (int j = 0; j < i && first[i] < 0; ++j)
      if (x[j] == x[i] && w[j]->dtype == m.dtype && w[j]->cols == m.cols) first[i] = first[j];
    if (first[i] >= 0) continue;
    first[i] = used;
    used += n;
    if (packed.size() < static_cast<size_t>(used)) packed.resize(static_cast<size_t>(used));
    for (int64_t k = 0; k < n; ++k)
      int8::pack(m.dtype, x[i] + k * m.cols, m.cols, packed[first[i] + k]);
  }
  const int8::PackedX* xq = packed.data();  // (plain pointers: the caller's copies)
  const int64_t* at = first.data();
  ThreadPool& pool = ThreadPool::global();
  // Chunks of a multiple of 4 rows; small products stay on one thread.
  const int64_t grain =
      work < (1 << 16) ? rows : (balanced_grain(rows, pool.threads(), 4) + 3) / 4 * 4;
  pool.parallel_for(rows, grain, [&](int64_t r0, int64_t r1) {
    for_stacked_rows(w, count, r0, r1, [&](int i, int64_t a, int64_t b) {
      matvec_rows(*w[i], x[i], n, nullptr, 0, xq + at[i], y[i], a, b);
    });
  });
}

// The integer GEMM over stacked products: activations quantized once, then tiles of weight
// rows (about 256 KiB of codes, L2) unpacked to int8 and multiplied on VNNI.
void gemm_int8(const Matrix* const* w, float* const* y, int count, const float* x, int64_t n) {
  const int64_t cols = w[0]->cols;
  thread_local int8::GemmX gx;
  int8::pack_gemm_x(x, n, cols, gx);
  const int8::GemmX* px = &gx;  // (the caller's copy)
  // AMX-INT8: the tiles take the codes signed; strips of 16 rows.
  const bool tiles = amx_int8_gemm(w[0]->dtype);
  thread_local std::vector<int8_t> gxs;
  if (tiles) amx::signed_codes(gx, gxs);
  const int8_t* xs = gxs.data();
  const int64_t unit = tiles ? 16 : 4;
  int64_t rows = 0;
  for (int i = 0; i < count; ++i) rows += w[i]->rows;
  ThreadPool& pool = ThreadPool::global();
  const int64_t tile = std::clamp<int64_t>((256 << 10) / cols / unit * unit, unit, 128);
  const int64_t grain = std::max(tile, balanced_grain(rows, pool.threads(), tile) / tile * tile);
  pool.parallel_for(rows, grain, [&](int64_t r0, int64_t r1) {
    thread_local int8::GemmW gw;
    for_stacked_rows(w, count, r0, r1, [&](int i, int64_t a, int64_t b) {
      const Matrix& m = *w[i];
      for (int64_t r = a; r < b; r += tile) {
        const int64_t k = std::min(tile, b - r);
        int8::load_gemm_rows(m.dtype, plain_rows(m, r, k), m.row_bytes, k, cols, gw);
        if (tiles)
          amx::gemm_int8(gw, *px, xs, y[i] + r, m.rows);
        else
          int8::gemm(gw, *px, y[i] + r, m.rows);
      }
    });
  });
}
}  // namespace

void matmul(const Matrix& w, const float* x, int64_t n, float* y) {
  R1_CHECK(w.valid());
  if (n <= 0) return;
  ThreadPool& pool = ThreadPool::global();
  const int threads = pool.threads();
  const Matrix* ws[1] = {&w};
  float* ys[1] = {y};
  switch (choose_path(w, n)) {
    case Path::kPerTokenInt8:
      return per_token_int8(ws, ys, 1, &x, n);
    case Path::kGemmInt8:
      return gemm_int8(ws, ys, 1, x, n);
    case Path::kPerTokenFloat: {
      const int64_t groups = (w.cols + 15) / 16;
      std::vector<float> gsum(static_cast<size_t>(n * groups));
      for (int64_t t = 0; t < n; ++t)
        simd::x_group_sums(x + t * w.cols, w.cols, gsum.data() + t * groups);
      // Chunks of a multiple of 4 rows; small products stay on one thread.
      const int64_t work = w.rows * w.cols * n;
      const int64_t grain =
          work < (1 << 16) ? w.rows : (balanced_grain(w.rows, threads, 4) + 3) / 4 * 4;
      pool.parallel_for(w.rows, grain, [&](int64_t r0, int64_t r1) {
        matvec_rows(w, x, n, gsum.data(), groups, nullptr, y, r0, r1);
      });
      return;
    }
    case Path::kGemmFloat:
      break;
  }
  // AMX (bf16) when the CPU has it and exact float math is not asked for. Float32 weights (the
  // MoE router, small tensors) keep float32 math: rounding them to bf16 would throw away the
  // precision they are stored with, and routing decisions hang on it.
  const bool tiles =
      n >= kAmxMinTokens && w.dtype != DType::F32 && int8::enabled() && amx::available();
  thread_local amx::PackedActivations packed;
  if (tiles) amx::pack_activations(x, n, w.cols, packed);
  const amx::PackedActivations* px = tiles ? &packed : nullptr;  // (the caller's copy)
  // Tiles of rows whose float32 copy fits in about 512 KiB (L2), at least 4 rows (32 on AMX).
  const int64_t unit = tiles ? 32 : 4;
  const int64_t tile = std::clamp<int64_t>((512 << 10) / (w.cols * 4) / unit * unit, unit, 64);
  const int64_t grain = std::max(tile, balanced_grain(w.rows, threads, tile) / tile * tile);
  pool.parallel_for(w.rows, grain,
                    [&](int64_t r0, int64_t r1) { gemm_rows(w, x, n, px, y, r0, r1, tile); });
}

void matmul_many(const Matrix* const* w, float* const* y, int count, const float* x, int64_t n) {
  if (n <= 0 || count <= 0) return;
  bool same = true;
  for (int i = 0; i < count; ++i) {
    R1_CHECK(w[i]->valid());
    same = same && w[i]->dtype == w[0]->dtype && w[i]->cols == w[0]->cols;
  }
  const Path path = choose_path(*w[0], n);
  if (same && count > 1) {
    for (int i = 1; i < count; ++i) same = same && choose_path(*w[i], n) == path;
    if (same && path == Path::kPerTokenInt8) {
      const std::vector<const float*> xs(static_cast<size_t>(count), x);
      return per_token_int8(w, y, count, xs.data(), n);
    }
    if (same && path == Path::kGemmInt8) return gemm_int8(w, y, count, x, n);
  }
  for (int i = 0; i < count; ++i) matmul(*w[i], x, n, y[i]);
}

void matmul_each(const Matrix* const* w, const float* const* x, float* const* y, int count,
                 int64_t n) {
  if (n <= 0 || count <= 0) return;
  bool integer = true;
  for (int i = 0; i < count; ++i) {
    R1_CHECK(w[i]->valid());
    integer = integer && choose_path(*w[i], n) == Path::kPerTokenInt8;
  }
  if (integer) return per_token_int8(w, y, count, x, n);
  for (int i = 0; i < count; ++i) matmul(*w[i], x[i], n, y[i]);
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
  simd::silu_mul(gate, up, n, out);
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
