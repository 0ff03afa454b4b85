// AVX-512 VNNI kernels of int8_gemm.h. Compiled with target attributes and called only after the
// CPU was checked (int8::cpu_has_vnni), so the rest of the program runs on any x86-64.
#include <algorithm>
#include <cstring>

#include "core/check.h"
#include "kernels/int8_gemm.h"
#include "kernels/quants.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
// GCC 12 flags the intrinsics' own undefined pass-through operands (_mm512_undefined_ps).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#define R1_VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,f16c,fma")))
#endif

namespace r1::int8 {

#if defined(__x86_64__) && defined(__GNUC__)
namespace {

R1_VNNI inline float half_at(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return _cvtsh_ss(h);
}

// Sums of the signed bytes of v over each 8 bytes (4 lanes of 64 bits).
R1_VNNI inline __m256i sums8(__m256i v) {
  const __m256i biased = _mm256_xor_si256(v, _mm256_set1_epi8(static_cast<char>(0x80)));
  return _mm256_sub_epi64(_mm256_sad_epu8(biased, _mm256_setzero_si256()),
                          _mm256_set1_epi64x(8 * 128));
}

R1_VNNI inline int32_t sum32(__m256i v) {
  const __m256i s = sums8(v);
  return static_cast<int32_t>(_mm256_extract_epi64(s, 0) + _mm256_extract_epi64(s, 1) +
                              _mm256_extract_epi64(s, 2) + _mm256_extract_epi64(s, 3));
}

// Stores 32 codes of one sub-block of 32 with their correction.
R1_VNNI inline void put32(int8_t* q, int32_t* corr, __m256i v) {
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(q), v);
  *corr = -128 * sum32(v);
}

// The same for two groups of 16 (Q6_K).
R1_VNNI inline void put16x2(int8_t* q, int32_t* corr, __m256i v) {
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(q), v);
  const __m256i s = sums8(v);
  corr[0] = -128 * static_cast<int32_t>(_mm256_extract_epi64(s, 0) + _mm256_extract_epi64(s, 1));
  corr[1] = -128 * static_cast<int32_t>(_mm256_extract_epi64(s, 2) + _mm256_extract_epi64(s, 3));
}

// -128 x the sums of 4 blocks of 32 codes, from their per-8-byte sums (sums8).
R1_VNNI inline __m128i corr4(__m256i s0, __m256i s1, __m256i s2, __m256i s3) {
  const __m256i t01 =
      _mm256_add_epi64(_mm256_unpacklo_epi64(s0, s1), _mm256_unpackhi_epi64(s0, s1));
  const __m256i t23 =
      _mm256_add_epi64(_mm256_unpacklo_epi64(s2, s3), _mm256_unpackhi_epi64(s2, s3));
  const __m256i u = _mm256_add_epi64(_mm256_permute2x128_si256(t01, t23, 0x20),
                                     _mm256_permute2x128_si256(t01, t23, 0x31));
  return _mm_mullo_epi32(_mm256_cvtepi64_epi32(u), _mm_set1_epi32(-128));
}

R1_VNNI void load_q8_0(const uint8_t* src, int64_t cols, int8_t* q, float* scale, int32_t* corr) {
  constexpr int64_t kB = sizeof(quants::BlockQ8_0);
  int64_t b = 0;
  for (; b + 4 <= cols / 32; b += 4, src += 4 * kB) {
    __m256i v[4], s[4];
    for (int i = 0; i < 4; ++i) {
      v[i] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i * kB + 2));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(q + 32 * (b + i)), v[i]);
      s[i] = sums8(v[i]);
    }
    _mm_storeu_si128(reinterpret_cast<__m128i*>(corr + b), corr4(s[0], s[1], s[2], s[3]));
    uint16_t h[4];
    for (int i = 0; i < 4; ++i) std::memcpy(&h[i], src + i * kB, 2);
    uint64_t packed;
    std::memcpy(&packed, h, 8);
    _mm_storeu_ps(scale + b, _mm_cvtph_ps(_mm_cvtsi64_si128(static_cast<int64_t>(packed))));
  }
  for (; b < cols / 32; ++b, src += kB) {
    scale[b] = half_at(src);
    put32(q + 32 * b, corr + b, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + 2)));
  }
}

