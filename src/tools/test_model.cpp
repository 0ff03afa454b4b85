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

using RowFn = std::function<void(uint64_t row, float* out)>;

struct OutTensor {
  TensorSpec spec;  // in the file's naming and shape
  DType dtype;
  RowFn row;
  uint64_t rows() const { return spec.n_elements() / spec.shape.back(); }
  uint64_t cols() const { return spec.shape.back(); }
};

class Planner {
 public:
  Planner(const TestModelOptions& o) : o_(o), c_(o.config) {
    for (const TensorSpec& s : expected_tensors(c_, TensorLayout::kHuggingFace)) hf_[s.name] = s;
  }

  std::vector<OutTensor> hf_plan() const {
    std::vector<OutTensor> out;
    for (const TensorSpec& s : expected_tensors(c_, TensorLayout::kHuggingFace)) {
      if (s.mtp && !o_.include_mtp) continue;
      out.push_back({s, type_of(s), direct(s.name)});
    }
    return out;
  }

  std::vector<OutTensor> gguf_plan() const {
    std::vector<OutTensor> out;
    const auto layout = o_.legacy_kv_b ? TensorLayout::kGgufLegacyKvB : TensorLayout::kGguf;
    for (const TensorSpec& s : expected_tensors(c_, layout)) {
      if (s.mtp && !o_.include_mtp) continue;
      out.push_back({s, type_of(s), gguf_rows(s)});
    }
    return out;
  }

 private:
  DType type_of(const TensorSpec& s) const {
    return tensor_type(s, o_.weights, o_.format, c_.n_layers);
  }

  const TensorSpec& hf(const std::string& name) const {
    auto it = hf_.find(name);
    R1_CHECK_MSG(it != hf_.end(), "no HF tensor %s", name.c_str());
    return it->second;
  }

  RowFn direct(const std::string& hf_name) const {
    const TensorSpec* s = &hf(hf_name);
    const uint64_t seed = o_.seed;
    return [s, seed](uint64_t r, float* out) { hf_row(*s, seed, r, out); };
  }

  RowFn gguf_rows(const TensorSpec& g) const {
    const std::string& n = g.name;
    const uint64_t seed = o_.seed;
    if (n == "rope_freqs.weight") {
      const Vec f = llama3_frequency_factors(c_);
      return [f](uint64_t, float* out) { std::copy(f.begin(), f.end(), out); };
    }
    const std::string layer = g.layer >= 0 ? std::to_string(g.layer) : "";
    const std::string hp = "model.layers." + layer + ".";
    auto ends = [&](const char* suf) {
      const size_t k = std::strlen(suf);
      return n.size() >= k && n.compare(n.size() - k, k, suf) == 0;
    };
    // Stacked routed experts: row (e, r) is row r of expert e.
    for (const char* kind : {"gate", "up", "down"}) {
      if (ends((std::string(".ffn_") + kind + "_exps.weight").c_str())) {
        std::vector<const TensorSpec*> experts;
        for (int64_t e = 0; e < c_.n_routed_experts; ++e)
          experts.push_back(
              &hf(hp + "mlp.experts." + std::to_string(e) + "." + kind + "_proj.weight"));
        const uint64_t per = g.shape[1];
        return [experts, per, seed](uint64_t r, float* out) {
          hf_row(*experts[r / per], seed, r % per, out);
        };
      }
    }
    const uint64_t nope = static_cast<uint64_t>(c_.qk_nope_head_dim);
    const uint64_t vdim = static_cast<uint64_t>(c_.v_head_dim);
    const uint64_t lora = static_cast<uint64_t>(c_.kv_lora_rank);
    if (ends(".attn_k_b.weight")) {
      // Row (h, c) holds W_UK^h column c: kv_b[h*(nope+v) + i][c] for i < nope.
      const TensorSpec* kvb = &hf(hp + "self_attn.kv_b_proj.weight");
      auto cache = std::make_shared<std::pair<int64_t, std::vector<float>>>(
          -1, std::vector<float>(nope * lora));
      return [kvb, seed, nope, vdim, lora, cache](uint64_t r, float* out) {
        const int64_t h = static_cast<int64_t>(r / lora);
        const uint64_t col = r % lora;
        if (cache->first != h) {
          for (uint64_t i = 0; i < nope; ++i)
            hf_row(*kvb, seed, h * (nope + vdim) + i, cache->second.data() + i * lora);
          cache->first = h;
        }
        for (uint64_t i = 0; i < nope; ++i) out[i] = cache->second[i * lora + col];
      };
    }
    if (ends(".attn_v_b.weight")) {
      const TensorSpec* kvb = &hf(hp + "self_attn.kv_b_proj.weight");
      return [kvb, seed, nope, vdim](uint64_t r, float* out) {
        hf_row(*kvb, seed, (r / vdim) * (nope + vdim) + nope + r % vdim, out);
      };
    }
    const std::string name = hf_name_of_gguf(n);
    R1_CHECK_MSG(!name.empty(), "no source for GGUF tensor %s", n.c_str());
    if (c_.arch == Arch::kLlama && (ends(".attn_q.weight") || ends(".attn_k.weight"))) {
      // llama.cpp stores Llama's q/k rows in interleaved-pair order: GGUF row h*hd + 2i + j is
      // HF row h*hd + j*hd/2 + i.
      const TensorSpec* s = &hf(name);
      const uint64_t hd = static_cast<uint64_t>(c_.head_dim);
      return [s, seed, hd](uint64_t r, float* out) {
        const uint64_t h = r / hd, k = r % hd, i = k / 2, j = k % 2;
        hf_row(*s, seed, h * hd + j * (hd / 2) + i, out);
      };
    }
    return direct(name);
  }

