// SIMD kernels against their scalar references, on every instruction set compiled in and
// supported by this CPU, for odd sizes too (1 row, 1 column, tails shorter than a vector).
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/thread_pool.h"
#include "kernels/amx.h"
#include "kernels/amx_int8.h"
#include "kernels/int8.h"
#include "kernels/int8_gemm.h"
#include "kernels/ops.h"
#include "kernels/quants.h"
#include "kernels/simd.h"

namespace {

using r1::DType;
namespace q = r1::quants;

std::vector<float> random_floats(size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

// A [rows, cols] matrix stored as type t (quantized from random values).
struct Stored {
  DType t;
  int64_t rows, cols;
  uint64_t row_bytes;
  std::vector<uint8_t> bytes;
  std::vector<float> fp8_scales;
  r1::ops::Matrix matrix() const {
    r1::ops::Matrix m;
    m.dtype = t;
    m.data = bytes.data();
    m.rows = rows;
    m.cols = cols;
    m.row_bytes = row_bytes;
    if (t == DType::F8_E4M3) {
      m.fp8_scales = fp8_scales.data();
      m.scale_cols = q::fp8_scale_blocks(cols);
    }
    return m;
  }
  std::vector<float> row(int64_t r) const {
    std::vector<float> out(static_cast<size_t>(cols));
    r1::ops::load_row(matrix(), r, out.data());
    return out;
  }
};

Stored make(DType t, int64_t rows, int64_t cols, uint32_t seed) {
  Stored s{t, rows, cols, *r1::dtype_row_bytes(t, static_cast<uint64_t>(cols)), {}, {}};
  const auto w = random_floats(static_cast<size_t>(rows * cols), seed);
  s.bytes.resize(s.row_bytes * rows);
  if (t == DType::F8_E4M3) {
    s.fp8_scales.resize(q::fp8_scale_blocks(rows) * q::fp8_scale_blocks(cols));
    q::quantize_fp8_blocks(w.data(), rows, cols, s.bytes.data(), s.fp8_scales.data());
    return s;
  }
  if (t == DType::Q2_K || t == DType::Q3_K) {  // no quantizer: random codes, sane fp16 scales
    std::mt19937 rng(seed);
    for (auto& b : s.bytes) b = static_cast<uint8_t>(rng());
    const size_t bs = r1::dtype_traits(t).block_bytes;
    const size_t d_at = t == DType::Q2_K ? 80 : 108;
    for (size_t o = 0; o + bs <= s.bytes.size(); o += bs) {
      s.bytes[o + d_at] = 0x00, s.bytes[o + d_at + 1] = 0x2C;  // 0.0625
      if (t == DType::Q2_K) s.bytes[o + 82] = 0x00, s.bytes[o + 83] = 0x28;
    }
    return s;
  }
  for (int64_t r = 0; r < rows; ++r)
    q::quantize_row(t, w.data() + r * cols, s.bytes.data() + r * s.row_bytes, cols);
  return s;
}

double ref_dot(const std::vector<float>& a, const float* b, double* mag) {
  double s = 0, m = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    s += static_cast<double>(a[i]) * b[i];
    m += std::fabs(static_cast<double>(a[i]) * b[i]);
  }
  *mag = m;
  return s;
}

class Simd : public testing::TestWithParam<int64_t> {
 protected:
  // The float32-activation kernels (the integer ones are tested below).
  void SetUp() override {
    r1::simd::force_target(GetParam());
    r1::int8::set_enabled(false);
  }
  void TearDown() override {
    r1::simd::force_target(0);
    r1::int8::set_enabled(true);
  }
};

TEST_P(Simd, DispatchesToTheForcedTarget) {
  EXPECT_EQ(r1::simd::target_name(), r1::simd::target_name_of(GetParam()));
}

TEST_P(Simd, RowDotsEqualScalarReference) {
  const DType types[] = {DType::F32,  DType::F16,  DType::BF16, DType::Q8_0,
                         DType::Q4_0, DType::Q4_K, DType::Q5_K, DType::Q6_K};
  for (DType t : types) {
    const int64_t block = r1::dtype_traits(t).block_elems;
    std::vector<int64_t> sizes = {block, 2 * block, 3 * block, 256, 512, 1024};
    if (block == 1) sizes.insert(sizes.end(), {1, 3, 7, 15, 17, 33, 100});
    for (int64_t cols : sizes) {
      if (cols % block) continue;
      for (int nr = 1; nr <= 4; ++nr) {
        const Stored s = make(t, nr, cols, static_cast<uint32_t>(cols * 7 + nr));
        const auto x = random_floats(static_cast<size_t>(cols), 99 + nr);
        std::vector<float> gsum(static_cast<size_t>((cols + 15) / 16));
        r1::simd::x_group_sums(x.data(), cols, gsum.data());
        const uint8_t* rows[4];
        for (int i = 0; i < nr; ++i) rows[i] = s.bytes.data() + i * s.row_bytes;
        float out[4];
        r1::simd::dot_rows(t, rows, nr, x.data(), gsum.data(), cols, out);
        for (int i = 0; i < nr; ++i) {
          double mag;
          const double want = ref_dot(s.row(i), x.data(), &mag);
          EXPECT_NEAR(out[i], want, 1e-5 * mag + 1e-6)
              << r1::dtype_name(t) << " cols " << cols << " rows " << nr << " row " << i;
        }
      }
    }
  }
}

TEST_P(Simd, MatmulEqualsScalarReferenceForAllTypesAndShapes) {
  const DType types[] = {DType::F32,  DType::F16,  DType::BF16,   DType::Q8_0,
                         DType::Q4_0, DType::Q4_K, DType::Q5_K,   DType::Q6_K,
                         DType::Q2_K, DType::Q3_K, DType::F8_E4M3};
  struct Shape {
    int64_t rows, cols, n;
  };
  for (DType t : types) {
    const int64_t block = r1::dtype_traits(t).block_elems;
    std::vector<Shape> shapes = {{1, 256, 1},    {5, 256, 3}, {67, 512, 1}, {67, 256, 8},
                                 {130, 256, 13}, {3, 768, 9}, {200, 256, 2}};
    if (block == 1) shapes.insert(shapes.end(), {{1, 1, 1}, {7, 1, 9}, {9, 33, 17}, {4, 5, 8}});
    for (const Shape& sh : shapes) {
      const Stored s = make(t, sh.rows, sh.cols, static_cast<uint32_t>(sh.rows + sh.cols));
      const auto x = random_floats(static_cast<size_t>(sh.n * sh.cols), 5);
      std::vector<float> y(static_cast<size_t>(sh.n * sh.rows), NAN);
      r1::ops::matmul(s.matrix(), x.data(), sh.n, y.data());
      for (int64_t r = 0; r < sh.rows; ++r) {
        const auto row = s.row(r);
        for (int64_t tkn = 0; tkn < sh.n; ++tkn) {
          double mag;
          const double want = ref_dot(row, x.data() + tkn * sh.cols, &mag);
          ASSERT_NEAR(y[tkn * sh.rows + r], want, 1e-5 * mag + 1e-6)
              << r1::dtype_name(t) << " [" << sh.rows << ", " << sh.cols << "] n " << sh.n
              << " row " << r << " token " << tkn;
        }
      }
    }
  }
}

TEST_P(Simd, SiluMulAndExpEqualScalar) {
  for (int64_t len : {1, 7, 16, 33, 1000}) {
    auto g = random_floats(static_cast<size_t>(len), 8, 4.0f);
    const auto u = random_floats(static_cast<size_t>(len), 9);
    if (len > 3) g[0] = 80.0f, g[1] = -80.0f, g[2] = 0.0f;  // saturation and zero
    std::vector<float> out(static_cast<size_t>(len));
    r1::simd::silu_mul(g.data(), u.data(), len, out.data());
    for (int64_t i = 0; i < len; ++i) {
      const double want = g[i] / (1.0 + std::exp(-static_cast<double>(g[i]))) * u[i];
      ASSERT_NEAR(out[i], want, 1e-5 * std::fabs(want) + 1e-6) << i;
    }
    auto x = random_floats(static_cast<size_t>(len), 10);
    const auto x0 = x;
    const float sum = r1::simd::exp_shift_sum(x.data(), len, 0.5f, 1.0f);
    double want_sum = 0;
    for (int64_t i = 0; i < len; ++i) {
      const double e = std::exp(0.5 * x0[i] - 1.0);
      want_sum += e;
      ASSERT_NEAR(x[i], e, 1e-6 * e + 1e-7);
    }
    EXPECT_NEAR(sum, want_sum, 1e-5 * want_sum);
  }
}

TEST_P(Simd, GemmDotAxpyOddSizes) {
  for (int64_t m : {1, 3, 4, 5, 9})
    for (int64_t n : {1, 2, 4, 5, 11})
      for (int64_t cols : {1, 7, 16, 17, 40}) {
        const auto w = random_floats(static_cast<size_t>(m * cols), 1);
        const auto x = random_floats(static_cast<size_t>(n * cols), 2);
        const int64_t ldy = m + 3;
        std::vector<float> y(static_cast<size_t>(n * ldy), -7.0f);
        r1::simd::gemm_f32(w.data(), m, x.data(), n, cols, y.data(), ldy);
        for (int64_t t = 0; t < n; ++t) {
          for (int64_t r = 0; r < m; ++r) {
            double s = 0;
            for (int64_t k = 0; k < cols; ++k)
              s += static_cast<double>(w[r * cols + k]) * x[t * cols + k];
            ASSERT_NEAR(y[t * ldy + r], s, 1e-4) << m << "x" << n << "x" << cols;
          }
          for (int64_t r = m; r < ldy; ++r) ASSERT_EQ(y[t * ldy + r], -7.0f);  // untouched
        }
      }
  for (int64_t len : {0, 1, 3, 15, 16, 17, 31, 33, 1000}) {
    const auto a = random_floats(static_cast<size_t>(len), 3),
               b = random_floats(static_cast<size_t>(len), 4);
    double s = 0;
    for (int64_t i = 0; i < len; ++i) s += static_cast<double>(a[i]) * b[i];
    EXPECT_NEAR(r1::simd::dot_f32(a.data(), b.data(), len), s, 1e-4);
    auto y = b;
    r1::simd::axpy_f32(0.5f, a.data(), y.data(), len);
    for (int64_t i = 0; i < len; ++i) ASSERT_FLOAT_EQ(y[i], b[i] + 0.5f * a[i]);
  }
}

// Attention's weighted sums (heads in blocks of 8 and 4, then one by one; column tails).
TEST_P(Simd, WeightedRowsEqualScalar) {
  for (int64_t G : {1, 3, 4, 8, 13, 16})
    for (int64_t B : {1, 5, 64})
      for (int64_t dv : {1, 15, 16, 33, 64, 512}) {
        const int64_t ldp = B + 2, ldv = dv + 1, ldz = dv + 3;
        const auto p = random_floats(static_cast<size_t>(G * ldp), 5);
        const auto v = random_floats(static_cast<size_t>(B * ldv), 6);
        auto z = random_floats(static_cast<size_t>(G * ldz), 7);
        auto want = z;
        for (int64_t g = 0; g < G; ++g)
          for (int64_t j = 0; j < dv; ++j) {
            double a = want[g * ldz + j];
            for (int64_t t = 0; t < B; ++t)
              a += static_cast<double>(p[g * ldp + t]) * v[t * ldv + j];
            want[g * ldz + j] = static_cast<float>(a);
          }
        r1::simd::weighted_rows(p.data(), ldp, G, v.data(), ldv, B, dv, z.data(), ldz);
        for (size_t i = 0; i < z.size(); ++i)
          ASSERT_NEAR(z[i], want[i], 1e-4) << G << " heads, " << B << " rows, dv " << dv;
      }
}

std::string target_label(const testing::TestParamInfo<int64_t>& info) {
  std::string s = r1::simd::target_name_of(info.param);
  for (char& c : s)
    if (!isalnum(static_cast<unsigned char>(c))) c = '_';
  return s;
}

INSTANTIATE_TEST_SUITE_P(EveryTarget, Simd, testing::ValuesIn(r1::simd::supported_targets()),
                         target_label);

TEST(SimdThreads, MatmulResultDoesNotDependOnThreadCount) {
  // (with the default kernels: the integer one for Q4_K where the CPU has VNNI)
  const Stored s = make(DType::Q4_K, 301, 512, 11);
  const auto x = random_floats(static_cast<size_t>(3 * 512), 12);
  std::vector<float> y1(3 * 301), y2(3 * 301);
  r1::ThreadPool::set_threads(1);
  r1::ops::matmul(s.matrix(), x.data(), 3, y1.data());
  r1::ThreadPool::set_threads(3);
  r1::ops::matmul(s.matrix(), x.data(), 3, y2.data());
  r1::ThreadPool::set_threads(r1::ThreadPool::default_threads());
  EXPECT_EQ(y1, y2);
}

}  // namespace

