#include "kernels/int8.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "core/check.h"
#include "core/half.h"
#include "kernels/interleave.h"
#include "kernels/quants.h"

namespace r1::int8 {

// Implemented in int8_avx512.cpp (compiled for AVX-512 VNNI, called only when the CPU has it).
void dot_rows_q4_k_vnni(const uint8_t* const* rows, int n_rows, const PackedX& x, int64_t cols,
                        float* out);
void dot_rows_q6_k_vnni(const uint8_t* const* rows, int n_rows, const PackedX& x, int64_t cols,
                        float* out);
void dot_rows_q8_0_vnni(const uint8_t* const* rows, int n_rows, const PackedX& x, int64_t cols,
                        float* out);
void dot_q8_0x4_vnni(const uint8_t* group, const PackedX& x, int64_t cols, float* out);
void dot_group4_k_vnni(DType t, const uint8_t* group, const PackedX& x, int64_t cols, float* out);
void pack_q8_0_vnni(const float* x, int64_t cols, PackedX& out);

namespace {
// R1_EXACT=1 in the environment keeps float32 activations everywhere (reference comparisons).
bool default_enabled() {
  const char* e = std::getenv("R1_EXACT");
  return e == nullptr || *e == '\0' || std::strcmp(e, "0") == 0;
}
std::atomic<bool> g_enabled{default_enabled()};

float half_at(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return f16_to_f32(h);
}

// Position of value w (0..255) of a block in the Q4_K order: per 128 values, the low-nibble
// vector (sub-blocks 0 and 2 of the 4) then the high-nibble vector (sub-blocks 1 and 3).
int q4_k_position(int w) {
  const int p = w / 128, r = w % 128, sub = r / 32, l = r % 32;
  return 128 * p + 64 * (sub & 1) + 32 * (sub / 2) + l;
}
}  // namespace

bool cpu_has_vnni() {
#if defined(__x86_64__) && defined(__GNUC__)
  static const bool has = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl");
  }();
  return has;
#else
  return false;
#endif
}

bool supported(DType t) {
  return g_enabled.load(std::memory_order_relaxed) &&
         (t == DType::Q4_K || t == DType::Q6_K || t == DType::Q8_0) && cpu_has_vnni();
}
void set_enabled(bool on) {
  g_enabled.store(on);
}
bool enabled() {
  return g_enabled.load();
}

namespace {
void pack_q8_0(const float* x, int64_t cols, PackedX& out) {
  R1_CHECK(cols % 32 == 0);
  out.type = DType::Q8_0;
  out.q.resize(static_cast<size_t>(cols));
  out.d.resize(static_cast<size_t>(cols / 32));
  out.sign.assign(static_cast<size_t>((cols + 63) / 64), 0);
  for (int64_t b = 0; b < cols / 32; ++b) {
    const float* xb = x + b * 32;
    float amax = 0;
    for (int i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(xb[i]));
    const float d = amax / 127.0f;
    const float inv = d > 0 ? 1.0f / d : 0.0f;
    out.d[b] = d;
    for (int i = 0; i < 32; ++i) {
      const int v = std::clamp(static_cast<int>(std::lrintf(xb[i] * inv)), -127, 127);
      const int64_t at = b * 32 + i;
      out.q[at] = static_cast<int8_t>(v < 0 ? -v : v);  // |x| (0..127)
      if (v < 0) out.sign[at / 64] |= 1ull << (at % 64);
    }
  }
}
}  // namespace

void pack(DType t, const float* x, int64_t cols, PackedX& out) {
  if (t == DType::Q8_0 && cpu_has_vnni()) {
    R1_CHECK(cols % 32 == 0);
    out.type = DType::Q8_0;
    out.q.resize(static_cast<size_t>(cols));
    out.d.resize(static_cast<size_t>(cols / 32));
    out.sign.assign(static_cast<size_t>((cols + 63) / 64), 0);
    return pack_q8_0_vnni(x, cols, out);
  }
  pack_reference(t, x, cols, out);
}

