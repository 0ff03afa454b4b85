// Block quant kernels: hand-built blocks decoded against the layout formulas (the blocks are
// encoded here from the spec, independently of the library), quantize -> dequantize error
// bounds, edge cases (zeros, outliers, NaN/Inf, huge and tiny values) and FP8 block scales.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "core/dtype.h"
#include "core/error.h"
#include "core/half.h"
#include "kernels/quants.h"

namespace {

using r1::DType;
namespace q = r1::quants;

std::vector<float> dequant(DType t, const std::vector<uint8_t>& bytes, int64_t n) {
  std::vector<float> out(static_cast<size_t>(n), -12345.0f);
  q::dequantize_row(t, bytes.data(), out.data(), n);
  return out;
}

std::vector<uint8_t> quant(DType t, const std::vector<float>& x) {
  const auto nbytes = r1::dtype_row_bytes(t, x.size());
  EXPECT_TRUE(nbytes.has_value());
  std::vector<uint8_t> out(*nbytes, 0xAB);
  q::quantize_row(t, x.data(), out.data(), static_cast<int64_t>(x.size()));
  return out;
}

std::vector<float> roundtrip(DType t, const std::vector<float>& x) {
  return dequant(t, quant(t, x), static_cast<int64_t>(x.size()));
}

std::vector<float> gaussian(size_t n, float sigma, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, sigma);
  std::vector<float> x(n);
  for (auto& v : x) v = dist(rng);
  return x;
}

double rel_rms_error(const std::vector<float>& x, const std::vector<float>& y) {
  double e = 0, s = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    e += (static_cast<double>(x[i]) - y[i]) * (static_cast<double>(x[i]) - y[i]);
    s += static_cast<double>(x[i]) * x[i];
  }
  return std::sqrt(e / s);
}

void put16(std::vector<uint8_t>& b, size_t off, uint16_t v) {
  b[off] = static_cast<uint8_t>(v & 0xff);
  b[off + 1] = static_cast<uint8_t>(v >> 8);
}
uint16_t get16(const std::vector<uint8_t>& b, size_t off) {
  return static_cast<uint16_t>(b[off] | (b[off + 1] << 8));
}

void expect_all_finite(const std::vector<float>& y) {
  for (size_t i = 0; i < y.size(); ++i) ASSERT_TRUE(std::isfinite(y[i])) << i;
}

// fp16 codes of a few exact scales.
constexpr uint16_t kHalf0_25 = 0x3400, kHalf0_125 = 0x3000, kHalf0_5 = 0x3800, kHalf2 = 0x4000;

// ---------------------------------------------------------------------------- plain types

TEST(Dequantize, PlainTypes) {
  {
    std::vector<uint8_t> b(6 * 2);
    const uint16_t codes[6] = {0x3c00, 0xc000, 0x7bff, 0x0001, 0x7c00, 0x7e00};
    for (int i = 0; i < 6; ++i) put16(b, 2 * i, codes[i]);
    auto y = dequant(DType::F16, b, 6);
    EXPECT_EQ(y[0], 1.0f);
    EXPECT_EQ(y[1], -2.0f);
    EXPECT_EQ(y[2], 65504.0f);
    EXPECT_EQ(y[3], std::ldexp(1.0f, -24));
    EXPECT_EQ(y[4], INFINITY);
    EXPECT_TRUE(std::isnan(y[5]));
  }
  {
    std::vector<uint8_t> b(3 * 2);
    put16(b, 0, 0x3f80);
    put16(b, 2, 0x4049);
    put16(b, 4, 0xc2f7);
    auto y = dequant(DType::BF16, b, 3);
    EXPECT_EQ(y[0], 1.0f);
    EXPECT_EQ(y[1], 3.140625f);
    EXPECT_EQ(y[2], -123.5f);
  }
  {
    const double v[3] = {0.1, -1e300, 2.5};
    std::vector<uint8_t> b(sizeof v);
    std::memcpy(b.data(), v, sizeof v);
    auto y = dequant(DType::F64, b, 3);
    EXPECT_EQ(y[0], 0.1f);
    EXPECT_EQ(y[1], -INFINITY);
    EXPECT_EQ(y[2], 2.5f);
  }
  {
    const float v[2] = {1.5f, -0.0f};
    std::vector<uint8_t> b(sizeof v);
    std::memcpy(b.data(), v, sizeof v);
    auto y = dequant(DType::F32, b, 2);
    EXPECT_EQ(y[0], 1.5f);
    EXPECT_TRUE(std::signbit(y[1]));
  }
  {
    std::vector<uint8_t> b = {0x38, 0x7e, 0x01, 0x08, 0xb8, 0x7f, 0x80, 0x4c};
    auto y = dequant(DType::F8_E4M3, b, 8);
    EXPECT_EQ(y[0], 1.0f);
    EXPECT_EQ(y[1], 448.0f);
    EXPECT_EQ(y[2], std::ldexp(1.0f, -9));
    EXPECT_EQ(y[3], std::ldexp(1.0f, -6));
    EXPECT_EQ(y[4], -1.0f);
    EXPECT_TRUE(std::isnan(y[5]));
    EXPECT_EQ(y[6], 0.0f);
    EXPECT_EQ(y[7], 6.0f);  // e = 9, m = 4: 2^2 * 1.5
  }
}

