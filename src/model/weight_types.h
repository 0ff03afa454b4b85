// Which storage type each tensor gets when a model is written in a given weight type: plain
// types, FP8 block-scaled (safetensors, as R1 is published) and quantization mixtures
// ("Q4_K_M": sensitive tensors at higher precision).
#pragma once

#include <optional>
#include <string>

#include "core/dtype.h"
#include "model/tensors.h"

namespace r1 {

// A requested weight type: a plain dtype or a named mixture.
struct WeightType {
  DType base = DType::F32;
  bool q4_k_m = false;  // Q4_K base with Q6_K for sensitive tensors
  std::string name() const;
  // llama.cpp's general.file_type number (llama_ftype): 0 F32, 1 F16, 2 Q4_0, 7 Q8_0,
  // 14 Q4_K_S, 15 Q4_K_M, 16 Q5_K_S, 18 Q6_K, 32 BF16; 1024 "guessed" for what it has none for.
  uint32_t llama_file_type() const;
};
// "F32", "BF16", "FP8", "Q8_0", "Q4_K", "Q6_K", "Q4_K_M", ...; throws r1::Error listing choices.
WeightType parse_weight_type(const std::string& s);

enum class FileKind { kGguf, kSafetensors };

// Storage type of one tensor. Norms, biases and routers stay in float; a block type that does
// not divide the row length falls back (K-quant -> Q8_0 -> F16) as llama.cpp does.
DType tensor_type(const TensorSpec& spec, const WeightType& wt, FileKind kind, int64_t n_layers);

}  // namespace r1
