#include "kernels/amx.h"

#include <algorithm>
#include <cstdlib>
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

// Tiles 0-3: C (2 x 2 blocks of 16 tokens x 16 weight rows, float32); 4-5: A (activations,
// 16 tokens x 32 bf16); 6-7: B (weights, 16 value pairs x 16 rows x 2 bf16). Every tile is 16
// rows x 64 bytes.
R1_AMX void configure() {
  TileConfig cfg;
  for (int i = 0; i < 8; ++i) cfg.colsb[i] = 64, cfg.rows[i] = 16;
  // GCC's _tile_loadconfig tells the compiler it reads only the first 8 bytes, so without this
  // barrier the stores of the sizes can be dropped (seen with GCC 12: a tile instruction then
  // faults as unconfigured).
  __asm__ __volatile__("" : : "r"(&cfg) : "memory");
  _tile_loadconfig(&cfg);
}

// Weights [m, k] float32 -> B tiles: for each strip of 16 rows and each 32 values of k, 16 value
// pairs x 16 rows x 2 bf16 (1 KiB), zero-padded to m_pad rows and kb blocks.
R1_AMX void pack_weights(const float* w, int64_t m, int64_t k, int64_t kb, int64_t m_pad,
                         uint16_t* out) {
  alignas(64) uint32_t rows[16][16];  // [row j][pair i]: bf16 pairs of one 32-value block
  for (int64_t s = 0; s < m_pad / kRows; ++s) {
    for (int64_t b = 0; b < kb; ++b) {
      for (int64_t j = 0; j < kRows; ++j) {
        const int64_t r = s * kRows + j, k0 = b * kK;
        if (r >= m) {
          std::memset(rows[j], 0, 64);
        } else if (k0 + kK <= k) {
          const float* src = w + r * k + k0;
          const __m512bh v = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(src + 16), _mm512_loadu_ps(src));
          _mm512_store_si512(rows[j], reinterpret_cast<const __m512i&>(v));
        } else {
          auto* h = reinterpret_cast<uint16_t*>(rows[j]);
          for (int64_t v = 0; v < kK; ++v) h[v] = k0 + v < k ? bf16(w[r * k + k0 + v]) : 0;
        }
      }
      auto* tile = reinterpret_cast<uint32_t*>(out + (s * kb + b) * 512);
      for (int i = 0; i < 16; ++i)
        for (int j = 0; j < 16; ++j) tile[i * 16 + j] = rows[j][i];
    }
  }
}

R1_AMX void store_block(const float* c, float* y, int64_t ldy, int64_t tokens, int64_t rows) {
  for (int64_t t = 0; t < tokens; ++t) std::memcpy(y + t * ldy, c + t * 16, rows * 4);
}

R1_AMX void gemm_amx(const float* w, int64_t m, const PackedActivations& x, float* y, int64_t ldy) {
  configure();
  const int64_t m_pad = (m + 2 * kRows - 1) / (2 * kRows) * (2 * kRows);
  thread_local std::vector<uint16_t> wb;
  wb.resize(static_cast<size_t>(m_pad * x.kb * kK));
  pack_weights(w, m, x.k, x.kb, m_pad, wb.data());
  const int64_t a_stride = x.kb * kK * 2;  // bytes between activation rows
  alignas(64) float c[16 * 16];
  for (int64_t r0 = 0; r0 < m_pad; r0 += 2 * kRows) {
    const uint16_t* b0 = wb.data() + (r0 / kRows) * x.kb * 512;
    const uint16_t* b1 = b0 + x.kb * 512;
    for (int64_t t0 = 0; t0 < x.nt * kTok; t0 += 2 * kTok) {
      const uint16_t* a0 = x.data.data() + t0 * x.kb * kK;
      const uint16_t* a1 = a0 + kTok * x.kb * kK;  // (padded: nt is even)
      _tile_zero(0);
      _tile_zero(1);
      _tile_zero(2);
      _tile_zero(3);
      for (int64_t kb = 0; kb < x.kb; ++kb) {
        _tile_loadd(4, a0 + kb * kK, a_stride);
        _tile_loadd(5, a1 + kb * kK, a_stride);
        _tile_loadd(6, b0 + kb * 512, 64);
        _tile_loadd(7, b1 + kb * 512, 64);
        _tile_dpbf16ps(0, 4, 6);
        _tile_dpbf16ps(1, 4, 7);
        _tile_dpbf16ps(2, 5, 6);
        _tile_dpbf16ps(3, 5, 7);
      }
      // C tile (token block tt, row strip rr) -> y[t0 + 16 tt, r0 + 16 rr]: straight into y when
      // the whole 16 x 16 block is inside, else through c.
      const int64_t ys = ldy * 4;
#define R1_STORE(TILE, TT, RR)                                                               \
  {                                                                                          \
    const int64_t t = t0 + (TT)*kTok, r = r0 + (RR)*kRows;                                   \
    if (t + kTok <= x.n && r + kRows <= m) {                                                 \
      _tile_stored(TILE, y + t * ldy + r, ys);                                               \
    } else if (t < x.n && r < m) {                                                           \
      _tile_stored(TILE, c, 64);                                                             \
      store_block(c, y + t * ldy + r, ldy, std::min(kTok, x.n - t), std::min(kRows, m - r)); \
    }                                                                                        \
  }
      R1_STORE(0, 0, 0)
      R1_STORE(1, 0, 1)
      R1_STORE(2, 1, 0)
      R1_STORE(3, 1, 1)
#undef R1_STORE
    }
  }
  _tile_release();
}

R1_AMX void pack_rows(const float* x, int64_t n, int64_t k, int64_t rows, int64_t kp,
                      uint16_t* out) {
  for (int64_t t = 0; t < rows; ++t) {
    uint16_t* o = out + t * kp;
    if (t >= n) {
      std::memset(o, 0, static_cast<size_t>(kp) * 2);
      continue;
    }
    const float* src = x + t * k;
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

// R1_NO_AMX=1 in the environment keeps the tiles off (to compare with the AVX-512 kernels).
bool disabled_by_env() {
  const char* e = std::getenv("R1_NO_AMX");
  return e != nullptr && *e != '\0' && std::strcmp(e, "0") != 0;
}

bool tiles_permitted() {
  static const bool ok = !disabled_by_env() && request_tile_permission();
  return ok;
}

bool available() {
  static const bool ok = cpu_has_amx_bf16() && tiles_permitted();
  return ok;
}

void gemm(const float* w, int64_t m, const PackedActivations& x, float* y, int64_t ldy) {
  R1_CHECK(available());
  gemm_amx(w, m, x, y, ldy);
}
#else
bool tiles_permitted() {
  return false;
}
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
  out.nt = (n + 2 * kTok - 1) / (2 * kTok) * 2;  // an even number of 16-token blocks
  out.kb = (k + kK - 1) / kK;
  out.data.resize(static_cast<size_t>(out.nt * kTok * out.kb * kK));
#ifdef R1_HAVE_AMX_CODE
  if (available()) return pack_rows(x, n, k, out.nt * kTok, out.kb * kK, out.data.data());
#endif
  const int64_t kp = out.kb * kK;
  for (int64_t t = 0; t < out.nt * kTok; ++t)
    for (int64_t v = 0; v < kp; ++v)
      out.data[static_cast<size_t>(t * kp + v)] = t < n && v < k ? bf16(x[t * k + v]) : 0;
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
