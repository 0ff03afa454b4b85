// Scalar reference (de)quantization of the ggml block formats and R1's block-scaled FP8.
// Blocks are copied out of the source bytes with memcpy, so no alignment is assumed.
#include "kernels/quants.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <string>
#include <type_traits>

#include "core/check.h"
#include "core/error.h"
#include "core/half.h"

namespace r1::quants {

namespace {

constexpr float kF16Max = 65504.0f;
constexpr float kFp8Max = 448.0f;

const std::array<float, 256>& fp8_table() {
  static const std::array<float, 256> table = [] {
    std::array<float, 256> t{};
    for (int i = 0; i < 256; ++i) t[i] = fp8_e4m3_to_f32(static_cast<uint8_t>(i));
    return t;
  }();
  return table;
}

template <typename Block>
Block load_block(const uint8_t* p) {
  Block b;
  std::memcpy(&b, p, sizeof(Block));
  return b;
}

float h2f(uint16_t h) {
  return f16_to_f32(h);
}

// ---------------------------------------------------------------- dequantization

void dequant_q8_0(const uint8_t* src, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, src += sizeof(BlockQ8_0), y += kQK8_0) {
    auto b = load_block<BlockQ8_0>(src);
    const float d = h2f(b.d);
    for (int j = 0; j < kQK8_0; ++j) y[j] = d * static_cast<float>(b.qs[j]);
  }
}

void dequant_q4_0(const uint8_t* src, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, src += sizeof(BlockQ4_0), y += kQK4_0) {
    auto b = load_block<BlockQ4_0>(src);
    const float d = h2f(b.d);
    for (int j = 0; j < kQK4_0 / 2; ++j) {
      y[j] = d * static_cast<float>((b.qs[j] & 0xF) - 8);
      y[j + kQK4_0 / 2] = d * static_cast<float>((b.qs[j] >> 4) - 8);
    }
  }
}

void dequant_q2_k(const uint8_t* src, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, src += sizeof(BlockQ2_K), y += kQK_K) {
    auto b = load_block<BlockQ2_K>(src);
    const float d = h2f(b.d), dmin = h2f(b.dmin);
    for (int n = 0; n < 2; ++n) {  // two halves of 128, each with 32 bytes of 2-bit codes
      const uint8_t* q = b.qs + 32 * n;
      for (int j = 0; j < 4; ++j) {    // bit pair j of each byte
        for (int g = 0; g < 2; ++g) {  // two groups of 16 bytes, each with its own scale
          const uint8_t sc = b.scales[8 * n + 2 * j + g];
          const float dl = d * static_cast<float>(sc & 0xF);
          const float ml = dmin * static_cast<float>(sc >> 4);
          float* out = y + 128 * n + 32 * j + 16 * g;
          for (int l = 0; l < 16; ++l) {
            const int v = (q[16 * g + l] >> (2 * j)) & 3;
            out[l] = dl * static_cast<float>(v) - ml;
          }
        }
      }
    }
  }
}

void dequant_q3_k(const uint8_t* src, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, src += sizeof(BlockQ3_K), y += kQK_K) {
    auto b = load_block<BlockQ3_K>(src);
    const float d = h2f(b.d);
    for (int n = 0; n < 2; ++n) {
      const uint8_t* q = b.qs + 32 * n;
      for (int j = 0; j < 4; ++j) {
        const uint8_t bit = static_cast<uint8_t>(1u << (4 * n + j));
        for (int g = 0; g < 2; ++g) {
          const float dl = d * static_cast<float>(q3_k_scale(b.scales, 8 * n + 2 * j + g));
          float* out = y + 128 * n + 32 * j + 16 * g;
          for (int l = 0; l < 16; ++l) {
            const int idx = 16 * g + l;
            int v = (q[idx] >> (2 * j)) & 3;
            if (!(b.hmask[idx] & bit)) v -= 4;
            out[l] = dl * static_cast<float>(v);
          }
        }
      }
    }
  }
}

