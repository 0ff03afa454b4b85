#include "core/half.h"

namespace r1 {

uint8_t f32_to_fp8_e4m3(float f) {
  const uint32_t u = bits_from_f32(f);
  const uint8_t sign = static_cast<uint8_t>((u >> 24) & 0x80u);
  const uint32_t a = u & 0x7fffffffu;
  if (a > 0x7f800000u) return 0x7f;           // NaN (sign dropped)
  if (a >= 0x43e00000u) return sign | 0x7eu;  // |f| >= 448 (and Inf) saturates to 448
  if (a < 0x3c800000u) {                      // below 2^-6, the smallest normal
    // Subnormal codes are multiples of 2^-9: scale exactly and round to nearest even.
    // Code 8 (= 2^-6) is the smallest normal, which the code layout continues seamlessly.
    const float v = f32_from_bits(a) * 512.0f;
    uint32_t r = static_cast<uint32_t>(v);
    const float frac = v - static_cast<float>(r);
    if (frac > 0.5f || (frac == 0.5f && (r & 1u))) ++r;
    return sign | static_cast<uint8_t>(r);
  }
  // Normal: rebias the exponent (127 -> 7), keep 3 mantissa bits, round the other 20 to
  // nearest even (a carry moves into the exponent, which is the next code).
  uint32_t code = (((a >> 23) - 120u) << 3) | ((a >> 20) & 7u);
  const uint32_t rest = a & 0xfffffu;
  if (rest > 0x80000u || (rest == 0x80000u && (code & 1u))) ++code;
  if (code > 0x7eu) code = 0x7e;  // cannot happen below 448, kept as a guard
  return sign | static_cast<uint8_t>(code);
}

}  // namespace r1