  const TestModelOptions& o_;
  const ModelConfig& c_;
  std::map<std::string, TensorSpec> hf_;
};

// ---- Streaming output ------------------------------------------------------------------------

// Generates and encodes rows [r0, r0 + n) of a tensor into `dst` using all cores.
void encode_rows(const OutTensor& t, uint64_t r0, uint64_t n, uint8_t* dst, uint64_t row_bytes) {
  const uint64_t cols = t.cols();
  auto work = [&](uint64_t a, uint64_t b) {
    std::vector<float> buf(cols);
    for (uint64_t r = a; r < b; ++r) {
      t.row(r0 + r, buf.data());
      quants::quantize_row(t.dtype, buf.data(), dst + r * row_bytes, static_cast<int64_t>(cols));
    }
  };
  const uint64_t threads = std::min<uint64_t>(std::max(1u, std::thread::hardware_concurrency()), n);
  // Row functions with caches (attn_k_b) must see rows in order: keep those single-threaded.
  if (threads <= 1 || t.spec.name.find("attn_k_b") != std::string::npos || n * cols < (1u << 16)) {
    work(0, n);
    return;
  }
  std::vector<std::thread> pool;
  for (uint64_t i = 0; i < threads; ++i)
    pool.emplace_back(work, n * i / threads, n * (i + 1) / threads);
  for (auto& th : pool) th.join();
}

constexpr uint64_t kChunkBytes = 32ull << 20;

// Streams every tensor of `plan` into `write` (bytes in declaration order).
template <typename WriteFn>
void stream_plain(const OutTensor& t, WriteFn&& write, Progress& progress, uint64_t& done) {
  const uint64_t row_bytes = *dtype_row_bytes(t.dtype, t.cols());
  const uint64_t rows = t.rows();
  const uint64_t chunk_rows = std::max<uint64_t>(1, kChunkBytes / std::max<uint64_t>(row_bytes, 1));
  std::vector<uint8_t> buf(std::min(rows, chunk_rows) * row_bytes);
  for (uint64_t r = 0; r < rows; r += chunk_rows) {
    const uint64_t n = std::min(chunk_rows, rows - r);
    encode_rows(t, r, n, buf.data(), row_bytes);
    write(buf.data(), n * row_bytes);
    done += n * row_bytes;
    progress.update(done);
  }
}