namespace {

// The integer (int8 activation) kernels: the VNNI kernel equals the scalar integer reference,
// and both stay close to the float product (the activation rounding is the only difference).
TEST(Int8, VnniEqualsIntegerReferenceAndIsCloseToFloat) {
  for (DType t : {DType::Q4_K, DType::Q6_K, DType::Q8_0})
    for (int64_t cols : {256, 512, 2048, 288, 32, 96}) {
      if (t != DType::Q8_0 && cols % 256) continue;
      for (int nr = 1; nr <= 4; ++nr) {
        const Stored s = make(t, nr, cols, static_cast<uint32_t>(cols + nr));
        auto x = random_floats(static_cast<size_t>(cols), 7 + nr);
        if (nr == 2) std::fill(x.begin(), x.begin() + std::min<int64_t>(256, cols), 0.0f);
        r1::int8::PackedX px;
        r1::int8::pack(t, x.data(), cols, px);
        const uint8_t* rows[4];
        for (int i = 0; i < nr; ++i) rows[i] = s.bytes.data() + i * s.row_bytes;
        float fast[4], ref[4];
        r1::int8::dot_rows_reference(t, rows, nr, px, cols, ref);
        r1::int8::dot_rows(t, rows, nr, px, cols, fast);
        for (int i = 0; i < nr; ++i) {
          double mag;
          const double exact = ref_dot(s.row(i), x.data(), &mag);
          EXPECT_NEAR(fast[i], ref[i], 1e-5 * mag + 1e-5)
              << r1::dtype_name(t) << " cols " << cols << " row " << i;
          // int8 activations: error about |w||x| / 127 per value at worst, far less on average.
          EXPECT_NEAR(ref[i], exact, 0.02 * mag)
              << r1::dtype_name(t) << " cols " << cols << " row " << i;
        }
      }
    }
}

TEST(Int8, PackedActivationsEqualReference) {
  for (DType t : {DType::Q8_0, DType::Q4_K, DType::Q6_K})
    for (int64_t cols : {32, 96, 256, 2048}) {
      if (t != DType::Q8_0 && cols % 256) continue;
      auto x = random_floats(static_cast<size_t>(cols), static_cast<uint32_t>(cols), 3.0f);
      std::fill(x.begin(), x.begin() + 32, 0.0f);  // a zero block: scale 0
      if (cols > 64) x[40] = 1e30f, x[70] = -1e-30f;
      r1::int8::PackedX fast, ref;
      r1::int8::pack(t, x.data(), cols, fast);
      r1::int8::pack_reference(t, x.data(), cols, ref);
      EXPECT_EQ(fast.q, ref.q) << r1::dtype_name(t) << " cols " << cols;
      EXPECT_EQ(fast.d, ref.d) << r1::dtype_name(t) << " cols " << cols;
      EXPECT_EQ(fast.sign, ref.sign) << r1::dtype_name(t) << " cols " << cols;
      EXPECT_EQ(fast.bsum, ref.bsum) << r1::dtype_name(t) << " cols " << cols;
    }
}

TEST(Int8, MatmulUsesIntegerKernelOnlyWhenEnabled) {
  const Stored s = make(DType::Q4_K, 64, 512, 3);
  const auto x = random_floats(512, 4);
  std::vector<float> fast(64), exact(64);
  r1::int8::set_enabled(false);
  EXPECT_FALSE(r1::int8::supported(DType::Q4_K));
  r1::ops::matmul(s.matrix(), x.data(), 1, exact.data());
  r1::int8::set_enabled(true);
  r1::ops::matmul(s.matrix(), x.data(), 1, fast.data());
  for (int64_t r = 0; r < 64; ++r) {
    double mag;
    const double want = ref_dot(s.row(r), x.data(), &mag);
    EXPECT_NEAR(exact[r], want, 1e-5 * mag + 1e-6);
    EXPECT_NEAR(fast[r], want, 0.02 * mag);
  }
  if (r1::int8::cpu_has_vnni()) {
    EXPECT_NE(fast, exact);  // the integer path really ran
  }
}

}  // namespace

