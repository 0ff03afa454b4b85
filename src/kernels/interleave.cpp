#include "kernels/interleave.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "core/check.h"
#include "core/thread_pool.h"
#include "kernels/quants.h"

namespace r1::interleave {

namespace {
constexpr int64_t kBlock = sizeof(quants::BlockQ8_0);  // 34: fp16 scale, 32 codes

uint64_t row_bytes_of(DType t, int64_t cols) {
  const DTypeTraits& tr = dtype_traits(t);
  return static_cast<uint64_t>(cols / tr.block_elems) * tr.block_bytes;
}

bool k_quant(DType t) {
  return t == DType::Q4_K || t == DType::Q6_K;
}

// Calls fn(chunk start in the group, first block, blocks) for each chunk of a group.
template <class Fn>
void for_chunks(int64_t cols, Fn fn) {
  const int64_t nb = cols / 32;
  uint64_t at = 0;
  for (int64_t b = 0; b < nb; b += kChunkBlocks) {
    const int64_t m = std::min(kChunkBlocks, nb - b);
    fn(at, b, m);
    at += static_cast<uint64_t>(kRows * m * kBlock);
  }
}
}  // namespace

bool fits(DType t, int64_t rows, int64_t cols) {
  if (rows <= 0 || rows % kRows != 0 || cols <= 0) return false;
  if (t == DType::Q8_0) return cols % 64 == 0;
  return k_quant(t) && cols % 256 == 0;
}

void pack_group(DType t, const uint8_t* plain, uint64_t row_bytes, int64_t cols, uint8_t* out) {
  if (k_quant(t)) {
    const uint64_t bb = dtype_traits(t).block_bytes;
    for (int64_t b = 0; b < cols / 256; ++b)
      for (int64_t r = 0; r < kRows; ++r)
        std::memcpy(out + (b * kRows + r) * bb, plain + r * row_bytes + b * bb, bb);
    return;
  }
  R1_CHECK(t == DType::Q8_0 && cols % 64 == 0);
  for_chunks(cols, [&](uint64_t at, int64_t b0, int64_t m) {
    uint8_t* scales = out + at;
    uint8_t* codes = scales + 2 * kRows * m;
    for (int64_t r = 0; r < kRows; ++r)
      for (int64_t b = 0; b < m; ++b)
        std::memcpy(scales + 2 * (r * m + b), plain + r * row_bytes + (b0 + b) * kBlock, 2);
    for (int64_t k = 0; k < m / 2; ++k)
      for (int64_t r = 0; r < kRows; ++r)
        for (int64_t h = 0; h < 2; ++h)
          std::memcpy(codes + (k * kRows + r) * 64 + 32 * h,
                      plain + r * row_bytes + (b0 + 2 * k + h) * kBlock + 2, 32);
  });
}

void unpack_row(DType t, const uint8_t* group, int r, int64_t cols, uint8_t* out) {
  R1_CHECK(r >= 0 && r < kRows);
  if (k_quant(t)) {
    const uint64_t bb = dtype_traits(t).block_bytes;
    for (int64_t b = 0; b < cols / 256; ++b)
      std::memcpy(out + b * bb, group + (b * kRows + r) * bb, bb);
    return;
  }
  R1_CHECK(t == DType::Q8_0 && cols % 64 == 0);
  for_chunks(cols, [&](uint64_t at, int64_t b0, int64_t m) {
    const uint8_t* scales = group + at;
    const uint8_t* codes = scales + 2 * kRows * m;
    for (int64_t b = 0; b < m; ++b) {
      uint8_t* blk = out + (b0 + b) * kBlock;
      std::memcpy(blk, scales + 2 * (r * m + b), 2);
      std::memcpy(blk + 2, codes + ((b / 2) * kRows + r) * 64 + 32 * (b % 2), 32);
    }
  });
}

void unpack_rows(DType t, const uint8_t* data, int64_t rows, int64_t cols, uint8_t* out) {
  R1_CHECK(rows % kRows == 0);
  const uint64_t rb = row_bytes_of(t, cols);
  for (int64_t r = 0; r < rows; ++r)
    unpack_row(t, data + static_cast<uint64_t>(r / kRows) * kRows * rb, static_cast<int>(r % kRows),
               cols, out + static_cast<uint64_t>(r) * rb);
}

void pack_in_place(DType t, uint8_t* data, int64_t rows, int64_t cols) {
  R1_CHECK(fits(t, rows, cols));
  const uint64_t group = kRows * row_bytes_of(t, cols);
  const int64_t groups = rows / kRows;
  ThreadPool::global().parallel_for(groups, std::max<int64_t>(1, groups / 64),
                                    [&](int64_t g0, int64_t g1) {
                                      std::vector<uint8_t> plain(group);
                                      for (int64_t g = g0; g < g1; ++g) {
                                        uint8_t* at = data + static_cast<uint64_t>(g) * group;
                                        std::memcpy(plain.data(), at, group);
                                        pack_group(t, plain.data(), group / kRows, cols, at);
                                      }
                                    });
}

}  // namespace r1::interleave
