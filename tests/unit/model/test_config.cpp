// Configurations: published configs give the published sizes; inconsistent ones are rejected
// with a message naming the field.
#include <gtest/gtest.h>

#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "model/config.h"
#include "model/source.h"
#include "model/tensors.h"
#include "test_util.h"

namespace r1 {
namespace {

nlohmann::json load(const std::string& name) {
  std::ifstream f(test::source_dir() + "/tests/data/configs/" + name);
  return nlohmann::json::parse(f);
}

ModelConfig parse(const std::string& name) {
  return config_from_hf_json(load(name), name);
}

TEST(Config, R1PublishedSizes) {
  ModelConfig c = parse("deepseek-r1.json");
  EXPECT_EQ(c.arch, Arch::kDeepSeekV3);
  ModelStats s = model_stats(c);
  EXPECT_NEAR(s.total_params / 1e9, 671.0, 0.5);
  EXPECT_NEAR(s.active_params / 1e9, 37.0, 0.6);
  EXPECT_NEAR(s.mtp_params / 1e9, 14.0, 0.6);
  EXPECT_EQ(s.kv_values_per_token_per_layer, 576u);
  EXPECT_EQ(s.kv_bytes_per_token, 61u * 576 * kKvCacheValueBytes);  // 70,272 B in bf16
  EXPECT_NEAR(attention_scale(c), 0.1352337789, 1e-9);
  EXPECT_EQ(c.n_moe_layers(), 58);
}

TEST(Config, V2LitePublishedSizes) {
  ModelConfig c = parse("deepseek-v2-lite.json");
  EXPECT_EQ(c.arch, Arch::kDeepSeekV2);
  EXPECT_EQ(c.q_lora_rank, 0);
  ModelStats s = model_stats(c);
  EXPECT_NEAR(s.total_params / 1e9, 15.7, 0.1);
  EXPECT_NEAR(s.active_params / 1e9, 2.4, 0.1);
  EXPECT_EQ(s.kv_bytes_per_token, 27u * 576 * kKvCacheValueBytes);
  EXPECT_NEAR(attention_scale(c), 0.1147213868, 1e-6);
}

TEST(Config, DistillSizes) {
  ModelStats q = model_stats(parse("r1-distill-qwen-1.5b.json"));
  EXPECT_NEAR(q.total_params / 1e9, 1.78, 0.01);
  EXPECT_EQ(q.kv_bytes_per_token, 28u * 2 * 2 * 128 * kKvCacheValueBytes);
  ModelConfig l = parse("r1-distill-llama-8b.json");
  EXPECT_EQ(l.rope_scaling, RopeScaling::kLlama3);
  EXPECT_NEAR(model_stats(l).total_params / 1e9, 8.03, 0.01);
}

TEST(Config, R1TensorCounts) {
  ModelConfig c = parse("deepseek-r1.json");
  auto count = [&](TensorLayout l) {
    size_t n = 0;
    for (const auto& t : expected_tensors(c, l)) n += t.mtp ? 0 : 1;
    return n;
  };
  // Published legacy R1 GGUFs hold 1025 tensors; the split form adds one per layer.
  EXPECT_EQ(count(TensorLayout::kGgufLegacyKvB), 1025u);
  EXPECT_EQ(count(TensorLayout::kGguf), 1025u + 61u);
}

TEST(Config, ConfigOnlySourceDescribesModel) {
  ModelSource m = ModelSource::open(test::source_dir() + "/tests/data/configs/deepseek-r1.json");
  EXPECT_EQ(m.format(), SourceFormat::kConfigOnly);
  EXPECT_EQ(m.config().n_layers, 61);
  EXPECT_NO_THROW(m.validate_tensors());
}

// Each mutation of R1's config must be rejected with a message naming `field`.
struct BadCase {
  const char* field;
  std::function<void(nlohmann::json&)> mutate;
};

TEST(Config, RejectsInconsistentHyperParameters) {
  const std::vector<BadCase> cases = {
      {"topk_group", [](auto& j) { j["topk_group"] = 9; }},
      {"num_experts_per_tok", [](auto& j) { j["num_experts_per_tok"] = 300; }},
      {"n_group", [](auto& j) { j["n_group"] = 7; }},
      {"first_k_dense_replace", [](auto& j) { j["first_k_dense_replace"] = 62; }},
      {"hidden_size", [](auto& j) { j["hidden_size"] = -1; }},
      {"hidden_size", [](auto& j) { j["hidden_size"] = "big"; }},
      {"num_hidden_layers", [](auto& j) { j.erase("num_hidden_layers"); }},
      {"scoring_func", [](auto& j) { j["scoring_func"] = "relu"; }},
      {"topk_method", [](auto& j) { j["topk_method"] = "random"; }},
      {"noaux_tc", [](auto& j) { j["scoring_func"] = "softmax"; }},
      {"qk_rope_head_dim", [](auto& j) { j["qk_rope_head_dim"] = 63; }},
      {"kv_lora_rank", [](auto& j) { j["kv_lora_rank"] = 0; }},
      {"eos_token_id", [](auto& j) { j["eos_token_id"] = 200000; }},
      {"rms_norm_eps", [](auto& j) { j["rms_norm_eps"] = 0; }},
      {"rope_scaling", [](auto& j) { j["rope_scaling"]["type"] = "dynamic-ntk"; }},
      {"rope_scaling", [](auto& j) { j["rope_scaling"] = 5; }},
      {"model_type", [](auto& j) { j["model_type"] = "mixtral"; }},
      {"routed_scaling_factor", [](auto& j) { j["routed_scaling_factor"] = -2.5; }},
  };
  for (const BadCase& bc : cases) {
    nlohmann::json j = load("deepseek-r1.json");
    bc.mutate(j);
    try {
      config_from_hf_json(j, "config.json");
      ADD_FAILURE() << "accepted a config with a bad " << bc.field;
    } catch (const Error& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find(bc.field == std::string("model_type") ? "mixtral" : bc.field),
                std::string::npos)
          << msg;
    }
  }
}

TEST(Config, RejectsBadGqaHeads) {
  nlohmann::json j = load("r1-distill-qwen-1.5b.json");
  j["num_key_value_heads"] = 5;
  try {
    config_from_hf_json(j, "config.json");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("num_key_value_heads"), std::string::npos);
  }
}

TEST(Config, HfJsonRoundTrip) {
  for (const char* name : {"deepseek-r1.json", "deepseek-v2-lite.json", "r1-distill-qwen-1.5b.json",
                           "r1-distill-llama-8b.json"}) {
    ModelConfig a = parse(name);
    ModelConfig b = config_from_hf_json(config_to_hf_json(a), "round trip");
    EXPECT_EQ(model_stats(a).total_params, model_stats(b).total_params) << name;
    EXPECT_EQ(attention_scale(a), attention_scale(b)) << name;
    EXPECT_EQ(config_to_hf_json(a), config_to_hf_json(b)) << name;
  }
}

}  // namespace
}  // namespace r1
