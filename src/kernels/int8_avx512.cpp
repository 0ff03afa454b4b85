// AVX-512 VNNI kernels of int8.h. Compiled with target attributes and called only after the CPU
// was checked (int8::cpu_has_vnni), so the rest of the program runs on any x86-64.
#include <algorithm>
#include <cstring>

#include "core/half.h"
#include "kernels/int8.h"
#include "kernels/quants.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define R1_VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,f16c,fma")))
#endif

namespace r1::int8 {

#if defined(__x86_64__) && defined(__GNUC__)
namespace {

constexpr int64_t kPrefetch = 8192;  // bytes ahead of the row being read

R1_VNNI inline float half_at(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return _cvtsh_ss(h);
}

// The 8 sub-block scales and the 8 mins of a Q4_K block (6 bits each in 12 bytes), as bytes.
inline void unpack_scales(const uint8_t* s, uint64_t* sc, uint64_t* m) {
  uint32_t u0, u1, u2;
  std::memcpy(&u0, s, 4);
  std::memcpy(&u1, s + 4, 4);
  std::memcpy(&u2, s + 8, 4);
  const uint32_t sc_lo = u0 & 0x3f3f3f3fu, m_lo = u1 & 0x3f3f3f3fu;
  const uint32_t sc_hi = (u2 & 0x0f0f0f0fu) | (((u0 >> 6) & 0x03030303u) << 4);
  const uint32_t m_hi = ((u2 >> 4) & 0x0f0f0f0fu) | (((u1 >> 6) & 0x03030303u) << 4);
  *sc = sc_lo | (static_cast<uint64_t>(sc_hi) << 32);
  *m = m_lo | (static_cast<uint64_t>(m_hi) << 32);
}

R1_VNNI inline __m256 bytes_to_floats(uint64_t v) {
  return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_cvtsi64_si128(static_cast<int64_t>(v))));
}