namespace {

// AMX tiles (bf16): equal to the bf16-rounded reference, for sizes that are not multiples of the
// tiles (1 row, 17 tokens, k = 40); skipped where the CPU or the kernel refuses AMX.
TEST(Amx, GemmEqualsBf16Reference) {
  if (!r1::amx::available()) GTEST_SKIP() << "no AMX-BF16 here";
  for (int64_t m : {1, 16, 33, 64})
    for (int64_t n : {1, 16, 17, 40})
      for (int64_t k : {32, 40, 256}) {
        const auto w = random_floats(static_cast<size_t>(m * k), 1);
        const auto x = random_floats(static_cast<size_t>(n * k), 2);
        const int64_t ldy = m + 2;
        std::vector<float> got(static_cast<size_t>(n * ldy), -3.0f), want(got.size(), -3.0f);
        r1::amx::PackedActivations px;
        r1::amx::pack_activations(x.data(), n, k, px);
        r1::amx::gemm(w.data(), m, px, got.data(), ldy);
        r1::amx::gemm_reference(w.data(), m, x.data(), n, k, want.data(), ldy);
        for (size_t i = 0; i < got.size(); ++i)
          ASSERT_NEAR(got[i], want[i], 1e-3) << m << "x" << n << "x" << k << " at " << i;
      }
}

TEST(Amx, MatmulOnTilesIsCloseToFloat) {
  if (!r1::amx::available()) GTEST_SKIP() << "no AMX-BF16 here";
  r1::int8::set_enabled(true);
  // (F16: the integer types take the int8 GEMM, on AMX-INT8 tiles where there are any.)
  const Stored s = make(DType::F16, 70, 512, 5);
  const auto x = random_floats(static_cast<size_t>(33 * 512), 6);
  std::vector<float> y(static_cast<size_t>(33 * 70));
  r1::ops::matmul(s.matrix(), x.data(), 33, y.data());
  for (int64_t r = 0; r < 70; ++r)
    for (int64_t t = 0; t < 33; ++t) {
      double mag;
      const double want = ref_dot(s.row(r), x.data() + t * 512, &mag);
      ASSERT_NEAR(y[t * 70 + r], want, 0.01 * mag) << r << " " << t;  // bf16: 8 bits
    }
}

}  // namespace

