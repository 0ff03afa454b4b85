// One validated model description for every supported architecture, read from GGUF metadata
// (llama.cpp's keys) or a Hugging Face config.json. Shapes here are row-major, outermost first.
#pragma once

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <string>

namespace r1 {

// Bytes per cached key/value element. The cache is float32 so that logits match the float64
// reference to 1e-4; a 16-bit cache (half the memory) belongs to the speed work.
inline constexpr int64_t kKvCacheValueBytes = 4;

enum class Arch { kDeepSeekV3, kDeepSeekV2, kQwen2, kLlama };

// "deepseek_v3", "deepseek_v2", "qwen2", "llama" (the HF model_type).
const char* arch_name(Arch a);
// Accepts the HF model_type names above; throws r1::Error listing the supported ones.
Arch arch_from_name(const std::string& name);

enum class RopeScaling { kNone, kYarn, kLlama3 };

struct ModelConfig {
  Arch arch = Arch::kLlama;

  // Common transformer shape.
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;        // d_model
  int64_t intermediate_size = 0;  // dense FFN width
  int64_t n_layers = 0;
  int64_t n_heads = 0;
  int64_t n_kv_heads = 0;  // GQA (distills); equals n_heads for MLA models
  int64_t head_dim = 0;    // GQA head size (distills)
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  int64_t max_position = 0;
  bool tie_word_embeddings = false;
  bool qkv_bias = false;  // Qwen2: q/k/v projections have biases

  // RoPE scaling (YaRN for DeepSeek, llama3 frequency factors for R1-Distill-Llama).
  RopeScaling rope_scaling = RopeScaling::kNone;
  double rope_factor = 1.0;
  int64_t rope_original_max_position = 0;
  double yarn_beta_fast = 32.0;
  double yarn_beta_slow = 1.0;
  double yarn_mscale = 1.0;
  double yarn_mscale_all_dim = 0.0;
  double llama3_low_freq_factor = 1.0;
  double llama3_high_freq_factor = 4.0;

  // Multi-head latent attention (DeepSeek).
  int64_t q_lora_rank = 0;  // 0: plain q_proj (V2-Lite)
  int64_t kv_lora_rank = 0;
  int64_t qk_nope_head_dim = 0;
  int64_t qk_rope_head_dim = 0;
  int64_t v_head_dim = 0;

  // Mixture of experts (DeepSeek).
  int64_t first_k_dense_replace = 0;  // layers [0, k) are dense
  int64_t moe_layer_freq = 1;
  int64_t moe_intermediate_size = 0;
  int64_t n_routed_experts = 0;
  int64_t n_experts_per_tok = 0;
  int64_t n_shared_experts = 0;
  int64_t n_group = 1;
  int64_t topk_group = 1;
  std::string scoring_func = "softmax";  // "softmax" | "sigmoid"
  std::string topk_method = "greedy";    // "greedy" | "group_limited_greedy" | "noaux_tc"
  bool norm_topk_prob = false;
  double routed_scaling_factor = 1.0;
  int64_t n_mtp_layers = 0;  // num_nextn_predict_layers

  int64_t bos_token_id = -1;
  int64_t eos_token_id = -1;

  bool is_deepseek() const { return arch == Arch::kDeepSeekV3 || arch == Arch::kDeepSeekV2; }
  bool is_moe() const { return is_deepseek() && n_routed_experts > 0; }
  bool is_moe_layer(int64_t layer) const;
  int64_t qk_head_dim() const { return qk_nope_head_dim + qk_rope_head_dim; }
  int64_t n_moe_layers() const;

  // Throws r1::Error naming the inconsistent hyper-parameter(s).
  void validate() const;
};

// Hugging Face config.json. `where` names the source in messages.
ModelConfig config_from_hf_json(const nlohmann::json& j, const std::string& where);
nlohmann::json config_to_hf_json(const ModelConfig& c);

// Default softmax scale of the attention, including DeepSeek's YaRN correction m².
double attention_scale(const ModelConfig& c);

}  // namespace r1