// R rows at once: the four activation vectors of a block are loaded once for all rows. stride:
// bytes from one block of a row to its next (the block size, or 4 blocks interleaved by four).
template <int R>
R1_VNNI void q4_k_rows(const uint8_t* const* rows, int64_t stride, const PackedX& x, int64_t cols,
                       float* out) {
  const __m512i low4 = _mm512_set1_epi8(0x0F);
  // Lanes 0-7 take sub-block a's scale, lanes 8-15 sub-block b's: (0,2) (1,3) (4,6) (5,7).
  const __m512i i0 = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 2, 2, 2, 2, 2, 2);
  const __m512i i1 = _mm512_setr_epi32(1, 1, 1, 1, 1, 1, 1, 1, 3, 3, 3, 3, 3, 3, 3, 3);
  const __m512i i2 = _mm512_setr_epi32(4, 4, 4, 4, 4, 4, 4, 4, 6, 6, 6, 6, 6, 6, 6, 6);
  const __m512i i3 = _mm512_setr_epi32(5, 5, 5, 5, 5, 5, 5, 5, 7, 7, 7, 7, 7, 7, 7, 7);
  __m512 acc[R];
  __m256 moff[R];
  for (int r = 0; r < R; ++r) acc[r] = _mm512_setzero_ps(), moff[r] = _mm256_setzero_ps();
  const int64_t nb = cols / 256;
  for (int64_t b = 0; b < nb; ++b) {
    const int8_t* xb = x.q.data() + b * 256;
    const __m512i x0 = _mm512_loadu_si512(xb), x1 = _mm512_loadu_si512(xb + 64);
    const __m512i x2 = _mm512_loadu_si512(xb + 128), x3 = _mm512_loadu_si512(xb + 192);
    const __m256 bsx = _mm256_loadu_ps(x.bsum_scaled.data() + b * 8);  // bsum * dx
    const float dx = x.d[b];
    for (int r = 0; r < R; ++r) {
      const uint8_t* blk = rows[r] + b * stride;
      _mm_prefetch(reinterpret_cast<const char*>(blk + kPrefetch), _MM_HINT_T0);
      uint32_t dd;
      std::memcpy(&dd, blk, 4);
      const __m128 dm = _mm_cvtph_ps(_mm_cvtsi32_si128(static_cast<int>(dd)));  // d, dmin
      uint64_t sc, m;
      unpack_scales(blk + 4, &sc, &m);
      moff[r] = _mm256_fmadd_ps(_mm256_mul_ps(bytes_to_floats(m), bsx),
                                _mm256_broadcastss_ps(_mm_movehdup_ps(dm)), moff[r]);
      const __m512i q0 = _mm512_loadu_si512(blk + 16), q1 = _mm512_loadu_si512(blk + 80);
      const __m512i l0 = _mm512_and_si512(q0, low4);
      const __m512i h0 = _mm512_and_si512(_mm512_srli_epi16(q0, 4), low4);
      const __m512i l1 = _mm512_and_si512(q1, low4);
      const __m512i h1 = _mm512_and_si512(_mm512_srli_epi16(q1, 4), low4);
      const __m512i zero = _mm512_setzero_si512();
      const __m512 d0 = _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(zero, l0, x0));
      const __m512 d1 = _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(zero, h0, x1));
      const __m512 d2 = _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(zero, l1, x2));
      const __m512 d3 = _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(zero, h1, x3));
      const __m512 s = _mm512_castps256_ps512(bytes_to_floats(sc));
      __m512 blk_sum = _mm512_mul_ps(d0, _mm512_permutexvar_ps(i0, s));
      blk_sum = _mm512_fmadd_ps(d1, _mm512_permutexvar_ps(i1, s), blk_sum);
      blk_sum = _mm512_fmadd_ps(d2, _mm512_permutexvar_ps(i2, s), blk_sum);
      blk_sum = _mm512_fmadd_ps(d3, _mm512_permutexvar_ps(i3, s), blk_sum);
      const __m512 d = _mm512_broadcastss_ps(_mm_mul_ss(dm, _mm_set_ss(dx)));
      acc[r] = _mm512_fmadd_ps(blk_sum, d, acc[r]);
    }
  }
  for (int r = 0; r < R; ++r) {
    const __m128 lo = _mm256_castps256_ps128(moff[r]), hi = _mm256_extractf128_ps(moff[r], 1);
    __m128 s4 = _mm_add_ps(lo, hi);
    s4 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
    s4 = _mm_add_ss(s4, _mm_movehdup_ps(s4));
    out[r] = _mm512_reduce_add_ps(acc[r]) - _mm_cvtss_f32(s4);
  }
}

