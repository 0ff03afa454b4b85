// Block quantization formats: dequantize rows to f32 and quantize f32 rows.
// Scalar reference implementations; layouts as in ggml (see docs/FORMATS.md). No model knowledge.
//
// Non-finite input policy of the quantizers (they never crash and never emit NaN scales):
//  * F32 / F16 / BF16 keep NaN and +-Inf (F16 overflows to +-Inf as IEEE rounding does).
//  * Block types (Q8_0, Q4_0, Q4_K, Q5_K, Q6_K) choose their scales from the finite values of a
//    block only; a NaN element is quantized as if it were 0 and +-Inf as +-(the block's largest
//    finite magnitude). Scales that would overflow fp16 saturate at 65504 (larger values clip).
//  * Scale search: per sub-block a sweep of step sizes with a least-squares fit (as ggml's
//    reference quantizers do), then the fp16 super-block scales (nearest or next up) and the
//    6/8-bit sub-block scales (nearest, +-1 or 0) are chosen by actual reconstruction error.
//  * quantize_fp8_blocks: scales come from the finite values of a block; NaN is stored as the
//    FP8 NaN code (0x7f), +-Inf saturates to +-448 * scale.
#pragma once

#include <cstdint>

#include "core/dtype.h"

namespace r1::quants {

// ---- block layouts (all fp16 fields are IEEE half bit patterns, little-endian) ----

inline constexpr int kQK8_0 = 32;
inline constexpr int kQK4_0 = 32;
inline constexpr int kQK_K = 256;      // super-block size of the K-quants
inline constexpr int kFp8Block = 128;  // R1's FP8 weight scale block (128 x 128)

struct BlockQ8_0 {
  uint16_t d;
  int8_t qs[kQK8_0];  // y = d * qs
};
struct BlockQ4_0 {
  uint16_t d;
  uint8_t qs[kQK4_0 / 2];  // y[j] = d * (lo nibble - 8), y[j + 16] = d * (hi nibble - 8)
};
struct BlockQ2_K {
  uint8_t scales[kQK_K / 16];  // low nibble: scale, high nibble: min
  uint8_t qs[kQK_K / 4];
  uint16_t d, dmin;
};
struct BlockQ3_K {
  uint8_t hmask[kQK_K / 8];
  uint8_t qs[kQK_K / 4];
  uint8_t scales[12];  // 16 x 6-bit signed (biased by 32) scales
  uint16_t d;
};
struct BlockQ4_K {
  uint16_t d, dmin;
  uint8_t scales[12];  // 8 scales + 8 mins, 6 bits each
  uint8_t qs[kQK_K / 2];
};
struct BlockQ5_K {
  uint16_t d, dmin;
  uint8_t scales[12];
  uint8_t qh[kQK_K / 8];
  uint8_t qs[kQK_K / 2];
};
struct BlockQ6_K {
  uint8_t ql[kQK_K / 2];
  uint8_t qh[kQK_K / 4];
  int8_t scales[kQK_K / 16];
  uint16_t d;
};
static_assert(sizeof(BlockQ8_0) == 34 && sizeof(BlockQ4_0) == 18);
static_assert(sizeof(BlockQ2_K) == 84 && sizeof(BlockQ3_K) == 110);
static_assert(sizeof(BlockQ4_K) == 144 && sizeof(BlockQ5_K) == 176 && sizeof(BlockQ6_K) == 210);

// Scale and min (6 bits each) of sub-block k (0..7) of a Q4_K/Q5_K block's 12 scale bytes.
inline void get_scale_min_k4(const uint8_t* s, int k, uint8_t* scale, uint8_t* min) {
  if (k < 4) {
    *scale = s[k] & 63;
    *min = s[k + 4] & 63;
  } else {
    *scale = static_cast<uint8_t>((s[k + 4] & 0xF) | ((s[k - 4] >> 6) << 4));
    *min = static_cast<uint8_t>((s[k + 4] >> 4) | ((s[k] >> 6) << 4));
  }
}

// Signed scale (-32..31) of sub-block k (0..15) of a Q3_K block's 12 scale bytes.
inline int q3_k_scale(const uint8_t* s, int k) {
  int low = k < 8 ? (s[k] & 0xF) : (s[k - 8] >> 4);
  int high = (s[8 + (k % 4)] >> (2 * (k / 4))) & 3;
  return (low | (high << 4)) - 32;
}

// ---- dequantization ----

// Dequantizes n elements (n a multiple of the block size) of type t starting at `src` to `dst`.
// Valid for F32, F16, BF16, F64, F8_E4M3 (unscaled), Q8_0, Q4_0, Q2_K..Q6_K. Aborts on an
// unsupported type (callers check dtype_traits(t).is_float first). `src` needs no alignment.
void dequantize_row(DType t, const void* src, float* dst, int64_t n);

// FP8 E4M3 weight row with 128x128 block scales: `scale_row` points at the scale row of this
// weight row (row / 128 of weight_scale_inv), holding ceil(n / 128) floats. dst = fp8 * scale.
void dequantize_row_fp8_block(const uint8_t* src, const float* scale_row, float* dst, int64_t n);

// Number of 128-wide scale blocks along a dimension of n elements: ceil(n / 128).
inline int64_t fp8_scale_blocks(int64_t n) {
  return (n + kFp8Block - 1) / kFp8Block;
}

// Whole [rows, cols] FP8 matrix with its [ceil(rows/128), ceil(cols/128)] scales (row-major).
void dequantize_fp8_blocks(const uint8_t* q, const float* scales, int64_t rows, int64_t cols,
                           float* dst);

// ---- quantization ----

// Quantizes n f32 values (n a multiple of the block size) to t. Supported: F32, F16, BF16,
// Q8_0, Q4_0, Q4_K, Q5_K, Q6_K (others throw r1::Error).
void quantize_row(DType t, const float* src, void* dst, int64_t n);
bool can_quantize(DType t);

// FP8 block quantization of a [rows, cols] f32 matrix as in the published R1 checkpoint:
// per 128x128 block, scale = max|w| / 448 (1 if the block is all zero), q = fp8(w / scale).
// `scales` gets ceil(rows/128) * ceil(cols/128) floats (row-major). Partial edge blocks use
// only the elements that exist (the same as zero padding to 128).
void quantize_fp8_blocks(const float* src, int64_t rows, int64_t cols, uint8_t* q, float* scales);

}  // namespace r1::quants