// ---------------------------------------------------------------------------- hand-built blocks

// Expected values are computed in double from the chosen codes; scales are powers of two so the
// float results must be exact.

TEST(Dequantize, Q8_0) {
  std::vector<uint8_t> b(2 * 34);
  put16(b, 0, kHalf0_5);
  put16(b, 34, kHalf2);
  for (int j = 0; j < 32; ++j) {
    b[2 + j] = static_cast<uint8_t>(static_cast<int8_t>(j - 16));
    b[36 + j] = static_cast<uint8_t>(static_cast<int8_t>(j % 2 ? 127 : -128 + j));
  }
  auto y = dequant(DType::Q8_0, b, 64);
  for (int j = 0; j < 32; ++j) {
    EXPECT_EQ(y[j], 0.5 * (j - 16)) << j;
    EXPECT_EQ(y[32 + j], 2.0 * (j % 2 ? 127 : -128 + j)) << j;
  }
}

TEST(Dequantize, Q4_0) {
  std::vector<uint8_t> b(18);
  put16(b, 0, kHalf2);
  int code[32];
  for (int e = 0; e < 32; ++e) code[e] = (e * 5 + 3) % 16;
  for (int j = 0; j < 16; ++j) b[2 + j] = static_cast<uint8_t>(code[j] | (code[j + 16] << 4));
  auto y = dequant(DType::Q4_0, b, 32);
  for (int e = 0; e < 32; ++e) EXPECT_EQ(y[e], 2.0 * (code[e] - 8)) << e;
}

TEST(Dequantize, Q2_K) {
  // Element e sits at 128n + 32j + 16g + l: 2-bit code in qs[32n + 16g + l] bits 2j..2j+1,
  // scale/min nibbles in scales[e / 16]. d, dmin at bytes 80, 82.
  std::vector<uint8_t> b(2 * 84, 0);
  std::vector<double> want(512);
  for (int blk = 0; blk < 2; ++blk) {
    const size_t base = 84 * blk;
    const double d = blk ? 0.5 : 0.25, dmin = blk ? 0.25 : 0.125;
    put16(b, base + 80, blk ? kHalf0_5 : kHalf0_25);
    put16(b, base + 82, blk ? kHalf0_25 : kHalf0_125);
    int sc[16], mn[16];
    for (int k = 0; k < 16; ++k) {
      sc[k] = (k * 7 + blk) % 16;
      mn[k] = (15 - k + 3 * blk) % 16;
      b[base + k] = static_cast<uint8_t>(sc[k] | (mn[k] << 4));
    }
    for (int e = 0; e < 256; ++e) {
      const int code = (e * 7 + 3 + blk) % 4;
      const int n = e / 128, j = (e % 128) / 32, g = (e % 32) / 16, l = e % 16;
      b[base + 16 + 32 * n + 16 * g + l] |= static_cast<uint8_t>(code << (2 * j));
      want[256 * blk + e] = d * sc[e / 16] * code - dmin * mn[e / 16];
    }
  }
  auto y = dequant(DType::Q2_K, b, 512);
  for (int e = 0; e < 512; ++e) EXPECT_EQ(y[e], want[e]) << e;
}