// Q6_K: per half of a block, the low-nibble vector holds values 0..63 and the high-nibble vector
// values 64..127 in natural order; the two high bits come from qh. 16 scales per block, one per
// 16 values (4 int32 lanes of vpdpbusd); codes are stored +32, removed with the sums of x.
template <int R>
R1_VNNI void q6_k_rows(const uint8_t* const* rows, int64_t stride, const PackedX& x, int64_t cols,
                       float* out) {
  const __m512i low4 = _mm512_set1_epi8(0x0F), low2 = _mm512_set1_epi8(0x03);
  __m512i idx[4];
  for (int k = 0; k < 4; ++k)
    idx[k] = _mm512_add_epi32(_mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3),
                              _mm512_set1_epi32(4 * k));
  __m512 acc[R], moff[R];
  for (int r = 0; r < R; ++r) acc[r] = _mm512_setzero_ps(), moff[r] = _mm512_setzero_ps();
  const int64_t nb = cols / 256;
  for (int64_t b = 0; b < nb; ++b) {
    const int8_t* xb = x.q.data() + b * 256;
    __m512i xv[4];
    for (int k = 0; k < 4; ++k) xv[k] = _mm512_loadu_si512(xb + 64 * k);
    const __m512 bsx = _mm512_loadu_ps(x.bsum_scaled.data() + b * 16);  // bsum16 * dx
    const float dx = x.d[b];
    for (int r = 0; r < R; ++r) {
      const uint8_t* blk = rows[r] + b * stride;
      _mm_prefetch(reinterpret_cast<const char*>(blk + kPrefetch), _MM_HINT_T0);
      _mm_prefetch(reinterpret_cast<const char*>(blk + kPrefetch + 64), _MM_HINT_T0);
      const __m512 s =
          _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i*)(blk + 192))));
      uint16_t dh;
      std::memcpy(&dh, blk + 208, 2);
      const float d = _cvtsh_ss(dh);
      __m512 blk_sum = _mm512_setzero_ps();
      for (int n = 0; n < 2; ++n) {
        const __m512i L = _mm512_loadu_si512(blk + 64 * n);
        const __m256i H = _mm256_loadu_si256((const __m256i*)(blk + 128 + 32 * n));
        const __m512i Hz =
            _mm512_inserti64x4(_mm512_castsi256_si512(H), _mm256_srli_epi16(H, 2), 1);
        const __m512i hb_lo = _mm512_slli_epi16(_mm512_and_si512(Hz, low2), 4);
        const __m512i hb_hi =
            _mm512_slli_epi16(_mm512_and_si512(_mm512_srli_epi16(Hz, 4), low2), 4);
        const __m512i w_lo = _mm512_or_si512(_mm512_and_si512(L, low4), hb_lo);
        const __m512i w_hi =
            _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(L, 4), low4), hb_hi);
        const __m512i zero = _mm512_setzero_si512();
        const __m512 p_lo = _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(zero, w_lo, xv[2 * n]));
        const __m512 p_hi = _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(zero, w_hi, xv[2 * n + 1]));
        blk_sum = _mm512_fmadd_ps(p_lo, _mm512_permutexvar_ps(idx[2 * n], s), blk_sum);
        blk_sum = _mm512_fmadd_ps(p_hi, _mm512_permutexvar_ps(idx[2 * n + 1], s), blk_sum);
      }
      acc[r] = _mm512_fmadd_ps(blk_sum, _mm512_set1_ps(d * dx), acc[r]);
      moff[r] = _mm512_fmadd_ps(_mm512_mul_ps(s, bsx), _mm512_set1_ps(d), moff[r]);
    }
  }
  for (int r = 0; r < R; ++r)
    out[r] = _mm512_reduce_add_ps(acc[r]) - 32.0f * _mm512_reduce_add_ps(moff[r]);
}