namespace {

// The integer GEMM of prefill: weight codes unpacked as the reference does, activations packed
// as the reference does, the VNNI product equal to the scalar integer product, and both within
// the error bound of the activations' int8 rounding from the exact float product.
const DType kGemmTypes[] = {DType::Q8_0, DType::Q4_0, DType::Q4_K, DType::Q5_K, DType::Q6_K};

std::vector<int64_t> gemm_cols(DType t) {
  if (t == DType::Q8_0 || t == DType::Q4_0) return {32, 96, 256, 288};
  return {256, 768};
}

TEST(Int8Gemm, WeightCodesEqualReferenceAndDequantizedRows) {
  for (DType t : kGemmTypes)
    for (int64_t cols : gemm_cols(t))
      for (int64_t rows : {1, 5}) {
        const Stored s = make(t, rows, cols, static_cast<uint32_t>(cols * 7 + rows));
        r1::int8::GemmW fast, ref;
        r1::int8::load_gemm_rows(t, s.bytes.data(), s.row_bytes, rows, cols, fast);
        r1::int8::load_gemm_rows_reference(t, s.bytes.data(), s.row_bytes, rows, cols, ref);
        const std::string what = std::string(r1::dtype_name(t)) + " cols " + std::to_string(cols);
        ASSERT_EQ(fast.q, ref.q) << what;
        ASSERT_EQ(fast.scale, ref.scale) << what;
        ASSERT_EQ(fast.corr, ref.corr) << what;
        ASSERT_EQ(fast.min, ref.min) << what;
        for (int64_t r = 0; r < rows; ++r) {
          const auto row = s.row(r);
          for (int64_t k = 0; k < cols; ++k) {
            const size_t at = static_cast<size_t>(r * cols + k);
            const float scale = ref.scale[static_cast<size_t>((r * cols + k) / ref.group)];
            float v = scale * static_cast<float>(ref.q[at]);
            if (ref.has_min) v -= ref.min[static_cast<size_t>((r * cols + k) / 32)];
            ASSERT_FLOAT_EQ(v, row[static_cast<size_t>(k)]) << what << " at " << r << "," << k;
          }
        }
      }
}

TEST(Int8Gemm, PackedActivationsEqualReference) {
  for (int64_t n : {1, 16, 17, 40})
    for (int64_t cols : {32, 96, 512}) {
      auto x = random_floats(static_cast<size_t>(n * cols), static_cast<uint32_t>(n + cols));
      std::fill(x.begin(), x.begin() + 32, 0.0f);  // an all-zero block
      r1::int8::GemmX fast, ref;
      r1::int8::pack_gemm_x(x.data(), n, cols, fast);
      r1::int8::pack_gemm_x_reference(x.data(), n, cols, ref);
      EXPECT_EQ(fast.groups, (n + 15) / 16);
      ASSERT_EQ(fast.q, ref.q) << n << "x" << cols;
      ASSERT_EQ(fast.d, ref.d) << n << "x" << cols;
      ASSERT_EQ(fast.ds, ref.ds) << n << "x" << cols;
    }
}

// |error| of one output from the activations' rounding: each value is off by at most half its
// block's step (amax / 127), times |w|.
double activation_bound(const std::vector<float>& w, const float* x) {
  double bound = 0;
  for (size_t b = 0; b < w.size() / 32; ++b) {
    float amax = 0;
    for (size_t i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(x[32 * b + i]));
    double wsum = 0;
    for (size_t i = 0; i < 32; ++i) wsum += std::fabs(w[32 * b + i]);
    bound += wsum * amax / 254.0;
  }
  return bound;
}

TEST(Int8Gemm, KernelEqualsIntegerReferenceWithinTheActivationBound) {
  for (DType t : kGemmTypes)
    for (int64_t cols : gemm_cols(t))
      for (int64_t rows : {1, 3, 4, 7})
        for (int64_t n : {1, 15, 17, 40}) {
          const Stored s = make(t, rows, cols, static_cast<uint32_t>(cols + rows + n));
          const auto x = random_floats(static_cast<size_t>(n * cols), static_cast<uint32_t>(n));
          r1::int8::GemmW w;
          r1::int8::load_gemm_rows(t, s.bytes.data(), s.row_bytes, rows, cols, w);
          r1::int8::GemmX px;
          r1::int8::pack_gemm_x(x.data(), n, cols, px);
          const int64_t ldy = rows + 3;
          std::vector<float> fast(static_cast<size_t>(n * ldy), -7.0f), ref(fast);
          r1::int8::gemm(w, px, fast.data(), ldy);
          r1::int8::gemm_reference(w, px, ref.data(), ldy);
          const std::string what = std::string(r1::dtype_name(t)) + " " + std::to_string(rows) +
                                   "x" + std::to_string(cols) + " n " + std::to_string(n);
          for (int64_t tok = 0; tok < n; ++tok) {
            for (int64_t r = rows; r < ldy; ++r)
              ASSERT_EQ(fast[static_cast<size_t>(tok * ldy + r)], -7.0f) << what;
            for (int64_t r = 0; r < rows; ++r) {
              const auto row = s.row(r);
              double mag;
              const double exact = ref_dot(row, x.data() + tok * cols, &mag);
              const size_t at = static_cast<size_t>(tok * ldy + r);
              ASSERT_NEAR(fast[at], ref[at], 1e-5 * mag + 1e-5) << what;
              ASSERT_NEAR(ref[at], exact,
                          activation_bound(row, x.data() + tok * cols) + 1e-5 * mag + 1e-5)
                  << what << " token " << tok << " row " << r;
            }
          }
        }
}

// AMX-INT8 tiles: the same integer sums and float steps as the VNNI kernel, so equal to it bit
// for bit, for row counts that are not multiples of the 16-row strips and token counts that are
// not multiples of 16; skipped where the CPU or the kernel refuses the tiles.
TEST(Int8Gemm, AmxTilesEqualVnniBitForBit) {
  if (!r1::amx::int8_available()) GTEST_SKIP() << "no AMX-INT8 here";
  ASSERT_TRUE(r1::int8::cpu_has_vnni());
  for (DType t : kGemmTypes)
    for (int64_t cols : gemm_cols(t))
      for (int64_t rows : {1, 7, 16, 37})
        for (int64_t n : {1, 15, 17, 40}) {
          const Stored s = make(t, rows, cols, static_cast<uint32_t>(3 * cols + rows + n));
          const auto x = random_floats(static_cast<size_t>(n * cols), static_cast<uint32_t>(n + 5));
          r1::int8::GemmW w;
          r1::int8::load_gemm_rows(t, s.bytes.data(), s.row_bytes, rows, cols, w);
          r1::int8::GemmX px;
          r1::int8::pack_gemm_x(x.data(), n, cols, px);
          std::vector<int8_t> xs;
          r1::amx::signed_codes(px, xs);
          ASSERT_EQ(xs.size(), px.q.size());
          for (size_t i = 0; i < xs.size(); ++i)
            ASSERT_EQ(static_cast<int>(xs[i]), static_cast<int>(px.q[i]) - 128);
          const int64_t ldy = rows + 2;
          std::vector<float> tiles(static_cast<size_t>(n * ldy), -7.0f), vnni(tiles);
          r1::amx::gemm_int8(w, px, xs.data(), tiles.data(), ldy);
          r1::int8::gemm(w, px, vnni.data(), ldy);
          ASSERT_EQ(tiles, vnni) << r1::dtype_name(t) << " " << rows << "x" << cols << " n " << n;
        }
}

// ops::matmul takes the integer GEMM for many tokens when enabled: results within the bound,
// different from the float path (it really ran), and independent of the thread count.
TEST(Int8Gemm, MatmulUsesItForManyTokens) {
  if (!r1::int8::cpu_has_vnni()) GTEST_SKIP() << "no AVX-512 VNNI here";
  if (r1::amx::available() && !r1::amx::int8_available())
    GTEST_SKIP() << "AMX bf16 tiles take this product here";
  for (DType t : {DType::Q8_0, DType::Q4_K, DType::Q6_K}) {
    const int64_t rows = 70, cols = 512, n = 40;
    const Stored s = make(t, rows, cols, 11);
    const auto x = random_floats(static_cast<size_t>(n * cols), 12);
    std::vector<float> exact(static_cast<size_t>(n * rows)), fast(exact.size()),
        fast1(exact.size());
    r1::int8::set_enabled(false);
    r1::ops::matmul(s.matrix(), x.data(), n, exact.data());
    r1::int8::set_enabled(true);
    r1::ops::matmul(s.matrix(), x.data(), n, fast.data());
    r1::ThreadPool::set_threads(1);
    r1::ops::matmul(s.matrix(), x.data(), n, fast1.data());
    r1::ThreadPool::set_threads(r1::ThreadPool::default_threads());
    EXPECT_EQ(fast, fast1) << r1::dtype_name(t);
    EXPECT_NE(fast, exact) << r1::dtype_name(t);
    for (int64_t tok = 0; tok < n; ++tok)
      for (int64_t r = 0; r < rows; ++r) {
        const auto row = s.row(r);
        double mag;
        const double want = ref_dot(row, x.data() + tok * cols, &mag);
        ASSERT_NEAR(fast[static_cast<size_t>(tok * rows + r)], want,
                    activation_bound(row, x.data() + tok * cols) + 1e-5 * mag + 1e-5)
            << r1::dtype_name(t) << " " << tok << " " << r;
      }
  }
}

}  // namespace
