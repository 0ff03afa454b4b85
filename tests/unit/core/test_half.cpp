// Exhaustive checks of the f16 / bf16 / FP8 E4M3 conversions against values computed here from
// the IEEE bit layouts in double precision (and, where the compiler has it, against _Float16).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>

#include "core/half.h"

namespace {

using r1::bits_from_f32;
using r1::f32_from_bits;

bool same_bits(float a, float b) {
  return bits_from_f32(a) == bits_from_f32(b);
}

// Value of a binary floating-point code with `ebits` exponent and `mbits` mantissa bits and IEEE
// semantics (all-ones exponent = Inf/NaN), computed in double from the definition.
double ieee_value(uint32_t code, int ebits, int mbits) {
  const uint32_t sign = code >> (ebits + mbits);
  const uint32_t exp = (code >> mbits) & ((1u << ebits) - 1);
  const uint32_t man = code & ((1u << mbits) - 1);
  const int bias = (1 << (ebits - 1)) - 1;
  double v;
  if (exp == (1u << ebits) - 1)
    v = man == 0 ? std::numeric_limits<double>::infinity()
                 : std::numeric_limits<double>::quiet_NaN();
  else if (exp == 0)
    v = std::ldexp(static_cast<double>(man), 1 - bias - mbits);
  else
    v = std::ldexp(1.0 + std::ldexp(static_cast<double>(man), -mbits),
                   static_cast<int>(exp) - bias);
  return sign ? -v : v;
}

// E4M3FN: no Inf; only exponent 15 with mantissa 7 is NaN.
double e4m3_value(uint8_t code) {
  const int sign = code >> 7, exp = (code >> 3) & 15, man = code & 7;
  double v;
  if (exp == 15 && man == 7)
    v = std::numeric_limits<double>::quiet_NaN();
  else if (exp == 0)
    v = std::ldexp(man / 8.0, -6);
  else
    v = std::ldexp(1.0 + man / 8.0, exp - 7);
  return sign ? -v : v;
}

// ------------------------------------------------------------------------------------------ f16

TEST(Half, F16ToF32AllCodes) {
  int nan_count = 0;
  for (uint32_t h = 0; h < 65536; ++h) {
    const float got = r1::f16_to_f32(static_cast<uint16_t>(h));
    const double want = ieee_value(h, 5, 10);
    if (std::isnan(want)) {
      EXPECT_TRUE(std::isnan(got)) << std::hex << h;
      ++nan_count;
      continue;
    }
    EXPECT_TRUE(same_bits(got, static_cast<float>(want))) << std::hex << h << " " << got;
#ifdef __FLT16_MAX__
    _Float16 hw;
    const uint16_t h16 = static_cast<uint16_t>(h);
    std::memcpy(&hw, &h16, 2);
    EXPECT_TRUE(same_bits(got, static_cast<float>(hw))) << std::hex << h;
#endif
  }
  EXPECT_EQ(nan_count, 2 * 1023);
  EXPECT_EQ(r1::f16_to_f32(0x8000), 0.0f);
  EXPECT_TRUE(std::signbit(r1::f16_to_f32(0x8000)));
  EXPECT_EQ(r1::f16_to_f32(0x0001), std::ldexp(1.0f, -24));
  EXPECT_EQ(r1::f16_to_f32(0x7bff), 65504.0f);
}

TEST(Half, F32ToF16RoundTripsEveryCode) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const float v = r1::f16_to_f32(static_cast<uint16_t>(h));
    const uint16_t back = r1::f32_to_f16(v);
    if (std::isnan(v)) {
      EXPECT_EQ(back & 0x7c00, 0x7c00) << std::hex << h;
      EXPECT_NE(back & 0x03ff, 0) << std::hex << h;
      EXPECT_EQ(back & 0x8000, h & 0x8000) << std::hex << h;
    } else {
      EXPECT_EQ(back, h) << std::hex << h;
    }
  }
}

