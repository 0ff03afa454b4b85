#include "kernels/int8_gemm.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/check.h"
#include "core/half.h"
#include "core/thread_pool.h"
#include "kernels/int8.h"
#include "kernels/quants.h"

namespace r1::int8 {

// Implemented in int8_gemm_avx512.cpp (compiled for AVX-512 VNNI, called only when the CPU has
// it); each returns false for a type it has no fast path for.
bool load_gemm_rows_vnni(DType t, const uint8_t* data, uint64_t row_bytes, int64_t rows,
                         int64_t cols, GemmW& out);
void pack_gemm_x_vnni(const float* x, int64_t n, int64_t cols, int64_t g0, int64_t g1, GemmX& out);
void gemm_vnni(const GemmW& w, const GemmX& x, float* y, int64_t ldy);

bool gemm_type(DType t) {
  return t == DType::Q8_0 || t == DType::Q4_0 || t == DType::Q4_K || t == DType::Q5_K ||
         t == DType::Q6_K;
}

bool gemm_supported(DType t) {
  return enabled() && gemm_type(t) && cpu_has_vnni();
}

namespace {

float half_at(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return f16_to_f32(h);
}

// Tokens [16 g0, 16 g1) of x into out (already sized), in plain C++.
void pack_groups(const float* x, int64_t n, int64_t cols, int64_t g0, int64_t g1, GemmX& out) {
  const int64_t nb = cols / 32;
  for (int64_t g = g0; g < g1; ++g)
    for (int lane = 0; lane < 16; ++lane) {
      const int64_t t = 16 * g + lane;
      const float* xt = t < n ? x + t * cols : nullptr;
      for (int64_t b = 0; b < nb; ++b) {
        float amax = 0;
        if (xt != nullptr)
          for (int i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(xt[32 * b + i]));
        const float d = amax / 127.0f;
        const float inv = d > 0 ? 1.0f / d : 0.0f;
        int32_t sum = 0;
        for (int i = 0; i < 32; ++i) {
          const int64_t k = 32 * b + i;
          const int v =
              xt == nullptr ? 0 : std::clamp(static_cast<int>(std::lrintf(xt[k] * inv)), -127, 127);
          sum += v;
          out.q[static_cast<size_t>(((g * cols / 4) + k / 4) * 64 + 4 * lane + k % 4)] =
              static_cast<uint8_t>(v + 128);
        }
        const size_t at = static_cast<size_t>((g * nb + b) * 16 + lane);
        out.d[at] = d;
        out.ds[at] = d * static_cast<float>(sum);
      }
    }
}

void size_gemm_w(DType t, int64_t rows, int64_t cols, GemmW& out) {
  out.rows = rows;
  out.cols = cols;
  out.group = t == DType::Q6_K ? 16 : 32;
  out.has_min = t == DType::Q4_K || t == DType::Q5_K;
  const size_t nbw = static_cast<size_t>(cols / out.group);
  out.q.resize(static_cast<size_t>(rows * cols));
  out.scale.resize(static_cast<size_t>(rows) * nbw);
  out.corr.resize(static_cast<size_t>(rows) * nbw);
  out.min.resize(out.has_min ? static_cast<size_t>(rows * cols / 32) : 0);
}

// Codes and scales of one stored row (cols values) in plain C++.
void load_row_codes(DType t, const uint8_t* src, int64_t cols, int8_t* q, float* scale,
                    float* min) {
  switch (t) {
    case DType::Q8_0:
      for (int64_t b = 0; b < cols / 32; ++b, src += sizeof(quants::BlockQ8_0)) {
        scale[b] = half_at(src);
        std::memcpy(q + 32 * b, src + 2, 32);
      }
      return;
    case DType::Q4_0:
      for (int64_t b = 0; b < cols / 32; ++b, src += sizeof(quants::BlockQ4_0)) {
        scale[b] = half_at(src);
        for (int j = 0; j < 16; ++j) {
          q[32 * b + j] = static_cast<int8_t>((src[2 + j] & 15) - 8);
          q[32 * b + j + 16] = static_cast<int8_t>((src[2 + j] >> 4) - 8);
        }
      }
      return;
    case DType::Q4_K:
    case DType::Q5_K: {
      const bool five = t == DType::Q5_K;
      const uint64_t bytes = five ? sizeof(quants::BlockQ5_K) : sizeof(quants::BlockQ4_K);
      for (int64_t b = 0; b < cols / 256; ++b, src += bytes) {
        const float d = half_at(src), dmin = half_at(src + 2);
        const uint8_t* qh = src + 16;
        const uint8_t* qs = src + (five ? 48 : 16);
        for (int k = 0; k < 8; ++k) {  // sub-blocks of 32
          uint8_t sc, m;
          quants::get_scale_min_k4(src + 4, k, &sc, &m);
          scale[8 * b + k] = d * static_cast<float>(sc);
          min[8 * b + k] = dmin * static_cast<float>(m);
          for (int l = 0; l < 32; ++l) {
            const uint8_t byte = qs[32 * (k / 2) + l];
            int v = (k & 1) ? byte >> 4 : byte & 15;
            if (five && (qh[l] & (1u << k))) v += 16;
            q[256 * b + 32 * k + l] = static_cast<int8_t>(v);
          }
        }
      }
      return;
    }
    case DType::Q6_K:
      for (int64_t b = 0; b < cols / 256; ++b, src += sizeof(quants::BlockQ6_K)) {
        const uint8_t* ql = src;
        const uint8_t* qh = src + 128;
        const auto* sc = reinterpret_cast<const int8_t*>(src + 192);
        const float d = half_at(src + 208);
        for (int g = 0; g < 16; ++g) scale[16 * b + g] = d * static_cast<float>(sc[g]);
        for (int w = 0; w < 256; ++w) {
          const int n = w / 128, r = w % 128, j = r / 32, l = r % 32;
          const uint8_t lo = ql[64 * n + l + 32 * (j & 1)];
          const int low = j >= 2 ? lo >> 4 : lo & 15;
          const int high = (qh[32 * n + l] >> (2 * j)) & 3;
          q[256 * b + w] = static_cast<int8_t>((low | (high << 4)) - 32);
        }
      }
      return;
    default:
      R1_CHECK_MSG(false, "int8 gemm: no integer codes for %s", dtype_name(t));
  }
}

void size_gemm_x(int64_t n, int64_t cols, GemmX& out) {
  R1_CHECK(n >= 0 && cols > 0 && cols % 32 == 0);
  out.n = n;
  out.cols = cols;
  out.groups = (n + 15) / 16;
  out.q.resize(static_cast<size_t>(out.groups * cols * 16));
  out.d.resize(static_cast<size_t>(out.groups * (cols / 32) * 16));
  out.ds.resize(out.d.size());
}

}  // namespace

void pack_gemm_x_reference(const float* x, int64_t n, int64_t cols, GemmX& out) {
  size_gemm_x(n, cols, out);
  pack_groups(x, n, cols, 0, out.groups, out);
}

void pack_gemm_x(const float* x, int64_t n, int64_t cols, GemmX& out) {
  size_gemm_x(n, cols, out);
  const bool fast = cpu_has_vnni();
  auto run = [&](int64_t g0, int64_t g1) {
    if (fast)
      pack_gemm_x_vnni(x, n, cols, g0, g1, out);
    else
      pack_groups(x, n, cols, g0, g1, out);
  };
  if (out.groups * cols < (1 << 15))
    run(0, out.groups);
  else
    ThreadPool::global().parallel_for(out.groups, 1, run);
}

void load_gemm_rows_reference(DType t, const uint8_t* data, uint64_t row_bytes, int64_t rows,
                              int64_t cols, GemmW& out) {
  R1_CHECK(gemm_type(t) && rows > 0 && cols > 0 && cols % dtype_traits(t).block_elems == 0);
  size_gemm_w(t, rows, cols, out);
  const int64_t nbw = cols / out.group;
  for (int64_t r = 0; r < rows; ++r) {
    int8_t* q = out.q.data() + r * cols;
    load_row_codes(t, data + static_cast<uint64_t>(r) * row_bytes, cols, q,
                   out.scale.data() + r * nbw,
                   out.has_min ? out.min.data() + r * cols / 32 : nullptr);
    for (int64_t b = 0; b < nbw; ++b) {
      int32_t s = 0;
      for (int i = 0; i < out.group; ++i) s += q[b * out.group + i];
      out.corr[static_cast<size_t>(r * nbw + b)] = -128 * s;
    }
  }
}

void load_gemm_rows(DType t, const uint8_t* data, uint64_t row_bytes, int64_t rows, int64_t cols,
                    GemmW& out) {
  R1_CHECK(gemm_type(t) && rows > 0 && cols > 0 && cols % dtype_traits(t).block_elems == 0);
  if (cpu_has_vnni()) {
    size_gemm_w(t, rows, cols, out);
    if (load_gemm_rows_vnni(t, data, row_bytes, rows, cols, out)) return;
  }
  load_gemm_rows_reference(t, data, row_bytes, rows, cols, out);
}

void gemm_reference(const GemmW& w, const GemmX& x, float* y, int64_t ldy) {
  R1_CHECK(w.cols == x.cols && ldy >= w.rows);
  const int64_t cols = w.cols, G = w.group, nbw = cols / G, nb32 = cols / 32;
  for (int64_t t = 0; t < x.n; ++t) {
    const int64_t g = t / 16, lane = t % 16;
    const uint8_t* xq = x.q.data() + g * cols * 16;
    for (int64_t r = 0; r < w.rows; ++r) {
      const int8_t* q = w.q.data() + r * cols;
      float acc = 0;
      for (int64_t b = 0; b < nbw; ++b) {
        int32_t dot = w.corr[static_cast<size_t>(r * nbw + b)];
        for (int64_t k = b * G; k < (b + 1) * G; ++k)
          dot += static_cast<int32_t>(xq[(k / 4) * 64 + 4 * lane + k % 4]) * q[k];
        const int64_t c = b * G / 32;
        const float dx = x.d[static_cast<size_t>((g * nb32 + c) * 16 + lane)];
        acc =
            std::fma(static_cast<float>(dot), dx * w.scale[static_cast<size_t>(r * nbw + b)], acc);
        if (w.has_min)
          acc = std::fma(-w.min[static_cast<size_t>(r * nb32 + b)],
                         x.ds[static_cast<size_t>((g * nb32 + c) * 16 + lane)], acc);
      }
      y[t * ldy + r] = acc;
    }
  }
}

void gemm(const GemmW& w, const GemmX& x, float* y, int64_t ldy) {
  R1_CHECK(w.cols == x.cols && ldy >= w.rows);
  if (cpu_has_vnni()) return gemm_vnni(w, x, y, ldy);
  gemm_reference(w, x, y, ldy);
}

}  // namespace r1::int8
