// Highway kernels, compiled once per x86 target and chosen at run time.
#include "kernels/simd.h"

#include <cmath>
#include <cstring>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/simd.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>
// (after highway.h, re-included per target)
#include <hwy/contrib/math/math-inl.h>

#include "core/check.h"
#include "core/half.h"
#include "kernels/quants.h"

#if HWY_ARCH_X86
#include <immintrin.h>
#endif

HWY_BEFORE_NAMESPACE();
namespace r1::simd::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;
using DF = hn::ScalableTag<float>;
using DI = hn::Rebind<int32_t, DF>;
using VF = hn::Vec<DF>;
using VI = hn::Vec<DI>;

HWY_INLINE float Half(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX2
  return _cvtsh_ss(h);
#else
  return f16_to_f32(h);
#endif
}

HWY_INLINE VI LoadI8(const uint8_t* p) {
  const DI di;
  const hn::Rebind<int8_t, DF> d8;
  return hn::PromoteTo(di, hn::LoadU(d8, reinterpret_cast<const int8_t*>(p)));
}
HWY_INLINE VI LoadU8(const uint8_t* p) {
  const DI di;
  const hn::Rebind<uint8_t, DF> du8;
  return hn::PromoteTo(di, hn::LoadU(du8, p));
}

// Each block type describes its groups of G consecutive weights: weight = s_g * q - o_g with
// integer codes q. Scales(blk, s, o) fills the G-groups' s and o; Q(blk, g, i) returns the codes
// of lanes i.. of group g as int32.
struct Q8_0 {
  static constexpr int kElems = 32, kBytes = 34, kGroup = 32;
  static constexpr bool kOffset = false;
  static HWY_INLINE void Scales(const uint8_t* b, float* s, float* o) {
    s[0] = Half(b);
    o[0] = 0.0f;
  }
  static HWY_INLINE VI Q(const uint8_t* b, int, size_t i) { return LoadI8(b + 2 + i); }
};
struct Q4_0 {
  static constexpr int kElems = 32, kBytes = 18, kGroup = 32;
  static constexpr bool kOffset = true;
  static HWY_INLINE void Scales(const uint8_t* b, float* s, float* o) {
    s[0] = Half(b);
    o[0] = 8.0f * s[0];
  }
  static HWY_INLINE VI Q(const uint8_t* b, int, size_t i) {
    const DI di;
    const VI v = LoadU8(b + 2 + (i & 15));
    return i < 16 ? hn::And(v, hn::Set(di, 15)) : hn::ShiftRight<4>(v);
  }
};
template <bool kFive>
struct QK45 {
  static constexpr int kElems = 256, kBytes = kFive ? 176 : 144, kGroup = 32;
  static constexpr bool kOffset = true;
  static constexpr int kQs = kFive ? 48 : 16;  // offset of qs
  static HWY_INLINE void Scales(const uint8_t* b, float* s, float* o) {
    const float d = Half(b), dmin = Half(b + 2);
    for (int g = 0; g < 8; ++g) {
      uint8_t sc, m;
      quants::get_scale_min_k4(b + 4, g, &sc, &m);
      s[g] = d * sc;
      o[g] = dmin * m;
    }
  }
  static HWY_INLINE VI Q(const uint8_t* b, int g, size_t i) {
    const DI di;
    const VI v = LoadU8(b + kQs + 32 * (g / 2) + i);
    VI q = (g & 1) ? hn::ShiftRight<4>(v) : hn::And(v, hn::Set(di, 15));
    if constexpr (kFive) {
      const VI h = LoadU8(b + 16 + i);  // qh[i]: bit g is the fifth bit of group g
      q = hn::Or(q, hn::ShiftLeft<4>(hn::And(hn::ShiftRightSame(h, g), hn::Set(di, 1))));
    }
    return q;
  }
};
struct Q6_K {
  static constexpr int kElems = 256, kBytes = 210, kGroup = 16;
  static constexpr bool kOffset = true;
  static HWY_INLINE void Scales(const uint8_t* b, float* s, float* o) {
    const float d = Half(b + 208);
    for (int k = 0; k < 16; ++k) {
      s[k] = d * static_cast<float>(static_cast<int8_t>(b[192 + k]));
      o[k] = 32.0f * s[k];
    }
  }
  // Group k (16 weights) lies in half n = k / 8, quarter j = (k % 8) / 2, lanes l0 = 16 (k % 2).
  static HWY_INLINE VI Q(const uint8_t* b, int k, size_t i) {
    const DI di;
    const int n = k / 8, j = (k % 8) / 2;
    const size_t l = static_cast<size_t>(16 * (k % 2)) + i;
    const uint8_t* ql = b + 64 * n;
    const uint8_t* qh = b + 128 + 32 * n;
    const VI lo = LoadU8(ql + l + (j & 1) * 32);
    const VI low = (j >= 2) ? hn::ShiftRight<4>(lo) : hn::And(lo, hn::Set(di, 15));
    const VI high = hn::And(hn::ShiftRightSame(LoadU8(qh + l), 2 * j), hn::Set(di, 3));
    return hn::Or(low, hn::ShiftLeft<4>(high));
  }
};

