// What one decoded token costs: the weight bytes it reads (k of n routed experts, one embedding
// row), the cache bytes it reads at a given depth, and its FLOPs — the numerators of the
// roofline figures `r1 bench` prints.
#pragma once

#include <cstdint>

#include "model/source.h"

namespace r1 {

struct TokenCost {
  uint64_t weight_bytes = 0;         // weights read per decoded token, in their stored types
  uint64_t cache_bytes_per_ctx = 0;  // KV cache bytes read per token of context
  double matmul_flops = 0;           // 2 x active parameters
  double integer_matmul_flops = 0;   // the part in the integer GEMM's types (int8::gemm_type)
  double attn_flops_per_ctx = 0;     // attention FLOPs per token of context
  // Bytes read for a token decoded after `depth` tokens of context.
  double decode_bytes(int64_t depth) const {
    return static_cast<double>(weight_bytes) +
           static_cast<double>(cache_bytes_per_ctx) * static_cast<double>(depth);
  }
  // FLOPs of a token at position `pos`.
  double flops(int64_t pos) const {
    return matmul_flops + attn_flops_per_ctx * static_cast<double>(pos);
  }
};

// From the model's own tensors (their stored types); the MTP module is not counted.
TokenCost token_cost(const ModelSource& src);

}  // namespace r1