// Q4_K and Q5_K share the scale layout; Q5_K adds a fifth bit from qh.
template <bool kFive>
void dequant_q45_k(const uint8_t* src, float* y, int64_t nb) {
  using Block = std::conditional_t<kFive, BlockQ5_K, BlockQ4_K>;
  for (int64_t i = 0; i < nb; ++i, src += sizeof(Block), y += kQK_K) {
    auto b = load_block<Block>(src);
    const float d = h2f(b.d), dmin = h2f(b.dmin);
    for (int c = 0; c < 4; ++c) {  // chunks of 64: low nibbles then high nibbles of 32 bytes
      const uint8_t* q = b.qs + 32 * c;
      for (int half = 0; half < 2; ++half) {
        const int k = 2 * c + half;
        uint8_t sc, m;
        get_scale_min_k4(b.scales, k, &sc, &m);
        const float dl = d * static_cast<float>(sc);
        const float ml = dmin * static_cast<float>(m);
        float* out = y + 64 * c + 32 * half;
        for (int l = 0; l < 32; ++l) {
          int v = half == 0 ? (q[l] & 0xF) : (q[l] >> 4);
          if constexpr (kFive) {
            if (b.qh[l] & (1u << k)) v += 16;
          }
          out[l] = dl * static_cast<float>(v) - ml;
        }
      }
    }
  }
}

void dequant_q6_k(const uint8_t* src, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, src += sizeof(BlockQ6_K), y += kQK_K) {
    auto b = load_block<BlockQ6_K>(src);
    const float d = h2f(b.d);
    for (int n = 0; n < 2; ++n) {
      const uint8_t* ql = b.ql + 64 * n;
      const uint8_t* qh = b.qh + 32 * n;
      const int8_t* sc = b.scales + 8 * n;
      float* out = y + 128 * n;
      for (int l = 0; l < 32; ++l) {
        const int is = l / 16;
        const int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
        const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
        const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
        const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
        out[l] = d * static_cast<float>(sc[is]) * static_cast<float>(q1);
        out[l + 32] = d * static_cast<float>(sc[is + 2]) * static_cast<float>(q2);
        out[l + 64] = d * static_cast<float>(sc[is + 4]) * static_cast<float>(q3);
        out[l + 96] = d * static_cast<float>(sc[is + 6]) * static_cast<float>(q4);
      }
    }
  }
}

// ---------------------------------------------------------------- quantization helpers

// round(v) clamped to [lo, hi]; NaN gives 0 (clamped), +-Inf the bounds. Never UB.
int round_clamp(float v, int lo, int hi) {
  if (std::isnan(v)) return std::clamp(0, lo, hi);
  if (v <= static_cast<float>(lo)) return lo;
  if (v >= static_cast<float>(hi)) return hi;
  return std::clamp(static_cast<int>(std::nearbyint(v)), lo, hi);
}

// fp16 candidates for a block scale d (finite, saturated at +-65504): the nearest fp16 value
// and, when that is smaller in magnitude than d, also the next one up, with which the largest
// element cannot clip. Returns how many were written. Callers keep the one with less error;
// this matters where fp16 is coarse (subnormal scales of small weights).
int scale_candidates(float d, uint16_t out[2]) {
  if (!std::isfinite(d)) d = 0.0f;
  d = std::clamp(d, -kF16Max, kF16Max);
  out[0] = f32_to_f16(d);
  if (std::fabs(f16_to_f32(out[0])) < std::fabs(d) && (out[0] & 0x7fff) < 0x7bff) {
    out[1] = static_cast<uint16_t>(out[0] + 1);  // next magnitude, same sign
    return 2;
  }
  return 1;
}

// Integer candidates around r within [lo, hi], plus 0 (the "drop this sub-block" option);
// duplicates removed. Returns how many were written (at most 4).
int int_candidates(int r, int lo, int hi, int out[4]) {
  int n = 0;
  for (int v : {r, r - 1, r + 1, 0}) {
    if (v < lo || v > hi) continue;
    if (std::find(out, out + n, v) != out + n) continue;
    out[n++] = v;
  }
  return n;
}

