#include "model/cost.h"

#include "core/dtype.h"
#include "kernels/int8_gemm.h"

namespace r1 {

TokenCost token_cost(const ModelSource& src) {
  const ModelConfig& c = src.config();
  TokenCost cost;
  double active = 0;
  for (const TensorSpec& t : src.expected()) {
    if (t.mtp || t.role == TensorRole::kRopeFreqs) continue;
    const SourceTensor* st = src.find(t.name);
    if (st == nullptr) continue;
    double bytes = static_cast<double>(st->nbytes);
    double params = static_cast<double>(t.n_elements());
    if (st->scale) bytes += static_cast<double>(st->scale->nbytes);
    if (t.role == TensorRole::kEmbedding) {  // one row per token
      bytes /= static_cast<double>(t.shape[0]);
      params = 0;
    } else if (t.experts > 0 && c.n_routed_experts > 0) {  // k of n routed experts
      const double share =
          static_cast<double>(c.n_experts_per_tok) / static_cast<double>(c.n_routed_experts);
      // A stacked GGUF tensor holds all experts; an HF tensor one expert (counted n times).
      bytes *= share;
      params *= share;
    }
    cost.weight_bytes += static_cast<uint64_t>(bytes);
    if (t.is_matrix()) {
      active += params;
      if (int8::gemm_type(st->dtype)) cost.integer_matmul_flops += 2.0 * params;
    }
  }
  cost.matmul_flops = 2.0 * active;
  const ModelStats s = model_stats(c);
  cost.cache_bytes_per_ctx = s.kv_bytes_per_token;
  // Scores and weighted sums per head and cached token: MLA over the latent (kv_lora + rope for
  // the score, kv_lora for the sum), GQA over head_dim each.
  const double per_head = c.is_deepseek()
                              ? static_cast<double>(2 * c.kv_lora_rank + c.qk_rope_head_dim)
                              : static_cast<double>(2 * c.head_dim);
  cost.attn_flops_per_ctx =
      2.0 * per_head * static_cast<double>(c.n_heads) * static_cast<double>(c.n_layers);
  return cost;
}

}  // namespace r1
