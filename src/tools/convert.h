// `r1 convert` and `r1 quantize`: Hugging Face checkpoints to llama.cpp-layout GGUF, and GGUF
// requantization with mixture presets, per-tensor overrides and an error report.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "formats/gguf.h"
#include "model/weight_types.h"
#include "tokenizer/tokenizer.h"

namespace r1 {

struct ConvertOptions {
  WeightType weights = {DType::BF16, false};
  bool keep_mtp = false;  // write the MTP module (blk.<n_layers>.*) when the checkpoint has it
  bool progress = true;
};

struct ConvertResult {
  std::string path;
  uint64_t bytes = 0;  // file size
  uint64_t tensors = 0;
  uint64_t elements = 0;  // weights written
};

// Reads a Hugging Face checkpoint folder (config.json, tokenizer files, safetensors shards in
// BF16/F16/F32 or FP8 with block scales) and writes `out` as GGUF with llama.cpp's names, keys
// and layouts, streaming tensor by tensor. Throws r1::Error.
ConvertResult convert_hf_to_gguf(const std::string& hf_dir, const std::string& out,
                                 const ConvertOptions& o);

// The GGUF tokenizer.* keys of a tokenizer (a vocabulary padded with unused "[PADn]" tokens to
// `vocab_size` rows when the model's embedding is larger). Throws for a pre-tokenizer that GGUF
// cannot name.
std::vector<std::pair<std::string, gguf::Value>> tokenizer_gguf_kvs(const Tokenizer& tok,
                                                                    int64_t vocab_size);

// ---- quantize --------------------------------------------------------------------------------

// A per-tensor type override: tensors whose GGUF name matches the glob `pattern` (`*` any run of
// characters, `?` one) get `type`. The first matching override wins.
struct TypeOverride {
  std::string pattern;
  DType type = DType::F32;
};
// "PATTERN=TYPE", e.g. "*.ffn_down_exps.weight=Q6_K". Throws r1::Error.
TypeOverride parse_type_override(const std::string& s);
bool glob_match(const std::string& pattern, const std::string& name);

struct QuantizeOptions {
  WeightType weights = {DType::Q8_0, false};
  std::vector<TypeOverride> overrides;
  bool report = false;  // measure each tensor's relative RMS error
  bool progress = true;
};

struct TensorReport {
  std::string name;
  DType from = DType::F32, to = DType::F32;
  uint64_t elements = 0, bytes = 0;
  bool copied = false;        // same type: bytes copied unchanged
  double relative_rms = 0.0;  // ||x - q(x)|| / ||x|| (with report)
};

struct QuantizeResult {
  std::string path;
  uint64_t bytes = 0;         // file size
  uint64_t tensor_bytes = 0;  // tensor data
  uint64_t elements = 0;
  double bits_per_weight() const {
    return elements ? 8.0 * static_cast<double>(tensor_bytes) / static_cast<double>(elements) : 0;
  }
  std::vector<TensorReport> tensors;
};

// Requantizes every tensor of the GGUF model `in` into `out`. Throws r1::Error.
QuantizeResult quantize_gguf(const std::string& in, const std::string& out,
                             const QuantizeOptions& o);

}  // namespace r1