R1_VNNI void load_q4_k(const uint8_t* src, int64_t cols, int8_t* q, float* scale, int32_t* corr,
                       float* min) {
  const __m256i low4 = _mm256_set1_epi8(0x0F);
  for (int64_t b = 0; b < cols / 256; ++b, src += sizeof(quants::BlockQ4_K)) {
    const float d = half_at(src), dmin = half_at(src + 2);
    for (int k = 0; k < 8; ++k) {
      uint8_t sc, m;
      quants::get_scale_min_k4(src + 4, k, &sc, &m);
      scale[8 * b + k] = d * static_cast<float>(sc);
      min[8 * b + k] = dmin * static_cast<float>(m);
    }
    for (int c = 0; c < 4; ++c) {
      const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + 16 + 32 * c));
      const int64_t k = 8 * b + 2 * c;
      put32(q + 32 * k, corr + k, _mm256_and_si256(v, low4));
      put32(q + 32 * (k + 1), corr + k + 1, _mm256_and_si256(_mm256_srli_epi16(v, 4), low4));
    }
  }
}

R1_VNNI void load_q6_k(const uint8_t* src, int64_t cols, int8_t* q, float* scale, int32_t* corr) {
  const __m256i low4 = _mm256_set1_epi8(0x0F), low2 = _mm256_set1_epi8(0x03);
  const __m256i m32 = _mm256_set1_epi8(32);
  for (int64_t b = 0; b < cols / 256; ++b, src += sizeof(quants::BlockQ6_K)) {
    const auto* sc = reinterpret_cast<const int8_t*>(src + 192);
    const float d = half_at(src + 208);
    for (int g = 0; g < 16; ++g) scale[16 * b + g] = d * static_cast<float>(sc[g]);
    for (int n = 0; n < 2; ++n) {
      const __m256i l0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + 64 * n));
      const __m256i l1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + 64 * n + 32));
      const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + 128 + 32 * n));
      const __m256i lo[4] = {_mm256_and_si256(l0, low4), _mm256_and_si256(l1, low4),
                             _mm256_and_si256(_mm256_srli_epi16(l0, 4), low4),
                             _mm256_and_si256(_mm256_srli_epi16(l1, 4), low4)};
      for (int j = 0; j < 4; ++j) {
        const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(h, 2 * j), low2);
        const __m256i v = _mm256_sub_epi8(_mm256_or_si256(lo[j], _mm256_slli_epi16(hi, 4)), m32);
        const int64_t at = 256 * b + 128 * n + 32 * j;
        put16x2(q + at, corr + at / 16, v);
      }
    }
  }
}

// One block of MR rows x NT groups of 16 tokens over the whole row length.
template <int MR, int NT, int G, bool MIN>
R1_VNNI void tile(const GemmW& w, int64_t r0, const GemmX& x, int64_t g0, float* y, int64_t ldy) {
  const int64_t cols = w.cols, nbw = cols / G, nb32 = cols / 32;
  const int8_t* wq[MR];
  const float* ws[MR];
  const int32_t* wc[MR];
  const float* wm[MR];
  for (int r = 0; r < MR; ++r) {
    wq[r] = w.q.data() + (r0 + r) * cols;
    ws[r] = w.scale.data() + (r0 + r) * nbw;
    wc[r] = w.corr.data() + (r0 + r) * nbw;
    wm[r] = MIN ? w.min.data() + (r0 + r) * nb32 : nullptr;
  }
  const uint8_t* xq[NT];
  const float* xd[NT];
  const float* xs[NT];
  for (int t = 0; t < NT; ++t) {
    xq[t] = x.q.data() + (g0 + t) * cols * 16;
    xd[t] = x.d.data() + (g0 + t) * nb32 * 16;
    xs[t] = x.ds.data() + (g0 + t) * nb32 * 16;
  }
  __m512 acc[MR][NT];
  for (int r = 0; r < MR; ++r)
    for (int t = 0; t < NT; ++t) acc[r][t] = _mm512_setzero_ps();
  for (int64_t b = 0; b < nbw; ++b) {
    __m512i s[MR][NT];
    for (int r = 0; r < MR; ++r) {
      const __m512i c = _mm512_set1_epi32(wc[r][b]);
      for (int t = 0; t < NT; ++t) s[r][t] = c;
    }
    for (int k = 0; k < G / 4; ++k) {
      __m512i xv[NT];
      for (int t = 0; t < NT; ++t) xv[t] = _mm512_loadu_si512(xq[t] + (b * (G / 4) + k) * 64);
      for (int r = 0; r < MR; ++r) {
        int32_t wv;
        std::memcpy(&wv, wq[r] + b * G + 4 * k, 4);
        const __m512i wb = _mm512_set1_epi32(wv);
        for (int t = 0; t < NT; ++t) s[r][t] = _mm512_dpbusd_epi32(s[r][t], xv[t], wb);
      }
    }
    const int64_t c = b * G / 32;
    __m512 dv[NT];
    for (int t = 0; t < NT; ++t) dv[t] = _mm512_loadu_ps(xd[t] + c * 16);
    for (int r = 0; r < MR; ++r) {
      const __m512 sc = _mm512_set1_ps(ws[r][b]);
      for (int t = 0; t < NT; ++t)
        acc[r][t] =
            _mm512_fmadd_ps(_mm512_cvtepi32_ps(s[r][t]), _mm512_mul_ps(dv[t], sc), acc[r][t]);
    }
    if constexpr (MIN) {
      __m512 sv[NT];
      for (int t = 0; t < NT; ++t) sv[t] = _mm512_loadu_ps(xs[t] + c * 16);
      for (int r = 0; r < MR; ++r) {
        const __m512 m = _mm512_set1_ps(wm[r][b]);
        for (int t = 0; t < NT; ++t) acc[r][t] = _mm512_fnmadd_ps(m, sv[t], acc[r][t]);
      }
    }
  }
  for (int t = 0; t < NT; ++t) {
    alignas(64) float out[MR][16];
    for (int r = 0; r < MR; ++r) _mm512_store_ps(out[r], acc[r][t]);
    const int64_t tok0 = (g0 + t) * 16;
    const int64_t lanes = std::min<int64_t>(16, x.n - tok0);
    for (int64_t l = 0; l < lanes; ++l)
      for (int r = 0; r < MR; ++r) y[(tok0 + l) * ldy + r0 + r] = out[r][l];
  }
}