TEST(Dequantize, Q3_K) {
  // hmask[32] @0, qs[64] @32, scales[12] @96, d @108. Code v = q + 4 in 0..7: low two bits in
  // qs[32n + (e % 32)] at bits 2j, high bit in hmask[e % 32] bit 4n + j. 6-bit biased scales:
  // low nibble in byte k (k < 8) or high nibble of byte k - 8, top 2 bits in byte 8 + k % 4 at
  // bit 2 * (k / 4).
  std::vector<uint8_t> b(110, 0);
  put16(b, 108, kHalf0_25);
  const int scale[16] = {-32, 31, -1, 0, 5, -17, 22, 13, -8, 30, -31, 7, 1, -2, 19, -25};
  for (int k = 0; k < 16; ++k) {
    const int biased = scale[k] + 32;
    if (k < 8)
      b[96 + k] |= static_cast<uint8_t>(biased & 0xF);
    else
      b[96 + k - 8] |= static_cast<uint8_t>((biased & 0xF) << 4);
    b[96 + 8 + k % 4] |= static_cast<uint8_t>((biased >> 4) << (2 * (k / 4)));
  }
  std::vector<double> want(256);
  for (int e = 0; e < 256; ++e) {
    const int qv = (e * 3 + 1) % 8 - 4;
    const int v = qv + 4;
    const int n = e / 128, j = (e % 128) / 32, idx = e % 32;
    b[32 + 32 * n + idx] |= static_cast<uint8_t>((v & 3) << (2 * j));
    if (v & 4) b[idx] |= static_cast<uint8_t>(1 << (4 * n + j));
    want[e] = 0.25 * scale[e / 16] * qv;
  }
  auto y = dequant(DType::Q3_K, b, 256);
  for (int e = 0; e < 256; ++e) EXPECT_EQ(y[e], want[e]) << e;
  for (int k = 0; k < 16; ++k) EXPECT_EQ(q::q3_k_scale(b.data() + 96, k), scale[k]) << k;
}

// Packs 6-bit scales/mins of 8 sub-blocks the way Q4_K/Q5_K store them.
void pack_k4_scales(uint8_t* s, const int* sc, const int* mn) {
  std::memset(s, 0, 12);
  for (int k = 0; k < 8; ++k) {
    if (k < 4) {
      s[k] |= static_cast<uint8_t>(sc[k]);
      s[k + 4] |= static_cast<uint8_t>(mn[k]);
    } else {
      s[k + 4] = static_cast<uint8_t>((sc[k] & 0xF) | ((mn[k] & 0xF) << 4));
      s[k - 4] |= static_cast<uint8_t>((sc[k] >> 4) << 6);
      s[k] |= static_cast<uint8_t>((mn[k] >> 4) << 6);
    }
  }
}

TEST(Dequantize, Q4_K) {
  // d @0, dmin @2, scales @4, qs[128] @16. Element e: chunk c = e / 64 uses qs[32c + e % 32],
  // low nibble for the first 32 of the chunk, high nibble for the second; sub-block k = e / 32.
  std::vector<uint8_t> b(2 * 144, 0);
  std::vector<double> want(512);
  for (int blk = 0; blk < 2; ++blk) {
    const size_t base = 144 * blk;
    put16(b, base + 0, blk ? kHalf0_5 : kHalf0_25);
    put16(b, base + 2, kHalf0_125);
    const double d = blk ? 0.5 : 0.25, dmin = 0.125;
    int sc[8], mn[8];
    for (int k = 0; k < 8; ++k) {
      sc[k] = (k * 23 + 5 + blk) % 64;
      mn[k] = (63 + 64 - k * 17 + 2 * blk) % 64;
    }
    sc[7] = 63;
    mn[6] = 63;
    pack_k4_scales(&b[base + 4], sc, mn);
    for (int e = 0; e < 256; ++e) {
      const int code = (e * 11 + blk) % 16;
      const int c = e / 64, half = (e % 64) / 32, l = e % 32;
      b[base + 16 + 32 * c + l] |= static_cast<uint8_t>(code << (4 * half));
      want[256 * blk + e] = d * sc[e / 32] * code - dmin * mn[e / 32];
    }
  }
  auto y = dequant(DType::Q4_K, b, 512);
  for (int e = 0; e < 512; ++e) EXPECT_EQ(y[e], want[e]) << e;
}

