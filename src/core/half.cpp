#include "core/half.h"

#include <cmath>

namespace r1 {

uint8_t f32_to_fp8_e4m3(float f) {
  if (std::isnan(f)) return 0x7f;
  uint8_t sign = std::signbit(f) ? 0x80 : 0x00;
  float a = std::fabs(f);
  if (a >= 448.0f) return sign | 0x7e;
  // Codes 0..0x7e are ordered by value: binary search for the nearest, ties to even code.
  int lo = 0, hi = 0x7e;
  while (hi - lo > 1) {
    int mid = (lo + hi) / 2;
    if (fp8_e4m3_to_f32(static_cast<uint8_t>(mid)) <= a) lo = mid; else hi = mid;
  }
  float vlo = fp8_e4m3_to_f32(static_cast<uint8_t>(lo));
  float vhi = fp8_e4m3_to_f32(static_cast<uint8_t>(hi));
  int code;
  if (a - vlo < vhi - a) code = lo;
  else if (a - vlo > vhi - a) code = hi;
  else code = (lo % 2 == 0) ? lo : hi;
  if (vlo == a) code = lo;
  return sign | static_cast<uint8_t>(code);
}

}  // namespace r1
