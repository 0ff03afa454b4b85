// SIMD kernels with runtime dispatch (Highway): the best instruction set the CPU has is chosen
// at the first call (SSE4 / AVX2 / AVX-512), each has a scalar reference in ops.cpp / quants.cpp
// and tests against it on every target compiled in. Activations stay float32: a stored weight
// row is decoded in registers and multiplied with float activations, so results equal the
// reference math up to the summation order. No model knowledge.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/dtype.h"

namespace r1::simd {

// Weight types with a direct (decode-in-register) row dot product.
bool has_row_dot(DType t);

// out[r] = row_r · x for r < n_rows (n_rows <= 4): rows[r] points at a stored row of `cols`
// elements of type t (cols a multiple of the type's block). `group_sums` holds the sums of x
// over consecutive groups of 16 elements (x_group_sums), needed by types with an offset.
void dot_rows(DType t, const uint8_t* const* rows, int n_rows, const float* x,
              const float* group_sums, int64_t cols, float* out);

// Decodes a stored row of a block type (Q8_0, Q4_0, Q4_K, Q5_K, Q6_K) to float32; returns false
// (and writes nothing) for other types.
bool dequant_row(DType t, const uint8_t* row, int64_t cols, float* out);

// Sums of x over consecutive groups of 16 elements: cols / 16 values (cols a multiple of 16;
// else the last partial group is summed too).
void x_group_sums(const float* x, int64_t cols, float* out);

// y[t * ldy + r] = w[r, :] · x[t, :] for r < m, t < n, with w [m, cols] and x [n, cols] float32.
void gemm_f32(const float* w, int64_t m, const float* x, int64_t n, int64_t cols, float* y,
              int64_t ldy);

// The same with row strides: w rows ldw apart, x rows ldx apart.
void gemm_f32_strided(const float* w, int64_t ldw, int64_t m, const float* x, int64_t ldx,
                      int64_t n, int64_t cols, float* y, int64_t ldy);
// z[i * ldz + j] += sum_s p[i * ldp + s] * v[s * ldv + j] for i < g, s < b, j < dv.
void weighted_rows(const float* p, int64_t ldp, int64_t g, const float* v, int64_t ldv, int64_t b,
                   int64_t dv, float* z, int64_t ldz);

// out[i] = silu(gate[i]) * up[i].
void silu_mul(const float* gate, const float* up, int64_t n, float* out);

// x[i] = exp(scale * x[i] - shift) in place; returns the sum (softmax numerators).
float exp_shift_sum(float* x, int64_t n, float scale, float shift);

float dot_f32(const float* a, const float* b, int64_t n);
void axpy_f32(float a, const float* x, float* y, int64_t n);  // y += a x

// Sum of n floats (streams memory: used to measure read bandwidth).
float sum_f32(const float* p, int64_t n);
// Runs `iters` rounds of independent float32 FMA chains on one thread; returns the FLOPs done
// (the roofline's compute peak). *sink receives a result so the loop is not optimised away.
double fma_loop(int64_t iters, float* sink);

// The instruction set the dispatcher chose for this CPU (e.g. "AVX3" = AVX-512), and all
// targets compiled in that the CPU supports (for tests).
std::string target_name();
std::vector<int64_t> supported_targets();
// For people: "AVX-512 (Highway AVX3)", with "+VNNI", "+AMX" when the CPU has them.
std::string isa_summary();
std::string target_name_of(int64_t target);
// Restricts dispatch to one target (tests); 0 restores the default.
void force_target(int64_t target);

}  // namespace r1::simd