// Q8_0: two blocks (64 values) per step. The weights take the sign of x (vpdpbusd multiplies
// unsigned by signed bytes), the block scales dw * dx fill lanes 0-7 and 8-15.
template <int R>
R1_VNNI void q8_0_rows(const uint8_t* const* rows, const PackedX& x, int64_t cols, float* out) {
  constexpr int64_t kB = sizeof(quants::BlockQ8_0);  // 34
  const __m512i pick = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
  __m512 acc[R];
  for (int r = 0; r < R; ++r) acc[r] = _mm512_setzero_ps();
  const int64_t nb = cols / 32;
  int64_t b = 0;
  // 16 blocks at a time: their 16 fp16 scales gathered at once (34 bytes apart), times dx.
  const __m512i gather_at =
      _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                         _mm512_set1_epi32(static_cast<int>(kB)));
  __m512i pair_lanes[8];  // lanes 0-7: block 2k's scale, 8-15: block 2k+1's
  for (int k = 0; k < 8; ++k) pair_lanes[k] = _mm512_add_epi32(pick, _mm512_set1_epi32(2 * k));
  for (; b + 16 <= nb; b += 16) {
    __m512 sc[R];
    const __m512 dx16 = _mm512_loadu_ps(x.d.data() + b);
    for (int r = 0; r < R; ++r) {
      const __m512i g = _mm512_i32gather_epi32(gather_at, rows[r] + b * kB, 1);
      sc[r] = _mm512_mul_ps(_mm512_cvtph_ps(_mm512_cvtepi32_epi16(g)), dx16);
    }
    for (int k = 0; k < 8; ++k) {
      const int64_t bb = b + 2 * k;
      const __m512i xv = _mm512_loadu_si512(x.q.data() + bb * 32);
      const __mmask64 neg = x.sign[bb / 2];
      for (int r = 0; r < R; ++r) {
        const uint8_t* blk = rows[r] + bb * kB;
        _mm_prefetch(reinterpret_cast<const char*>(blk + kPrefetch), _MM_HINT_T0);
        const __m512i w = _mm512_inserti64x4(
            _mm512_castsi256_si512(_mm256_loadu_si256((const __m256i*)(blk + 2))),
            _mm256_loadu_si256((const __m256i*)(blk + kB + 2)), 1);
        const __m512i ws = _mm512_mask_sub_epi8(w, neg, _mm512_setzero_si512(), w);
        const __m512 dot = _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(_mm512_setzero_si512(), xv, ws));
        acc[r] = _mm512_fmadd_ps(dot, _mm512_permutexvar_ps(pair_lanes[k], sc[r]), acc[r]);
      }
    }
  }
  for (; b + 2 <= nb; b += 2) {
    const __m512i xv = _mm512_loadu_si512(x.q.data() + b * 32);
    const __mmask64 neg = x.sign[b / 2];
    const __m512 dx = _mm512_permutexvar_ps(
        pick, _mm512_castps128_ps512(
                  _mm_castsi128_ps(_mm_loadl_epi64((const __m128i*)(x.d.data() + b)))));
    for (int r = 0; r < R; ++r) {
      const uint8_t* blk = rows[r] + b * kB;
      _mm_prefetch(reinterpret_cast<const char*>(blk + kPrefetch), _MM_HINT_T0);
      _mm_prefetch(reinterpret_cast<const char*>(blk + kPrefetch + 64), _MM_HINT_T0);
      const __m512i w =
          _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i*)(blk + 2))),
                             _mm256_loadu_si256((const __m256i*)(blk + kB + 2)), 1);
      const __m512i ws = _mm512_mask_sub_epi8(w, neg, _mm512_setzero_si512(), w);
      const __m512 dot = _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(_mm512_setzero_si512(), xv, ws));
      uint16_t h0, h1;
      std::memcpy(&h0, blk, 2);
      std::memcpy(&h1, blk + kB, 2);
      const __m128 dw = _mm_cvtph_ps(_mm_cvtsi32_si128(h0 | (static_cast<int>(h1) << 16)));
      const __m512 scale =
          _mm512_mul_ps(_mm512_permutexvar_ps(pick, _mm512_castps128_ps512(dw)), dx);
      acc[r] = _mm512_fmadd_ps(dot, scale, acc[r]);
    }
  }
  for (int r = 0; r < R; ++r) out[r] = _mm512_reduce_add_ps(acc[r]);
  if (b < nb) {  // an odd last block
    for (int r = 0; r < R; ++r) {
      const uint8_t* blk = rows[r] + b * kB;
      const uint32_t neg = static_cast<uint32_t>(x.sign[b / 2] >> 32 * (b % 2));
      const __m256i w = _mm256_loadu_si256((const __m256i*)(blk + 2));
      const __m256i ws = _mm256_mask_sub_epi8(w, neg, _mm256_setzero_si256(), w);
      const __m256i xv = _mm256_loadu_si256((const __m256i*)(x.q.data() + b * 32));
      const __m256i dot = _mm256_dpbusd_epi32(_mm256_setzero_si256(), xv, ws);
      __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(dot), _mm256_extracti128_si256(dot, 1));
      s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4e));
      s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0xb1));
      uint16_t h;
      std::memcpy(&h, blk, 2);
      out[r] += _cvtsh_ss(h) * x.d[b] * static_cast<float>(_mm_cvtsi128_si32(s4));
    }
  }
}

