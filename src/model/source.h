// An opened model, whatever the files: a GGUF (possibly split), a safetensors checkpoint with
// config.json, or a bare config.json. Gives one validated configuration and the tensors found.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "formats/gguf.h"
#include "formats/safetensors.h"
#include "model/config.h"
#include "model/tensors.h"

namespace r1 {

enum class SourceFormat { kGguf, kSafetensors, kConfigOnly };
const char* source_format_name(SourceFormat f);

// A tensor as found in the file, shape row-major (GGUF ne reversed).
struct SourceTensor {
  std::string name;
  DType dtype = DType::F32;
  std::vector<uint64_t> shape;
  const uint8_t* data = nullptr;  // zero-copy view (null for a checkpoint opened unmapped)
  uint64_t nbytes = 0;
  const SourceTensor* scale = nullptr;  // FP8 weight_scale_inv sibling, when present
};

// Sampling defaults a checkpoint ships (generation_config.json).
struct GenerationDefaults {
  std::optional<double> temperature;
  std::optional<double> top_p;
  std::optional<int64_t> top_k;
};

class ModelSource {
 public:
  // Opens `path` (.gguf, *.safetensors, a folder, model.safetensors.index.json or config.json),
  // reads and validates the configuration. Tensors are checked by validate_tensors().
  // map = false: tensor data is not mapped (a GGUF maps its header only), the SourceTensor views
  // are null and the data is read through checkpoint()->read() or gguf()->read() (convert and
  // quantize read models larger than their address space this way).
  static ModelSource open(const std::string& path, bool map = true);
  ModelSource(ModelSource&&) = default;
  ModelSource& operator=(ModelSource&&) = default;
  ModelSource(const ModelSource&) = delete;  // tensors point into scales_
  ModelSource& operator=(const ModelSource&) = delete;

  SourceFormat format() const { return format_; }
  const ModelConfig& config() const { return config_; }
  const std::string& path() const { return path_; }
  uint64_t file_bytes() const { return file_bytes_; }
  size_t file_count() const { return file_count_; }
  const GenerationDefaults& generation_defaults() const { return gen_; }

  // Tensors in file order (FP8 scale tensors are attached to their weights, not listed).
  const std::vector<SourceTensor>& tensors() const { return tensors_; }
  const SourceTensor* find(const std::string& name) const;
  const gguf::File* gguf() const { return gguf_.get(); }                   // null unless GGUF
  const safetensors::Checkpoint* checkpoint() const { return st_.get(); }  // null unless HF
  // Keeps the file mappings (and so every tensor view) alive while the holder lives.
  std::shared_ptr<const void> storage() const {
    if (gguf_) return gguf_;
    return st_;
  }
  TensorLayout layout() const { return layout_; }

  // The tensors this model must have, in the naming of its files.
  std::vector<TensorSpec> expected() const { return expected_tensors(config_, layout_); }

  // Checks every expected tensor is present with the expected shape and a supported type (and
  // FP8 weights have block scales of the right shape). Throws r1::Error listing the problems.
  void validate_tensors() const;

 private:
  ModelSource() = default;
  SourceFormat format_ = SourceFormat::kConfigOnly;
  std::string path_;
  ModelConfig config_;
  TensorLayout layout_ = TensorLayout::kHuggingFace;
  uint64_t file_bytes_ = 0;
  size_t file_count_ = 0;
  GenerationDefaults gen_;
  std::shared_ptr<gguf::File> gguf_;
  std::shared_ptr<safetensors::Checkpoint> st_;
  std::vector<SourceTensor> tensors_;
  std::vector<SourceTensor> scales_;
  std::map<std::string, size_t> index_;
};

// Sizes that describe a model: parameter counts and cache cost.
struct ModelStats {
  uint64_t total_params = 0;        // main model (MTP excluded)
  uint64_t active_params = 0;       // per token: k of n routed experts, embedding table excluded
  uint64_t mtp_params = 0;          // MTP module(s), from the configuration
  uint64_t kv_bytes_per_token = 0;  // kKvCacheValueBytes each; MLA: latent + rope key per layer
  uint64_t kv_values_per_token_per_layer = 0;
};
ModelStats model_stats(const ModelConfig& c);

}  // namespace r1