// Between two neighbouring codes: the exact midpoint rounds to the even code, anything off the
// midpoint to the nearer one. Covers subnormals, the normal/subnormal seam and overflow to Inf.
TEST(Half, F32ToF16RoundsToNearestEven) {
  for (uint32_t h = 0; h < 0x7c00; ++h) {
    for (uint32_t sign : {0u, 0x8000u}) {
      const double lo = ieee_value(h | sign, 5, 10), hi = ieee_value((h + 1) | sign, 5, 10);
      const double mid = std::isinf(hi) ? (sign ? -65520.0 : 65520.0) : (lo + hi) / 2;
      const float fmid = static_cast<float>(mid);
      ASSERT_EQ(static_cast<double>(fmid), mid);  // 12 significant bits fit a float
      const uint32_t even = (h & 1u) ? h + 1 : h;
      EXPECT_EQ(r1::f32_to_f16(fmid), even | sign) << std::hex << h;
      const float toward_lo = std::nextafter(fmid, static_cast<float>(lo));
      const float toward_hi = std::nextafter(fmid, sign ? -INFINITY : INFINITY);
      EXPECT_EQ(r1::f32_to_f16(toward_lo), h | sign) << std::hex << h;
      EXPECT_EQ(r1::f32_to_f16(toward_hi), (h + 1) | sign) << std::hex << h;
    }
  }
  EXPECT_EQ(r1::f32_to_f16(1e9f), 0x7c00);
  EXPECT_EQ(r1::f32_to_f16(-INFINITY), 0xfc00);
  EXPECT_EQ(r1::f32_to_f16(1e-30f), 0x0000);
  EXPECT_EQ(r1::f32_to_f16(-1e-30f), 0x8000);
  EXPECT_EQ(r1::f32_to_f16(std::ldexp(1.0f, -25)), 0x0000);  // tie between 0 and 2^-24: even
  EXPECT_EQ(r1::f32_to_f16(std::ldexp(1.5f, -25)), 0x0001);
  const uint16_t nan = r1::f32_to_f16(std::numeric_limits<float>::quiet_NaN());
  EXPECT_TRUE(std::isnan(r1::f16_to_f32(nan)));
  // A NaN whose payload sits only in the low mantissa bits must stay NaN, not become Inf.
  EXPECT_TRUE(std::isnan(r1::f16_to_f32(r1::f32_to_f16(f32_from_bits(0x7f800001u)))));
}

// Nearest f16 by brute force over the sorted positive codes (ties to even), in double.
uint16_t nearest_f16(float f) {
  const double a = std::fabs(static_cast<double>(f));
  const uint16_t sign = std::signbit(f) ? 0x8000 : 0;
  if (a >= 65520.0) return sign | 0x7c00;
  uint32_t lo = 0, hi = 0x7c00;  // value(lo) <= a < value(hi)
  while (hi - lo > 1) {
    const uint32_t mid = (lo + hi) / 2;
    if (ieee_value(mid, 5, 10) <= a)
      lo = mid;
    else
      hi = mid;
  }
  const double dlo = a - ieee_value(lo, 5, 10), dhi = ieee_value(hi, 5, 10) - a;
  const uint32_t r = dlo < dhi ? lo : dhi < dlo ? hi : (lo & 1u ? hi : lo);
  return static_cast<uint16_t>(sign | r);
}

TEST(Half, F32ToF16RandomInputs) {
  std::mt19937 rng(1234);
  for (int i = 0; i < 400000; ++i) {
    // Exponents around the f16 range (plus some far outside), random mantissa and sign.
    const uint32_t exp = 96 + rng() % 60;
    const uint32_t u = (rng() & 0x80000000u) | (exp << 23) | (rng() & 0x7fffffu);
    const float f = f32_from_bits(u);
    const uint16_t got = r1::f32_to_f16(f);
    ASSERT_EQ(got, nearest_f16(f)) << std::hex << u;
#ifdef __FLT16_MAX__
    const _Float16 hw = static_cast<_Float16>(f);
    uint16_t hb;
    std::memcpy(&hb, &hw, 2);
    ASSERT_EQ(got, hb) << std::hex << u;
#endif
  }
}