// Q8_0 rows interleaved by four (interleave.h): one stream, read in order. The same arithmetic,
// in the same order, as q8_0_rows<4> over the plain rows, so the results are equal bit for bit.
// kSplit: the codes start 32 bytes into a cache line (groups of a row length that is not a
// multiple of 256 values), so each 64-byte load is done as two that stay within their lines.
template <bool kSplit>
R1_VNNI void q8_0x4_group(const uint8_t* group, const PackedX& x, int64_t cols, float* out) {
  constexpr int64_t kAhead = 4096;  // bytes: the stream is linear, so a short distance suffices
  const __m512i pick = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
  __m512i pair_lanes[8];  // lanes 0-7: block 2k's scale, 8-15: block 2k+1's
  for (int k = 0; k < 8; ++k) pair_lanes[k] = _mm512_add_epi32(pick, _mm512_set1_epi32(2 * k));
  __m512 acc[4];
  for (int r = 0; r < 4; ++r) acc[r] = _mm512_setzero_ps();
  const int64_t nb = cols / 32;
  const uint8_t* p = group;
  for (int64_t b = 0; b < nb; b += 16) {
    const int64_t m = std::min<int64_t>(16, nb - b);
    const __mmask16 lanes = static_cast<__mmask16>((1u << m) - 1);
    _mm_prefetch(reinterpret_cast<const char*>(p + kAhead), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(p + kAhead + 64), _MM_HINT_T0);
    const __m512 dx = _mm512_maskz_loadu_ps(lanes, x.d.data() + b);
    __m512 sc[4];
    for (int r = 0; r < 4; ++r)
      sc[r] = _mm512_mul_ps(_mm512_cvtph_ps(_mm256_maskz_loadu_epi16(lanes, p + 2 * m * r)), dx);
    const uint8_t* codes = p + 8 * m;
    for (int64_t k = 0; k < m / 2; ++k, codes += 256) {
      const int64_t bb = b + 2 * k;
      const __m512i xv = _mm512_loadu_si512(x.q.data() + bb * 32);
      const __mmask64 neg = x.sign[bb / 2];
      for (int r = 0; r < 4; ++r) {
        _mm_prefetch(reinterpret_cast<const char*>(codes + kAhead + 64 * r), _MM_HINT_T0);
        const __m512i w =
            kSplit
                ? _mm512_inserti64x4(
                      _mm512_castsi256_si512(_mm256_loadu_si256((const __m256i*)(codes + 64 * r))),
                      _mm256_loadu_si256((const __m256i*)(codes + 64 * r + 32)), 1)
                : _mm512_loadu_si512(codes + 64 * r);
        const __m512i ws = _mm512_mask_sub_epi8(w, neg, _mm512_setzero_si512(), w);
        const __m512 dot = _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(_mm512_setzero_si512(), xv, ws));
        acc[r] = _mm512_fmadd_ps(dot, _mm512_permutexvar_ps(pair_lanes[k], sc[r]), acc[r]);
      }
    }
    p = codes;
  }
  for (int r = 0; r < 4; ++r) out[r] = _mm512_reduce_add_ps(acc[r]);
}

}  // namespace

// Q8_0 activations (the scalar pack_q8_0's arithmetic: amax / 127, x * (1 / d) rounded to
// nearest even, |q| with the signs as bits); out is sized by the caller, sign zeroed.
R1_VNNI void pack_q8_0_vnni(const float* x, int64_t cols, PackedX& out) {
  const __m512 abs_mask = _mm512_castsi512_ps(_mm512_set1_epi32(0x7fffffff));
  const __m512i lo = _mm512_set1_epi32(-127), hi = _mm512_set1_epi32(127);
  for (int64_t b = 0; b < cols / 32; ++b) {
    const __m512 x0 = _mm512_loadu_ps(x + 32 * b), x1 = _mm512_loadu_ps(x + 32 * b + 16);
    const float amax = _mm512_reduce_max_ps(
        _mm512_max_ps(_mm512_and_ps(x0, abs_mask), _mm512_and_ps(x1, abs_mask)));
    const float d = amax / 127.0f;
    const float inv = d > 0 ? 1.0f / d : 0.0f;
    out.d[b] = d;
    const __m512 vinv = _mm512_set1_ps(inv);
    const __m512i v0 =
        _mm512_min_epi32(_mm512_max_epi32(_mm512_cvtps_epi32(_mm512_mul_ps(x0, vinv)), lo), hi);
    const __m512i v1 =
        _mm512_min_epi32(_mm512_max_epi32(_mm512_cvtps_epi32(_mm512_mul_ps(x1, vinv)), lo), hi);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out.q.data() + 32 * b),
                     _mm512_cvtepi32_epi8(_mm512_abs_epi32(v0)));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out.q.data() + 32 * b + 16),
                     _mm512_cvtepi32_epi8(_mm512_abs_epi32(v1)));
    const uint64_t neg =
        static_cast<uint64_t>(_mm512_cmplt_epi32_mask(v0, _mm512_setzero_si512())) |
        static_cast<uint64_t>(_mm512_cmplt_epi32_mask(v1, _mm512_setzero_si512())) << 16;
    out.sign[b / 2] |= neg << (32 * (b % 2));
  }
}

