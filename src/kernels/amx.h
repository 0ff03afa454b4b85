// Prefill products on Intel AMX tiles (bf16 in, float32 accumulation): the matrix unit of recent
// Xeons does in one instruction what AVX-512 does in 16. Weights are decoded to float32 rows by
// the caller (any stored type), rounded to bf16 here; activations are rounded to bf16 once per
// product and packed in the tile layout. Used only when the CPU has AMX-BF16 and the kernel
// grants the tile state (arch_prctl ARCH_REQ_XCOMP_PERM); else the AVX-512/AVX2 float kernels
// run. Off with int8::set_enabled(false) / R1_EXACT=1 (bf16 rounding is not the reference
// math). No model knowledge.
#pragma once

#include <cstdint>
#include <vector>

namespace r1::amx {

// True when AMX-BF16 can be used (asks the kernel for permission on the first call).
bool available();
// Whether this process may use the tile state: the kernel granted it (arch_prctl
// ARCH_REQ_XCOMP_PERM, asked once) and R1_NO_AMX=1 is not set. Says nothing of the CPU.
bool tiles_permitted();

// Activations x [n, k] rounded to bf16, the tiles' first operand: rows [nt * 16, kb * 32],
// zero-padded (nt even).
struct PackedActivations {
  int64_t n = 0, k = 0;    // the real sizes
  int64_t nt = 0, kb = 0;  // 16-token blocks, 32-value blocks
  std::vector<uint16_t> data;
};
void pack_activations(const float* x, int64_t n, int64_t k, PackedActivations& out);

// y[t * ldy + r] = sum_j bf16(w[r, j]) bf16(x[t, j]) for r < m, t < n, with w [m, k] float32
// rows (row stride k). Requires available().
void gemm(const float* w, int64_t m, const PackedActivations& x, float* y, int64_t ldy);

// Runs `iters` rounds of 4 tile products on the calling thread; returns the FLOPs done (the
// roofline's matrix-unit peak). Requires available().
double peak_flops_one_thread(int64_t iters);

// The same products in plain C++ on bf16-rounded values (the reference for tests).
void gemm_reference(const float* w, int64_t m, const float* x, int64_t n, int64_t k, float* y,
                    int64_t ldy);

}  // namespace r1::amx