TEST(Dequantize, Q5_K) {
  // d @0, dmin @2, scales @4, qh[32] @16, qs[128] @48; the fifth bit of element e is
  // qh[e % 32] bit e / 32.
  std::vector<uint8_t> b(176, 0);
  put16(b, 0, kHalf0_25);
  put16(b, 2, kHalf0_5);
  int sc[8], mn[8];
  for (int k = 0; k < 8; ++k) {
    sc[k] = (k * 29 + 7) % 64;
    mn[k] = (k * 31 + 40) % 64;
  }
  pack_k4_scales(&b[4], sc, mn);
  std::vector<double> want(256);
  for (int e = 0; e < 256; ++e) {
    const int code = (e * 13 + 5) % 32;
    const int c = e / 64, half = (e % 64) / 32, l = e % 32;
    b[48 + 32 * c + l] |= static_cast<uint8_t>((code & 0xF) << (4 * half));
    if (code & 16) b[16 + l] |= static_cast<uint8_t>(1 << (e / 32));
    want[e] = 0.25 * sc[e / 32] * code - 0.5 * mn[e / 32];
  }
  auto y = dequant(DType::Q5_K, b, 256);
  for (int e = 0; e < 256; ++e) EXPECT_EQ(y[e], want[e]) << e;
}

TEST(Dequantize, Q6_K) {
  // ql[128] @0, qh[64] @128, scales[16] (int8) @192, d @208. Element e = 128n + 32qq + l:
  // low nibble in ql[64n + l + 32 (qq odd)], nibble qq / 2; high two bits in qh[32n + l] at
  // bit 2qq; value = code - 32; scale index e / 16.
  std::vector<uint8_t> b(210, 0);
  put16(b, 208, kHalf0_125);
  int sc[16];
  for (int k = 0; k < 16; ++k) {
    sc[k] = (k * 37) % 256 - 128;
    b[192 + k] = static_cast<uint8_t>(static_cast<int8_t>(sc[k]));
  }
  std::vector<double> want(256);
  for (int e = 0; e < 256; ++e) {
    const int qv = (e * 7 + 2) % 64 - 32;
    const int code = qv + 32;
    const int n = e / 128, qq = (e % 128) / 32, l = e % 32;
    b[64 * n + l + 32 * (qq % 2)] |= static_cast<uint8_t>((code & 0xF) << (4 * (qq / 2)));
    b[128 + 32 * n + l] |= static_cast<uint8_t>((code >> 4) << (2 * qq));
    want[e] = 0.125 * sc[e / 16] * qv;
  }
  auto y = dequant(DType::Q6_K, b, 256);
  for (int e = 0; e < 256; ++e) EXPECT_EQ(y[e], want[e]) << e;
}

TEST(Dequantize, NonPowerOfTwoScaleAndUnalignedSource) {
  // d = fp16 0x3555 (0.333251953125): y = d * q to float rounding.
  std::vector<uint8_t> b(1 + 34);
  put16(b, 1, 0x3555);
  for (int j = 0; j < 32; ++j) b[3 + j] = static_cast<uint8_t>(static_cast<int8_t>(3 * j - 50));
  std::vector<float> y(32);
  q::dequantize_row(DType::Q8_0, b.data() + 1, y.data(), 32);  // odd address
  for (int j = 0; j < 32; ++j)
    EXPECT_EQ(y[j], static_cast<float>(0.333251953125 * (3 * j - 50))) << j;
}

TEST(Dequantize, BlockByteSizesMatchTraits) {
  EXPECT_EQ(sizeof(q::BlockQ8_0), r1::dtype_traits(DType::Q8_0).block_bytes);
  EXPECT_EQ(sizeof(q::BlockQ4_0), r1::dtype_traits(DType::Q4_0).block_bytes);
  EXPECT_EQ(sizeof(q::BlockQ2_K), r1::dtype_traits(DType::Q2_K).block_bytes);
  EXPECT_EQ(sizeof(q::BlockQ3_K), r1::dtype_traits(DType::Q3_K).block_bytes);
  EXPECT_EQ(sizeof(q::BlockQ4_K), r1::dtype_traits(DType::Q4_K).block_bytes);
  EXPECT_EQ(sizeof(q::BlockQ5_K), r1::dtype_traits(DType::Q5_K).block_bytes);
  EXPECT_EQ(sizeof(q::BlockQ6_K), r1::dtype_traits(DType::Q6_K).block_bytes);
}

