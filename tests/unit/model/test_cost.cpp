// What a decoded token costs (r1 bench's roofline numerators): weight bytes with one embedding
// row and k of n routed experts, in the stored types; FLOPs from the active parameters.
#include <gtest/gtest.h>

#include "model/cost.h"
#include "model/source.h"
#include "test_util.h"

namespace {

using namespace r1;

std::string make_model(const test::TempDir& dir, const std::string& arch, const std::string& type,
                       const std::string& fmt = "gguf") {
  const std::string out = dir.file(arch + type + (fmt == "gguf" ? ".gguf" : "-st"));
  auto r = test::run_command(test::r1_binary() + " make-test-model -q --no-mtp --arch " + arch +
                             " --format " + fmt + " --type " + type + " " + out);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return out;
}

// The same sum written out: every tensor in full, except one embedding row and k/n of each
// routed-expert tensor.
double expected_bytes(const ModelSource& src) {
  const ModelConfig& c = src.config();
  double bytes = 0;
  for (const SourceTensor& t : src.tensors()) {
    double b = static_cast<double>(t.nbytes);
    if (t.name.find("token_embd") != std::string::npos ||
        t.name.find("embed_tokens") != std::string::npos)
      b /= static_cast<double>(t.shape[0]);
    else if (t.name.find("_exps") != std::string::npos ||
             t.name.find(".experts.") != std::string::npos)
      b *= static_cast<double>(c.n_experts_per_tok) / static_cast<double>(c.n_routed_experts);
    bytes += b;
  }
  return bytes;
}

TEST(TokenCost, DenseModelReadsEverythingButTheEmbeddingTable) {
  test::TempDir dir;
  for (const char* type : {"F32", "Q8_0"}) {
    ModelSource src = ModelSource::open(make_model(dir, "qwen2", type));
    const TokenCost cost = token_cost(src);
    EXPECT_NEAR(static_cast<double>(cost.weight_bytes), expected_bytes(src), 64.0) << type;
    const ModelStats s = model_stats(src.config());
    // 2 x the active matrix parameters (norms and biases, counted as parameters, do not multiply).
    EXPECT_NEAR(cost.matmul_flops, 2.0 * static_cast<double>(s.active_params),
                0.01 * cost.matmul_flops)
        << type;
    EXPECT_LE(cost.matmul_flops, 2.0 * static_cast<double>(s.active_params));
    EXPECT_EQ(cost.cache_bytes_per_ctx, s.kv_bytes_per_token);
    EXPECT_GT(cost.attn_flops_per_ctx, 0);
    EXPECT_GT(cost.decode_bytes(1000), cost.decode_bytes(0));
  }
}

TEST(TokenCost, MoeReadsOnlyTheChosenExpertsInBothLayouts) {
  test::TempDir dir;
  ModelSource gguf = ModelSource::open(make_model(dir, "deepseek_v3", "F32"));
  ModelSource st = ModelSource::open(make_model(dir, "deepseek_v3", "F32", "safetensors"));
  const TokenCost a = token_cost(gguf), b = token_cost(st);
  EXPECT_NEAR(static_cast<double>(a.weight_bytes), expected_bytes(gguf), 256.0);
  // Stacked GGUF experts and one-tensor-per-expert safetensors give the same figures.
  EXPECT_NEAR(static_cast<double>(a.weight_bytes), static_cast<double>(b.weight_bytes),
              1e-3 * static_cast<double>(a.weight_bytes));
  EXPECT_NEAR(a.matmul_flops, b.matmul_flops, 1e-6 * a.matmul_flops);
  // Far less than the file: only k of n experts.
  EXPECT_LT(static_cast<double>(a.weight_bytes), 0.8 * static_cast<double>(gguf.file_bytes()));
}

}  // namespace
