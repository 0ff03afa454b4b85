#include "tools/test_model.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <thread>

#include "core/check.h"
#include "core/error.h"
#include "core/progress.h"
#include "core/rng.h"
#include "formats/gguf.h"
#include "formats/safetensors.h"
#include "kernels/quants.h"
#include "model/gguf_config.h"
#include "model/tensors.h"
#include "model/weights.h"
#include "tools/model_writer.h"
#include "tools/test_vocab.h"

namespace r1 {

namespace fs = std::filesystem;

// ---- Presets ---------------------------------------------------------------------------------

namespace {

ModelConfig deepseek_r1_config() {
  ModelConfig c;
  c.arch = Arch::kDeepSeekV3;
  c.vocab_size = 129280;
  c.hidden_size = 7168;
  c.intermediate_size = 18432;
  c.n_layers = 61;
  c.n_heads = c.n_kv_heads = 128;
  c.rms_norm_eps = 1e-6;
  c.rope_theta = 10000;
  c.max_position = 163840;
  c.rope_scaling = RopeScaling::kYarn;
  c.rope_factor = 40;
  c.rope_original_max_position = 4096;
  c.yarn_mscale = c.yarn_mscale_all_dim = 1.0;
  c.q_lora_rank = 1536;
  c.kv_lora_rank = 512;
  c.qk_nope_head_dim = 128;
  c.qk_rope_head_dim = 64;
  c.v_head_dim = 128;
  c.first_k_dense_replace = 3;
  c.moe_intermediate_size = 2048;
  c.n_routed_experts = 256;
  c.n_experts_per_tok = 8;
  c.n_shared_experts = 1;
  c.n_group = 8;
  c.topk_group = 4;
  c.scoring_func = "sigmoid";
  c.topk_method = "noaux_tc";
  c.norm_topk_prob = true;
  c.routed_scaling_factor = 2.5;
  c.n_mtp_layers = 1;
  c.bos_token_id = 0;
  c.eos_token_id = 1;
  return c;
}

ModelConfig v2_lite_config() {
  ModelConfig c = deepseek_r1_config();
  c.arch = Arch::kDeepSeekV2;
  c.vocab_size = 102400;
  c.hidden_size = 2048;
  c.intermediate_size = 10944;
  c.n_layers = 27;
  c.n_heads = c.n_kv_heads = 16;
  c.yarn_mscale = c.yarn_mscale_all_dim = 0.707;
  c.q_lora_rank = 0;
  c.first_k_dense_replace = 1;
  c.moe_intermediate_size = 1408;
  c.n_routed_experts = 64;
  c.n_experts_per_tok = 6;
  c.n_shared_experts = 2;
  c.n_group = c.topk_group = 1;
  c.scoring_func = "softmax";
  c.topk_method = "greedy";
  c.norm_topk_prob = false;
  c.routed_scaling_factor = 1.0;
  c.n_mtp_layers = 0;
  c.bos_token_id = 100000;
  c.eos_token_id = 100001;
  return c;
}

ModelConfig dense_config(Arch arch, int64_t vocab, int64_t d, int64_t ff, int64_t layers,
                         int64_t heads, int64_t kv_heads, double theta, double eps,
                         int64_t max_pos) {
  ModelConfig c;
  c.arch = arch;
  c.vocab_size = vocab;
  c.hidden_size = d;
  c.intermediate_size = ff;
  c.n_layers = layers;
  c.n_heads = heads;
  c.n_kv_heads = kv_heads;
  c.head_dim = d / heads;
  c.rope_theta = theta;
  c.rms_norm_eps = eps;
  c.max_position = max_pos;
  c.qkv_bias = arch == Arch::kQwen2;
  if (arch == Arch::kLlama) {
    c.rope_scaling = RopeScaling::kLlama3;
    c.rope_factor = 8;
    c.rope_original_max_position = 8192;
    c.llama3_low_freq_factor = 1;
    c.llama3_high_freq_factor = 4;
  }
  return c;
}

constexpr int64_t kTinyVocab = 512;

ModelConfig tiny_config(Arch arch) {
  if (arch == Arch::kQwen2)
    return dense_config(arch, kTinyVocab, 256, 512, 2, 4, 2, 10000, 1e-6, 4096);
  if (arch == Arch::kLlama)
    return dense_config(arch, kTinyVocab, 256, 512, 2, 4, 2, 500000, 1e-5, 131072);
  ModelConfig c = arch == Arch::kDeepSeekV3 ? deepseek_r1_config() : v2_lite_config();
  c.vocab_size = kTinyVocab;
  c.bos_token_id = c.eos_token_id = -1;  // set from the test vocabulary
  c.hidden_size = 256;
  c.intermediate_size = 512;
  c.n_heads = c.n_kv_heads = 4;
  c.kv_lora_rank = 64;
  c.qk_nope_head_dim = 32;
  c.qk_rope_head_dim = 16;
  c.v_head_dim = 32;
  c.moe_intermediate_size = 64;
  c.max_position = 4096;
  // Short enough that test prompts pass it and YaRN's blended frequencies are used.
  c.rope_original_max_position = 32;
  c.first_k_dense_replace = 1;
  if (arch == Arch::kDeepSeekV3) {
    c.n_layers = 3;
    c.q_lora_rank = 128;
    c.n_routed_experts = 16;
    c.n_experts_per_tok = 4;
    c.n_group = 4;
    c.topk_group = 2;
  } else {
    c.n_layers = 2;
    c.n_routed_experts = 8;
    c.n_experts_per_tok = 2;
  }
  return c;
}

struct Preset {
  const char* name;
  bool any_arch;
  Arch arch;
};
constexpr Preset kPresets[] = {
    {"tiny", true, Arch::kDeepSeekV3},
    {"v2-lite", false, Arch::kDeepSeekV2},
    {"r1-distill-qwen-1.5b", false, Arch::kQwen2},
    {"r1-distill-llama-8b", false, Arch::kLlama},
    {"r1-reduced", false, Arch::kDeepSeekV3},
};

const Preset& find_preset(const std::string& shape) {
  for (const Preset& p : kPresets)
    if (shape == p.name) return p;
  std::string list;
  for (const Preset& p : kPresets) list += std::string(list.empty() ? "" : ", ") + p.name;
  throw Error("unknown shape '" + shape + "' (choose " + list + ")");
}

}  // namespace

std::vector<std::string> test_model_shapes() {
  std::vector<std::string> out;
  for (const Preset& p : kPresets) out.push_back(p.name);
  return out;
}

Arch test_model_default_arch(const std::string& shape) {
  const Preset& p = find_preset(shape);
  if (p.any_arch) throw Error("shape '" + shape + "' needs --arch");
  return p.arch;
}

ModelConfig test_model_config(const std::string& shape, Arch arch) {
  const Preset& p = find_preset(shape);
  if (!p.any_arch && p.arch != arch)
    throw Error("shape '" + shape + "' is a " + arch_name(p.arch) + " model, not " +
                arch_name(arch));
  ModelConfig c;
  if (shape == "tiny") {
    c = tiny_config(arch);
  } else if (shape == "v2-lite") {
    c = v2_lite_config();
  } else if (shape == "r1-distill-qwen-1.5b") {
    c = dense_config(Arch::kQwen2, 151936, 1536, 8960, 28, 12, 2, 10000, 1e-6, 131072);
  } else if (shape == "r1-distill-llama-8b") {
    c = dense_config(Arch::kLlama, 128256, 4096, 14336, 32, 32, 8, 500000, 1e-5, 131072);
  } else {  // r1-reduced
    c = deepseek_r1_config();
    c.n_layers = 2;
    c.first_k_dense_replace = 1;
    c.n_mtp_layers = 0;
  }
  c.validate();
  return c;
}

// ---- Weight values ---------------------------------------------------------------------------

namespace {

// Values are uniform with the variance a trained model roughly has: norms near 1, embeddings
// of unit variance, projections scaled by 1/sqrt(fan_in) so activations stay of order one.
void hf_row(const TensorSpec& hf, uint64_t seed, uint64_t row, float* out) {
  const uint64_t cols = hf.shape.back();
  Rng rng(hash_name(hf.name, seed) ^ splitmix64(row + 0x51ed27ull));
  switch (hf.role) {
    case TensorRole::kNorm:
      for (uint64_t i = 0; i < cols; ++i) out[i] = 1.0f + 0.1f * rng.uniform_pm1();
      return;
    case TensorRole::kBias:
      for (uint64_t i = 0; i < cols; ++i) out[i] = 0.1f * rng.uniform_pm1();
      return;
    case TensorRole::kEmbedding:
      for (uint64_t i = 0; i < cols; ++i) out[i] = 1.7320508f * rng.uniform_pm1();
      return;
    default: {
      const float a = std::sqrt(3.0f / static_cast<float>(cols));
      for (uint64_t i = 0; i < cols; ++i) out[i] = a * rng.uniform_pm1();
    }
  }
}

HfRowSource seeded_rows(uint64_t seed) {
  return [seed](const TensorSpec& hf, uint64_t row, float* out) { hf_row(hf, seed, row, out); };
}

std::vector<PlannedTensor> plan_of(const TestModelOptions& o) {
  PlanOptions p;
  p.config = o.config;
  p.weights = o.weights;
  p.format = o.format;
  p.legacy_kv_b = o.legacy_kv_b;
  p.include_mtp = o.include_mtp;
  return plan_tensors(p, seeded_rows(o.seed));
}

std::vector<std::string> write_gguf(const TestModelOptions& o, const std::string& out) {
  const ModelConfig& c = o.config;
  const TestVocab vocab = make_test_vocab(c.arch, c.vocab_size);
  std::vector<std::pair<std::string, gguf::Value>> kvs = gguf_config_kvs(c, o.legacy_kv_b);
  kvs.emplace_back("general.name",
                   gguf::Value::str(std::string("r1.cpp test model (") + arch_name(c.arch) +
                                    ", seed " + std::to_string(o.seed) + ")"));
  kvs.emplace_back("general.file_type", gguf::Value::u32(o.weights.llama_file_type()));
  for (auto& kv : test_vocab_gguf_kvs(vocab)) kvs.push_back(std::move(kv));
  return write_gguf_model(out, kvs, plan_of(o), o.split_count, o.progress);
}

void write_json(const std::string& path, const nlohmann::json& j) {
  std::ofstream f(path, std::ios::binary);
  if (!f) throw Error(path + ": cannot write");
  f << j.dump(2) << "\n";
  if (!f) throw Error(path + ": write failed");
}

constexpr uint64_t kShardBytes = 4ull << 30;

std::vector<std::string> write_safetensors(const TestModelOptions& o, const std::string& dir) {
  const ModelConfig& c = o.config;
  fs::create_directories(dir);
  const std::vector<PlannedTensor> plan = plan_of(o);
  const TestVocab vocab = make_test_vocab(c.arch, c.vocab_size);

  // Shards of at most ~4 GiB, in tensor order.
  std::vector<std::vector<const PlannedTensor*>> shards(1);
  uint64_t in_shard = 0, total = 0;
  for (const auto& t : plan) {
    uint64_t b = t.bytes();
    if (in_shard > 0 && in_shard + b > kShardBytes) {
      shards.emplace_back();
      in_shard = 0;
    }
    shards.back().push_back(&t);
    in_shard += b;
    total += b;
  }
  Progress progress("writing", total, o.progress);
  uint64_t done = 0;
  std::vector<std::string> paths;
  std::map<std::string, std::string> weight_map;
  for (size_t si = 0; si < shards.size(); ++si) {
    char name[64];
    if (shards.size() == 1)
      std::snprintf(name, sizeof name, "model.safetensors");
    else
      std::snprintf(name, sizeof name, "model-%05zu-of-%05zu.safetensors", si + 1, shards.size());
    const std::string path = dir + "/" + name;
    safetensors::Writer w(path);
    w.add_metadata("format", "pt");
    for (const PlannedTensor* t : shards[si]) {
      w.add_tensor(t->spec.name, t->dtype, t->spec.shape);
      weight_map[t->spec.name] = name;
      if (t->dtype == DType::F8_E4M3) {
        w.add_tensor(t->spec.name + "_scale_inv", DType::F32,
                     {(t->spec.shape[0] + 127) / 128, (t->spec.shape[1] + 127) / 128});
        weight_map[t->spec.name + "_scale_inv"] = name;
      }
    }
    w.write_header();
    const WriteFn write = [&](const void* p, uint64_t n) { w.write_data(p, n); };
    for (const PlannedTensor* t : shards[si]) {
      std::vector<float> scales = stream_tensor(*t, write, progress, done);
      if (!scales.empty()) w.write_data(scales.data(), scales.size() * sizeof(float));
    }
    w.finish();
    paths.push_back(path);
  }
  if (shards.size() > 1) {
    safetensors::write_index(dir, weight_map, total);
    paths.push_back(dir + "/model.safetensors.index.json");
  }
  progress.finish();

  nlohmann::json cfg = config_to_hf_json(c);
  cfg["bos_token_id"] = vocab.bos;
  cfg["eos_token_id"] = vocab.eos;
  if (o.weights.base == DType::F8_E4M3)
    cfg["quantization_config"] = {{"activation_scheme", "dynamic"},
                                  {"fmt", "e4m3"},
                                  {"quant_method", "fp8"},
                                  {"weight_block_size", {128, 128}}};
  if (!o.include_mtp) cfg["num_nextn_predict_layers"] = 0;
  write_json(dir + "/config.json", cfg);
  write_json(dir + "/generation_config.json", {{"bos_token_id", vocab.bos},
                                               {"eos_token_id", vocab.eos},
                                               {"do_sample", true},
                                               {"temperature", 0.6},
                                               {"top_p", 0.95}});
  write_json(dir + "/tokenizer.json", test_vocab_tokenizer_json(vocab));
  write_json(dir + "/tokenizer_config.json", test_vocab_tokenizer_config(vocab));
  for (const char* f :
       {"config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json"})
    paths.push_back(dir + "/" + f);
  return paths;
}

}  // namespace

std::vector<std::string> write_test_model(const TestModelOptions& opt, const std::string& out) {
  TestModelOptions o = opt;
  // The tokenizer fixes bos/eos ids.
  const TestVocab vocab = make_test_vocab(o.config.arch, o.config.vocab_size);
  o.config.bos_token_id = vocab.bos;
  o.config.eos_token_id = vocab.eos;
  if (!o.include_mtp) o.config.n_mtp_layers = 0;
  o.config.validate();
  if (o.format == FileKind::kGguf) return write_gguf(o, out);
  if (o.split_count > 1) throw Error("--split is for GGUF output");
  return write_safetensors(o, out);
}

}  // namespace r1
