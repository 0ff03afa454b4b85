// The integer prefill product of int8_gemm.h on Intel AMX-INT8 tiles: the same weights (GemmW:
// stored integer codes, block scales, minimums) and the same quantized activations (GemmX), one
// tile product per weight block (16 rows x 16 tokens x 32 values, or 16 for Q6_K) in place of
// 256 vpdpbusd, then the same float epilogue in AVX-512. The integer sums are exact and the
// float steps are those of the VNNI kernel in the same order, so the results are equal to
// int8::gemm's bit for bit. Used only where the CPU has AMX-INT8 and the kernel grants the tile
// state; off with R1_NO_AMX=1 or int8::set_enabled(false). No model knowledge.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/int8_gemm.h"

namespace r1::amx {

// True when AMX-INT8 can be used (asks the kernel for the tile state on the first call).
bool int8_available();

// The activations' codes as signed bytes (GemmX keeps them + 128), same layout, for the tiles.
void signed_codes(const int8::GemmX& x, std::vector<int8_t>& out);

// y[t * ldy + r] = (row r of w) . (token t of x) for r < w.rows, t < x.n; xs: signed_codes(x).
// Requires int8_available().
void gemm_int8(const int8::GemmW& w, const int8::GemmX& x, const int8_t* xs, float* y, int64_t ldy);

// Operations (multiply-add = 2) done by `iters` rounds of 4 independent int8 tile products on
// the calling thread: the int8 peak of the tiles, for the roofline. Requires int8_available().
double int8_peak_ops_one_thread(int64_t iters);

}  // namespace r1::amx
