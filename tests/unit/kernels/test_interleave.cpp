// Rows interleaved by four (kernels/interleave.h), Q8_0 and the K-quants: the layout
// round-trips, and every product over it (the decode kernel, the float path, the prefill GEMM,
// single rows) equals the same product over the plain rows bit for bit, for row lengths with a
// short last chunk (Q8_0) and one or several blocks (K-quants).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "core/dtype.h"
#include "kernels/int8.h"
#include "kernels/interleave.h"
#include "kernels/ops.h"
#include "kernels/quants.h"

namespace r1 {
namespace {

namespace il = interleave;

struct StoredMatrix {
  DType type;
  int64_t rows, cols;
  uint64_t row_bytes;
  std::vector<uint8_t> bytes;
  ops::Matrix matrix() const {
    ops::Matrix m;
    m.dtype = type;
    m.data = bytes.data();
    m.rows = rows;
    m.cols = cols;
    m.row_bytes = row_bytes;
    return m;
  }
};

std::vector<float> random_floats(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

StoredMatrix make(DType t, int64_t rows, int64_t cols, uint32_t seed) {
  StoredMatrix m{t, rows, cols, *dtype_row_bytes(t, static_cast<uint64_t>(cols)), {}};
  m.bytes.resize(static_cast<size_t>(rows) * m.row_bytes);
  const auto v = random_floats(static_cast<size_t>(rows * cols), seed);
  for (int64_t r = 0; r < rows; ++r)
    quants::quantize_row(t, v.data() + r * cols, m.bytes.data() + r * m.row_bytes, cols);
  return m;
}
StoredMatrix make(int64_t rows, int64_t cols, uint32_t seed) {
  return make(DType::Q8_0, rows, cols, seed);
}

const DType kTypes[] = {DType::Q8_0, DType::Q4_K, DType::Q6_K};

// Q8_0: 64 (one pair), 512 (one chunk), 576 (a chunk and a pair), 2240 (4 chunks and 6
// blocks); K-quants: one block, three, six.
std::vector<int64_t> cols_of(DType t) {
  if (t == DType::Q8_0) return {64, 512, 576, 2240};
  return {256, 768, 1536};
}

TEST(Interleave, FitsGroupsOfFourRowsAndPairsOfQ8_0Blocks) {
  EXPECT_TRUE(il::fits(DType::Q8_0, 8, 576));
  EXPECT_FALSE(il::fits(DType::Q8_0, 6, 576));  // rows not a multiple of 4
  EXPECT_FALSE(il::fits(DType::Q8_0, 8, 96));   // an odd number of blocks
  EXPECT_TRUE(il::fits(DType::Q4_K, 8, 512));
  EXPECT_TRUE(il::fits(DType::Q6_K, 4, 256));
  EXPECT_FALSE(il::fits(DType::Q6_K, 2, 256));
  EXPECT_FALSE(il::fits(DType::Q5_K, 8, 512));  // no integer decode kernel for it
  EXPECT_FALSE(il::fits(DType::F16, 8, 512));
  EXPECT_FALSE(il::fits(DType::Q8_0, 0, 512));
}

TEST(Interleave, PackThenUnpackGivesThePlainRows) {
  for (DType t : kTypes)
    for (int64_t cols : cols_of(t)) {
      const StoredMatrix plain = make(t, 12, cols, static_cast<uint32_t>(cols));
      const uint8_t* second = plain.bytes.data() + 4 * plain.row_bytes;
      std::vector<uint8_t> group(4 * plain.row_bytes), row(plain.row_bytes);
      il::pack_group(t, second, plain.row_bytes, cols, group.data());
      // (A K-quant row of one block is its own group: nothing moves.)
      if (t == DType::Q8_0 || cols > 256) {
        EXPECT_NE(std::memcmp(group.data(), second, group.size()), 0);
      }
      for (int r = 0; r < 4; ++r) {
        il::unpack_row(t, group.data(), r, cols, row.data());
        EXPECT_EQ(std::memcmp(row.data(), second + r * plain.row_bytes, plain.row_bytes), 0)
            << dtype_name(t) << " cols " << cols << " row " << r;
      }
      StoredMatrix packed = plain;
      il::pack_in_place(t, packed.bytes.data(), packed.rows, cols);
      std::vector<uint8_t> back(plain.bytes.size());
      il::unpack_rows(t, packed.bytes.data(), packed.rows, cols, back.data());
      EXPECT_EQ(back, plain.bytes) << dtype_name(t) << " cols " << cols;
    }
}

TEST(Interleave, DecodeKernelEqualsThePlainKernelBitForBit) {
  for (DType t : kTypes)
    for (int64_t cols : cols_of(t)) {
      const StoredMatrix plain = make(t, 4, cols, static_cast<uint32_t>(cols + 1));
      StoredMatrix packed = plain;
      il::pack_in_place(t, packed.bytes.data(), 4, cols);
      const auto x = random_floats(static_cast<size_t>(cols), 3);
      int8::PackedX px;
      int8::pack(t, x.data(), cols, px);
      const uint8_t* rows[4];
      for (int r = 0; r < 4; ++r) rows[r] = plain.bytes.data() + r * plain.row_bytes;
      float want[4], got[4], want_ref[4], got_ref[4];
      int8::dot_rows(t, rows, 4, px, cols, want);
      int8::dot_rows_reference(t, rows, 4, px, cols, want_ref);
      // The group at every 16-byte offset in a cache line (the Q8_0 kernel splits loads at 32).
      std::vector<uint8_t> buf(packed.bytes.size() + 128);
      const auto line = (64 - reinterpret_cast<uintptr_t>(buf.data()) % 64) % 64;
      for (int offset : {0, 16, 32, 48}) {
        uint8_t* group = buf.data() + line + offset;
        std::copy(packed.bytes.begin(), packed.bytes.end(), group);
        int8::dot_group4(t, group, px, cols, got);
        int8::dot_group4_reference(t, group, px, cols, got_ref);
        for (int r = 0; r < 4; ++r) {
          EXPECT_EQ(got[r], want[r])
              << dtype_name(t) << " cols " << cols << " row " << r << " offset " << offset;
          EXPECT_EQ(got_ref[r], want_ref[r]) << dtype_name(t) << " cols " << cols << " row " << r;
          EXPECT_NEAR(got[r], want_ref[r], 1e-4 * (1 + std::fabs(want_ref[r])));
        }
      }
    }
}

// Every path of ops::matmul and load_row, integer kernels on and off, and row ranges.
TEST(Interleave, ProductsEqualThoseOverThePlainRows) {
  const bool was = int8::enabled();
  for (bool integer : {true, false}) {
    int8::set_enabled(integer);
    for (DType t : kTypes)
      for (int64_t cols : cols_of(t)) {
        const StoredMatrix plain = make(t, 24, cols, static_cast<uint32_t>(cols + 2));
        StoredMatrix stored = plain;
        ops::Matrix m = stored.matrix();
        ops::interleave_rows(m, stored.bytes.data());
        ASSERT_EQ(m.layout, ops::RowLayout::kInterleaved4);
        for (int64_t n : {1, 3, 20}) {
          const auto x = random_floats(static_cast<size_t>(n * cols), static_cast<uint32_t>(n));
          std::vector<float> want(static_cast<size_t>(n * 24)), got(want.size());
          ops::matmul(plain.matrix(), x.data(), n, want.data());
          ops::matmul(m, x.data(), n, got.data());
          EXPECT_EQ(got, want) << dtype_name(t) << " cols " << cols << " tokens " << n
                               << " integer " << integer;
          // Two products of one input, one of them a row range.
          const ops::Matrix whole = plain.matrix();
          const ops::Matrix part = m.row_range(8, 12), plain_part = whole.row_range(8, 12);
          std::vector<float> a(static_cast<size_t>(n * 24)), b(static_cast<size_t>(n * 12));
          std::vector<float> pa(a.size()), pb(b.size());
          const ops::Matrix* ws[2] = {&m, &part};
          const ops::Matrix* pws[2] = {&whole, &plain_part};
          float* ys[2] = {a.data(), b.data()};
          float* pys[2] = {pa.data(), pb.data()};
          ops::matmul_many(ws, ys, 2, x.data(), n);
          ops::matmul_many(pws, pys, 2, x.data(), n);
          EXPECT_EQ(a, pa);
          EXPECT_EQ(b, pb);
        }
        std::vector<float> r_plain(static_cast<size_t>(cols)), r_got(r_plain.size());
        for (int64_t r : {0, 5, 23}) {
          ops::load_row(plain.matrix(), r, r_plain.data());
          ops::load_row(m, r, r_got.data());
          EXPECT_EQ(r_got, r_plain) << "row " << r;
        }
      }
  }
  int8::set_enabled(was);
}

TEST(Interleave, RowRangesKeepWholeGroups) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  StoredMatrix stored = make(8, 64, 9);
  ops::Matrix m = stored.matrix();
  ops::interleave_rows(m, stored.bytes.data());
  EXPECT_DEATH(m.row_range(2, 4), "internal check failed");
}

}  // namespace
}  // namespace r1