void pack_reference(DType t, const float* x, int64_t cols, PackedX& out) {
  if (t == DType::Q8_0) return pack_q8_0(x, cols, out);
  R1_CHECK_MSG(t == DType::Q4_K || t == DType::Q6_K, "int8::pack: no integer kernel for %s",
               dtype_name(t));
  R1_CHECK(cols % quants::kQK_K == 0);
  // Q4_K: sums per 32 (its sub-blocks), permuted order; Q6_K: sums per 16, natural order.
  const int group = t == DType::Q4_K ? 32 : 16;
  const int64_t nb = cols / quants::kQK_K;
  out.type = t;
  out.q.resize(static_cast<size_t>(cols));
  out.d.resize(static_cast<size_t>(nb));
  out.bsum.resize(static_cast<size_t>(cols / group));
  out.bsum_scaled.resize(out.bsum.size());
  const int groups = 256 / group;
  for (int64_t b = 0; b < nb; ++b) {
    const float* xb = x + b * 256;
    float amax = 0;
    for (int i = 0; i < 256; ++i) amax = std::max(amax, std::fabs(xb[i]));
    const float d = amax / 127.0f;
    const float inv = d > 0 ? 1.0f / d : 0.0f;
    out.d[b] = d;
    int8_t* qb = out.q.data() + b * 256;
    for (int g = 0; g < groups; ++g) {
      int32_t s = 0;
      for (int l = 0; l < group; ++l) {
        const int w = group * g + l;
        const int v = static_cast<int>(std::lrintf(xb[w] * inv));
        const int8_t q = static_cast<int8_t>(std::clamp(v, -127, 127));
        qb[t == DType::Q4_K ? q4_k_position(w) : w] = q;
        s += q;
      }
      out.bsum[b * groups + g] = s;
      out.bsum_scaled[b * groups + g] = static_cast<float>(s) * d;
    }
  }
}

namespace {
double q6_k_block_dot(const uint8_t* blk, const int8_t* qb, const int32_t* bsum16) {
  const uint8_t* ql = blk;
  const uint8_t* qh = blk + 128;
  const auto* sc = reinterpret_cast<const int8_t*>(blk + 192);
  int64_t sum = 0, off = 0;
  for (int w = 0; w < 256; ++w) {
    const int n = w / 128, r = w % 128, j = r / 32, l = r % 32;
    const uint8_t lo = ql[64 * n + l + 32 * (j & 1)];
    const int low = j >= 2 ? lo >> 4 : lo & 15;
    const int high = (qh[32 * n + l] >> (2 * j)) & 3;
    sum += static_cast<int64_t>(sc[w / 16]) * (low | (high << 4)) * qb[w];
  }
  for (int g = 0; g < 16; ++g) off += static_cast<int64_t>(sc[g]) * 32 * bsum16[g];
  return static_cast<double>(sum - off);
}
}  // namespace

