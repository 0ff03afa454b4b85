// Integer dot products for decoding: the activation vector is quantized once per product to int8
// (one scale per 256 values, as llama.cpp's Q8_K), and each weight row is multiplied in integer
// arithmetic (AVX-512 VNNI vpdpbusd), its block scales applied per block. Faster than decoding
// weights to float where the CPU has the instructions; off with set_enabled(false) (`--exact`),
// which leaves the float32-activation kernels of simd.h; the environment variable R1_EXACT=1
// does the same for a whole run. No model knowledge.
#pragma once

#include <cstdint>
#include <vector>

#include "core/dtype.h"

namespace r1::int8 {

// Activations quantized for one weight type: q in the order that type's kernel reads them
// (cols values), d one scale per 256 values, bsum the sums of q over each group of 32 values
// (natural order).
struct PackedX {
  DType type = DType::F32;
  std::vector<int8_t> q;
  std::vector<float> d;
  std::vector<int32_t> bsum;
  std::vector<float> bsum_scaled;  // bsum x the block's d
  // Q8_0: q holds |x| quantized (as unsigned bytes), `sign` one bit per value (set: negative),
  // d one scale per 32 values.
  std::vector<uint64_t> sign;
};

// True when integer kernels are enabled and this CPU has one for weight type t.
bool supported(DType t);
void set_enabled(bool on);
bool enabled();
// Whether the CPU has the instructions (AVX-512 VNNI), whatever set_enabled says.
bool cpu_has_vnni();

// Quantizes x for weight type t (cols a multiple of the type's block: 32 for Q8_0, 256 for
// the K-quants).
void pack(DType t, const float* x, int64_t cols, PackedX& out);
// The same in plain C++ (pack's vector form must equal it exactly).
void pack_reference(DType t, const float* x, int64_t cols, PackedX& out);

// out[r] = row_r . x for r < n_rows (1..4) with the fast kernel (requires supported(t)).
void dot_rows(DType t, const uint8_t* const* rows, int n_rows, const PackedX& x, int64_t cols,
              float* out);
// The same integer math in plain C++ (the reference the kernels are tested against).
void dot_rows_reference(DType t, const uint8_t* const* rows, int n_rows, const PackedX& x,
                        int64_t cols, float* out);

// out[0..4) = the four rows of a group of type t (Q8_0, Q4_K, Q6_K) interleaved by four
// (interleave.h) . x, equal bit for bit to dot_rows over the same rows in the plain layout.
void dot_group4(DType t, const uint8_t* group, const PackedX& x, int64_t cols, float* out);
// The plain C++ form: the rows unpacked, then dot_rows_reference.
void dot_group4_reference(DType t, const uint8_t* group, const PackedX& x, int64_t cols,
                          float* out);

}  // namespace r1::int8
