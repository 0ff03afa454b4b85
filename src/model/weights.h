// The weights of one model bound to the names of the math, whatever file they came from.
// Matrices stay zero-copy views of the file in their stored type; vectors (norms, biases) are
// decoded to float at load. Shapes in comments are row-major ([out, in] for projections).
#pragma once

#include <memory>
#include <vector>

#include "kernels/ops.h"
#include "model/config.h"
#include "model/source.h"

namespace r1 {

using ops::Matrix;
using Vec = std::vector<float>;

struct MlaWeights {
  Matrix q_a;               // [q_lora, d]             (q_lora_rank > 0)
  Vec q_a_norm;             // [q_lora]
  Matrix q_b;               // [H * (nope + rope), q_lora]
  Matrix q;                 // [H * (nope + rope), d]  (V2-Lite: no query compression)
  Matrix kv_a;              // [kv_lora + rope, d]: latent first, then the shared rope key
  Vec kv_a_norm;            // [kv_lora]
  std::vector<Matrix> k_b;  // per head W_UK^hᵀ: [kv_lora, nope]  (absorbed query)
  std::vector<Matrix> v_b;  // per head W_UV^h:  [v, kv_lora]     (latent -> value)
  Matrix o;                 // [d, H * v]
};

struct GqaWeights {
  Matrix q, k, v;              // [H * hd, d], [H_kv * hd, d], [H_kv * hd, d]
  Vec q_bias, k_bias, v_bias;  // Qwen2 only
  Matrix o;                    // [d, H * hd]
};

struct MlpWeights {
  Matrix gate, up;  // [f, d]
  Matrix down;      // [d, f]
  bool valid() const { return gate.valid(); }
};

struct MoeWeights {
  Matrix router;                    // [E, d]
  Vec correction_bias;              // [E] (noaux_tc only): used for choosing experts, not weighting
  std::vector<MlpWeights> experts;  // E routed experts
  MlpWeights shared;                // n_shared * moe_inter wide, when present
};

struct LayerWeights {
  Vec attn_norm, ffn_norm;  // [d]
  MlaWeights mla;
  GqaWeights gqa;
  MlpWeights mlp;  // dense layers
  MoeWeights moe;  // MoE layers
  bool is_moe = false;
};

struct MtpWeights {
  Matrix embed;      // [V, d] (a copy of the main embedding)
  Vec enorm, hnorm;  // [d]
  Matrix eh_proj;    // [d, 2d]: input [enorm(emb) ; hnorm(h)]
  LayerWeights block;
  Vec head_norm;  // [d]
  Matrix head;    // [V, d]
};

struct ModelWeights {
  ModelConfig config;
  Matrix embed;  // [V, d]
  std::vector<LayerWeights> layers;
  Vec output_norm;  // [d]
  Matrix output;    // [V, d] (the embedding when tied)
  std::vector<MtpWeights> mtp;
  // RoPE: angle per position of each frequency pair, and the pairing.
  Vec rope_inv_freq;
  bool rope_interleaved = true;

  // The mapped files the matrices view (kept alive with the weights).
  std::shared_ptr<const void> storage;
  // Buffers the weights point into when they had to be rearranged or converted at load.
  std::vector<std::shared_ptr<std::vector<uint8_t>>> owned;
};

// Binds the tensors of a validated source. Throws r1::Error when something does not fit.
std::shared_ptr<ModelWeights> bind_weights(const ModelSource& src);

// RoPE angle per position of each frequency pair: YaRN (DeepSeek), Llama-3 factors, or plain.
// `llama3_factors` (GGUF rope_freqs) overrides the factors computed from the configuration.
Vec rope_inverse_frequencies(const ModelConfig& c, const float* llama3_factors = nullptr);
// Llama-3.1 frequency factors (what GGUF stores as rope_freqs): theta_i is divided by them.
Vec llama3_frequency_factors(const ModelConfig& c);

}  // namespace r1