// R rows at once (independent accumulation chains; x loaded once per R rows).
template <class T, int R>
HWY_INLINE void DotBlocks(const uint8_t* const* rows, const float* x, const float* gsum,
                          int64_t cols, float* out) {
  const DF df;
  const size_t N = hn::Lanes(df);
  constexpr int kGroups = T::kElems / T::kGroup;
  VF acc[R];
  float off[R];
  for (int r = 0; r < R; ++r) acc[r] = hn::Zero(df), off[r] = 0.0f;
  const int64_t nb = cols / T::kElems;
  for (int64_t b = 0; b < nb; ++b) {
    float s[R][kGroups], o[R][kGroups];
    const uint8_t* blk[R];
    for (int r = 0; r < R; ++r) {
      blk[r] = rows[r] + b * T::kBytes;
      T::Scales(blk[r], s[r], o[r]);
    }
    const float* xb = x + b * T::kElems;
    for (int g = 0; g < kGroups; ++g) {
      VF part[R];
      for (int r = 0; r < R; ++r) part[r] = hn::Zero(df);
      for (size_t i = 0; i < static_cast<size_t>(T::kGroup); i += N) {
        const VF xv = hn::LoadU(df, xb + g * T::kGroup + i);
        for (int r = 0; r < R; ++r)
          part[r] = hn::MulAdd(hn::ConvertTo(df, T::Q(blk[r], g, i)), xv, part[r]);
      }
      const float gs = (T::kGroup == 32) ? gsum[(b * T::kElems + g * 32) / 16] +
                                               gsum[(b * T::kElems + g * 32) / 16 + 1]
                                         : gsum[(b * T::kElems + g * 16) / 16];
      for (int r = 0; r < R; ++r) {
        acc[r] = hn::MulAdd(part[r], hn::Set(df, s[r][g]), acc[r]);
        off[r] += o[r][g] * gs;
      }
    }
  }
  for (int r = 0; r < R; ++r) out[r] = hn::GetLane(hn::SumOfLanes(df, acc[r])) - off[r];
}

