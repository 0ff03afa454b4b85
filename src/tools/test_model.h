// `r1 make-test-model`: random-weight, seeded models for every supported architecture, in GGUF
// (llama.cpp's names and keys) or Hugging Face safetensors (+ config.json and tokenizer files),
// written as a stream so real-shape files need little memory.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "model/config.h"
#include "model/weight_types.h"

namespace r1 {

// Shape presets: "tiny" (any architecture, a few MB), and real shapes: "v2-lite" (DeepSeek-V2-Lite
// 16B), "r1-distill-qwen-1.5b", "r1-distill-llama-8b", "r1-reduced" (R1's layer shapes, 1 dense +
// 1 MoE layer, no MTP).
std::vector<std::string> test_model_shapes();
// The configuration of a preset. `arch` must match the preset's (tiny takes any).
ModelConfig test_model_config(const std::string& shape, Arch arch);
// The architecture a real-shape preset implies (tiny: none -> throws).
Arch test_model_default_arch(const std::string& shape);

struct TestModelOptions {
  ModelConfig config;
  WeightType weights;
  FileKind format = FileKind::kGguf;
  uint64_t seed = 1;
  bool legacy_kv_b = false;  // GGUF DeepSeek: one attn_kv_b instead of attn_k_b + attn_v_b
  bool include_mtp = true;   // write the MTP module when the config has one
  uint32_t split_count = 1;  // GGUF: write N split files
  bool progress = true;
};

// Writes the model to `out` (a .gguf path, or a folder for safetensors). Returns the paths
// written (for split GGUFs, every split; for safetensors, the folder's files).
std::vector<std::string> write_test_model(const TestModelOptions& o, const std::string& out);

}  // namespace r1
