#include "kernels/amx.h"

#include <algorithm>
#include <cstring>

#include "core/check.h"
#include "core/half.h"

#if defined(__x86_64__) && defined(__linux__) && defined(__GNUC__)
#include <cpuid.h>
#include <immintrin.h>
#include <sys/syscall.h>
#include <unistd.h>
#define R1_HAVE_AMX_CODE 1
#define R1_AMX __attribute__((target("amx-tile,amx-bf16,avx512f,avx512bw,avx512vl,avx512bf16")))
#endif

namespace r1::amx {

namespace {
constexpr int64_t kTok = 16;   // tokens per tile (B columns)
constexpr int64_t kK = 32;     // bf16 values of k per tile step
constexpr int64_t kRows = 16;  // weight rows per tile (A rows)

inline uint16_t bf16(float f) {
  return f32_to_bf16(f);
}
}  // namespace

#ifdef R1_HAVE_AMX_CODE
namespace {
bool cpu_has_amx_bf16() {
  unsigned a, b, c, d;
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
  const bool tile = (d >> 24) & 1, bf = (d >> 22) & 1;
  // AVX512-BF16 (for the conversions): CPUID.(7,1):EAX bit 5.
  unsigned a1, b1, c1, d1;
  if (!__get_cpuid_count(7, 1, &a1, &b1, &c1, &d1)) return false;
  return tile && bf && ((a1 >> 5) & 1) && __builtin_cpu_supports("avx512bw");
}

bool request_tile_permission() {
  constexpr long kArchReqXcompPerm = 0x1023;
  constexpr long kXfeatureXtiledata = 18;
  return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
}

struct alignas(64) TileConfig {
  uint8_t palette = 1, start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};
};

// Tiles 0-3: C (2 x 2 blocks of 16 rows x 16 tokens, float32); 4-5: A (weights, 16 rows x 32
// bf16); 6-7: B (activations, 16 pairs x 16 tokens x 2 bf16). Every tile is 16 rows x 64 bytes.
R1_AMX void configure() {
  TileConfig cfg;
  for (int i = 0; i < 8; ++i) cfg.colsb[i] = 64, cfg.rows[i] = 16;
  _tile_loadconfig(&cfg);
}

// Weight rows [16 * strips, kb * 32] in bf16, zero-padded.
R1_AMX void to_bf16_rows(const float* w, int64_t m, int64_t k, int64_t kp, int64_t m_pad,
                         uint16_t* out) {
  for (int64_t r = 0; r < m_pad; ++r) {
    uint16_t* o = out + r * kp;
    if (r >= m) {
      std::memset(o, 0, static_cast<size_t>(kp) * 2);
      continue;
    }
    const float* src = w + r * k;
    int64_t j = 0;
    for (; j + 32 <= k; j += 32) {
      const __m512bh v =
          _mm512_cvtne2ps_pbh(_mm512_loadu_ps(src + j + 16), _mm512_loadu_ps(src + j));
      _mm512_storeu_si512(o + j, reinterpret_cast<const __m512i&>(v));
    }
    for (; j < k; ++j) o[j] = bf16(src[j]);
    for (; j < kp; ++j) o[j] = 0;
  }
}

R1_AMX void gemm_amx(const float* w, int64_t m, const PackedActivations& x, float* y, int64_t ldy) {
  configure();
  const int64_t kp = x.kb * kK;
  const int64_t m_pad = (m + 2 * kRows - 1) / (2 * kRows) * (2 * kRows);
  thread_local std::vector<uint16_t> wb;
  wb.resize(static_cast<size_t>(m_pad * kp));
  to_bf16_rows(w, m, x.k, kp, m_pad, wb.data());
  alignas(64) float c[4][16 * 16];
  const int64_t a_stride = kp * 2;  // bytes between weight rows
  for (int64_t r0 = 0; r0 < m_pad; r0 += 2 * kRows) {
    const uint16_t* a0 = wb.data() + r0 * kp;
    const uint16_t* a1 = a0 + kRows * kp;
    for (int64_t tb = 0; tb < x.nt; tb += 2) {
      const bool two = tb + 1 < x.nt;
      _tile_zero(0);
      _tile_zero(1);
      _tile_zero(2);
      _tile_zero(3);
      const uint16_t* b0 = x.data.data() + tb * x.kb * 512;
      const uint16_t* b1 = two ? b0 + x.kb * 512 : b0;
      for (int64_t kb = 0; kb < x.kb; ++kb) {
        _tile_loadd(4, a0 + kb * kK, a_stride);
        _tile_loadd(5, a1 + kb * kK, a_stride);
        _tile_loadd(6, b0 + kb * 512, 64);
        _tile_loadd(7, b1 + kb * 512, 64);
        _tile_dpbf16ps(0, 4, 6);
        _tile_dpbf16ps(1, 5, 6);
        _tile_dpbf16ps(2, 4, 7);
        _tile_dpbf16ps(3, 5, 7);
      }
      _tile_stored(0, c[0], 64);
      _tile_stored(1, c[1], 64);
      _tile_stored(2, c[2], 64);
      _tile_stored(3, c[3], 64);
      // c[i][row * 16 + token]: i = 0 (rows 0-15, tokens 0-15), 1 (rows 16-31, tokens 0-15),
      // 2 (rows 0-15, tokens 16-31), 3 (rows 16-31, tokens 16-31).
      for (int i = 0; i < 4; ++i) {
        const int64_t rb = r0 + (i & 1) * kRows, t0 = (tb + (i >> 1)) * kTok;
        if (i >= 2 && !two) continue;
        for (int64_t t = 0; t < kTok && t0 + t < x.n; ++t)
          for (int64_t r = 0; r < kRows && rb + r < m; ++r)
            y[(t0 + t) * ldy + rb + r] = c[i][r * 16 + t];
      }
    }
  }
  _tile_release();
}
R1_AMX double peak_loop(int64_t iters) {
  configure();
  alignas(64) static const uint16_t ones[512] = {};
  _tile_loadd(4, ones, 64);
  _tile_loadd(5, ones, 64);
  _tile_loadd(6, ones, 64);
  _tile_loadd(7, ones, 64);
  _tile_zero(0);
  _tile_zero(1);
  _tile_zero(2);
  _tile_zero(3);
  for (int64_t i = 0; i < iters; ++i) {
    _tile_dpbf16ps(0, 4, 6);
    _tile_dpbf16ps(1, 5, 6);
    _tile_dpbf16ps(2, 4, 7);
    _tile_dpbf16ps(3, 5, 7);
  }
  alignas(64) float sink[256];
  _tile_stored(0, sink, 64);
  _tile_release();
  return 4.0 * 16 * 16 * 32 * 2 * static_cast<double>(iters) + (sink[0] == 1.0f ? 1 : 0);
}
}  // namespace