// Float rows (F32 / F16 / BF16), R at once.
template <DType kT, int R>
HWY_INLINE void DotFloat(const uint8_t* const* rows, const float* x, int64_t cols, float* out) {
  const DF df;
  const size_t N = hn::Lanes(df);
  VF acc[R];
  for (int r = 0; r < R; ++r) acc[r] = hn::Zero(df);
  int64_t i = 0;
  auto load = [&](const uint8_t* row, int64_t k) HWY_ATTR {
    if constexpr (kT == DType::F32) {
      return hn::LoadU(df, reinterpret_cast<const float*>(row) + k);
    } else if constexpr (kT == DType::BF16) {
      const hn::Rebind<uint16_t, DF> d16;
      const hn::Rebind<uint32_t, DF> du;
      const auto v = hn::PromoteTo(du, hn::LoadU(d16, reinterpret_cast<const uint16_t*>(row) + k));
      return hn::BitCast(df, hn::ShiftLeft<16>(v));
    } else {
      const hn::Rebind<hwy::float16_t, DF> dh;
      return hn::PromoteTo(df, hn::LoadU(dh, reinterpret_cast<const hwy::float16_t*>(row) + k));
    }
  };
  for (; i + static_cast<int64_t>(N) <= cols; i += N) {
    const VF xv = hn::LoadU(df, x + i);
    for (int r = 0; r < R; ++r) acc[r] = hn::MulAdd(load(rows[r], i), xv, acc[r]);
  }
  for (int r = 0; r < R; ++r) out[r] = hn::GetLane(hn::SumOfLanes(df, acc[r]));
  if (i < cols) {  // tail
    float tmp[16];
    for (int r = 0; r < R; ++r) {
      quants::dequantize_row(kT, rows[r] + i * (kT == DType::F32 ? 4 : 2), tmp, cols - i);
      for (int64_t k = i; k < cols; ++k) out[r] += tmp[k - i] * x[k];
    }
  }
}

template <class T>
HWY_INLINE void DequantBlocks(const uint8_t* row, int64_t cols, float* out) {
  const DF df;
  const size_t N = hn::Lanes(df);
  constexpr int kGroups = T::kElems / T::kGroup;
  for (int64_t b = 0; b < cols / T::kElems; ++b) {
    const uint8_t* blk = row + b * T::kBytes;
    float s[kGroups], o[kGroups];
    T::Scales(blk, s, o);
    float* ob = out + b * T::kElems;
    for (int g = 0; g < kGroups; ++g) {
      const VF vs = hn::Set(df, s[g]), vo = hn::Set(df, o[g]);
      for (size_t i = 0; i < static_cast<size_t>(T::kGroup); i += N)
        hn::StoreU(hn::MulSub(hn::ConvertTo(df, T::Q(blk, g, i)), vs, vo), df,
                   ob + g * T::kGroup + i);
    }
  }
}

// Decodes a stored row to float32; false for types without a SIMD decoder.
bool DequantRow(DType t, const uint8_t* row, int64_t cols, float* out) {
  switch (t) {
    case DType::Q8_0:
      DequantBlocks<Q8_0>(row, cols, out);
      return true;
    case DType::Q4_0:
      DequantBlocks<Q4_0>(row, cols, out);
      return true;
    case DType::Q4_K:
      DequantBlocks<QK45<false>>(row, cols, out);
      return true;
    case DType::Q5_K:
      DequantBlocks<QK45<true>>(row, cols, out);
      return true;
    case DType::Q6_K:
      DequantBlocks<Q6_K>(row, cols, out);
      return true;
    default:
      return false;
  }
}

template <int R>
HWY_INLINE void DotRowsR(DType t, const uint8_t* const* rows, const float* x, const float* gsum,
                         int64_t cols, float* out) {
  switch (t) {
    case DType::F32:
      return DotFloat<DType::F32, R>(rows, x, cols, out);
    case DType::F16:
      return DotFloat<DType::F16, R>(rows, x, cols, out);
    case DType::BF16:
      return DotFloat<DType::BF16, R>(rows, x, cols, out);
    case DType::Q8_0:
      return DotBlocks<Q8_0, R>(rows, x, gsum, cols, out);
    case DType::Q4_0:
      return DotBlocks<Q4_0, R>(rows, x, gsum, cols, out);
    case DType::Q4_K:
      return DotBlocks<QK45<false>, R>(rows, x, gsum, cols, out);
    case DType::Q5_K:
      return DotBlocks<QK45<true>, R>(rows, x, gsum, cols, out);
    case DType::Q6_K:
      return DotBlocks<Q6_K, R>(rows, x, gsum, cols, out);
    default:
      R1_CHECK_MSG(false, "simd::dot_rows: no kernel for %s", dtype_name(t));
  }
}

