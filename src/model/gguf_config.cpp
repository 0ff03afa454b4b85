#include "model/gguf_config.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "core/error.h"
#include "model/tensors.h"

namespace r1 {

namespace {

// The double with the shortest decimal form that rounds to `f` (1e-6f -> 1e-06, not
// 9.99999997e-07), so values stored as f32 read back as the numbers that were written.
double shortest_double(float f) {
  char buf[32];
  for (int prec = 1; prec <= 9; ++prec) {
    std::snprintf(buf, sizeof buf, "%.*g", prec, static_cast<double>(f));
    double d = std::strtod(buf, nullptr);
    if (static_cast<float>(d) == f) return d;
  }
  return f;
}

// Typed access to "<arch>.<key>" with messages naming the key.
class KeyReader {
 public:
  KeyReader(const gguf::File& f, std::string arch) : f_(f), prefix_(std::move(arch) + ".") {}

  const gguf::Value* find(const std::string& key) const { return f_.find(prefix_ + key); }
  bool has(const std::string& key) const { return find(key) != nullptr; }

  int64_t integer(const std::string& key) const {
    const gguf::Value* v = find(key);
    if (v == nullptr) throw Error("GGUF: missing required key '" + prefix_ + key + "'");
    return integer_of(*v, prefix_ + key);
  }
  int64_t integer(const std::string& key, int64_t dflt) const {
    const gguf::Value* v = find(key);
    return v ? integer_of(*v, prefix_ + key) : dflt;
  }
  double number(const std::string& key, double dflt) const {
    const gguf::Value* v = find(key);
    if (v == nullptr) return dflt;
    auto d = v->as_float();
    if (!d || !std::isfinite(*d))
      throw Error("GGUF: key '" + prefix_ + key + "' must be a finite number");
    return v->type == gguf::ValueType::F32 ? shortest_double(static_cast<float>(*d)) : *d;
  }
  bool boolean(const std::string& key, bool dflt) const {
    const gguf::Value* v = find(key);
    if (v == nullptr) return dflt;
    auto b = v->as_bool();
    if (!b) throw Error("GGUF: key '" + prefix_ + key + "' must be a bool");
    return *b;
  }
  std::string string(const std::string& key, const std::string& dflt) const {
    const gguf::Value* v = find(key);
    if (v == nullptr) return dflt;
    if (!v->as_string()) throw Error("GGUF: key '" + prefix_ + key + "' must be a string");
    return *v->as_string();
  }

  static int64_t integer_of(const gguf::Value& v, const std::string& key) {
    auto i = v.as_int();
    if (!i || v.type == gguf::ValueType::F32 || v.type == gguf::ValueType::F64 ||
        v.type == gguf::ValueType::BOOL)
      throw Error("GGUF: key '" + key + "' must be an integer");
    return *i;
  }