// ---------------------------------------------------------------------------- FP8 with scales

TEST(Fp8Block, DequantizeRowWithPartialBlock) {
  // n = 300: scale blocks [0,128), [128,256), [256,300).
  std::vector<uint8_t> src(300);
  for (int i = 0; i < 300; ++i) src[i] = static_cast<uint8_t>((i * 37) % 256);
  const float scales[3] = {0.5f, 3.0f, -0.25f};
  std::vector<float> y(300);
  q::dequantize_row_fp8_block(src.data(), scales, y.data(), 300);
  for (int i = 0; i < 300; ++i) {
    const float v = r1::fp8_e4m3_to_f32(src[i]) * scales[i / 128];
    if (std::isnan(v))
      EXPECT_TRUE(std::isnan(y[i]));
    else
      EXPECT_EQ(y[i], v) << i;
  }
}

TEST(Fp8Block, QuantizeKvAProjShape) {
  // R1's kv_a_proj_with_mqa: [576, 7168] -> scales [5, 56]; the last block row has 64 rows.
  const int64_t rows = 576, cols = 7168;
  ASSERT_EQ(q::fp8_scale_blocks(rows), 5);
  ASSERT_EQ(q::fp8_scale_blocks(cols), 56);
  std::vector<float> w(static_cast<size_t>(rows * cols));
  std::mt19937 rng(7);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c)  // magnitude varies by block so each scale differs
      w[r * cols + c] = dist(rng) * 0.01f * static_cast<float>(1 + r / 100 + c / 1000);
  std::vector<uint8_t> qw(w.size());
  std::vector<float> scales(5 * 56, -1.0f);
  q::quantize_fp8_blocks(w.data(), rows, cols, qw.data(), scales.data());
  for (int bi = 0; bi < 5; ++bi)
    for (int bj = 0; bj < 56; ++bj) {
      float amax = 0;
      for (int64_t r = bi * 128; r < std::min<int64_t>(rows, bi * 128 + 128); ++r)
        for (int64_t c = bj * 128; c < bj * 128 + 128; ++c)
          amax = std::max(amax, std::fabs(w[r * cols + c]));
      ASSERT_EQ(scales[bi * 56 + bj], amax / 448.0f) << bi << "," << bj;
    }
  std::vector<float> y(w.size());
  q::dequantize_fp8_blocks(qw.data(), scales.data(), rows, cols, y.data());
  double max_rel = 0;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) {
      const float s = scales[(r / 128) * 56 + c / 128];
      const float x = w[r * cols + c], v = y[r * cols + c];
      // E4M3 keeps 3 mantissa bits: half an ulp is 2^-4 relative; subnormal steps are 2^-9.
      const double bound = std::max(std::fabs(x) * 0.0625, s * std::ldexp(1.0, -10)) * 1.0001;
      ASSERT_LE(std::fabs(x - v), bound) << r << "," << c;
      if (std::fabs(x) > s) max_rel = std::max(max_rel, double{std::fabs(x - v) / std::fabs(x)});
    }
  EXPECT_LE(max_rel, 0.0625);
  // Row by row with the scale row of its block row gives the same as the whole-matrix call.
  std::vector<float> row_out(cols);
  q::dequantize_row_fp8_block(qw.data() + 575 * cols, scales.data() + 4 * 56, row_out.data(), cols);
  for (int64_t c = 0; c < cols; ++c) ASSERT_EQ(row_out[c], y[575 * cols + c]);
}

TEST(Fp8Block, ZeroBlockNaNAndInf) {
  // 130 x 3: block rows [0,128) and [128,130). Block row 0 all zeros -> scale 1.
  const int64_t rows = 130, cols = 3;
  std::vector<float> w(rows * cols, 0.0f);
  w[128 * 3 + 0] = 2.0f;
  w[128 * 3 + 1] = std::nanf("");
  w[129 * 3 + 2] = -INFINITY;
  w[129 * 3 + 0] = -1.0f;
  std::vector<uint8_t> qw(w.size());
  float scales[2];
  q::quantize_fp8_blocks(w.data(), rows, cols, qw.data(), scales);
  EXPECT_EQ(scales[0], 1.0f);
  EXPECT_EQ(scales[1], 2.0f / 448.0f);
  for (int64_t i = 0; i < 128 * 3; ++i) ASSERT_EQ(qw[i] & 0x7f, 0);
  EXPECT_EQ(qw[128 * 3 + 0], 0x7e);
  EXPECT_EQ(qw[128 * 3 + 1] & 0x7f, 0x7f);  // NaN stays NaN
  EXPECT_EQ(qw[129 * 3 + 2], 0xfe);         // -Inf saturates to -448
  std::vector<float> y(w.size());
  q::dequantize_fp8_blocks(qw.data(), scales, rows, cols, y.data());
  EXPECT_EQ(y[128 * 3], 2.0f);
  EXPECT_TRUE(std::isnan(y[128 * 3 + 1]));
  EXPECT_EQ(y[129 * 3 + 2], -2.0f);
  EXPECT_EQ(y[129 * 3 + 0], -1.0f);
}

