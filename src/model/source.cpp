#include "model/source.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.h"
#include "model/gguf_config.h"

namespace r1 {

namespace fs = std::filesystem;

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

nlohmann::json read_json_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open");
  std::stringstream ss;
  ss << in.rdbuf();
  nlohmann::json j = nlohmann::json::parse(ss.str(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) throw Error(path + ": not valid JSON");
  return j;
}

std::string shape_str(const std::vector<uint64_t>& s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); ++i) r += (i ? ", " : "") + std::to_string(s[i]);
  return r + "]";
}

uint64_t ceil_div(uint64_t a, uint64_t b) {
  return (a + b - 1) / b;
}

GenerationDefaults read_generation_config(const std::string& dir) {
  GenerationDefaults g;
  const std::string p = dir + "/generation_config.json";
  if (!fs::exists(p)) return g;
  nlohmann::json j = read_json_file(p);
  if (!j.is_object()) throw Error(p + ": not a JSON object");
  auto num = [&](const char* k) -> std::optional<double> {
    if (!j.contains(k) || j[k].is_null()) return std::nullopt;
    if (!j[k].is_number()) throw Error(p + ": field '" + std::string(k) + "' must be a number");
    return j[k].get<double>();
  };
  g.temperature = num("temperature");
  g.top_p = num("top_p");
  if (auto k = num("top_k")) g.top_k = static_cast<int64_t>(*k);
  return g;
}

}  // namespace

const char* source_format_name(SourceFormat f) {
  switch (f) {
    case SourceFormat::kGguf:
      return "gguf";
    case SourceFormat::kSafetensors:
      return "safetensors";
    case SourceFormat::kConfigOnly:
      return "config";
  }
  return "unknown";
}

ModelSource ModelSource::open(const std::string& path, bool map) {
  ModelSource m;
  m.path_ = path;
  std::error_code ec;
  if (!fs::exists(path, ec)) throw Error(path + ": no such file or folder");
  const bool is_dir = fs::is_directory(path, ec);
  const std::string name = fs::path(path).filename().string();

  if (!is_dir && ends_with(name, ".gguf")) {
    m.format_ = SourceFormat::kGguf;
    m.gguf_ = std::make_shared<gguf::File>(gguf::File::open(path, map));
    m.config_ = config_from_gguf(*m.gguf_);
    m.file_bytes_ = m.gguf_->file_bytes();
    m.file_count_ = m.gguf_->paths().size();
    const bool legacy = m.config_.is_deepseek() && m.gguf_->find_tensor("blk.0.attn_kv_b.weight");
    m.layout_ = legacy ? TensorLayout::kGgufLegacyKvB : TensorLayout::kGguf;
    for (const auto& t : m.gguf_->tensors()) {
      SourceTensor s;
      s.name = t.name;
      s.dtype = t.dtype;
      s.shape.assign(t.ne.rbegin(), t.ne.rend());
      s.data = t.data;
      s.nbytes = t.nbytes;
      m.index_[s.name] = m.tensors_.size();
      m.tensors_.push_back(std::move(s));
    }
    return m;
  }

  // A bare config.json (any .json other than the safetensors index) describes the model only.
  if (!is_dir && ends_with(name, ".json") && name != "model.safetensors.index.json") {
    m.format_ = SourceFormat::kConfigOnly;
    m.config_ = config_from_hf_json(read_json_file(path), path);
    m.gen_ = read_generation_config(fs::path(path).parent_path().string().empty()
                                        ? "."
                                        : fs::path(path).parent_path().string());
    m.file_bytes_ = 0;
    return m;
  }

  // Hugging Face checkpoint: a folder, a .safetensors file or the shard index.
  if (!is_dir && !ends_with(name, ".safetensors") && name != "model.safetensors.index.json")
    throw Error(path +
                ": not a model file (expected .gguf, .safetensors, a checkpoint folder "
                "or config.json)");
  m.format_ = SourceFormat::kSafetensors;
  m.layout_ = TensorLayout::kHuggingFace;
  m.st_ = std::make_shared<safetensors::Checkpoint>(safetensors::Checkpoint::open(path, map));
  const std::string dir = m.st_->dir().empty() ? "." : m.st_->dir();
  const std::string cfg = dir + "/config.json";
  if (!fs::exists(cfg))
    throw Error(path + ": no config.json beside the safetensors files in " + dir);
  m.config_ = config_from_hf_json(read_json_file(cfg), cfg);
  m.gen_ = read_generation_config(dir);
  m.file_bytes_ = m.st_->file_bytes();
  m.file_count_ = m.st_->paths().size();

  // FP8 block scales ("<weight>_scale_inv") are attached to their weights.
  std::map<std::string, const safetensors::TensorInfo*> scale_of;
  for (const auto& t : m.st_->tensors())
    if (ends_with(t.name, "_scale_inv")) scale_of[t.name.substr(0, t.name.size() - 10)] = &t;
  m.scales_.reserve(scale_of.size());
  for (const auto& t : m.st_->tensors()) {
    if (ends_with(t.name, "_scale_inv")) continue;
    SourceTensor s;
    s.name = t.name;
    s.dtype = t.dtype;
    s.shape = t.shape;
    s.data = t.data;
    s.nbytes = t.nbytes();
    if (auto it = scale_of.find(t.name); it != scale_of.end()) {
      const auto* st = it->second;
      m.scales_.push_back(
          SourceTensor{st->name, st->dtype, st->shape, st->data, st->nbytes(), nullptr});
      s.scale = &m.scales_.back();
    }
    m.index_[s.name] = m.tensors_.size();
    m.tensors_.push_back(std::move(s));
  }
  for (const auto& [weight, st] : scale_of)
    if (!m.index_.count(weight))
      throw Error(path + ": block-scale tensor '" + st->name + "' has no weight '" + weight + "'");
  return m;
}

