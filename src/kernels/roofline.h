// The machine's limits, measured: read bandwidth from memory and float32 FMA, AMX bf16 and VNNI
// int8 throughput, with a given number of threads (the thread pool's). `r1 bench` divides its
// results by these.
#pragma once

#include <cstdint>

namespace r1::roofline {

// Read bandwidth in bytes/s: the best of `reps` passes summing a buffer of `bytes` (much larger
// than the caches) split over the global pool's threads.
double read_bandwidth(uint64_t bytes = 1ull << 30, int reps = 5);

// Peak float32 FLOP/s (FMA = 2) of the global pool's threads, with the kernels' instruction set.
double fp32_peak(int reps = 3);

// Peak bf16 FLOP/s of the AMX tiles (0 where AMX is unavailable).
double amx_bf16_peak(int reps = 3);

// Peak int8 multiply-add throughput of the AMX tiles (a multiply-add counts as 2 operations), 0
// where AMX-INT8 is unavailable.
double amx_int8_peak(int reps = 3);

// Peak int8 multiply-add throughput of AVX-512 VNNI (vpdpbusd; a multiply-add counts as 2
// operations), 0 where the CPU lacks it.
double int8_peak(int reps = 3);

}  // namespace r1::roofline