double peak_flops_one_thread(int64_t iters) {
  R1_CHECK(available());
  return peak_loop(iters);
}

bool available() {
  static const bool ok = cpu_has_amx_bf16() && request_tile_permission();
  return ok;
}

void gemm(const float* w, int64_t m, const PackedActivations& x, float* y, int64_t ldy) {
  R1_CHECK(available());
  gemm_amx(w, m, x, y, ldy);
}
#else
bool available() {
  return false;
}
void gemm(const float*, int64_t, const PackedActivations&, float*, int64_t) {
  R1_CHECK_MSG(false, "AMX is not available in this build");
}
double peak_flops_one_thread(int64_t) {
  return 0;
}
#endif

void pack_activations(const float* x, int64_t n, int64_t k, PackedActivations& out) {
  out.n = n;
  out.k = k;
  out.nt = (n + kTok - 1) / kTok;
  out.kb = (k + kK - 1) / kK;
  out.data.assign(static_cast<size_t>(out.nt * out.kb * 512), 0);
  // Tile (tb, kb): element [pair i][token j][h] = bf16(x[16 tb + j][32 kb + 2 i + h]).
  for (int64_t t = 0; t < n; ++t) {
    const int64_t tb = t / kTok, j = t % kTok;
    for (int64_t v = 0; v < k; ++v) {
      const int64_t kb = v / kK, i = (v % kK) / 2, h = v % 2;
      out.data[static_cast<size_t>((tb * out.kb + kb) * 512 + i * 32 + j * 2 + h)] =
          bf16(x[t * k + v]);
    }
  }
}

void gemm_reference(const float* w, int64_t m, const float* x, int64_t n, int64_t k, float* y,
                    int64_t ldy) {
  for (int64_t t = 0; t < n; ++t)
    for (int64_t r = 0; r < m; ++r) {
      double s = 0;
      for (int64_t j = 0; j < k; ++j)
        s += static_cast<double>(bf16_to_f32(bf16(w[r * k + j]))) * bf16_to_f32(bf16(x[t * k + j]));
      y[t * ldy + r] = static_cast<float>(s);
    }
}

}  // namespace r1::amx
