#include "kernels/amx_int8.h"

#include <algorithm>
#include <cstring>

#include "core/check.h"
#include "kernels/amx.h"

#if defined(__x86_64__) && defined(__linux__) && defined(__GNUC__)
#include <cpuid.h>
#include <immintrin.h>
// GCC 12 flags the intrinsics' own undefined pass-through operands (_mm512_undefined_ps).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#define R1_HAVE_AMX_INT8_CODE 1
#define R1_AMX_INT8 __attribute__((target("amx-tile,amx-int8,avx512f,avx512bw,avx512vl,avx512dq")))
#endif

namespace r1::amx {

#ifdef R1_HAVE_AMX_INT8_CODE
namespace {

bool cpu_has_amx_int8() {
  unsigned a, b, c, d;
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
  const bool tile = (d >> 24) & 1, int8 = (d >> 25) & 1;
  return tile && int8 && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq");
}

struct alignas(64) TileConfig {
  uint8_t palette = 1, start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};
};

// Tiles 0-3: C (16 weight rows x 16 tokens, int32): two token groups, two blocks in flight; 4-5:
// A (16 weight rows x G codes); 6-7: B (G / 4 rows of 16 tokens x 4 codes: GemmX's layout).
R1_AMX_INT8 void configure(int g) {
  TileConfig cfg;
  for (int i = 0; i < 4; ++i) cfg.colsb[i] = 64, cfg.rows[i] = 16;
  for (int i : {4, 5}) cfg.colsb[i] = static_cast<uint16_t>(g), cfg.rows[i] = 16;
  for (int i : {6, 7}) cfg.colsb[i] = 64, cfg.rows[i] = static_cast<uint8_t>(g / 4);
  // GCC's _tile_loadconfig tells the compiler it reads only the first 8 bytes, so without this
  // barrier the stores of the sizes can be dropped (seen with GCC 12: a tile instruction then
  // faults as unconfigured).
  __asm__ __volatile__("" : : "r"(&cfg) : "memory");
  _tile_loadconfig(&cfg);
}

// The float steps of the VNNI kernel for weight block b, from its integer sums cb [row][token]:
// acc[r] += float(sum) x (dx x scale[r, b]), then (Q4_K, Q5_K) -= min[r, b] x dx x sum(xq).
template <int G, bool MIN>
R1_AMX_INT8 inline void epilogue(__m512 (&acc)[16], const int32_t* cb, int64_t b, const float* xd,
                                 const float* xsum, const float* const* ws,
                                 const float* const* wm) {
  const int64_t c32 = b * G / 32;
  const __m512 dv = _mm512_loadu_ps(xd + c32 * 16);
  for (int r = 0; r < 16; ++r) {
    const __m512 s = _mm512_cvtepi32_ps(_mm512_load_si512(cb + 16 * r));
    acc[r] = _mm512_fmadd_ps(s, _mm512_mul_ps(dv, _mm512_set1_ps(ws[r][b])), acc[r]);
  }
  if constexpr (MIN) {
    const __m512 sv = _mm512_loadu_ps(xsum + c32 * 16);
    for (int r = 0; r < 16; ++r) acc[r] = _mm512_fnmadd_ps(_mm512_set1_ps(wm[r][b]), sv, acc[r]);
  }
}

// Rows [0, 16) of the epilogue's accumulators -> y for the tokens of group g (rows past nr and
// tokens past x.n are padding).
R1_AMX_INT8 inline void store_group(const __m512 (&acc)[16], int64_t g, int64_t r0, int64_t nr,
                                    int64_t n, float* y, int64_t ldy) {
  alignas(64) float out[16][16];  // [row][token]
  for (int r = 0; r < 16; ++r) _mm512_store_ps(out[r], acc[r]);
  const int64_t tok0 = g * 16, lanes = std::min<int64_t>(16, n - tok0);
  for (int64_t t = 0; t < lanes; ++t)
    for (int64_t r = 0; r < nr; ++r) y[(tok0 + t) * ldy + r0 + r] = out[r][t];
}

// One strip of 16 weight rows (codes `wq`, `cols` apart; rows past `nr` are padding whose
// results are dropped) against token groups g and g + 1 (kPair) or g alone: one A tile (the
// weights) serves both groups' B tiles.
//
// The tile unit runs in order, a tile store waits for its product, and loads of what a tile
// store wrote wait for the store to leave the core. So block b's products are issued a block
// before their sums are stored, and those are scaled three blocks after that: C tiles 0-1 and
// 2-3 in turn (A tiles 4-5 with them) and a ring of eight stored blocks.
template <int G, bool MIN, bool kPair>
R1_AMX_INT8 void strip(const int8::GemmW& w, const int8_t* wq, int64_t r0, int64_t nr,
                       const int8::GemmX& x, const int8_t* xs, int64_t g, float* y, int64_t ldy) {
  constexpr int64_t kStoreLag = 1, kScaleLag = 3;  // (kStoreLag + kScaleLag + 2 <= 8 buffers)
  const int64_t cols = w.cols, nbw = cols / G, nb32 = cols / 32;
  const float* ws[16];
  const float* wm[16];
  for (int r = 0; r < 16; ++r) {
    const int64_t row = r0 + std::min<int64_t>(r, nr - 1);  // padding reads a real row
    ws[r] = w.scale.data() + row * nbw;
    wm[r] = MIN ? w.min.data() + row * nb32 : nullptr;
  }
  const int64_t h = kPair ? g + 1 : g;  // the second group (g itself when alone)
  const int8_t* x0 = xs + g * cols * 16;
  const int8_t* x1 = xs + h * cols * 16;
  const float* d0 = x.d.data() + g * nb32 * 16;
  const float* d1 = x.d.data() + h * nb32 * 16;
  const float* s0 = x.ds.data() + g * nb32 * 16;
  const float* s1 = x.ds.data() + h * nb32 * 16;
  alignas(64) int32_t c[8][2][16 * 16];
  __m512 acc0[16], acc1[16];
  for (int r = 0; r < 16; ++r) acc0[r] = acc1[r] = _mm512_setzero_ps();
  for (int64_t b = 0; b < nbw + kStoreLag + kScaleLag; ++b) {
    if (b < nbw) {
      const int8_t* a = wq + b * G;
      if (b & 1) {
        _tile_zero(2);
        _tile_loadd(5, a, cols);
        _tile_loadd(6, x0 + b * G * 16, 64);
        _tile_dpbssd(2, 5, 6);
        if constexpr (kPair) {
          _tile_zero(3);
          _tile_loadd(7, x1 + b * G * 16, 64);
          _tile_dpbssd(3, 5, 7);
        }
      } else {
        _tile_zero(0);
        _tile_loadd(4, a, cols);
        _tile_loadd(6, x0 + b * G * 16, 64);
        _tile_dpbssd(0, 4, 6);
        if constexpr (kPair) {
          _tile_zero(1);
          _tile_loadd(7, x1 + b * G * 16, 64);
          _tile_dpbssd(1, 4, 7);
        }
      }
    }
    const int64_t stored = b - kStoreLag;
    if (stored >= 0 && stored < nbw) {
      int32_t(&cb)[2][256] = c[stored & 7];
      if (stored & 1) {
        _tile_stored(2, cb[0], 64);
        if constexpr (kPair) _tile_stored(3, cb[1], 64);
      } else {
        _tile_stored(0, cb[0], 64);
        if constexpr (kPair) _tile_stored(1, cb[1], 64);
      }
    }
    const int64_t scaled = stored - kScaleLag;
    if (scaled >= 0) {
      epilogue<G, MIN>(acc0, c[scaled & 7][0], scaled, d0, s0, ws, wm);
      if constexpr (kPair) epilogue<G, MIN>(acc1, c[scaled & 7][1], scaled, d1, s1, ws, wm);
    }
  }
  store_group(acc0, g, r0, nr, x.n, y, ldy);
  if constexpr (kPair) store_group(acc1, h, r0, nr, x.n, y, ldy);
}

template <int G, bool MIN>
R1_AMX_INT8 void gemm_all(const int8::GemmW& w, const int8::GemmX& x, const int8_t* xs, float* y,
                          int64_t ldy) {
  configure(G);
  thread_local std::vector<int8_t> pad;  // the last strip's rows, zero-padded to 16
  for (int64_t r0 = 0; r0 < w.rows; r0 += 16) {
    const int64_t nr = std::min<int64_t>(16, w.rows - r0);
    const int8_t* wq = w.q.data() + r0 * w.cols;
    if (nr < 16) {
      pad.assign(static_cast<size_t>(16 * w.cols), 0);
      std::memcpy(pad.data(), wq, static_cast<size_t>(nr * w.cols));
      wq = pad.data();
    }
    int64_t g = 0;
    for (; g + 2 <= x.groups; g += 2) strip<G, MIN, true>(w, wq, r0, nr, x, xs, g, y, ldy);
    if (g < x.groups) strip<G, MIN, false>(w, wq, r0, nr, x, xs, g, y, ldy);
  }
  _tile_release();
}

R1_AMX_INT8 void signed_codes_avx512(const uint8_t* q, size_t n, int8_t* out) {
  const __m512i bias = _mm512_set1_epi8(static_cast<char>(0x80));
  size_t i = 0;
  for (; i + 64 <= n; i += 64)
    _mm512_storeu_si512(out + i, _mm512_xor_si512(_mm512_loadu_si512(q + i), bias));
  for (; i < n; ++i) out[i] = static_cast<int8_t>(q[i] ^ 0x80);
}

R1_AMX_INT8 double peak_loop(int64_t iters) {
  configure(64);  // (G = 64: full-depth tiles for the peak)
  alignas(64) static const int8_t zeros[1024] = {};
  _tile_loadd(4, zeros, 64);
  _tile_loadd(5, zeros, 64);
  _tile_loadd(6, zeros, 64);
  _tile_loadd(7, zeros, 64);
  _tile_zero(0);
  _tile_zero(1);
  _tile_zero(2);
  _tile_zero(3);
  for (int64_t i = 0; i < iters; ++i) {
    _tile_dpbssd(0, 4, 6);
    _tile_dpbssd(1, 5, 7);
    _tile_dpbssd(2, 4, 7);
    _tile_dpbssd(3, 5, 6);
  }
  alignas(64) int32_t sink[256];
  _tile_stored(0, sink, 64);
  _tile_release();
  return 4.0 * 16 * 16 * 64 * 2 * static_cast<double>(iters) + (sink[0] == 1 ? 1 : 0);
}

}  // namespace