// Copy of a block with NaN -> 0 and +-Inf -> +-(largest finite magnitude in the block), so that
// the fitting code only sees finite values (Inf then saturates at the block's range).
void sanitize(const float* x, float* out, int n) {
  float amax = 0.0f;
  for (int i = 0; i < n; ++i)
    if (std::isfinite(x[i])) amax = std::max(amax, std::fabs(x[i]));
  for (int i = 0; i < n; ++i) {
    if (std::isnan(x[i]))
      out[i] = 0.0f;
    else if (std::isinf(x[i]))
      out[i] = x[i] > 0 ? amax : -amax;
    else
      out[i] = x[i];
  }
}

// Fits x[i] ~= scale * L[i] - min with L in [0, nmax], scale >= 0, min >= 0 (K-quants with mins),
// minimizing the squared error over a sweep of candidate step sizes, each followed by a least
// squares solve for scale and min. x must be finite.
float fit_scale_min(const float* x, int n, int nmax, float* min_out) {
  float lo = 0.0f, hi = x[0];
  for (int i = 0; i < n; ++i) {
    lo = std::min(lo, x[i]);
    hi = std::max(hi, x[i]);
  }
  *min_out = -lo;
  if (!(hi > lo)) return 0.0f;  // all values equal and <= 0: exact with scale 0
  double best_err = INFINITY;
  float best_scale = 0.0f;
  for (int step = -10; step <= 10; ++step) {
    const float iscale = (static_cast<float>(nmax) + 0.1f * static_cast<float>(step)) / (hi - lo);
    double sl = 0, sll = 0, sx = 0, sxl = 0;
    for (int i = 0; i < n; ++i) {
      const int l = round_clamp((x[i] - lo) * iscale, 0, nmax);
      sl += l;
      sll += static_cast<double>(l) * l;
      sx += x[i];
      sxl += static_cast<double>(x[i]) * l;
    }
    // Least squares for x ~= a * l + b with b <= 0 (b = -min). When every l is the same the
    // system is singular; then (and when b would be positive) fit the scale alone with b = 0.
    const double det = n * sll - sl * sl;
    double a = 0, b = 1;
    if (det > 0) {
      a = (n * sxl - sx * sl) / det;
      b = (sll * sx - sl * sxl) / det;
    }
    if (b > 0) {
      if (!(sll > 0)) continue;
      b = 0;
      a = sxl / sll;
    }
    if (!(a > 0)) continue;
    // Error with the codes re-chosen for this (a, b), as the final encoding will do.
    double err = 0;
    for (int i = 0; i < n; ++i) {
      const int l = round_clamp(static_cast<float>((x[i] - b) / a), 0, nmax);
      const double e = a * l + b - x[i];
      err += e * e;
    }
    if (err < best_err) {
      best_err = err;
      best_scale = static_cast<float>(a);
      *min_out = static_cast<float>(-b);
    }
  }
  return best_scale;
}

// Fits x[i] ~= scale * L[i] with L in [-nmax, nmax - 1]: the largest magnitude maps near -nmax,
// the side with one more level, so the scale is signed. x must be finite.
float fit_scale_signed(const float* x, int n, int nmax) {
  float vmax = 0.0f;
  for (int i = 0; i < n; ++i)
    if (std::fabs(x[i]) > std::fabs(vmax)) vmax = x[i];
  if (vmax == 0.0f) return 0.0f;
  double best_err = INFINITY;
  float best_scale = 0.0f;
  for (int step = -12; step <= 4; ++step) {
    const float iscale = -(static_cast<float>(nmax) + 0.125f * static_cast<float>(step)) / vmax;
    double sxl = 0, sll = 0;
    for (int i = 0; i < n; ++i) {
      const int l = round_clamp(x[i] * iscale, -nmax, nmax - 1);
      sxl += static_cast<double>(x[i]) * l;
      sll += static_cast<double>(l) * l;
    }
    if (!(sll > 0)) continue;
    const double a = sxl / sll;
    double err = 0;
    for (int i = 0; i < n; ++i) {
      const int l = round_clamp(static_cast<float>(x[i] / a), -nmax, nmax - 1);
      const double e = a * l - x[i];
      err += e * e;
    }
    if (err < best_err) {
      best_err = err;
      best_scale = static_cast<float>(a);
    }
  }
  return best_scale;
}