void dot_q8_0x4_vnni(const uint8_t* group, const PackedX& x, int64_t cols, float* out) {
  // Within a group every chunk but the last is a multiple of 64 bytes, so the first chunk's
  // code alignment holds for all.
  const int64_t first_codes = 8 * std::min<int64_t>(16, cols / 32);
  if ((reinterpret_cast<uintptr_t>(group + first_codes) & 63) == 32)
    return q8_0x4_group<true>(group, x, cols, out);
  q8_0x4_group<false>(group, x, cols, out);
}

void dot_rows_q8_0_vnni(const uint8_t* const* rows, int n_rows, const PackedX& x, int64_t cols,
                        float* out) {
  switch (n_rows) {
    case 1:
      return q8_0_rows<1>(rows, x, cols, out);
    case 2:
      return q8_0_rows<2>(rows, x, cols, out);
    case 3:
      return q8_0_rows<3>(rows, x, cols, out);
    default:
      return q8_0_rows<4>(rows, x, cols, out);
  }
}

void dot_rows_q6_k_vnni(const uint8_t* const* rows, int n_rows, const PackedX& x, int64_t cols,
                        float* out) {
  switch (n_rows) {
    case 1:
      return q6_k_rows<1>(rows, sizeof(quants::BlockQ6_K), x, cols, out);
    case 2:
      return q6_k_rows<2>(rows, sizeof(quants::BlockQ6_K), x, cols, out);
    case 3:
      return q6_k_rows<3>(rows, sizeof(quants::BlockQ6_K), x, cols, out);
    default:
      return q6_k_rows<4>(rows, sizeof(quants::BlockQ6_K), x, cols, out);
  }
}

void dot_rows_q4_k_vnni(const uint8_t* const* rows, int n_rows, const PackedX& x, int64_t cols,
                        float* out) {
  switch (n_rows) {
    case 1:
      return q4_k_rows<1>(rows, sizeof(quants::BlockQ4_K), x, cols, out);
    case 2:
      return q4_k_rows<2>(rows, sizeof(quants::BlockQ4_K), x, cols, out);
    case 3:
      return q4_k_rows<3>(rows, sizeof(quants::BlockQ4_K), x, cols, out);
    default:
      return q4_k_rows<4>(rows, sizeof(quants::BlockQ4_K), x, cols, out);
  }
}
void dot_group4_k_vnni(DType t, const uint8_t* group, const PackedX& x, int64_t cols, float* out) {
  const int64_t bb = t == DType::Q4_K ? sizeof(quants::BlockQ4_K) : sizeof(quants::BlockQ6_K);
  const uint8_t* rows[4] = {group, group + bb, group + 2 * bb, group + 3 * bb};
  if (t == DType::Q4_K) return q4_k_rows<4>(rows, 4 * bb, x, cols, out);
  q6_k_rows<4>(rows, 4 * bb, x, cols, out);
}
#else
void dot_group4_k_vnni(DType t, const uint8_t* group, const PackedX& x, int64_t cols, float* out) {
  dot_group4_reference(t, group, x, cols, out);
}
void pack_q8_0_vnni(const float* x, int64_t cols, PackedX& out) {
  pack_reference(DType::Q8_0, x, cols, out);
}
void dot_q8_0x4_vnni(const uint8_t* group, const PackedX& x, int64_t cols, float* out) {
  dot_group4_reference(DType::Q8_0, group, x, cols, out);
}
void dot_rows_q4_k_vnni(const uint8_t* const* rows, int n_rows, const PackedX& x, int64_t cols,
                        float* out) {
  dot_rows_reference(DType::Q4_K, rows, n_rows, x, cols, out);
}
void dot_rows_q6_k_vnni(const uint8_t* const* rows, int n_rows, const PackedX& x, int64_t cols,
                        float* out) {
  dot_rows_reference(DType::Q6_K, rows, n_rows, x, cols, out);
}
void dot_rows_q8_0_vnni(const uint8_t* const* rows, int n_rows, const PackedX& x, int64_t cols,
                        float* out) {
  dot_rows_reference(DType::Q8_0, rows, n_rows, x, cols, out);
}
#endif

}  // namespace r1::int8