// ----------------------------------------------------------------------------------------- bf16

TEST(BFloat16, ToF32AllCodes) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const float got = r1::bf16_to_f32(static_cast<uint16_t>(h));
    const double want = ieee_value(h, 8, 7);
    if (std::isnan(want)) {
      EXPECT_TRUE(std::isnan(got)) << std::hex << h;
      continue;
    }
    EXPECT_TRUE(same_bits(got, static_cast<float>(want))) << std::hex << h;
  }
}

TEST(BFloat16, FromF32RoundTripsAndRoundsToNearestEven) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const float v = r1::bf16_to_f32(static_cast<uint16_t>(h));
    const uint16_t back = r1::f32_to_bf16(v);
    if (std::isnan(v)) {
      EXPECT_TRUE(std::isnan(r1::bf16_to_f32(back))) << std::hex << h;
      continue;
    }
    EXPECT_EQ(back, h) << std::hex << h;
  }
  for (uint32_t h = 0; h < 0x7f80; ++h) {
    for (uint32_t sign : {0u, 0x8000u}) {
      const double lo = ieee_value(h | sign, 8, 7), hi = ieee_value((h + 1) | sign, 8, 7);
      // Midpoint between the largest finite bf16 and "the next code" (2^128) overflows to Inf.
      const double mid = std::isinf(hi)
                             ? (sign ? -1.0 : 1.0) * std::ldexp(2.0 - std::ldexp(1.0, -8), 127)
                             : (lo + hi) / 2;
      const float fmid = static_cast<float>(mid);
      ASSERT_EQ(static_cast<double>(fmid), mid);
      const uint32_t even = (h & 1u) ? h + 1 : h;
      EXPECT_EQ(r1::f32_to_bf16(fmid), even | sign) << std::hex << h;
      EXPECT_EQ(r1::f32_to_bf16(std::nextafter(fmid, static_cast<float>(lo))), h | sign);
      EXPECT_EQ(r1::f32_to_bf16(std::nextafter(fmid, sign ? -INFINITY : INFINITY)), (h + 1) | sign)
          << std::hex << h;
    }
  }
  for (uint32_t payload : {0x7f800001u, 0x7fc00000u, 0xff800001u, 0x7fffffffu}) {
    EXPECT_TRUE(std::isnan(r1::bf16_to_f32(r1::f32_to_bf16(f32_from_bits(payload)))))
        << std::hex << payload;
  }
  EXPECT_EQ(r1::f32_to_bf16(INFINITY), 0x7f80);
  EXPECT_EQ(r1::f32_to_bf16(-INFINITY), 0xff80);
}

// ------------------------------------------------------------------------------------ FP8 E4M3

TEST(Fp8E4M3, ToF32AllCodes) {
  int nans = 0;
  for (int c = 0; c < 256; ++c) {
    const float got = r1::fp8_e4m3_to_f32(static_cast<uint8_t>(c));
    const double want = e4m3_value(static_cast<uint8_t>(c));
    if (std::isnan(want)) {
      EXPECT_TRUE(std::isnan(got)) << c;
      ++nans;
      continue;
    }
    EXPECT_TRUE(same_bits(got, static_cast<float>(want))) << c;
  }
  EXPECT_EQ(nans, 2);
  EXPECT_EQ(r1::fp8_e4m3_to_f32(0x7e), 448.0f);
  EXPECT_EQ(r1::fp8_e4m3_to_f32(0xfe), -448.0f);
  EXPECT_EQ(r1::fp8_e4m3_to_f32(0x38), 1.0f);
  EXPECT_EQ(r1::fp8_e4m3_to_f32(0x01), std::ldexp(1.0f, -9));
  EXPECT_EQ(r1::fp8_e4m3_to_f32(0x08), std::ldexp(1.0f, -6));
  EXPECT_EQ(r1::fp8_e4m3_to_f32(0x07), 7.0f / 512.0f);
  EXPECT_TRUE(std::signbit(r1::fp8_e4m3_to_f32(0x80)));
}