template <int NT, int G, bool MIN>
R1_VNNI void rows_tile(const GemmW& w, int64_t r0, int64_t left, const GemmX& x, int64_t g0,
                       float* y, int64_t ldy) {
  switch (left) {
    case 1:
      return tile<1, NT, G, MIN>(w, r0, x, g0, y, ldy);
    case 2:
      return tile<2, NT, G, MIN>(w, r0, x, g0, y, ldy);
    case 3:
      return tile<3, NT, G, MIN>(w, r0, x, g0, y, ldy);
    default:
      return tile<4, NT, G, MIN>(w, r0, x, g0, y, ldy);
  }
}

template <int G, bool MIN>
R1_VNNI void gemm_all(const GemmW& w, const GemmX& x, float* y, int64_t ldy) {
  for (int64_t g0 = 0; g0 < x.groups; g0 += 2)
    for (int64_t r0 = 0; r0 < w.rows; r0 += 4) {
      const int64_t left = std::min<int64_t>(4, w.rows - r0);
      if (g0 + 2 <= x.groups)
        rows_tile<2, G, MIN>(w, r0, left, x, g0, y, ldy);
      else
        rows_tile<1, G, MIN>(w, r0, left, x, g0, y, ldy);
    }
}

}  // namespace

R1_VNNI void pack_gemm_x_vnni(const float* x, int64_t n, int64_t cols, int64_t g0, int64_t g1,
                              GemmX& out) {
  const int64_t nb = cols / 32;
  const __m512 sign_off = _mm512_castsi512_ps(_mm512_set1_epi32(0x7fffffff));
  const __m512i lo = _mm512_set1_epi32(-127), hi = _mm512_set1_epi32(127);
  for (int64_t g = g0; g < g1; ++g)
    for (int lane = 0; lane < 16; ++lane) {
      const int64_t t = 16 * g + lane;
      uint8_t* qg = out.q.data() + g * cols * 16 + 4 * lane;
      for (int64_t b = 0; b < nb; ++b) {
        const size_t at = static_cast<size_t>((g * nb + b) * 16 + lane);
        uint32_t words[8];
        if (t >= n) {
          for (uint32_t& v : words) v = 0x80808080u;
          out.d[at] = 0;
          out.ds[at] = 0;
        } else {
          const float* xb = x + t * cols + 32 * b;
          const __m512 v0 = _mm512_loadu_ps(xb), v1 = _mm512_loadu_ps(xb + 16);
          const float amax = _mm512_reduce_max_ps(
              _mm512_max_ps(_mm512_and_ps(v0, sign_off), _mm512_and_ps(v1, sign_off)));
          const float d = amax / 127.0f;
          const float inv = d > 0 ? 1.0f / d : 0.0f;
          const __m512 iv = _mm512_set1_ps(inv);
          const __m512i q0 =
              _mm512_max_epi32(lo, _mm512_min_epi32(hi, _mm512_cvtps_epi32(_mm512_mul_ps(v0, iv))));
          const __m512i q1 =
              _mm512_max_epi32(lo, _mm512_min_epi32(hi, _mm512_cvtps_epi32(_mm512_mul_ps(v1, iv))));
          const int32_t sum = _mm512_reduce_add_epi32(_mm512_add_epi32(q0, q1));
          const __m512i bias = _mm512_set1_epi32(128);
          _mm_storeu_si128(reinterpret_cast<__m128i*>(words),
                           _mm512_cvtepi32_epi8(_mm512_add_epi32(q0, bias)));
          _mm_storeu_si128(reinterpret_cast<__m128i*>(words + 4),
                           _mm512_cvtepi32_epi8(_mm512_add_epi32(q1, bias)));
          out.d[at] = d;
          out.ds[at] = d * static_cast<float>(sum);
        }
        for (int j = 0; j < 8; ++j) std::memcpy(qg + (8 * b + j) * 64, &words[j], 4);
      }
    }
}

