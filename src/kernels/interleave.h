// Rows interleaved by four, the layout decode reads fastest.
//
// A matrix-vector product reads its weights once, so its speed is the rate at which one core
// streams memory. Reading four rows side by side (what the kernels do, to share the activation
// loads) makes four streams per core, which the hardware prefetcher follows poorly; this layout
// stores each group of four rows as one stream in the order the kernel reads it. A group is the
// 4 * row_bytes bytes of rows 4g..4g+3, so the size, and every group's place, equal the plain
// layout's.
//
// Q8_0: the group in chunks of up to 16 blocks (the last one may be shorter: cols need only be a
// multiple of 64). A chunk of m blocks holds
//   scales: for row r < 4: the m fp16 block scales of row r            (8 * m bytes)
//   codes:  for pair k < m / 2: for row r < 4: the 64 codes of blocks 2k, 2k+1 of row r
// Q4_K, Q6_K: the blocks alternate, unchanged: for block b: for row r < 4: block b of row r.
#pragma once

#include <cstdint>

#include "core/dtype.h"

namespace r1::interleave {

constexpr int64_t kRows = 4;          // rows per group
constexpr int64_t kChunkBlocks = 16;  // Q8_0 blocks per chunk

// Whether a [rows, cols] matrix of type t can take the layout (Q8_0, Q4_K, Q6_K; rows a
// multiple of 4).
bool fits(DType t, int64_t rows, int64_t cols);

// Four plain rows (row_bytes apart) -> one group at out (4 * row_bytes bytes, no overlap).
void pack_group(DType t, const uint8_t* plain, uint64_t row_bytes, int64_t cols, uint8_t* out);
// Row r (0..3) of a group, in the plain layout (row_bytes bytes at out).
void unpack_row(DType t, const uint8_t* group, int r, int64_t cols, uint8_t* out);
// Rows [0, rows) of the interleaved matrix at data (rows a multiple of 4), in the plain layout.
void unpack_rows(DType t, const uint8_t* data, int64_t rows, int64_t cols, uint8_t* out);

// Rewrites a plain [rows, cols] matrix in place, in parallel over the groups.
void pack_in_place(DType t, uint8_t* data, int64_t rows, int64_t cols);

}  // namespace r1::interleave
