// Tensor lists per architecture. The single place that switches on the architecture for naming.
#include "model/tensors.h"

#include "core/error.h"

namespace r1 {

uint64_t TensorSpec::n_elements() const {
  uint64_t n = 1;
  for (uint64_t d : shape) n *= d;
  return n;
}

namespace {

using Shape = std::vector<uint64_t>;
uint64_t u(int64_t v) {
  return static_cast<uint64_t>(v);
}

// Collects specs; `layer`/`mtp` apply to what is added until changed.
struct SpecList {
  std::vector<TensorSpec> specs;
  int64_t layer = -1;
  bool mtp = false;
  void add(std::string name, Shape shape, TensorRole role, int64_t experts = 0) {
    TensorSpec s;
    s.name = std::move(name);
    s.shape = std::move(shape);
    s.role = role;
    s.layer = layer;
    s.experts = experts;
    s.optional = mtp;
    s.mtp = mtp;
    specs.push_back(std::move(s));
  }
};

// ---- DeepSeek V2/V3 (MLA + MoE) -------------------------------------------------------------

void deepseek_block_hf(SpecList& s, const ModelConfig& c, int64_t l) {
  const std::string p = "model.layers." + std::to_string(l) + ".";
  const uint64_t d = u(c.hidden_size), H = u(c.n_heads);
  s.add(p + "input_layernorm.weight", {d}, TensorRole::kNorm);
  if (c.q_lora_rank > 0) {
    s.add(p + "self_attn.q_a_proj.weight", {u(c.q_lora_rank), d}, TensorRole::kAttnQ);
    s.add(p + "self_attn.q_a_layernorm.weight", {u(c.q_lora_rank)}, TensorRole::kNorm);
    s.add(p + "self_attn.q_b_proj.weight", {H * u(c.qk_head_dim()), u(c.q_lora_rank)},
          TensorRole::kAttnQ);
  } else {
    s.add(p + "self_attn.q_proj.weight", {H * u(c.qk_head_dim()), d}, TensorRole::kAttnQ);
  }
  s.add(p + "self_attn.kv_a_proj_with_mqa.weight", {u(c.kv_lora_rank + c.qk_rope_head_dim), d},
        TensorRole::kAttnKV);
  s.add(p + "self_attn.kv_a_layernorm.weight", {u(c.kv_lora_rank)}, TensorRole::kNorm);
  s.add(p + "self_attn.kv_b_proj.weight",
        {H * u(c.qk_nope_head_dim + c.v_head_dim), u(c.kv_lora_rank)}, TensorRole::kAttnKV);
  s.add(p + "self_attn.o_proj.weight", {d, H * u(c.v_head_dim)}, TensorRole::kAttnOutput);
  s.add(p + "post_attention_layernorm.weight", {d}, TensorRole::kNorm);
  if (!c.is_moe_layer(l)) {
    const uint64_t f = u(c.intermediate_size);
    s.add(p + "mlp.gate_proj.weight", {f, d}, TensorRole::kFfnGateUp);
    s.add(p + "mlp.up_proj.weight", {f, d}, TensorRole::kFfnGateUp);
    s.add(p + "mlp.down_proj.weight", {d, f}, TensorRole::kFfnDown);
    return;
  }
  const uint64_t E = u(c.n_routed_experts), f = u(c.moe_intermediate_size);
  s.add(p + "mlp.gate.weight", {E, d}, TensorRole::kRouter);
  if (c.topk_method == "noaux_tc")
    s.add(p + "mlp.gate.e_score_correction_bias", {E}, TensorRole::kBias);
  for (uint64_t e = 0; e < E; ++e) {
    const std::string q = p + "mlp.experts." + std::to_string(e) + ".";
    s.add(q + "gate_proj.weight", {f, d}, TensorRole::kExpertGateUp, 1);
    s.add(q + "up_proj.weight", {f, d}, TensorRole::kExpertGateUp, 1);
    s.add(q + "down_proj.weight", {d, f}, TensorRole::kExpertDown, 1);
  }
  if (c.n_shared_experts > 0) {
    const uint64_t fs = f * u(c.n_shared_experts);
    s.add(p + "mlp.shared_experts.gate_proj.weight", {fs, d}, TensorRole::kFfnGateUp);
    s.add(p + "mlp.shared_experts.up_proj.weight", {fs, d}, TensorRole::kFfnGateUp);
    s.add(p + "mlp.shared_experts.down_proj.weight", {d, fs}, TensorRole::kFfnDown);
  }
}

void deepseek_hf(SpecList& s, const ModelConfig& c) {
  const uint64_t d = u(c.hidden_size), V = u(c.vocab_size);
  s.add("model.embed_tokens.weight", {V, d}, TensorRole::kEmbedding);
  for (int64_t l = 0; l < c.n_layers; ++l) {
    s.layer = l;
    deepseek_block_hf(s, c, l);
  }
  s.layer = -1;
  s.add("model.norm.weight", {d}, TensorRole::kNorm);
  if (!c.tie_word_embeddings) s.add("lm_head.weight", {V, d}, TensorRole::kOutput);
  // MTP modules: layers n_layers .. n_layers + n_mtp - 1 (R1: layer 61).
  s.mtp = true;
  for (int64_t k = 0; k < c.n_mtp_layers; ++k) {
    const int64_t l = c.n_layers + k;
    const std::string p = "model.layers." + std::to_string(l) + ".";
    s.layer = l;
    s.add(p + "embed_tokens.weight", {V, d}, TensorRole::kEmbedding);
    s.add(p + "enorm.weight", {d}, TensorRole::kNorm);
    s.add(p + "hnorm.weight", {d}, TensorRole::kNorm);
    s.add(p + "eh_proj.weight", {d, 2 * d}, TensorRole::kMtp);
    deepseek_block_hf(s, c, l);
    s.add(p + "shared_head.norm.weight", {d}, TensorRole::kNorm);
    s.add(p + "shared_head.head.weight", {V, d}, TensorRole::kOutput);
  }
}

void deepseek_block_gguf(SpecList& s, const ModelConfig& c, int64_t l, bool legacy_kv_b) {
  const std::string p = "blk." + std::to_string(l) + ".";
  const uint64_t d = u(c.hidden_size), H = u(c.n_heads);
  s.add(p + "attn_norm.weight", {d}, TensorRole::kNorm);
  if (c.q_lora_rank > 0) {
    s.add(p + "attn_q_a.weight", {u(c.q_lora_rank), d}, TensorRole::kAttnQ);
    s.add(p + "attn_q_a_norm.weight", {u(c.q_lora_rank)}, TensorRole::kNorm);
    s.add(p + "attn_q_b.weight", {H * u(c.qk_head_dim()), u(c.q_lora_rank)}, TensorRole::kAttnQ);
  } else {
    s.add(p + "attn_q.weight", {H * u(c.qk_head_dim()), d}, TensorRole::kAttnQ);
  }
  s.add(p + "attn_kv_a_mqa.weight", {u(c.kv_lora_rank + c.qk_rope_head_dim), d},
        TensorRole::kAttnKV);
  s.add(p + "attn_kv_a_norm.weight", {u(c.kv_lora_rank)}, TensorRole::kNorm);
  if (legacy_kv_b) {
    s.add(p + "attn_kv_b.weight", {H * u(c.qk_nope_head_dim + c.v_head_dim), u(c.kv_lora_rank)},
          TensorRole::kAttnKV);
  } else {
    // k_b: per head W_UK transposed, [H, kv_lora, qk_nope]; v_b: per head W_UV, [H, v, kv_lora].
    s.add(p + "attn_k_b.weight", {H, u(c.kv_lora_rank), u(c.qk_nope_head_dim)},
          TensorRole::kAttnKV);
    s.add(p + "attn_v_b.weight", {H, u(c.v_head_dim), u(c.kv_lora_rank)}, TensorRole::kAttnKV);
  }
  s.add(p + "attn_output.weight", {d, H * u(c.v_head_dim)}, TensorRole::kAttnOutput);
  s.add(p + "ffn_norm.weight", {d}, TensorRole::kNorm);
  if (!c.is_moe_layer(l)) {
    const uint64_t f = u(c.intermediate_size);
    s.add(p + "ffn_gate.weight", {f, d}, TensorRole::kFfnGateUp);
    s.add(p + "ffn_up.weight", {f, d}, TensorRole::kFfnGateUp);
    s.add(p + "ffn_down.weight", {d, f}, TensorRole::kFfnDown);
    return;
  }
  const uint64_t E = u(c.n_routed_experts), f = u(c.moe_intermediate_size);
  s.add(p + "ffn_gate_inp.weight", {E, d}, TensorRole::kRouter);
  if (c.topk_method == "noaux_tc") s.add(p + "exp_probs_b.bias", {E}, TensorRole::kBias);
  s.add(p + "ffn_gate_exps.weight", {E, f, d}, TensorRole::kExpertGateUp, c.n_routed_experts);
  s.add(p + "ffn_up_exps.weight", {E, f, d}, TensorRole::kExpertGateUp, c.n_routed_experts);
  s.add(p + "ffn_down_exps.weight", {E, d, f}, TensorRole::kExpertDown, c.n_routed_experts);
  if (c.n_shared_experts > 0) {
    const uint64_t fs = f * u(c.n_shared_experts);
    s.add(p + "ffn_gate_shexp.weight", {fs, d}, TensorRole::kFfnGateUp);
    s.add(p + "ffn_up_shexp.weight", {fs, d}, TensorRole::kFfnGateUp);
    s.add(p + "ffn_down_shexp.weight", {d, fs}, TensorRole::kFfnDown);
  }
}

void deepseek_gguf(SpecList& s, const ModelConfig& c, bool legacy_kv_b) {
  const uint64_t d = u(c.hidden_size), V = u(c.vocab_size);
  s.add("token_embd.weight", {V, d}, TensorRole::kEmbedding);
  for (int64_t l = 0; l < c.n_layers; ++l) {
    s.layer = l;
    deepseek_block_gguf(s, c, l, legacy_kv_b);
  }
  s.layer = -1;
  s.add("output_norm.weight", {d}, TensorRole::kNorm);
  if (!c.tie_word_embeddings) s.add("output.weight", {V, d}, TensorRole::kOutput);
  s.mtp = true;
  for (int64_t k = 0; k < c.n_mtp_layers; ++k) {
    const int64_t l = c.n_layers + k;
    const std::string p = "blk." + std::to_string(l) + ".nextn.";
    s.layer = l;
    s.add(p + "embed_tokens.weight", {V, d}, TensorRole::kEmbedding);
    s.add(p + "enorm.weight", {d}, TensorRole::kNorm);
    s.add(p + "hnorm.weight", {d}, TensorRole::kNorm);
    s.add(p + "eh_proj.weight", {d, 2 * d}, TensorRole::kMtp);
    deepseek_block_gguf(s, c, l, legacy_kv_b);
    s.add(p + "shared_head_norm.weight", {d}, TensorRole::kNorm);
    s.add(p + "shared_head_head.weight", {V, d}, TensorRole::kOutput);
  }
}

// ---- Dense GQA transformers: Qwen2 (R1-Distill-Qwen) and Llama (R1-Distill-Llama) ------------

void dense_hf(SpecList& s, const ModelConfig& c) {
  const uint64_t d = u(c.hidden_size), V = u(c.vocab_size), f = u(c.intermediate_size);
  const uint64_t q = u(c.n_heads * c.head_dim), kv = u(c.n_kv_heads * c.head_dim);
  s.add("model.embed_tokens.weight", {V, d}, TensorRole::kEmbedding);
  for (int64_t l = 0; l < c.n_layers; ++l) {
    s.layer = l;
    const std::string p = "model.layers." + std::to_string(l) + ".";
    s.add(p + "input_layernorm.weight", {d}, TensorRole::kNorm);
    s.add(p + "self_attn.q_proj.weight", {q, d}, TensorRole::kAttnQ);
    if (c.qkv_bias) s.add(p + "self_attn.q_proj.bias", {q}, TensorRole::kBias);
    s.add(p + "self_attn.k_proj.weight", {kv, d}, TensorRole::kAttnKV);
    if (c.qkv_bias) s.add(p + "self_attn.k_proj.bias", {kv}, TensorRole::kBias);
    s.add(p + "self_attn.v_proj.weight", {kv, d}, TensorRole::kAttnKV);
    if (c.qkv_bias) s.add(p + "self_attn.v_proj.bias", {kv}, TensorRole::kBias);
    s.add(p + "self_attn.o_proj.weight", {d, q}, TensorRole::kAttnOutput);
    s.add(p + "post_attention_layernorm.weight", {d}, TensorRole::kNorm);
    s.add(p + "mlp.gate_proj.weight", {f, d}, TensorRole::kFfnGateUp);
    s.add(p + "mlp.up_proj.weight", {f, d}, TensorRole::kFfnGateUp);
    s.add(p + "mlp.down_proj.weight", {d, f}, TensorRole::kFfnDown);
  }
  s.layer = -1;
  s.add("model.norm.weight", {d}, TensorRole::kNorm);
  if (!c.tie_word_embeddings) s.add("lm_head.weight", {V, d}, TensorRole::kOutput);
}

void dense_gguf(SpecList& s, const ModelConfig& c) {
  const uint64_t d = u(c.hidden_size), V = u(c.vocab_size), f = u(c.intermediate_size);
  const uint64_t q = u(c.n_heads * c.head_dim), kv = u(c.n_kv_heads * c.head_dim);
  s.add("token_embd.weight", {V, d}, TensorRole::kEmbedding);
  if (c.rope_scaling == RopeScaling::kLlama3)
    s.add("rope_freqs.weight", {u(c.head_dim / 2)}, TensorRole::kRopeFreqs);
  for (int64_t l = 0; l < c.n_layers; ++l) {
    s.layer = l;
    const std::string p = "blk." + std::to_string(l) + ".";
    s.add(p + "attn_norm.weight", {d}, TensorRole::kNorm);
    s.add(p + "attn_q.weight", {q, d}, TensorRole::kAttnQ);
    if (c.qkv_bias) s.add(p + "attn_q.bias", {q}, TensorRole::kBias);
    s.add(p + "attn_k.weight", {kv, d}, TensorRole::kAttnKV);
    if (c.qkv_bias) s.add(p + "attn_k.bias", {kv}, TensorRole::kBias);
    s.add(p + "attn_v.weight", {kv, d}, TensorRole::kAttnKV);
    if (c.qkv_bias) s.add(p + "attn_v.bias", {kv}, TensorRole::kBias);
    s.add(p + "attn_output.weight", {d, q}, TensorRole::kAttnOutput);
    s.add(p + "ffn_norm.weight", {d}, TensorRole::kNorm);
    s.add(p + "ffn_gate.weight", {f, d}, TensorRole::kFfnGateUp);
    s.add(p + "ffn_up.weight", {f, d}, TensorRole::kFfnGateUp);
    s.add(p + "ffn_down.weight", {d, f}, TensorRole::kFfnDown);
  }
  s.layer = -1;
  s.add("output_norm.weight", {d}, TensorRole::kNorm);
  if (!c.tie_word_embeddings) s.add("output.weight", {V, d}, TensorRole::kOutput);
}

}  // namespace

const char* gguf_arch_name(const ModelConfig& c) {
  switch (c.arch) {
    case Arch::kDeepSeekV3:
    case Arch::kDeepSeekV2:
      return "deepseek2";
    case Arch::kQwen2:
      return "qwen2";
    case Arch::kLlama:
      return "llama";
  }
  return "unknown";
}

std::vector<TensorSpec> expected_tensors(const ModelConfig& c, TensorLayout layout) {
  SpecList s;
  const bool hf = layout == TensorLayout::kHuggingFace;
  if (c.is_deepseek()) {
    if (hf)
      deepseek_hf(s, c);
    else
      deepseek_gguf(s, c, layout == TensorLayout::kGgufLegacyKvB);
  } else {
    if (hf)
      dense_hf(s, c);
    else
      dense_gguf(s, c);
  }
  return std::move(s.specs);
}

}  // namespace r1

