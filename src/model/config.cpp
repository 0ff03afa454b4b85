#include "model/config.h"

#include <cmath>
#include <nlohmann/json.hpp>

#include "core/error.h"

namespace r1 {

namespace {
struct ArchName {
  Arch arch;
  const char* name;
};
constexpr ArchName kArchNames[] = {
    {Arch::kDeepSeekV3, "deepseek_v3"},
    {Arch::kDeepSeekV2, "deepseek_v2"},
    {Arch::kQwen2, "qwen2"},
    {Arch::kLlama, "llama"},
};

// Typed readers of config.json fields, with messages naming the field and the file.
class JsonReader {
 public:
  JsonReader(const nlohmann::json& j, const std::string& where) : j_(j), where_(where) {}

  bool has(const char* key) const { return j_.contains(key) && !j_[key].is_null(); }

  int64_t integer(const char* key) const {
    if (!has(key)) throw Error(where_ + ": missing required field '" + key + "'");
    return integer_of(j_[key], key);
  }
  int64_t integer(const char* key, int64_t dflt) const {
    return has(key) ? integer_of(j_[key], key) : dflt;
  }
  double number(const char* key, double dflt) const {
    if (!has(key)) return dflt;
    const auto& v = j_[key];
    if (!v.is_number()) throw type_error(key, "a number");
    double d = v.get<double>();
    if (!std::isfinite(d)) throw Error(where_ + ": field '" + key + "' is not finite");
    return d;
  }
  bool boolean(const char* key, bool dflt) const {
    if (!has(key)) return dflt;
    if (!j_[key].is_boolean()) throw type_error(key, "true or false");
    return j_[key].get<bool>();
  }
  std::string string(const char* key, const std::string& dflt) const {
    if (!has(key)) return dflt;
    if (!j_[key].is_string()) throw type_error(key, "a string");
    return j_[key].get<std::string>();
  }

