// IEEE half, bfloat16 and FP8 E4M3 conversions (scalar, exact).
#pragma once

#include <cstdint>
#include <cstring>

namespace r1 {

inline float f32_from_bits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
inline uint32_t bits_from_f32(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

inline float bf16_to_f32(uint16_t h) {
  return f32_from_bits(static_cast<uint32_t>(h) << 16);
}

// Round to nearest even; NaN stays NaN.
inline uint16_t f32_to_bf16(float f) {
  uint32_t u = bits_from_f32(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40);
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}

inline float f16_to_f32(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1f;
  uint32_t man = h & 0x3ffu;
  if (exp == 0) {
    // zero or subnormal: man * 2^-24
    float v = static_cast<float>(man) * 5.9604644775390625e-08f;
    return (sign != 0u) ? -v : v;
  }
  if (exp == 31) return f32_from_bits(sign | 0x7f800000u | (man << 13));
  return f32_from_bits(sign | ((exp + 112) << 23) | (man << 13));
}

// Round to nearest even, overflow to infinity.
inline uint16_t f32_to_f16(float f) {
  uint32_t u = bits_from_f32(f);
  uint16_t sign = static_cast<uint16_t>((u >> 16) & 0x8000u);
  uint32_t a = u & 0x7fffffffu;
  if (a > 0x7f800000u) return sign | 0x7e00u;   // NaN
  if (a >= 0x477ff000u) return sign | 0x7c00u;  // >= 65520 rounds to inf
  if (a < 0x38800000u) {                        // below the smallest normal 2^-14
    // subnormal: value / 2^-24, rounded to nearest even
    float v = f32_from_bits(a) * 16777216.0f;  // exact scaling by 2^24
    uint32_t r = static_cast<uint32_t>(v);
    float frac = v - static_cast<float>(r);
    if (frac > 0.5f || (frac == 0.5f && (r & 1u))) ++r;
    return sign | static_cast<uint16_t>(r);
  }
  uint32_t exp = ((a >> 23) - 112) << 10;
  uint32_t man = (a >> 13) & 0x3ffu;
  uint32_t h = exp | man;
  uint32_t rest = a & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) ++h;
  return sign | static_cast<uint16_t>(h);
}

// FP8 E4M3FN (no infinities; 0x7f/0xff are NaN; max finite 448).
inline float fp8_e4m3_to_f32(uint8_t b) {
  uint32_t sign = b >> 7;
  uint32_t exp = (b >> 3) & 0xf;
  uint32_t man = b & 0x7;
  float v;
  if (exp == 0) {
    v = static_cast<float>(man) * 0.001953125f;  // 2^-6 * m/8
  } else if (exp == 15 && man == 7) {
    return f32_from_bits(0x7fc00000u);
  } else {
    v = f32_from_bits(((exp + 120) << 23) | (man << 20));
  }
  return sign ? -v : v;
}

// Round to nearest even, saturating at +-448 (as torch's float8_e4m3fn cast of clamped values).
uint8_t f32_to_fp8_e4m3(float f);

}  // namespace r1