// Codes for x ~= s * L - m, L in [lo, hi] (m = 0 for symmetric types); returns the squared
// error. s == 0 gives L = clamp(0).
double encode_codes(const float* x, int n, float s, float m, int lo, int hi, int* L) {
  double err = 0;
  for (int i = 0; i < n; ++i) {
    L[i] = s != 0.0f ? round_clamp((x[i] + m) / s, lo, hi) : std::clamp(0, lo, hi);
    const double e = static_cast<double>(s) * L[i] - m - x[i];
    err += e * e;
  }
  return err;
}

// ---------------------------------------------------------------- quantizers

// Q8_0 and Q4_0: one fp16 scale per 32; x ~= d * (code - bias).
template <typename Block>
void quant_q_0(const float* xin, uint8_t* dst, int64_t nb) {
  constexpr bool kQ8 = std::is_same_v<Block, BlockQ8_0>;
  constexpr int lo = kQ8 ? -127 : -8, hi = kQ8 ? 127 : 7;
  for (int64_t i = 0; i < nb; ++i, xin += 32, dst += sizeof(Block)) {
    float x[32];
    sanitize(xin, x, 32);
    // Q8_0: d = amax / 127. Q4_0: the value of largest magnitude maps to -8 (the side with
    // more levels), so d = vmax / -8 carries the sign.
    float vmax = 0.0f;
    for (int j = 0; j < 32; ++j)
      if (std::fabs(x[j]) > std::fabs(vmax)) vmax = x[j];
    const float want = kQ8 ? std::fabs(vmax) / 127.0f : (vmax != 0.0f ? vmax / -8.0f : 0.0f);
    uint16_t cand[2];
    const int nc = scale_candidates(want, cand);
    double best = INFINITY;
    int L[32], bestL[32];
    uint16_t best_d = 0;
    for (int c = 0; c < nc; ++c) {
      const double err = encode_codes(x, 32, h2f(cand[c]), 0.0f, lo, hi, L);
      if (err < best) {
        best = err;
        best_d = cand[c];
        std::copy(L, L + 32, bestL);
      }
    }
    Block b{};
    b.d = best_d;
    if constexpr (kQ8) {
      for (int j = 0; j < 32; ++j) b.qs[j] = static_cast<int8_t>(bestL[j]);
    } else {
      for (int j = 0; j < 16; ++j)
        b.qs[j] = static_cast<uint8_t>((bestL[j] + 8) | ((bestL[j + 16] + 8) << 4));
    }
    std::memcpy(dst, &b, sizeof b);
  }
}