 private:
  int64_t integer_of(const nlohmann::json& v, const char* key) const {
    // Some configs give a list (eos_token_id: [1, 2]); the first is the primary id.
    if (v.is_array() && !v.empty()) return integer_of(v[0], key);
    if (!v.is_number_integer()) throw type_error(key, "an integer");
    return v.get<int64_t>();
  }
  Error type_error(const char* key, const char* want) const {
    return Error(where_ + ": field '" + key + "' must be " + want + ", got " + j_[key].dump());
  }
  const nlohmann::json& j_;
  const std::string& where_;
};

void require(bool ok, const std::string& what) {
  if (!ok) throw Error("invalid model configuration: " + what);
}
std::string kv(const char* name, int64_t v) {
  return std::string(name) + " = " + std::to_string(v);
}
}  // namespace

const char* arch_name(Arch a) {
  for (const auto& n : kArchNames)
    if (n.arch == a) return n.name;
  return "unknown";
}

Arch arch_from_name(const std::string& name) {
  for (const auto& n : kArchNames)
    if (name == n.name) return n.arch;
  std::string list;
  for (const auto& n : kArchNames) list += std::string(list.empty() ? "" : ", ") + n.name;
  throw Error("unsupported architecture '" + name + "' (supported: " + list + ")");
}

bool ModelConfig::is_moe_layer(int64_t layer) const {
  if (!is_moe()) return false;
  return layer >= first_k_dense_replace && (layer % moe_layer_freq) == 0;
}

int64_t ModelConfig::n_moe_layers() const {
  int64_t n = 0;
  for (int64_t l = 0; l < n_layers; ++l) n += is_moe_layer(l) ? 1 : 0;
  return n;
}

constexpr int64_t kMaxDim = int64_t{1} << 20;  // far above any real model; guards overflow

void ModelConfig::validate() const {
  auto positive = [&](const char* name, int64_t v, int64_t max = kMaxDim) {
    require(v > 0 && v <= max, kv(name, v) + " (must be in 1.." + std::to_string(max) + ")");
  };
  positive("vocab_size", vocab_size, int64_t{1} << 24);
  positive("hidden_size", hidden_size);
  positive("num_hidden_layers", n_layers, 4096);
  positive("num_attention_heads", n_heads, 4096);
  require(rms_norm_eps > 0 && rms_norm_eps < 1,
          "rms_norm_eps = " + std::to_string(rms_norm_eps) + " (must be in (0, 1))");
  require(rope_theta > 0, "rope_theta must be > 0");
  require(max_position > 0, kv("max_position_embeddings", max_position) + " (must be > 0)");
  require(bos_token_id < vocab_size && eos_token_id < vocab_size,
          kv("bos_token_id", bos_token_id) + ", " + kv("eos_token_id", eos_token_id) +
              " must be below " + kv("vocab_size", vocab_size));
  if (rope_scaling != RopeScaling::kNone) {
    require(rope_factor >= 1 && std::isfinite(rope_factor),
            "rope_scaling.factor = " + std::to_string(rope_factor) + " (must be >= 1)");
    require(rope_original_max_position > 0,
            kv("rope_scaling.original_max_position_embeddings", rope_original_max_position) +
                " (must be > 0)");
  }
  if (rope_scaling == RopeScaling::kYarn)
    require(yarn_beta_fast > yarn_beta_slow && yarn_beta_slow > 0,
            "rope_scaling beta_fast must exceed beta_slow > 0");

  if (is_deepseek()) {
    positive("kv_lora_rank", kv_lora_rank);
    positive("qk_nope_head_dim", qk_nope_head_dim);
    positive("qk_rope_head_dim", qk_rope_head_dim);
    positive("v_head_dim", v_head_dim);
    require(qk_rope_head_dim % 2 == 0,
            kv("qk_rope_head_dim", qk_rope_head_dim) + " (must be even)");
    require(q_lora_rank >= 0 && q_lora_rank <= kMaxDim, kv("q_lora_rank", q_lora_rank));
    require(first_k_dense_replace >= 0 && first_k_dense_replace <= n_layers,
            kv("first_k_dense_replace", first_k_dense_replace) + " (must be in 0.." +
                std::to_string(n_layers) + " = num_hidden_layers)");
    if (first_k_dense_replace > 0 || n_routed_experts == 0)
      positive("intermediate_size", intermediate_size);
    require(n_routed_experts >= 0 && n_routed_experts <= 4096,
            kv("n_routed_experts", n_routed_experts));
    if (n_routed_experts > 0) {
      positive("moe_intermediate_size", moe_intermediate_size);
      positive("moe_layer_freq", moe_layer_freq, n_layers);
      require(n_experts_per_tok >= 1 && n_experts_per_tok <= n_routed_experts,
              kv("num_experts_per_tok", n_experts_per_tok) + " must be in 1.." +
                  kv("n_routed_experts", n_routed_experts));
      require(n_shared_experts >= 0 && n_shared_experts <= 64,
              kv("n_shared_experts", n_shared_experts));
      require(n_group >= 1 && n_routed_experts % n_group == 0,
              kv("n_group", n_group) + " must divide " + kv("n_routed_experts", n_routed_experts));
      require(topk_group >= 1 && topk_group <= n_group,
              kv("topk_group", topk_group) + " must be in 1.." + kv("n_group", n_group));
      require(
          n_experts_per_tok <= topk_group * (n_routed_experts / n_group),
          kv("num_experts_per_tok", n_experts_per_tok) +
              " exceeds the experts in the kept groups (topk_group * n_routed_experts / n_group)");
      require(scoring_func == "softmax" || scoring_func == "sigmoid",
              "scoring_func = '" + scoring_func + "' (must be softmax or sigmoid)");
      require(
          topk_method == "greedy" || topk_method == "group_limited_greedy" ||
              topk_method == "noaux_tc",
          "topk_method = '" + topk_method + "' (must be greedy, group_limited_greedy or noaux_tc)");
      require(topk_method != "noaux_tc" || scoring_func == "sigmoid",
              "topk_method noaux_tc needs scoring_func sigmoid");
      require(std::isfinite(routed_scaling_factor) && routed_scaling_factor > 0,
              "routed_scaling_factor must be a positive number");
    }
    require(n_mtp_layers >= 0 && n_mtp_layers <= 16, kv("num_nextn_predict_layers", n_mtp_layers));
  } else {
    positive("intermediate_size", intermediate_size);
    positive("num_key_value_heads", n_kv_heads, 4096);
    require(n_heads % n_kv_heads == 0, kv("num_attention_heads", n_heads) +
                                           " must be a multiple of " +
                                           kv("num_key_value_heads", n_kv_heads));
    positive("head_dim", head_dim, 4096);
    require(head_dim % 2 == 0, kv("head_dim", head_dim) + " (must be even for RoPE)");
  }
}

ModelConfig config_from_hf_json(const nlohmann::json& j, const std::string& where) {
  if (!j.is_object()) throw Error(where + ": not a JSON object");
  JsonReader r(j, where);
  ModelConfig c;
  c.arch = arch_from_name(r.string("model_type", ""));
  c.vocab_size = r.integer("vocab_size");
  c.hidden_size = r.integer("hidden_size");
  c.intermediate_size = r.integer("intermediate_size", 0);
  c.n_layers = r.integer("num_hidden_layers");
  c.n_heads = r.integer("num_attention_heads");
  c.n_kv_heads = r.integer("num_key_value_heads", c.n_heads);
  c.rms_norm_eps = r.number("rms_norm_eps", 1e-6);
  c.rope_theta = r.number("rope_theta", 10000.0);
  c.max_position = r.integer("max_position_embeddings", 4096);
  c.tie_word_embeddings = r.boolean("tie_word_embeddings", false);
  c.bos_token_id = r.integer("bos_token_id", -1);
  c.eos_token_id = r.integer("eos_token_id", -1);
  c.qkv_bias = c.arch == Arch::kQwen2 ? true : r.boolean("attention_bias", false);
  if (c.n_heads > 0) c.head_dim = r.integer("head_dim", c.hidden_size / c.n_heads);

  if (j.contains("rope_scaling") && j["rope_scaling"].is_object()) {
    JsonReader rs(j["rope_scaling"], where);
    std::string type = rs.string("type", rs.string("rope_type", "default"));
    if (type == "yarn") {
      c.rope_scaling = RopeScaling::kYarn;
      c.yarn_beta_fast = rs.number("beta_fast", 32.0);
      c.yarn_beta_slow = rs.number("beta_slow", 1.0);
      c.yarn_mscale = rs.number("mscale", 1.0);
      c.yarn_mscale_all_dim = rs.number("mscale_all_dim", 0.0);
    } else if (type == "llama3") {
      c.rope_scaling = RopeScaling::kLlama3;
      c.llama3_low_freq_factor = rs.number("low_freq_factor", 1.0);
      c.llama3_high_freq_factor = rs.number("high_freq_factor", 4.0);
    } else if (type != "default") {
      throw Error(where + ": unsupported rope_scaling type '" + type + "'");
    }
    c.rope_factor = rs.number("factor", 1.0);
    c.rope_original_max_position = rs.integer("original_max_position_embeddings", 0);
  } else if (j.contains("rope_scaling") && !j["rope_scaling"].is_null()) {
    throw Error(where + ": field 'rope_scaling' must be an object or null");
  }

  if (c.is_deepseek()) {
    c.q_lora_rank = r.integer("q_lora_rank", 0);
    c.kv_lora_rank = r.integer("kv_lora_rank");
    c.qk_nope_head_dim = r.integer("qk_nope_head_dim");
    c.qk_rope_head_dim = r.integer("qk_rope_head_dim");
    c.v_head_dim = r.integer("v_head_dim");
    c.first_k_dense_replace = r.integer("first_k_dense_replace", 0);
    c.moe_layer_freq = r.integer("moe_layer_freq", 1);
    c.moe_intermediate_size = r.integer("moe_intermediate_size", 0);
    c.n_routed_experts = r.integer("n_routed_experts", 0);
    c.n_experts_per_tok = r.integer("num_experts_per_tok", 0);
    c.n_shared_experts = r.integer("n_shared_experts", 0);
    c.n_group = r.integer("n_group", 1);
    c.topk_group = r.integer("topk_group", 1);
    c.scoring_func = r.string("scoring_func", "softmax");
    c.topk_method = r.string("topk_method", "greedy");
    c.norm_topk_prob = r.boolean("norm_topk_prob", false);
    c.routed_scaling_factor = r.number("routed_scaling_factor", 1.0);
    c.n_mtp_layers = r.integer("num_nextn_predict_layers", 0);
  }
  c.validate();
  return c;
}

nlohmann::json config_to_hf_json(const ModelConfig& c) {
  nlohmann::json j;
  static const char* kClass[] = {"DeepseekV3ForCausalLM", "DeepseekV2ForCausalLM",
                                 "Qwen2ForCausalLM", "LlamaForCausalLM"};
  j["architectures"] = {kClass[static_cast<int>(c.arch)]};
  j["model_type"] = arch_name(c.arch);
  j["vocab_size"] = c.vocab_size;
  j["hidden_size"] = c.hidden_size;
  j["intermediate_size"] = c.intermediate_size;
  j["num_hidden_layers"] = c.n_layers;
  j["num_attention_heads"] = c.n_heads;
  j["num_key_value_heads"] = c.n_kv_heads;
  j["rms_norm_eps"] = c.rms_norm_eps;
  j["rope_theta"] = c.rope_theta;
  j["max_position_embeddings"] = c.max_position;
  j["tie_word_embeddings"] = c.tie_word_embeddings;
  j["bos_token_id"] = c.bos_token_id;
  j["eos_token_id"] = c.eos_token_id;
  j["hidden_act"] = "silu";
  j["torch_dtype"] = "bfloat16";
  if (c.arch == Arch::kLlama) {
    j["attention_bias"] = false;
    j["head_dim"] = c.head_dim;
  }
  if (c.rope_scaling == RopeScaling::kYarn) {
    j["rope_scaling"] = {{"type", "yarn"},
                         {"factor", c.rope_factor},
                         {"original_max_position_embeddings", c.rope_original_max_position},
                         {"beta_fast", c.yarn_beta_fast},
                         {"beta_slow", c.yarn_beta_slow},
                         {"mscale", c.yarn_mscale},
                         {"mscale_all_dim", c.yarn_mscale_all_dim}};
  } else if (c.rope_scaling == RopeScaling::kLlama3) {
    j["rope_scaling"] = {{"rope_type", "llama3"},
                         {"factor", c.rope_factor},
                         {"original_max_position_embeddings", c.rope_original_max_position},
                         {"low_freq_factor", c.llama3_low_freq_factor},
                         {"high_freq_factor", c.llama3_high_freq_factor}};
  } else {
    j["rope_scaling"] = nullptr;
  }
  if (c.is_deepseek()) {
    j["q_lora_rank"] = c.q_lora_rank > 0 ? nlohmann::json(c.q_lora_rank) : nlohmann::json(nullptr);
    j["kv_lora_rank"] = c.kv_lora_rank;
    j["qk_nope_head_dim"] = c.qk_nope_head_dim;
    j["qk_rope_head_dim"] = c.qk_rope_head_dim;
    j["v_head_dim"] = c.v_head_dim;
    j["first_k_dense_replace"] = c.first_k_dense_replace;
    j["moe_layer_freq"] = c.moe_layer_freq;
    j["moe_intermediate_size"] = c.moe_intermediate_size;
    j["n_routed_experts"] = c.n_routed_experts;
    j["num_experts_per_tok"] = c.n_experts_per_tok;
    j["n_shared_experts"] = c.n_shared_experts;
    j["n_group"] = c.n_group;
    j["topk_group"] = c.topk_group;
    j["scoring_func"] = c.scoring_func;
    j["topk_method"] = c.topk_method;
    j["norm_topk_prob"] = c.norm_topk_prob;
    j["routed_scaling_factor"] = c.routed_scaling_factor;
    j["num_nextn_predict_layers"] = c.n_mtp_layers;
    j["attention_bias"] = false;
  }
  return j;
}

double attention_scale(const ModelConfig& c) {
  int64_t d = c.is_deepseek() ? c.qk_head_dim() : c.head_dim;
  double scale = 1.0 / std::sqrt(static_cast<double>(d));
  if (c.is_deepseek() && c.rope_scaling == RopeScaling::kYarn && c.rope_factor > 1) {
    double m = 0.1 * c.yarn_mscale_all_dim * std::log(c.rope_factor) + 1.0;
    scale *= m * m;
  }
  return scale;
}

}  // namespace r1