void DotRows(DType t, const uint8_t* const* rows, int n_rows, const float* x, const float* gsum,
             int64_t cols, float* out) {
  switch (n_rows) {
    case 1:
      return DotRowsR<1>(t, rows, x, gsum, cols, out);
    case 2:
      return DotRowsR<2>(t, rows, x, gsum, cols, out);
    case 3:
      return DotRowsR<3>(t, rows, x, gsum, cols, out);
    case 4:
      return DotRowsR<4>(t, rows, x, gsum, cols, out);
    default:
      R1_CHECK_MSG(false, "simd::dot_rows: %d rows", n_rows);
  }
}

void GroupSums(const float* x, int64_t cols, float* out) {
  const DF df;
  const size_t N = hn::Lanes(df);
  int64_t g = 0;
  for (; (g + 1) * 16 <= cols; ++g) {
    VF s = hn::Zero(df);
    for (size_t i = 0; i < 16; i += N) s = hn::Add(s, hn::LoadU(df, x + g * 16 + i));
    out[g] = hn::GetLane(hn::SumOfLanes(df, s));
  }
  if (g * 16 < cols) {
    float s = 0;
    for (int64_t i = g * 16; i < cols; ++i) s += x[i];
    out[g] = s;
  }
}

// 4 x 4 register tile of dot products: w rows [4, cols], x rows [4, cols].
template <int MR, int NR>
HWY_INLINE void GemmTile(const float* w, int64_t ldw, const float* x, int64_t ldx, int64_t cols,
                         float* y, int64_t ldy) {
  const DF df;
  const size_t N = hn::Lanes(df);
  VF acc[MR][NR];
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NR; ++j) acc[i][j] = hn::Zero(df);
  int64_t k = 0;
  for (; k + static_cast<int64_t>(N) <= cols; k += N) {
    VF wv[MR];
    for (int i = 0; i < MR; ++i) wv[i] = hn::LoadU(df, w + i * ldw + k);
    for (int j = 0; j < NR; ++j) {
      const VF xv = hn::LoadU(df, x + j * ldx + k);
      for (int i = 0; i < MR; ++i) acc[i][j] = hn::MulAdd(wv[i], xv, acc[i][j]);
    }
  }
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NR; ++j) {
      float s = hn::GetLane(hn::SumOfLanes(df, acc[i][j]));
      for (int64_t kk = k; kk < cols; ++kk) s += w[i * ldw + kk] * x[j * ldx + kk];
      y[j * ldy + i] = s;
    }
}

template <int MR>
HWY_INLINE void GemmRows(const float* w, int64_t ldw, const float* x, int64_t ldx, int64_t n,
                         int64_t cols, float* y, int64_t ldy) {
  int64_t t = 0;
  for (; t + 4 <= n; t += 4) GemmTile<MR, 4>(w, ldw, x + t * ldx, ldx, cols, y + t * ldy, ldy);
  for (; t < n; ++t) GemmTile<MR, 1>(w, ldw, x + t * ldx, ldx, cols, y + t * ldy, ldy);
}

void Gemm(const float* w, int64_t ldw, int64_t m, const float* x, int64_t ldx, int64_t n,
          int64_t cols, float* y, int64_t ldy) {
  int64_t r = 0;
  for (; r + 4 <= m; r += 4) GemmRows<4>(w + r * ldw, ldw, x, ldx, n, cols, y + r, ldy);
  for (; r < m; ++r) GemmRows<1>(w + r * ldw, ldw, x, ldx, n, cols, y + r, ldy);
}