namespace r1 {

std::string hf_name_of_gguf(const std::string& g) {
  static const std::pair<const char*, const char*> kTop[] = {
      {"token_embd.weight", "model.embed_tokens.weight"},
      {"output_norm.weight", "model.norm.weight"},
      {"output.weight", "lm_head.weight"},
  };
  for (const auto& [a, b] : kTop)
    if (g == a) return b;
  if (g.rfind("blk.", 0) != 0) return "";
  const size_t dot = g.find('.', 4);
  if (dot == std::string::npos) return "";
  const std::string layer = g.substr(4, dot - 4);
  const std::string rest = g.substr(dot + 1);
  static const std::pair<const char*, const char*> kBlock[] = {
      {"attn_norm.weight", "input_layernorm.weight"},
      {"attn_q_a.weight", "self_attn.q_a_proj.weight"},
      {"attn_q_a_norm.weight", "self_attn.q_a_layernorm.weight"},
      {"attn_q_b.weight", "self_attn.q_b_proj.weight"},
      {"attn_q.weight", "self_attn.q_proj.weight"},
      {"attn_q.bias", "self_attn.q_proj.bias"},
      {"attn_k.weight", "self_attn.k_proj.weight"},
      {"attn_k.bias", "self_attn.k_proj.bias"},
      {"attn_v.weight", "self_attn.v_proj.weight"},
      {"attn_v.bias", "self_attn.v_proj.bias"},
      {"attn_kv_a_mqa.weight", "self_attn.kv_a_proj_with_mqa.weight"},
      {"attn_kv_a_norm.weight", "self_attn.kv_a_layernorm.weight"},
      {"attn_kv_b.weight", "self_attn.kv_b_proj.weight"},
      {"attn_output.weight", "self_attn.o_proj.weight"},
      {"ffn_norm.weight", "post_attention_layernorm.weight"},
      {"ffn_gate.weight", "mlp.gate_proj.weight"},
      {"ffn_up.weight", "mlp.up_proj.weight"},
      {"ffn_down.weight", "mlp.down_proj.weight"},
      {"ffn_gate_inp.weight", "mlp.gate.weight"},
      {"exp_probs_b.bias", "mlp.gate.e_score_correction_bias"},
      {"ffn_gate_shexp.weight", "mlp.shared_experts.gate_proj.weight"},
      {"ffn_up_shexp.weight", "mlp.shared_experts.up_proj.weight"},
      {"ffn_down_shexp.weight", "mlp.shared_experts.down_proj.weight"},
      {"nextn.embed_tokens.weight", "embed_tokens.weight"},
      {"nextn.enorm.weight", "enorm.weight"},
      {"nextn.hnorm.weight", "hnorm.weight"},
      {"nextn.eh_proj.weight", "eh_proj.weight"},
      {"nextn.shared_head_norm.weight", "shared_head.norm.weight"},
      {"nextn.shared_head_head.weight", "shared_head.head.weight"},
  };
  for (const auto& [a, b] : kBlock)
    if (rest == a) return "model.layers." + layer + "." + b;
  return "";
}

}  // namespace r1