// ---------------------------------------------------------------------------- round trips

TEST(RoundTrip, FloatTypes) {
  auto x = gaussian(1024, 3.0f, 1);
  x[5] = 1e-6f;
  x[6] = 70000.0f;  // above the f16 range
  auto y32 = roundtrip(DType::F32, x);
  EXPECT_EQ(y32, x);
  auto y16 = roundtrip(DType::F16, x);
  auto yb = roundtrip(DType::BF16, x);
  for (size_t i = 0; i < x.size(); ++i) {
    if (i == 6) continue;
    // Half an ulp: 2^-11 relative (f16 normals), 2^-25 absolute (f16 subnormals); 2^-8 (bf16).
    EXPECT_LE(std::fabs(x[i] - y16[i]), std::max(std::fabs(x[i]) * 0x1p-11f, 0x1p-25f)) << i;
    EXPECT_LE(std::fabs(x[i] - yb[i]), std::fabs(x[i]) * 0x1p-8f) << i;
  }
  EXPECT_EQ(y16[6], INFINITY);
  EXPECT_EQ(yb[6], 70144.0f);  // 70000 -> bf16 (8 significant bits)
}

// Q8_0: every element within half a step of the stored scale (= amax/254 up to fp16 rounding).
TEST(RoundTrip, Q8_0ErrorWithinHalfStep) {
  for (float sigma : {1e-3f, 1.0f, 250.0f}) {
    auto x = gaussian(32 * 64, sigma, 2);
    auto bytes = quant(DType::Q8_0, x);
    auto y = dequant(DType::Q8_0, bytes, static_cast<int64_t>(x.size()));
    for (size_t blk = 0; blk < x.size() / 32; ++blk) {
      const float d = r1::f16_to_f32(get16(bytes, 34 * blk));
      float amax = 0;
      for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[32 * blk + j]));
      // fp16 rounding of amax / 127 (nearest or next up): one ulp, 2^-10 relative or 2^-24
      // absolute (subnormal).
      EXPECT_NEAR(d, amax / 127.0f, std::max(amax / 127.0f * 0x1p-10f, 0x1p-24f));
      for (int j = 0; j < 32; ++j) {
        const float err = std::fabs(x[32 * blk + j] - y[32 * blk + j]);
        ASSERT_LE(err, d / 2 * 1.00001f) << sigma << " " << blk << " " << j;
        ASSERT_LE(err, amax / 254.0f * 1.001f + 0x1p-26f);
      }
    }
    const double e = rel_rms_error(x, y);
    std::printf("[          ] Q8_0 sigma %g: relative RMS error %.4f%%\n", sigma, 100 * e);
    EXPECT_LT(e, 0.006) << sigma;
  }
}

TEST(RoundTrip, Q4_0ErrorWithinOneStep) {
  auto x = gaussian(32 * 64, 1.0f, 3);
  auto bytes = quant(DType::Q4_0, x);
  auto y = dequant(DType::Q4_0, bytes, static_cast<int64_t>(x.size()));
  for (size_t blk = 0; blk < x.size() / 32; ++blk) {
    const float d = std::fabs(r1::f16_to_f32(get16(bytes, 18 * blk)));
    for (int j = 0; j < 32; ++j) {
      const float xv = x[32 * blk + j];
      const float err = std::fabs(xv - y[32 * blk + j]);
      // Within the code range [-8d, 7d] the error is at most half a step; values beyond 7.5d
      // on the short side clip to 7d (at most one step, since |x| <= 8d).
      ASSERT_LE(err, d * 1.0001f) << blk << " " << j;
      if (std::fabs(xv) <= 7.0f * d) {
        ASSERT_LE(err, d / 2 * 1.0001f) << blk << " " << j;
      }
    }
  }
  const double e = rel_rms_error(x, y);
  std::printf("[          ] Q4_0 sigma 1: relative RMS error %.4f%%\n", 100 * e);
  EXPECT_LT(e, 0.09);
}