bool int8_available() {
  static const bool ok = cpu_has_amx_int8() && tiles_permitted();
  return ok;
}

void signed_codes(const int8::GemmX& x, std::vector<int8_t>& out) {
  out.resize(x.q.size());
  if (int8_available()) return signed_codes_avx512(x.q.data(), x.q.size(), out.data());
  for (size_t i = 0; i < x.q.size(); ++i) out[i] = static_cast<int8_t>(x.q[i] ^ 0x80);
}

void gemm_int8(const int8::GemmW& w, const int8::GemmX& x, const int8_t* xs, float* y,
               int64_t ldy) {
  R1_CHECK(int8_available());
  R1_CHECK(w.cols == x.cols && w.cols % 32 == 0);
  if (w.rows == 0 || x.n == 0) return;
  if (w.group == 16) return gemm_all<16, false>(w, x, xs, y, ldy);
  R1_CHECK(w.group == 32);
  if (w.has_min) return gemm_all<32, true>(w, x, xs, y, ldy);
  gemm_all<32, false>(w, x, xs, y, ldy);
}

double int8_peak_ops_one_thread(int64_t iters) {
  R1_CHECK(int8_available());
  return peak_loop(iters);
}
#else
bool int8_available() {
  return false;
}
void signed_codes(const int8::GemmX& x, std::vector<int8_t>& out) {
  out.resize(x.q.size());
  for (size_t i = 0; i < x.q.size(); ++i) out[i] = static_cast<int8_t>(x.q[i] ^ 0x80);
}
void gemm_int8(const int8::GemmW&, const int8::GemmX&, const int8_t*, float*, int64_t) {
  R1_CHECK_MSG(false, "AMX-INT8 is not available in this build");
}
double int8_peak_ops_one_thread(int64_t) {
  return 0;
}
#endif

}  // namespace r1::amx