// Q4_K (codes 0..15) and Q5_K (0..31): 8 sub-blocks of 32, x ~= d*sc*L - dmin*m with 6-bit sc, m.
template <bool kFive>
void quant_q45_k(const float* xin, uint8_t* dst, int64_t nb) {
  using Block = std::conditional_t<kFive, BlockQ5_K, BlockQ4_K>;
  constexpr int nmax = kFive ? 31 : 15;
  for (int64_t i = 0; i < nb; ++i, xin += kQK_K, dst += sizeof(Block)) {
    float x[kQK_K];
    sanitize(xin, x, kQK_K);
    // 1. Continuous scale and min per sub-block.
    float scales[8], mins[8];
    float max_scale = 0.0f, max_min = 0.0f;
    for (int k = 0; k < 8; ++k) {
      scales[k] = fit_scale_min(x + 32 * k, 32, nmax, &mins[k]);
      max_scale = std::max(max_scale, scales[k]);
      max_min = std::max(max_min, mins[k]);
    }
    // 2. fp16 super-block scales, then 6-bit sub-block scale and min by a small local search
    //    (nearest, +-1, 0) against the actual reconstruction error.
    uint16_t dc[2], mc[2];
    const int ndc = scale_candidates(max_scale / 63.0f, dc);
    const int nmc = scale_candidates(max_min / 63.0f, mc);
    double best_total = INFINITY;
    uint16_t best_d = 0, best_dmin = 0;
    int best_ls[8] = {}, best_lm[8] = {}, best_L[kQK_K] = {};
    for (int a = 0; a < ndc; ++a) {
      for (int c = 0; c < nmc; ++c) {
        const float d = h2f(dc[a]), dmin = h2f(mc[c]);
        double total = 0;
        int ls[8], lm[8], Lall[kQK_K];
        for (int k = 0; k < 8; ++k) {
          int sc_c[4], m_c[4], L[32];
          const int ns = int_candidates(d > 0 ? round_clamp(scales[k] / d, 0, 63) : 0, 0, 63, sc_c);
          const int nm =
              int_candidates(dmin > 0 ? round_clamp(mins[k] / dmin, 0, 63) : 0, 0, 63, m_c);
          double best = INFINITY;
          for (int u = 0; u < ns; ++u)
            for (int v = 0; v < nm; ++v) {
              const float s = d * static_cast<float>(sc_c[u]);
              const float m = dmin * static_cast<float>(m_c[v]);
              const double err = encode_codes(x + 32 * k, 32, s, m, 0, nmax, L);
              if (err < best) {
                best = err;
                ls[k] = sc_c[u];
                lm[k] = m_c[v];
                std::copy(L, L + 32, Lall + 32 * k);
              }
            }
          total += best;
        }
        if (total < best_total) {
          best_total = total;
          best_d = dc[a];
          best_dmin = mc[c];
          std::copy(ls, ls + 8, best_ls);
          std::copy(lm, lm + 8, best_lm);
          std::copy(Lall, Lall + kQK_K, best_L);
        }
      }
    }
    // 3. Pack. Sub-blocks 0..3 use 6 bits of bytes 0..7; 4..7 use the nibbles of bytes 8..11
    //    plus the top two bits of bytes 0..7.
    Block b{};
    b.d = best_d;
    b.dmin = best_dmin;
    for (int k = 0; k < 4; ++k) {
      b.scales[k] = static_cast<uint8_t>(best_ls[k] | ((best_ls[k + 4] >> 4) << 6));
      b.scales[k + 4] = static_cast<uint8_t>(best_lm[k] | ((best_lm[k + 4] >> 4) << 6));
      b.scales[k + 8] =
          static_cast<uint8_t>((best_ls[k + 4] & 0xF) | ((best_lm[k + 4] & 0xF) << 4));
    }
    for (int c = 0; c < 4; ++c) {
      for (int l = 0; l < 32; ++l) {
        int lo = best_L[64 * c + l], hi = best_L[64 * c + 32 + l];
        if constexpr (kFive) {
          if (lo > 15) {
            lo -= 16;
            b.qh[l] = static_cast<uint8_t>(b.qh[l] | (1u << (2 * c)));
          }
          if (hi > 15) {
            hi -= 16;
            b.qh[l] = static_cast<uint8_t>(b.qh[l] | (1u << (2 * c + 1)));
          }
        }
        b.qs[32 * c + l] = static_cast<uint8_t>(lo | (hi << 4));
      }
    }
    std::memcpy(dst, &b, sizeof b);
  }
}