const SourceTensor* ModelSource::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

void ModelSource::validate_tensors() const {
  if (format_ == SourceFormat::kConfigOnly) return;
  std::vector<std::string> problems;
  for (const TensorSpec& spec : expected()) {
    const SourceTensor* t = find(spec.name);
    if (t == nullptr) {
      if (!spec.optional) problems.push_back("missing tensor '" + spec.name + "'");
      continue;
    }
    if (t->shape != spec.shape) {
      problems.push_back("tensor '" + spec.name + "' has shape " + shape_str(t->shape) +
                         ", expected " + shape_str(spec.shape));
      continue;
    }
    const DTypeTraits& tr = dtype_traits(t->dtype);
    const bool vector_like = spec.shape.size() == 1;
    if (!tr.is_float) {
      problems.push_back("tensor '" + spec.name + "' has unsupported type " + tr.name);
    } else if (vector_like && dtype_is_quantized(t->dtype)) {
      problems.push_back("tensor '" + spec.name + "' (1-D) must not be quantized, got " + tr.name);
    } else if (t->dtype == DType::F8_E4M3) {
      if (t->scale == nullptr) {
        problems.push_back("FP8 tensor '" + spec.name + "' has no '" + spec.name + "_scale_inv'");
      } else {
        std::vector<uint64_t> want = {ceil_div(spec.shape[0], 128), ceil_div(spec.shape[1], 128)};
        if (spec.shape.size() != 2 || t->scale->shape != want)
          problems.push_back("block scales '" + t->scale->name + "' have shape " +
                             shape_str(t->scale->shape) + ", expected " + shape_str(want));
        else if (t->scale->dtype != DType::F32 && t->scale->dtype != DType::BF16)
          problems.push_back("block scales '" + t->scale->name + "' must be F32 or BF16, got " +
                             dtype_name(t->scale->dtype));
      }
    }
  }
  if (problems.empty()) return;
  std::string msg = path_ + ": " + std::to_string(problems.size()) + " problem(s) with the " +
                    arch_name(config_.arch) + " tensors:";
  for (size_t i = 0; i < problems.size() && i < 20; ++i) msg += "\n  " + problems[i];
  if (problems.size() > 20) msg += "\n  ... and " + std::to_string(problems.size() - 20) + " more";
  throw Error(msg);
}

ModelStats model_stats(const ModelConfig& c) {
  ModelStats s;
  uint64_t routed = 0, embedding = 0;
  for (const TensorSpec& t : expected_tensors(c, TensorLayout::kGguf)) {
    if (t.role == TensorRole::kRopeFreqs) continue;  // derived constants, not parameters
    const uint64_t n = t.n_elements();
    if (t.mtp) {
      s.mtp_params += n;
      continue;
    }
    s.total_params += n;
    if (t.experts > 0) routed += n;
    if (t.role == TensorRole::kEmbedding) embedding += n;
  }
  // Per token only one embedding row is read, and only k of n routed experts run.
  s.active_params = s.total_params - routed - embedding;
  if (c.n_routed_experts > 0)
    s.active_params += routed / static_cast<uint64_t>(c.n_routed_experts) *
                       static_cast<uint64_t>(c.n_experts_per_tok);
  const uint64_t layers = static_cast<uint64_t>(c.n_layers);
  if (c.is_deepseek()) {
    s.kv_values_per_token_per_layer = static_cast<uint64_t>(c.kv_lora_rank + c.qk_rope_head_dim);
  } else {
    s.kv_values_per_token_per_layer = 2 * static_cast<uint64_t>(c.n_kv_heads * c.head_dim);
  }
  s.kv_bytes_per_token = layers * s.kv_values_per_token_per_layer * kKvCacheValueBytes;
  return s;
}

}  // namespace r1