R1_VNNI bool load_gemm_rows_vnni(DType t, const uint8_t* data, uint64_t row_bytes, int64_t rows,
                                 int64_t cols, GemmW& out) {
  if (t != DType::Q8_0 && t != DType::Q4_K && t != DType::Q6_K) return false;
  const int64_t nbw = cols / out.group;
  for (int64_t r = 0; r < rows; ++r) {
    const uint8_t* src = data + static_cast<uint64_t>(r) * row_bytes;
    int8_t* q = out.q.data() + r * cols;
    float* scale = out.scale.data() + r * nbw;
    int32_t* corr = out.corr.data() + r * nbw;
    if (t == DType::Q8_0)
      load_q8_0(src, cols, q, scale, corr);
    else if (t == DType::Q4_K)
      load_q4_k(src, cols, q, scale, corr, out.min.data() + r * cols / 32);
    else
      load_q6_k(src, cols, q, scale, corr);
  }
  return true;
}

R1_VNNI void gemm_vnni(const GemmW& w, const GemmX& x, float* y, int64_t ldy) {
  if (w.group == 16) {
    R1_CHECK(!w.has_min);
    return gemm_all<16, false>(w, x, y, ldy);
  }
  if (w.has_min) return gemm_all<32, true>(w, x, y, ldy);
  gemm_all<32, false>(w, x, y, ldy);
}
R1_VNNI double vnni_peak_ops_one_thread(int64_t iters) {
  constexpr int kChains = 12;  // enough independent sums to cover the instruction's latency
  __m512i acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = _mm512_set1_epi32(i);
  __m512i a = _mm512_set1_epi8(1), b = _mm512_set1_epi8(-1);
  for (int64_t it = 0; it < iters; ++it) {
    for (int i = 0; i < kChains; ++i) acc[i] = _mm512_dpbusd_epi32(acc[i], a, b);
    __asm__ volatile("" : "+v"(a), "+v"(b));  // keeps the loop from being folded
  }
  __m512i sum = acc[0];
  for (int i = 1; i < kChains; ++i) sum = _mm512_add_epi32(sum, acc[i]);
  // (lane 0 only: the sums wrap by design, and a scalar reduction of them would overflow int)
  volatile int sink = _mm_cvtsi128_si32(_mm512_castsi512_si128(sum));
  (void)sink;
  return static_cast<double>(iters) * kChains * 64 * 2;
}
#else
double vnni_peak_ops_one_thread(int64_t) {
  return 0;
}
void pack_gemm_x_vnni(const float*, int64_t, int64_t, int64_t, int64_t, GemmX&) {
  R1_CHECK_MSG(false, "int8 gemm: no VNNI kernels in this build");
}
bool load_gemm_rows_vnni(DType, const uint8_t*, uint64_t, int64_t, int64_t, GemmW&) {
  return false;
}
void gemm_vnni(const GemmW&, const GemmX&, float*, int64_t) {
  R1_CHECK_MSG(false, "int8 gemm: no VNNI kernels in this build");
}
#endif

}  // namespace r1::int8