// Q6_K: 16 sub-blocks of 16 with a signed 8-bit scale each; codes -32..31.
void quant_q6_k(const float* xin, uint8_t* dst, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, xin += kQK_K, dst += sizeof(BlockQ6_K)) {
    float x[kQK_K];
    sanitize(xin, x, kQK_K);
    float scales[16];
    float smax = 0.0f;  // sub-block scale of largest magnitude, with its sign
    for (int k = 0; k < 16; ++k) {
      scales[k] = fit_scale_signed(x + 16 * k, 16, 32);
      if (std::fabs(scales[k]) > std::fabs(smax)) smax = scales[k];
    }
    // smax maps to -128, the side of int8 with more levels.
    uint16_t dc[2];
    const int ndc = scale_candidates(smax != 0.0f ? smax / -128.0f : 0.0f, dc);
    double best_total = INFINITY;
    uint16_t best_d = 0;
    int best_sc[16] = {}, best_L[kQK_K] = {};
    for (int a = 0; a < ndc; ++a) {
      const float d = h2f(dc[a]);
      double total = 0;
      int sc[16], Lall[kQK_K];
      for (int k = 0; k < 16; ++k) {
        int cand[4], L[16];
        const int r = d != 0.0f ? round_clamp(scales[k] / d, -128, 127) : 0;
        const int nc = int_candidates(r, -128, 127, cand);
        double best = INFINITY;
        for (int u = 0; u < nc; ++u) {
          const double err =
              encode_codes(x + 16 * k, 16, d * static_cast<float>(cand[u]), 0.0f, -32, 31, L);
          if (err < best) {
            best = err;
            sc[k] = cand[u];
            std::copy(L, L + 16, Lall + 16 * k);
          }
        }
        total += best;
      }
      if (total < best_total) {
        best_total = total;
        best_d = dc[a];
        std::copy(sc, sc + 16, best_sc);
        std::copy(Lall, Lall + kQK_K, best_L);
      }
    }
    BlockQ6_K b{};
    b.d = best_d;
    for (int k = 0; k < 16; ++k) b.scales[k] = static_cast<int8_t>(best_sc[k]);
    for (int n = 0; n < 2; ++n) {
      const int* q = best_L + 128 * n;
      uint8_t* ql = b.ql + 64 * n;
      uint8_t* qh = b.qh + 32 * n;
      for (int l = 0; l < 32; ++l) {
        const int q1 = q[l] + 32, q2 = q[l + 32] + 32, q3 = q[l + 64] + 32, q4 = q[l + 96] + 32;
        ql[l] = static_cast<uint8_t>((q1 & 0xF) | ((q3 & 0xF) << 4));
        ql[l + 32] = static_cast<uint8_t>((q2 & 0xF) | ((q4 & 0xF) << 4));
        qh[l] = static_cast<uint8_t>((q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) |
                                     ((q4 >> 4) << 6));
      }
    }
    std::memcpy(dst, &b, sizeof b);
  }
}

int64_t block_count(DType t, int64_t n) {
  const auto& tr = dtype_traits(t);
  R1_CHECK_MSG(n >= 0 && n % tr.block_elems == 0, "%s row of %lld elements", tr.name,
               static_cast<long long>(n));
  return n / tr.block_elems;
}

}  // namespace

void dequantize_row(DType t, const void* src_v, float* dst, int64_t n) {
  const auto* src = static_cast<const uint8_t*>(src_v);
  const int64_t nb = block_count(t, n);
  switch (t) {
    case DType::F32:
      std::memcpy(dst, src, static_cast<size_t>(n) * 4);
      return;
    case DType::F16:
      for (int64_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, src + 2 * i, 2);
        dst[i] = f16_to_f32(h);
      }
      return;
    case DType::BF16:
      for (int64_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, src + 2 * i, 2);
        dst[i] = bf16_to_f32(h);
      }
      return;
    case DType::F64:
      for (int64_t i = 0; i < n; ++i) {
        double v;
        std::memcpy(&v, src + 8 * i, 8);
        dst[i] = static_cast<float>(v);
      }
      return;
    case DType::F8_E4M3: {
      const auto& table = fp8_table();
      for (int64_t i = 0; i < n; ++i) dst[i] = table[src[i]];
      return;
    }
    case DType::Q8_0:
      return dequant_q8_0(src, dst, nb);
    case DType::Q4_0:
      return dequant_q4_0(src, dst, nb);
    case DType::Q2_K:
      return dequant_q2_k(src, dst, nb);
    case DType::Q3_K:
      return dequant_q3_k(src, dst, nb);
    case DType::Q4_K:
      return dequant_q45_k<false>(src, dst, nb);
    case DType::Q5_K:
      return dequant_q45_k<true>(src, dst, nb);
    case DType::Q6_K:
      return dequant_q6_k(src, dst, nb);
    default:
      break;
  }
  R1_CHECK_MSG(false, "dequantize_row: unsupported type %s", dtype_name(t));
}

