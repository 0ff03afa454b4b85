// The tensors each architecture needs, named as in Hugging Face checkpoints or in llama.cpp's
// GGUF files, with their expected shapes (row-major, outermost first).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "model/config.h"

namespace r1 {

// Where a tensor sits in the network; the quantizer and the parameter counts use it.
enum class TensorRole {
  kEmbedding,     // token embedding
  kOutput,        // LM head
  kNorm,          // RMSNorm weights (1-D)
  kBias,          // biases and the router's correction bias (1-D)
  kAttnQ,         // query projections (q, q_a, q_b)
  kAttnKV,        // key/value projections (k, v, kv_a, kv_b, k_b, v_b)
  kAttnOutput,    // o_proj / attn_output
  kFfnGateUp,     // dense or shared-expert gate/up
  kFfnDown,       // dense or shared-expert down
  kRouter,        // MoE router weight
  kExpertGateUp,  // routed experts' gate/up
  kExpertDown,    // routed experts' down
  kRopeFreqs,     // llama3 frequency factors (GGUF)
  kMtp,           // MTP-only projections (eh_proj)
};

struct TensorSpec {
  std::string name;
  std::vector<uint64_t> shape;  // row-major, outermost first
  TensorRole role = TensorRole::kNorm;
  int64_t layer = -1;     // -1 outside the blocks
  int64_t experts = 0;    // routed experts this tensor holds (stacked GGUF: all; HF: 1)
  bool optional = false;  // MTP layer (absent from most files)
  bool mtp = false;

  uint64_t n_elements() const;
  bool is_matrix() const { return shape.size() >= 2; }
};

enum class TensorLayout {
  kHuggingFace,    // model.layers.N.self_attn.q_a_proj.weight, one tensor per expert
  kGguf,           // blk.N.attn_q_a.weight, stacked experts, split attn_k_b/attn_v_b
  kGgufLegacyKvB,  // as kGguf but with the legacy single attn_kv_b
};

// Every tensor of the model described by `c` (MTP tensors marked optional).
std::vector<TensorSpec> expected_tensors(const ModelConfig& c, TensorLayout layout);

// The GGUF architecture name ("deepseek2", "qwen2", "llama") of a config.
const char* gguf_arch_name(const ModelConfig& c);

}  // namespace r1

namespace r1 {

// The Hugging Face name of the tensor a GGUF tensor is made from, for the tensors that are a
// plain rename ("blk.3.attn_q_a.weight" -> "model.layers.3.self_attn.q_a_proj.weight"). Empty
// for tensors that are built from several (stacked experts, attn_k_b/attn_v_b, rope_freqs).
std::string hf_name_of_gguf(const std::string& gguf_name);

}  // namespace r1
