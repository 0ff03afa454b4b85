// Block quantization formats: dequantize rows to f32 and quantize f32 rows.
// Scalar reference implementations; layouts as in ggml (see docs/FORMATS.md). No model knowledge.
#pragma once

#include <cstdint>

#include "core/dtype.h"

namespace r1::quants {

// Dequantizes n elements (n a multiple of the block size) of type t starting at `src` to `dst`.
// Valid for F32, F16, BF16, F64, F8_E4M3 (unscaled), Q8_0, Q4_0, Q2_K..Q6_K. Aborts on an
// unsupported type (callers check dtype_traits(t).is_float first).
void dequantize_row(DType t, const void* src, float* dst, int64_t n);

// FP8 E4M3 weight row with 128x128 block scales: `scale_row` points at the scale row of this
// weight row (row / 128 of weight_scale_inv), holding ceil(n / 128) floats. dst = fp8 * scale.
void dequantize_row_fp8_block(const uint8_t* src, const float* scale_row, float* dst, int64_t n);

// Quantizes n f32 values (n a multiple of the block size) to t. Supported: F32, F16, BF16,
// Q8_0, Q4_0, Q4_K, Q5_K, Q6_K (others throw r1::Error).
void quantize_row(DType t, const float* src, void* dst, int64_t n);
bool can_quantize(DType t);

// FP8 block quantization of a [rows, cols] f32 matrix as in the published R1 checkpoint:
// per 128x128 block, scale = max|w| / 448 (1 if the block is all zero), q = fp8(w / scale).
// `scales` gets ceil(rows/128) * ceil(cols/128) floats (row-major).
void quantize_fp8_blocks(const float* src, int64_t rows, int64_t cols, uint8_t* q, float* scales);

}  // namespace r1::quants