struct KQuantCase {
  DType type;
  double max_rel_rms;  // on N(0,1) data
};

class KQuantRoundTrip : public testing::TestWithParam<KQuantCase> {};

TEST_P(KQuantRoundTrip, GaussianRelativeRms) {
  const auto [type, max_rel] = GetParam();
  for (float sigma : {1e-2f, 1.0f, 30.0f}) {
    auto x = gaussian(256 * 64, sigma, 4);
    const double e = rel_rms_error(x, roundtrip(type, x));
    std::printf("[          ] %s sigma %g: relative RMS error %.4f%%\n", r1::dtype_name(type),
                sigma, 100 * e);
    EXPECT_LT(e, max_rel) << sigma;
  }
  // Shifted (non-zero-mean) data exercise the mins of Q4_K/Q5_K.
  auto x = gaussian(256 * 16, 1.0f, 5);
  for (auto& v : x) v += 3.0f;
  const double e = rel_rms_error(x, roundtrip(type, x));
  std::printf("[          ] %s N(3,1): relative RMS error %.4f%%\n", r1::dtype_name(type), 100 * e);
  EXPECT_LT(e, max_rel);
}

INSTANTIATE_TEST_SUITE_P(Quants, KQuantRoundTrip,
                         testing::Values(KQuantCase{DType::Q4_K, 0.075},
                                         KQuantCase{DType::Q5_K, 0.037},
                                         KQuantCase{DType::Q6_K, 0.018}),
                         [](const auto& info) { return r1::dtype_name(info.param.type); });

// ---------------------------------------------------------------------------- edge cases

const DType kQuantTypes[] = {DType::Q8_0, DType::Q4_0, DType::Q4_K, DType::Q5_K, DType::Q6_K};

TEST(EdgeCases, AllZeroBlocksAreExactZeros) {
  for (DType t : kQuantTypes) {
    std::vector<float> x(512, 0.0f);
    auto y = roundtrip(t, x);
    for (size_t i = 0; i < y.size(); ++i) ASSERT_EQ(y[i], 0.0f) << r1::dtype_name(t) << " " << i;
  }
}

TEST(EdgeCases, ConstantBlocks) {
  for (DType t : kQuantTypes) {
    for (float c : {1.0f, -2.5f, 1e-3f}) {
      std::vector<float> x(256, c);
      auto y = roundtrip(t, x);
      for (size_t i = 0; i < y.size(); ++i)
        ASSERT_NEAR(y[i], c, std::fabs(c) * 0.02f) << r1::dtype_name(t) << " " << c;
    }
  }
}

TEST(EdgeCases, OneHugeOutlier) {
  for (DType t : kQuantTypes) {
    auto x = gaussian(512, 1.0f, 6);
    x[100] = 1e4f;
    x[300] = -5e3f;
    auto y = roundtrip(t, x);
    expect_all_finite(y);
    // The outliers themselves are kept to within a few percent.
    EXPECT_NEAR(y[100], 1e4f, 1e4f * 0.04f) << r1::dtype_name(t);
    EXPECT_NEAR(y[300], -5e3f, 5e3f * 0.04f) << r1::dtype_name(t);
    // With 32-element blocks, block 0 holds neither outlier and is unaffected.
    if (t == DType::Q8_0 || t == DType::Q4_0) {
      std::vector<float> xs(x.begin(), x.begin() + 32), ys(y.begin(), y.begin() + 32);
      EXPECT_LT(rel_rms_error(xs, ys), 0.1) << r1::dtype_name(t);
    }
  }
}