// z[g, :] += sum_s p[g, s] v[s, :] for GH heads g at once, s < B, over dv columns: each row of
// v is loaded once for all GH heads (the block of v rows is larger than L1).
template <int GH>
HWY_INLINE void WeightedRowsHeads(const float* p, int64_t ldp, const float* v, int64_t ldv,
                                  int64_t B, int64_t dv, float* z, int64_t ldz) {
  const DF df;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  int64_t j = 0;
  for (; j + 2 * N <= dv; j += 2 * N) {
    VF a[GH][2];
    for (int h = 0; h < GH; ++h) {
      a[h][0] = hn::LoadU(df, z + h * ldz + j);
      a[h][1] = hn::LoadU(df, z + h * ldz + j + N);
    }
    for (int64_t s = 0; s < B; ++s) {
      const VF v0 = hn::LoadU(df, v + s * ldv + j), v1 = hn::LoadU(df, v + s * ldv + j + N);
      for (int h = 0; h < GH; ++h) {
        const VF ps = hn::Set(df, p[h * ldp + s]);
        a[h][0] = hn::MulAdd(ps, v0, a[h][0]);
        a[h][1] = hn::MulAdd(ps, v1, a[h][1]);
      }
    }
    for (int h = 0; h < GH; ++h) {
      hn::StoreU(a[h][0], df, z + h * ldz + j);
      hn::StoreU(a[h][1], df, z + h * ldz + j + N);
    }
  }
  for (; j + N <= dv; j += N)
    for (int h = 0; h < GH; ++h) {
      VF a = hn::LoadU(df, z + h * ldz + j);
      for (int64_t s = 0; s < B; ++s)
        a = hn::MulAdd(hn::Set(df, p[h * ldp + s]), hn::LoadU(df, v + s * ldv + j), a);
      hn::StoreU(a, df, z + h * ldz + j);
    }
  for (; j < dv; ++j)
    for (int h = 0; h < GH; ++h) {
      float a = z[h * ldz + j];
      for (int64_t s = 0; s < B; ++s) a += p[h * ldp + s] * v[s * ldv + j];
      z[h * ldz + j] = a;
    }
}

// z[g, :] += sum_s p[g, s] v[s, :] for g < G, s < B, over dv columns.
void WeightedRows(const float* p, int64_t ldp, int64_t G, const float* v, int64_t ldv, int64_t B,
                  int64_t dv, float* z, int64_t ldz) {
  int64_t g = 0;
  for (; g + 8 <= G; g += 8)
    WeightedRowsHeads<8>(p + g * ldp, ldp, v, ldv, B, dv, z + g * ldz, ldz);
  for (; g + 4 <= G; g += 4)
    WeightedRowsHeads<4>(p + g * ldp, ldp, v, ldv, B, dv, z + g * ldz, ldz);
  for (; g < G; ++g) WeightedRowsHeads<1>(p + g * ldp, ldp, v, ldv, B, dv, z + g * ldz, ldz);
}