// FP8 with 128x128 block scales: returns the scales (row-major [ceil(M/128), ceil(N/128)]).
template <typename WriteFn>
std::vector<float> stream_fp8(const OutTensor& t, WriteFn&& write, Progress& progress,
                              uint64_t& done) {
  const uint64_t rows = t.rows(), cols = t.cols();
  const uint64_t scale_cols = (cols + 127) / 128;
  std::vector<float> scales;
  std::vector<float> block(128 * cols);
  std::vector<uint8_t> q(128 * cols);
  std::vector<float> s(scale_cols);
  for (uint64_t r = 0; r < rows; r += 128) {
    const uint64_t n = std::min<uint64_t>(128, rows - r);
    for (uint64_t i = 0; i < n; ++i) t.row(r + i, block.data() + i * cols);
    quants::quantize_fp8_blocks(block.data(), static_cast<int64_t>(n), static_cast<int64_t>(cols),
                                q.data(), s.data());
    scales.insert(scales.end(), s.begin(), s.end());
    write(q.data(), n * cols);
    done += n * cols;
    progress.update(done);
  }
  return scales;
}

uint64_t tensor_bytes(const OutTensor& t) {
  return *dtype_bytes(t.dtype, t.spec.n_elements());
}

std::vector<uint64_t> reversed(const std::vector<uint64_t>& v) {
  return {v.rbegin(), v.rend()};
}

std::vector<std::string> write_gguf(const TestModelOptions& o, const std::string& out) {
  const ModelConfig& c = o.config;
  Planner planner(o);
  const std::vector<OutTensor> plan = planner.gguf_plan();
  const TestVocab vocab = make_test_vocab(c.arch, c.vocab_size);

  std::vector<std::pair<std::string, gguf::Value>> kvs = gguf_config_kvs(c, o.legacy_kv_b);
  kvs.emplace_back("general.name",
                   gguf::Value::str(std::string("r1.cpp test model (") + arch_name(c.arch) +
                                    ", seed " + std::to_string(o.seed) + ")"));
  kvs.emplace_back("general.file_type", gguf::Value::str(o.weights.name()));
  for (auto& kv : test_vocab_gguf_kvs(vocab)) kvs.push_back(std::move(kv));

  uint64_t total = 0;
  for (const auto& t : plan) total += tensor_bytes(t);
  Progress progress("writing", total, o.progress);
  uint64_t done = 0;

  auto emit = [&](auto& writer) {
    for (auto& [k, v] : kvs) writer.add_kv(k, v);
    for (const auto& t : plan) writer.add_tensor(t.spec.name, reversed(t.spec.shape), t.dtype);
    writer.write_header();
    for (const auto& t : plan)
      stream_plain(
          t, [&](const void* p, uint64_t n) { writer.write_data(p, n); }, progress, done);
    writer.finish();
  };

  std::vector<std::string> paths;
  if (o.split_count > 1) {
    std::string stem = out;
    if (stem.size() > 5 && stem.compare(stem.size() - 5, 5, ".gguf") == 0)
      stem.resize(stem.size() - 5);
    gguf::SplitOptions so;
    so.max_tensors = static_cast<uint32_t>((plan.size() + o.split_count - 1) / o.split_count);
    gguf::SplitWriter w(stem, so);
    emit(w);
    paths = w.paths();
  } else {
    gguf::Writer w(out);
    emit(w);
    paths = {out};
  }
  progress.finish();
  return paths;
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
  Planner planner(o);
  const std::vector<OutTensor> plan = planner.hf_plan();
  const TestVocab vocab = make_test_vocab(c.arch, c.vocab_size);

  // Shards of at most ~4 GiB, in tensor order.
  std::vector<std::vector<const OutTensor*>> shards(1);
  uint64_t in_shard = 0, total = 0;
  for (const auto& t : plan) {
    uint64_t b = tensor_bytes(t);
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
    for (const OutTensor* t : shards[si]) {
      w.add_tensor(t->spec.name, t->dtype, t->spec.shape);
      weight_map[t->spec.name] = name;
      if (t->dtype == DType::F8_E4M3) {
        w.add_tensor(t->spec.name + "_scale_inv", DType::F32,
                     {(t->spec.shape[0] + 127) / 128, (t->spec.shape[1] + 127) / 128});
        weight_map[t->spec.name + "_scale_inv"] = name;
      }
    }
    w.write_header();
    auto write = [&](const void* p, uint64_t n) { w.write_data(p, n); };
    for (const OutTensor* t : shards[si]) {
      if (t->dtype == DType::F8_E4M3) {
        std::vector<float> scales = stream_fp8(*t, write, progress, done);
        w.write_data(scales.data(), scales.size() * sizeof(float));
      } else {
        stream_plain(*t, write, progress, done);
      }
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