TEST(Fp8E4M3, FromF32RoundTripsAndRoundsToNearestEven) {
  for (int c = 0; c < 256; ++c) {
    if ((c & 0x7f) == 0x7f) continue;
    EXPECT_EQ(r1::f32_to_fp8_e4m3(r1::fp8_e4m3_to_f32(static_cast<uint8_t>(c))), c) << c;
  }
  for (int c = 0; c < 0x7e; ++c) {
    for (int sign : {0, 0x80}) {
      const double lo = e4m3_value(static_cast<uint8_t>(c | sign));
      const double hi = e4m3_value(static_cast<uint8_t>((c + 1) | sign));
      const float mid = static_cast<float>((lo + hi) / 2);
      const int even = (c & 1) ? c + 1 : c;
      EXPECT_EQ(r1::f32_to_fp8_e4m3(mid), even | sign) << c;
      EXPECT_EQ(r1::f32_to_fp8_e4m3(std::nextafter(mid, static_cast<float>(lo))), c | sign) << c;
      EXPECT_EQ(r1::f32_to_fp8_e4m3(std::nextafter(mid, sign ? -INFINITY : INFINITY)),
                (c + 1) | sign)
          << c;
    }
  }
  // Saturation (no Inf in E4M3FN), NaN, flush of tiny values.
  EXPECT_EQ(r1::f32_to_fp8_e4m3(448.0f), 0x7e);
  EXPECT_EQ(r1::f32_to_fp8_e4m3(470.0f), 0x7e);
  EXPECT_EQ(r1::f32_to_fp8_e4m3(1e30f), 0x7e);
  EXPECT_EQ(r1::f32_to_fp8_e4m3(INFINITY), 0x7e);
  EXPECT_EQ(r1::f32_to_fp8_e4m3(-INFINITY), 0xfe);
  EXPECT_EQ(r1::f32_to_fp8_e4m3(std::numeric_limits<float>::quiet_NaN()) & 0x7f, 0x7f);
  EXPECT_EQ(r1::f32_to_fp8_e4m3(std::ldexp(1.0f, -10)), 0x00);  // tie between 0 and 2^-9
  EXPECT_EQ(r1::f32_to_fp8_e4m3(-std::ldexp(1.0f, -10)), 0x80);
  EXPECT_EQ(r1::f32_to_fp8_e4m3(std::ldexp(1.01f, -10)), 0x01);
  EXPECT_EQ(r1::f32_to_fp8_e4m3(1e-30f), 0x00);
  EXPECT_EQ(r1::f32_to_fp8_e4m3(f32_from_bits(1)), 0x00);  // f32 subnormal
}

// Nearest E4M3 code by brute force over all finite codes (ties to even), saturating at 448.
uint8_t nearest_e4m3(float f) {
  const double a = std::fabs(static_cast<double>(f));
  const int sign = std::signbit(f) ? 0x80 : 0;
  int best = 0;
  double best_d = INFINITY;
  for (int c = 0; c <= 0x7e; ++c) {
    const double d = std::fabs(e4m3_value(static_cast<uint8_t>(c)) - a);
    if (d < best_d || (d == best_d && (c & 1) == 0)) {
      best = c;
      best_d = d;
    }
  }
  return static_cast<uint8_t>(sign | best);
}

TEST(Fp8E4M3, FromF32RandomInputs) {
  std::mt19937 rng(99);
  for (int i = 0; i < 100000; ++i) {
    const uint32_t exp = 110 + rng() % 30;  // 2^-17 .. 2^12
    const uint32_t u = (rng() & 0x80000000u) | (exp << 23) | (rng() & 0x7fffffu);
    const float f = f32_from_bits(u);
    ASSERT_EQ(r1::f32_to_fp8_e4m3(f), nearest_e4m3(f)) << std::hex << u << " " << f;
  }
}

}  // namespace
