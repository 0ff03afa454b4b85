#include "model/describe.h"

#include <cstdio>
#include <map>

namespace r1 {

namespace {

std::string human_count(uint64_t n) {
  char buf[32];
  if (n >= 1000000000ull)
    std::snprintf(buf, sizeof buf, "%.2fB", n / 1e9);
  else if (n >= 1000000ull)
    std::snprintf(buf, sizeof buf, "%.2fM", n / 1e6);
  else if (n >= 1000ull)
    std::snprintf(buf, sizeof buf, "%.2fK", n / 1e3);
  else
    std::snprintf(buf, sizeof buf, "%llu", static_cast<unsigned long long>(n));
  return buf;
}

std::string human_bytes(uint64_t n) {
  char buf[32];
  if (n >= (1ull << 30))
    std::snprintf(buf, sizeof buf, "%.2f GiB", n / 1073741824.0);
  else if (n >= (1ull << 20))
    std::snprintf(buf, sizeof buf, "%.2f MiB", n / 1048576.0);
  else if (n >= 1024)
    std::snprintf(buf, sizeof buf, "%.2f KiB", n / 1024.0);
  else
    std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(n));
  return buf;
}

std::map<std::string, uint64_t> type_counts(const ModelSource& m) {
  std::map<std::string, uint64_t> counts;
  for (const auto& t : m.tensors()) counts[dtype_name(t.dtype)]++;
  return counts;
}

const char* family(Arch a) {
  switch (a) {
    case Arch::kDeepSeekV3:
      return "DeepSeek-V3/R1: MLA + MoE (sigmoid, group-limited)";
    case Arch::kDeepSeekV2:
      return "DeepSeek-V2: MLA + MoE (softmax)";
    case Arch::kQwen2:
      return "Qwen2 (R1-Distill-Qwen): GQA, q/k/v bias";
    case Arch::kLlama:
      return "Llama (R1-Distill-Llama): GQA";
  }
  return "";
}

}  // namespace

nlohmann::json describe_json(const ModelSource& m) {
  const ModelConfig& c = m.config();
  const ModelStats s = model_stats(c);
  nlohmann::json j;
  j["path"] = m.path();
  j["format"] = source_format_name(m.format());
  j["architecture"] = arch_name(c.arch);
  j["total_params"] = s.total_params;
  j["active_params"] = s.active_params;
  j["mtp_params"] = s.mtp_params;
  j["kv_bytes_per_token"] = s.kv_bytes_per_token;
  j["kv_values_per_token_per_layer"] = s.kv_values_per_token_per_layer;
  j["file_bytes"] = m.file_bytes();
  j["file_count"] = m.file_count();
  j["tensor_count"] = m.tensors().size();
  j["tensor_types"] = type_counts(m);
  j["config"] = config_to_hf_json(c);
  j["attention_scale"] = attention_scale(c);
  return j;
}

std::string describe_text(const ModelSource& m) {
  const ModelConfig& c = m.config();
  const ModelStats s = model_stats(c);
  std::string o;
  char line[512];
  auto add = [&](const char* label, const std::string& value) {
    std::snprintf(line, sizeof line, "%-16s %s\n", label, value.c_str());
    o += line;
  };
  add("file", m.path() + " (" + source_format_name(m.format()) +
                  (m.file_count() > 1 ? ", " + std::to_string(m.file_count()) + " files" : "") +
                  ")");
  add("architecture", std::string(arch_name(c.arch)) + " — " + family(c.arch));
  add("layers", std::to_string(c.n_layers) + " × d_model " + std::to_string(c.hidden_size) +
                    ", vocab " + std::to_string(c.vocab_size) + ", context " +
                    std::to_string(c.max_position));
  if (c.is_deepseek()) {
    add("attention",
        "MLA, " + std::to_string(c.n_heads) + " heads, q_lora " +
            (c.q_lora_rank ? std::to_string(c.q_lora_rank) : std::string("none")) + ", kv_lora " +
            std::to_string(c.kv_lora_rank) + ", qk " + std::to_string(c.qk_nope_head_dim) + "+" +
            std::to_string(c.qk_rope_head_dim) + " (rope), v " + std::to_string(c.v_head_dim));
    if (c.is_moe())
      add("experts", std::to_string(c.n_routed_experts) + " routed (" +
                         std::to_string(c.n_experts_per_tok) + " per token, " + c.scoring_func +
                         ", " + c.topk_method + ", groups " + std::to_string(c.topk_group) + "/" +
                         std::to_string(c.n_group) + ") + " + std::to_string(c.n_shared_experts) +
                         " shared, width " + std::to_string(c.moe_intermediate_size) + "; first " +
                         std::to_string(c.first_k_dense_replace) + " layer(s) dense");
  } else {
    add("attention", "GQA, " + std::to_string(c.n_heads) + " query / " +
                         std::to_string(c.n_kv_heads) + " kv heads of " +
                         std::to_string(c.head_dim));
  }
  std::string rope = "theta " + std::to_string(static_cast<long long>(c.rope_theta));
  if (c.rope_scaling == RopeScaling::kYarn)
    rope += ", YaRN ×" + std::to_string(static_cast<int>(c.rope_factor)) + " from " +
            std::to_string(c.rope_original_max_position);
  if (c.rope_scaling == RopeScaling::kLlama3) rope += ", llama3 frequency factors";
  add("rope", rope);
  std::string params =
      human_count(s.total_params) + " total, " + human_count(s.active_params) + " active per token";
  if (s.mtp_params) params += " (+" + human_count(s.mtp_params) + " in the MTP module)";
  add("parameters", params);
  add("kv cache", std::to_string(s.kv_bytes_per_token) + " bytes per token (" +
                      std::to_string(s.kv_values_per_token_per_layer) + " values per layer" +
                      (c.is_deepseek() ? ", compressed MLA latent + rope key" : ", K and V") +
                      ", " + std::to_string(kKvCacheValueBytes * 8) + "-bit)");
  if (m.format() != SourceFormat::kConfigOnly) {
    std::string types;
    for (const auto& [name, n] : type_counts(m))
      types += (types.empty() ? "" : ", ") + name + " " + std::to_string(n);
    add("tensors", std::to_string(m.tensors().size()) + " (" + types + ")");
    add("file size",
        human_bytes(m.file_bytes()) + " (" + std::to_string(m.file_bytes()) + " bytes)");
  }
  return o;
}

}  // namespace r1