void dequantize_row_fp8_block(const uint8_t* src, const float* scale_row, float* dst, int64_t n) {
  R1_CHECK(n >= 0);
  const auto& table = fp8_table();
  for (int64_t i = 0; i < n; ++i) dst[i] = table[src[i]] * scale_row[i / kFp8Block];
}

void dequantize_fp8_blocks(const uint8_t* q, const float* scales, int64_t rows, int64_t cols,
                           float* dst) {
  R1_CHECK(rows >= 0 && cols >= 0);
  const int64_t scale_cols = fp8_scale_blocks(cols);
  for (int64_t r = 0; r < rows; ++r)
    dequantize_row_fp8_block(q + r * cols, scales + (r / kFp8Block) * scale_cols, dst + r * cols,
                             cols);
}

bool can_quantize(DType t) {
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

void quantize_row(DType t, const float* src, void* dst_v, int64_t n) {
  if (!can_quantize(t))
    throw Error(std::string("cannot quantize to ") + dtype_name(t) +
                " (supported: F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q5_K, Q6_K)");
  auto* dst = static_cast<uint8_t*>(dst_v);
  const int64_t nb = block_count(t, n);
  switch (t) {
    case DType::F32:
      std::memcpy(dst, src, static_cast<size_t>(n) * 4);
      return;
    case DType::F16:
      for (int64_t i = 0; i < n; ++i) {
        const uint16_t h = f32_to_f16(src[i]);
        std::memcpy(dst + 2 * i, &h, 2);
      }
      return;
    case DType::BF16:
      for (int64_t i = 0; i < n; ++i) {
        const uint16_t h = f32_to_bf16(src[i]);
        std::memcpy(dst + 2 * i, &h, 2);
      }
      return;
    case DType::Q8_0:
      return quant_q_0<BlockQ8_0>(src, dst, nb);
    case DType::Q4_0:
      return quant_q_0<BlockQ4_0>(src, dst, nb);
    case DType::Q4_K:
      return quant_q45_k<false>(src, dst, nb);
    case DType::Q5_K:
      return quant_q45_k<true>(src, dst, nb);
    case DType::Q6_K:
      return quant_q6_k(src, dst, nb);
    default:
      break;
  }
  R1_CHECK(false);
}

void quantize_fp8_blocks(const float* src, int64_t rows, int64_t cols, uint8_t* q, float* scales) {
  R1_CHECK(rows >= 0 && cols >= 0);
  const int64_t brows = fp8_scale_blocks(rows), bcols = fp8_scale_blocks(cols);
  for (int64_t bi = 0; bi < brows; ++bi) {
    const int64_t r0 = bi * kFp8Block, r1 = std::min(rows, r0 + kFp8Block);
    for (int64_t bj = 0; bj < bcols; ++bj) {
      const int64_t c0 = bj * kFp8Block, c1 = std::min(cols, c0 + kFp8Block);
      float amax = 0.0f;
      for (int64_t r = r0; r < r1; ++r)
        for (int64_t c = c0; c < c1; ++c) {
          const float v = src[r * cols + c];
          if (std::isfinite(v)) amax = std::max(amax, std::fabs(v));
        }
      float scale = amax > 0.0f ? amax / kFp8Max : 1.0f;
      if (!(scale > 0.0f)) scale = 1.0f;  // amax subnormal enough that amax/448 underflows
      scales[bi * bcols + bj] = scale;
      for (int64_t r = r0; r < r1; ++r)
        for (int64_t c = c0; c < c1; ++c)
          q[r * cols + c] = f32_to_fp8_e4m3(src[r * cols + c] / scale);
    }
  }
}

}  // namespace r1::quants