void dot_rows_reference(DType t, const uint8_t* const* rows, int n_rows, const PackedX& x,
                        int64_t cols, float* out) {
  R1_CHECK((t == DType::Q4_K || t == DType::Q6_K || t == DType::Q8_0) && x.type == t);
  if (t == DType::Q8_0) {
    for (int r = 0; r < n_rows; ++r) {
      double total = 0;
      for (int64_t b = 0; b < cols / 32; ++b) {
        const uint8_t* blk = rows[r] + b * sizeof(quants::BlockQ8_0);
        const auto* qs = reinterpret_cast<const int8_t*>(blk + 2);
        int32_t dot = 0;
        for (int i = 0; i < 32; ++i) {
          const int64_t at = b * 32 + i;
          const int xv = static_cast<uint8_t>(x.q[at]);
          dot += qs[i] * ((x.sign[at / 64] >> (at % 64)) & 1 ? -xv : xv);
        }
        total += static_cast<double>(half_at(blk)) * x.d[b] * dot;
      }
      out[r] = static_cast<float>(total);
    }
    return;
  }
  const int64_t nb = cols / 256;
  if (t == DType::Q6_K) {
    for (int r = 0; r < n_rows; ++r) {
      double total = 0;
      for (int64_t b = 0; b < nb; ++b) {
        const uint8_t* blk = rows[r] + b * sizeof(quants::BlockQ6_K);
        total += static_cast<double>(half_at(blk + 208)) * x.d[b] *
                 q6_k_block_dot(blk, x.q.data() + b * 256, x.bsum.data() + b * 16);
      }
      out[r] = static_cast<float>(total);
    }
    return;
  }
  for (int r = 0; r < n_rows; ++r) {
    double total = 0;
    for (int64_t b = 0; b < nb; ++b) {
      const uint8_t* blk = rows[r] + b * sizeof(quants::BlockQ4_K);
      const float d = half_at(blk), dmin = half_at(blk + 2);
      const uint8_t* qs = blk + 16;
      const int8_t* qb = x.q.data() + b * 256;
      int64_t sum = 0, msum = 0;
      for (int g = 0; g < 8; ++g) {
        uint8_t sc, m;
        quants::get_scale_min_k4(blk + 4, g, &sc, &m);
        int32_t dot = 0;
        for (int l = 0; l < 32; ++l) {
          const uint8_t byte = qs[32 * (g / 2) + l];
          const int nib = (g & 1) ? byte >> 4 : byte & 15;
          dot += nib * qb[q4_k_position(32 * g + l)];
        }
        sum += static_cast<int64_t>(sc) * dot;
        msum += static_cast<int64_t>(m) * x.bsum[b * 8 + g];
      }
      total += static_cast<double>(d) * x.d[b] * static_cast<double>(sum) -
               static_cast<double>(dmin) * x.d[b] * static_cast<double>(msum);
    }
    out[r] = static_cast<float>(total);
  }
}

void dot_rows(DType t, const uint8_t* const* rows, int n_rows, const PackedX& x, int64_t cols,
              float* out) {
  R1_CHECK(x.type == t && n_rows >= 1 && n_rows <= 4);
  if (t == DType::Q4_K && cpu_has_vnni()) return dot_rows_q4_k_vnni(rows, n_rows, x, cols, out);
  if (t == DType::Q6_K && cpu_has_vnni()) return dot_rows_q6_k_vnni(rows, n_rows, x, cols, out);
  if (t == DType::Q8_0 && cpu_has_vnni()) return dot_rows_q8_0_vnni(rows, n_rows, x, cols, out);
  dot_rows_reference(t, rows, n_rows, x, cols, out);
}

void dot_group4(DType t, const uint8_t* group, const PackedX& x, int64_t cols, float* out) {
  R1_CHECK(x.type == t && interleave::fits(t, 4, cols));
  if (!cpu_has_vnni()) return dot_group4_reference(t, group, x, cols, out);
  if (t == DType::Q8_0) return dot_q8_0x4_vnni(group, x, cols, out);
  dot_group4_k_vnni(t, group, x, cols, out);
}

void dot_group4_reference(DType t, const uint8_t* group, const PackedX& x, int64_t cols,
                          float* out) {
  const DTypeTraits& tr = dtype_traits(t);
  const uint64_t rb = static_cast<uint64_t>(cols / tr.block_elems) * tr.block_bytes;
  std::vector<uint8_t> plain(4 * rb);
  interleave::unpack_rows(t, group, 4, cols, plain.data());
  const uint8_t* rows[4] = {plain.data(), plain.data() + rb, plain.data() + 2 * rb,
                            plain.data() + 3 * rb};
  dot_rows_reference(t, rows, 4, x, cols, out);
}

}  // namespace r1::int8