 private:
  const gguf::File& f_;
  std::string prefix_;
};

int64_t global_int(const gguf::File& f, const std::string& key, int64_t dflt) {
  const gguf::Value* v = f.find(key);
  return v ? KeyReader::integer_of(*v, key) : dflt;
}

}  // namespace

ModelConfig config_from_gguf(const gguf::File& f) {
  const gguf::Value* a = f.find("general.architecture");
  if (a == nullptr || a->as_string() == nullptr)
    throw Error("GGUF: missing string key 'general.architecture'");
  const std::string arch = *a->as_string();
  KeyReader r(f, arch);
  ModelConfig c;
  if (arch == "deepseek2") {
    // V3/R1 route with sigmoid scores (expert_gating_func 2); V2 uses softmax (1 or absent).
    // Files without the key: V3 is recognised by its router correction bias.
    bool sigmoid =
        r.has("expert_gating_func")
            ? r.integer("expert_gating_func") == 2
            : f.find_tensor("blk." + std::to_string(r.integer("leading_dense_block_count", 0)) +
                            ".exp_probs_b.bias") != nullptr;
    c.arch = sigmoid ? Arch::kDeepSeekV3 : Arch::kDeepSeekV2;
  } else if (arch == "qwen2") {
    c.arch = Arch::kQwen2;
  } else if (arch == "llama") {
    c.arch = Arch::kLlama;
  } else {
    throw Error("GGUF: unsupported general.architecture '" + arch +
                "' (supported: deepseek2, qwen2, llama)");
  }

  c.hidden_size = r.integer("embedding_length");
  c.n_layers = r.integer("block_count");
  c.n_heads = r.integer("attention.head_count");
  c.n_kv_heads = r.integer("attention.head_count_kv", c.n_heads);
  c.intermediate_size = r.integer("feed_forward_length", 0);
  c.max_position = r.integer("context_length", 4096);
  c.rms_norm_eps = r.number("attention.layer_norm_rms_epsilon", 1e-6);
  c.rope_theta = r.number("rope.freq_base", 10000.0);
  c.bos_token_id = global_int(f, "tokenizer.ggml.bos_token_id", -1);
  c.eos_token_id = global_int(f, "tokenizer.ggml.eos_token_id", -1);

  // Vocabulary: the key, else the token list, else the embedding rows.
  c.vocab_size = r.integer("vocab_size", 0);
  if (c.vocab_size == 0) {
    if (const gguf::Value* t = f.find("tokenizer.ggml.tokens"); t && t->as_array())
      c.vocab_size = static_cast<int64_t>(t->as_array()->items.size());
    else if (const gguf::TensorInfo* e = f.find_tensor("token_embd.weight"); e && e->ne.size() == 2)
      c.vocab_size = static_cast<int64_t>(e->ne[1]);
  }
  c.tie_word_embeddings =
      f.find_tensor("output.weight") == nullptr && f.find_tensor("token_embd.weight") != nullptr;

  const std::string scaling = r.string("rope.scaling.type", "none");
  if (scaling == "yarn") {
    c.rope_scaling = RopeScaling::kYarn;
    c.rope_factor = r.number("rope.scaling.factor", 1.0);
    c.rope_original_max_position = r.integer("rope.scaling.original_context_length", 0);
    c.yarn_beta_fast = r.number("rope.scaling.yarn_beta_fast", 32.0);
    c.yarn_beta_slow = r.number("rope.scaling.yarn_beta_slow", 1.0);
    // llama.cpp stores 0.1 * mscale_all_dim; DeepSeek's mscale equals mscale_all_dim.
    c.yarn_mscale_all_dim = r.number("rope.scaling.yarn_log_multiplier", 0.0) / 0.1;
    c.yarn_mscale = c.yarn_mscale_all_dim;
  } else if (scaling != "none" && scaling != "linear") {
    throw Error("GGUF: unsupported " + arch + ".rope.scaling.type '" + scaling + "'");
  }

  if (c.is_deepseek()) {
    c.q_lora_rank = r.integer("attention.q_lora_rank", 0);
    c.kv_lora_rank = r.integer("attention.kv_lora_rank");
    c.qk_rope_head_dim = r.integer("rope.dimension_count");
    if (r.has("attention.key_length_mla")) {  // new files: MQA over the latent
      c.qk_nope_head_dim = r.integer("attention.key_length_mla") - c.qk_rope_head_dim;
      c.v_head_dim = r.integer("attention.value_length_mla");
    } else {
      c.qk_nope_head_dim = r.integer("attention.key_length") - c.qk_rope_head_dim;
      c.v_head_dim = r.integer("attention.value_length");
    }
    c.n_kv_heads = c.n_heads;
    c.first_k_dense_replace = r.integer("leading_dense_block_count", 0);
    c.moe_intermediate_size = r.integer("expert_feed_forward_length", 0);
    c.n_routed_experts = r.integer("expert_count", 0);
    c.n_experts_per_tok = r.integer("expert_used_count", 0);
    c.n_shared_experts = r.integer("expert_shared_count", 0);
    c.routed_scaling_factor = r.number("expert_weights_scale", 1.0);
    c.norm_topk_prob = r.boolean("expert_weights_norm", false);
    c.n_group = r.integer("expert_group_count", 1);
    c.topk_group = r.integer("expert_group_used_count", 1);
    c.n_mtp_layers = r.integer("nextn_predict_layers", 0);
    if (c.n_mtp_layers < 0 || c.n_mtp_layers >= c.n_layers)
      throw Error("GGUF: " + arch + ".nextn_predict_layers = " + std::to_string(c.n_mtp_layers) +
                  " must be below block_count = " + std::to_string(c.n_layers));
    c.n_layers -= c.n_mtp_layers;  // block_count includes the MTP blocks
    if (c.arch == Arch::kDeepSeekV3) {
      c.scoring_func = "sigmoid";
      c.topk_method = "noaux_tc";
    } else {
      c.scoring_func = "softmax";
      c.topk_method = c.n_group > 1 ? "group_limited_greedy" : "greedy";
    }
  } else {
    c.head_dim = r.integer("attention.key_length", c.hidden_size / std::max<int64_t>(c.n_heads, 1));
    c.qkv_bias = f.find_tensor("blk.0.attn_q.bias") != nullptr;
    if (c.arch == Arch::kLlama && f.find_tensor("rope_freqs.weight") != nullptr) {
      // Llama-3.1 frequency factors are baked into a tensor; the factors below are descriptive.
      c.rope_scaling = RopeScaling::kLlama3;
      c.rope_factor = 8.0;
      c.rope_original_max_position = 8192;
    }
  }
  c.validate();
  return c;
}

std::vector<std::pair<std::string, gguf::Value>> gguf_config_kvs(const ModelConfig& c,
                                                                 bool legacy_mla) {
  using V = gguf::Value;
  const std::string a = gguf_arch_name(c);
  std::vector<std::pair<std::string, V>> kv;
  auto put = [&](const std::string& k, V v) { kv.emplace_back(a + "." + k, std::move(v)); };
  auto u32 = [](int64_t x) { return V::u32(static_cast<uint32_t>(x)); };
  auto f32 = [](double x) { return V::f32(static_cast<float>(x)); };
  kv.emplace_back("general.architecture", V::str(a));
  put("context_length", u32(c.max_position));
  put("embedding_length", u32(c.hidden_size));
  // llama.cpp counts the MTP blocks in block_count (the last nextn_predict_layers of them).
  put("block_count", u32(c.n_layers + c.n_mtp_layers));
  put("feed_forward_length", u32(c.intermediate_size));
  put("attention.head_count", u32(c.n_heads));
  put("attention.layer_norm_rms_epsilon", f32(c.rms_norm_eps));
  put("rope.freq_base", f32(c.rope_theta));
  put("vocab_size", u32(c.vocab_size));
  if (c.is_deepseek()) {
    if (legacy_mla) {
      put("attention.head_count_kv", u32(c.n_heads));
      put("attention.key_length", u32(c.qk_head_dim()));
      put("attention.value_length", u32(c.v_head_dim));
    } else {
      put("attention.head_count_kv", u32(1));
      put("attention.key_length", u32(c.kv_lora_rank + c.qk_rope_head_dim));
      put("attention.value_length", u32(c.kv_lora_rank));
      put("attention.key_length_mla", u32(c.qk_head_dim()));
      put("attention.value_length_mla", u32(c.v_head_dim));
    }
    if (c.q_lora_rank > 0) put("attention.q_lora_rank", u32(c.q_lora_rank));
    put("attention.kv_lora_rank", u32(c.kv_lora_rank));
    put("rope.dimension_count", u32(c.qk_rope_head_dim));
    if (c.rope_scaling == RopeScaling::kYarn) {
      put("rope.scaling.type", V::str("yarn"));
      put("rope.scaling.factor", f32(c.rope_factor));
      put("rope.scaling.original_context_length", u32(c.rope_original_max_position));
      put("rope.scaling.yarn_log_multiplier", f32(0.1 * c.yarn_mscale_all_dim));
      put("rope.scaling.yarn_beta_fast", f32(c.yarn_beta_fast));
      put("rope.scaling.yarn_beta_slow", f32(c.yarn_beta_slow));
    }
    put("leading_dense_block_count", u32(c.first_k_dense_replace));
    put("expert_feed_forward_length", u32(c.moe_intermediate_size));
    put("expert_count", u32(c.n_routed_experts));
    put("expert_used_count", u32(c.n_experts_per_tok));
    put("expert_shared_count", u32(c.n_shared_experts));
    put("expert_weights_scale", f32(c.routed_scaling_factor));
    put("expert_weights_norm", V::boolean(c.norm_topk_prob));
    put("expert_gating_func", u32(c.scoring_func == "sigmoid" ? 2 : 1));
    if (c.n_group > 1) {
      put("expert_group_count", u32(c.n_group));
      put("expert_group_used_count", u32(c.topk_group));
    }
    if (c.n_mtp_layers > 0) put("nextn_predict_layers", u32(c.n_mtp_layers));
  } else {
    put("attention.head_count_kv", u32(c.n_kv_heads));
    put("attention.key_length", u32(c.head_dim));
    put("attention.value_length", u32(c.head_dim));
    put("rope.dimension_count", u32(c.head_dim));
  }
  return kv;
}

}  // namespace r1