float Dot(const float* a, const float* b, int64_t n) {
  const DF df;
  const size_t N = hn::Lanes(df);
  VF s0 = hn::Zero(df), s1 = hn::Zero(df);
  int64_t i = 0;
  for (; i + 2 * static_cast<int64_t>(N) <= n; i += 2 * N) {
    s0 = hn::MulAdd(hn::LoadU(df, a + i), hn::LoadU(df, b + i), s0);
    s1 = hn::MulAdd(hn::LoadU(df, a + i + N), hn::LoadU(df, b + i + N), s1);
  }
  for (; i + static_cast<int64_t>(N) <= n; i += N)
    s0 = hn::MulAdd(hn::LoadU(df, a + i), hn::LoadU(df, b + i), s0);
  float s = hn::GetLane(hn::SumOfLanes(df, hn::Add(s0, s1)));
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

void Axpy(float a, const float* x, float* y, int64_t n) {
  const DF df;
  const size_t N = hn::Lanes(df);
  const VF av = hn::Set(df, a);
  int64_t i = 0;
  for (; i + static_cast<int64_t>(N) <= n; i += N)
    hn::StoreU(hn::MulAdd(av, hn::LoadU(df, x + i), hn::LoadU(df, y + i)), df, y + i);
  for (; i < n; ++i) y[i] += a * x[i];
}

float Sum(const float* p, int64_t n) {
  const DF df;
  const size_t N = hn::Lanes(df);
  VF s0 = hn::Zero(df), s1 = s0, s2 = s0, s3 = s0;
  int64_t i = 0;
  for (; i + 4 * static_cast<int64_t>(N) <= n; i += 4 * N) {
    s0 = hn::Add(s0, hn::LoadU(df, p + i));
    s1 = hn::Add(s1, hn::LoadU(df, p + i + N));
    s2 = hn::Add(s2, hn::LoadU(df, p + i + 2 * N));
    s3 = hn::Add(s3, hn::LoadU(df, p + i + 3 * N));
  }
  float s = hn::GetLane(hn::SumOfLanes(df, hn::Add(hn::Add(s0, s1), hn::Add(s2, s3))));
  for (; i < n; ++i) s += p[i];
  return s;
}

// 12 independent FMA chains (enough to cover the latency of two FMA units), `iters` rounds.
double FmaLoop(int64_t iters, float* sink) {
  const DF df;
  constexpr int kChains = 12;
  VF acc[kChains];
  for (int c = 0; c < kChains; ++c) acc[c] = hn::Set(df, 1.0f + 0.001f * c);
  const VF a = hn::Set(df, 0.999999f), b = hn::Set(df, 1e-7f);
  for (int64_t i = 0; i < iters; ++i)
    for (int c = 0; c < kChains; ++c) acc[c] = hn::MulAdd(acc[c], a, b);
  VF s = acc[0];
  for (int c = 1; c < kChains; ++c) s = hn::Add(s, acc[c]);
  *sink = hn::GetLane(s);
  return 2.0 * kChains * static_cast<double>(hn::Lanes(df)) * static_cast<double>(iters);
}

// out[i] = silu(gate[i]) * up[i] = gate / (1 + exp(-gate)) * up.
void SiluMul(const float* gate, const float* up, int64_t n, float* out) {
  const DF df;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  const VF one = hn::Set(df, 1.0f);
  int64_t i = 0;
  for (; i + N <= n; i += N) {
    const VF g = hn::LoadU(df, gate + i);
    const VF e = hn::Exp(df, hn::Neg(g));
    hn::StoreU(hn::Mul(hn::Div(g, hn::Add(one, e)), hn::LoadU(df, up + i)), df, out + i);
  }
  for (; i < n; ++i) out[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
}

// x[i] = exp(scale * x[i] - shift); returns the sum.
float ExpShiftSum(float* x, int64_t n, float scale, float shift) {
  const DF df;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  const VF vs = hn::Set(df, scale), vshift = hn::Set(df, shift);
  VF sum = hn::Zero(df);
  int64_t i = 0;
  for (; i + N <= n; i += N) {
    const VF e = hn::Exp(df, hn::MulSub(hn::LoadU(df, x + i), vs, vshift));
    hn::StoreU(e, df, x + i);
    sum = hn::Add(sum, e);
  }
  float s = hn::GetLane(hn::SumOfLanes(df, sum));
  for (; i < n; ++i) {
    x[i] = std::exp(scale * x[i] - shift);
    s += x[i];
  }
  return s;
}

int64_t Target() {
  return HWY_TARGET;
}

}  // namespace r1::simd::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace r1::simd {
HWY_EXPORT(DotRows);
HWY_EXPORT(GroupSums);
HWY_EXPORT(Gemm);
HWY_EXPORT(DequantRow);
HWY_EXPORT(WeightedRows);
HWY_EXPORT(ExpShiftSum);
HWY_EXPORT(SiluMul);

void silu_mul(const float* gate, const float* up, int64_t n, float* out) {
  HWY_DYNAMIC_DISPATCH(SiluMul)(gate, up, n, out);
}

float exp_shift_sum(float* x, int64_t n, float scale, float shift) {
  return HWY_DYNAMIC_DISPATCH(ExpShiftSum)(x, n, scale, shift);
}
HWY_EXPORT(Dot);
HWY_EXPORT(Axpy);
HWY_EXPORT(Target);
HWY_EXPORT(Sum);
HWY_EXPORT(FmaLoop);

float sum_f32(const float* p, int64_t n) {
  return HWY_DYNAMIC_DISPATCH(Sum)(p, n);
}
double fma_loop(int64_t iters, float* sink) {
  return HWY_DYNAMIC_DISPATCH(FmaLoop)(iters, sink);
}

bool dequant_row(DType t, const uint8_t* row, int64_t cols, float* out) {
  return HWY_DYNAMIC_DISPATCH(DequantRow)(t, row, cols, out);
}

bool has_row_dot(DType t) {
  switch (t) {
    case DType::F32:
    case DType::F16:
    case DType::BF16:
    case DType::Q8_0:
    case DType::Q4_0:
    case DType::Q4_K:
    case DType::Q5_K:
    case DType::Q6_K:
      return true;
    default:
      return false;
  }
}

void dot_rows(DType t, const uint8_t* const* rows, int n_rows, const float* x,
              const float* group_sums, int64_t cols, float* out) {
  HWY_DYNAMIC_DISPATCH(DotRows)(t, rows, n_rows, x, group_sums, cols, out);
}
void x_group_sums(const float* x, int64_t cols, float* out) {
  HWY_DYNAMIC_DISPATCH(GroupSums)(x, cols, out);
}
void gemm_f32(const float* w, int64_t m, const float* x, int64_t n, int64_t cols, float* y,
              int64_t ldy) {
  HWY_DYNAMIC_DISPATCH(Gemm)(w, cols, m, x, cols, n, cols, y, ldy);
}
void gemm_f32_strided(const float* w, int64_t ldw, int64_t m, const float* x, int64_t ldx,
                      int64_t n, int64_t cols, float* y, int64_t ldy) {
  HWY_DYNAMIC_DISPATCH(Gemm)(w, ldw, m, x, ldx, n, cols, y, ldy);
}
void weighted_rows(const float* p, int64_t ldp, int64_t g, const float* v, int64_t ldv, int64_t b,
                   int64_t dv, float* z, int64_t ldz) {
  HWY_DYNAMIC_DISPATCH(WeightedRows)(p, ldp, g, v, ldv, b, dv, z, ldz);
}
float dot_f32(const float* a, const float* b, int64_t n) {
  return HWY_DYNAMIC_DISPATCH(Dot)(a, b, n);
}
void axpy_f32(float a, const float* x, float* y, int64_t n) {
  HWY_DYNAMIC_DISPATCH(Axpy)(a, x, y, n);
}
std::string target_name_of(int64_t target) {
  return hwy::TargetName(target);
}
std::string target_name() {
  return target_name_of(HWY_DYNAMIC_DISPATCH(Target)());
}
std::string isa_summary() {
  const std::string t = target_name();
  std::string s = t == "AVX3" || t == "AVX3_DL" ? "AVX-512" : t;
  s += " (Highway " + t + ")";
#if HWY_ARCH_X86 && defined(__GNUC__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512vnni")) s += " +VNNI";
  if (__builtin_cpu_supports("avx512bf16")) s += " +BF16";
#endif
  return s;
}

std::vector<int64_t> supported_targets() {
  return hwy::SupportedAndGeneratedTargets();
}
void force_target(int64_t target) {
  hwy::SetSupportedTargetsForTest(target);
}
}  // namespace r1::simd
#endif