TEST(EdgeCases, NegativeOnlyAndPositiveOnly) {
  for (DType t : kQuantTypes) {
    for (float sign : {-1.0f, 1.0f}) {
      auto x = gaussian(1024, 1.0f, 8);
      for (auto& v : x) v = sign * (std::fabs(v) + 0.5f);
      auto y = roundtrip(t, x);
      const double e = rel_rms_error(x, y);
      EXPECT_LT(e, t == DType::Q8_0 ? 0.01 : 0.08) << r1::dtype_name(t) << " " << sign;
      for (size_t i = 0; i < x.size(); ++i)  // never flips sign beyond one step
        ASSERT_GE(sign * y[i], -0.2f) << r1::dtype_name(t) << " " << i;
    }
  }
}

// Policy: NaN elements become 0, +-Inf saturate to the block's range, the other elements of
// the block are quantized as if the non-finite ones were not there; no NaN/Inf comes out.
TEST(EdgeCases, NonFiniteInputsDoNotPoisonBlocks) {
  for (DType t : kQuantTypes) {
    auto x = gaussian(512, 1.0f, 9);
    auto clean = x;
    x[3] = std::nanf("");
    x[40] = INFINITY;
    x[41] = -INFINITY;
    clean[3] = 0.0f;
    auto y = roundtrip(t, x);
    expect_all_finite(y);
    EXPECT_NEAR(y[3], 0.0f, 0.2f) << r1::dtype_name(t);
    EXPECT_GT(y[40], 1.0f) << r1::dtype_name(t);
    EXPECT_LT(y[41], -1.0f) << r1::dtype_name(t);
    std::vector<float> xc, yc;
    for (size_t i = 0; i < x.size(); ++i)
      if (i != 3 && i != 40 && i != 41) {
        xc.push_back(clean[i]);
        yc.push_back(y[i]);
      }
    EXPECT_LT(rel_rms_error(xc, yc), t == DType::Q8_0 ? 0.01 : 0.10) << r1::dtype_name(t);
  }
  // A block of nothing but NaN.
  for (DType t : kQuantTypes) {
    std::vector<float> x(256, std::nanf(""));
    auto y = roundtrip(t, x);
    for (float v : y) ASSERT_EQ(v, 0.0f) << r1::dtype_name(t);
  }
}

TEST(EdgeCases, ValuesBeyondTheFp16ScaleRangeSaturate) {
  for (DType t : kQuantTypes) {
    std::vector<float> x(256);
    for (size_t i = 0; i < x.size(); ++i) x[i] = (i % 2 ? 1.0f : -1.0f) * 1e12f;
    auto y = roundtrip(t, x);
    expect_all_finite(y);
    for (size_t i = 0; i < x.size(); ++i) ASSERT_EQ(std::signbit(y[i]), std::signbit(x[i]));
  }
}

TEST(EdgeCases, TinyValues) {
  for (DType t : kQuantTypes) {
    for (float sigma : {1e-6f, 1e-9f, 1e-30f}) {
      auto x = gaussian(256, sigma, 10);
      auto y = roundtrip(t, x);
      expect_all_finite(y);
      // Scales underflow in fp16 (subnormal or zero): never worse than storing zeros.
      EXPECT_LE(rel_rms_error(x, y), 1.0) << r1::dtype_name(t) << " " << sigma;
    }
  }
}

TEST(Quantize, UnsupportedTypesThrow) {
  std::vector<float> x(256, 1.0f);
  std::vector<uint8_t> out(4096);
  for (DType t : {DType::Q2_K, DType::Q3_K, DType::F64, DType::F8_E4M3, DType::I32}) {
    EXPECT_FALSE(q::can_quantize(t));
    EXPECT_THROW(q::quantize_row(t, x.data(), out.data(), 256), r1::Error) << r1::dtype_name(t);
  }
  for (DType t : {DType::F32, DType::F16, DType::BF16, DType::Q8_0, DType::Q4_0, DType::Q4_K,
                  DType::Q5_K, DType::Q6_K})
    EXPECT_TRUE(q::can_quantize(t));
}

TEST(Quantize, Q8_0AndQ4_0ReproduceTheirOwnOutput) {
  // Quantizing dequantized data again gives back the same codes (stable scales).
  for (DType t : {DType::Q8_0, DType::Q4_0}) {
    auto x = gaussian(32 * 32, 1.0f, 11);
    auto b1 = quant(t, x);
    auto y1 = dequant(t, b1, static_cast<int64_t>(x.size()));
    auto y2 = roundtrip(t, y1);
    EXPECT_EQ(y1, y2) << r1::dtype_name(t);
  }
}

}  // namespace
