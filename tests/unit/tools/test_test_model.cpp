// make-test-model: every architecture in both formats opens, validates and describes the same
// model; GGUF and safetensors files of one seed hold the same weights after llama.cpp's layout
// transforms (stacked experts, split attn_k_b/attn_v_b, Llama's q/k row order).
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <set>

#include "core/error.h"
#include "core/half.h"
#include "kernels/quants.h"
#include "model/source.h"
#include "test_util.h"
#include "tokenizer/tokenizer.h"
#include "tools/test_model.h"

namespace r1 {
namespace {

std::vector<float> dequant(const SourceTensor& t) {
  uint64_t n = 1;
  for (uint64_t d : t.shape) n *= d;
  std::vector<float> out(n);
  const uint64_t cols = t.shape.back(), rows = n / cols;
  if (t.dtype == DType::F8_E4M3) {
    EXPECT_NE(t.scale, nullptr);
    const float* s = reinterpret_cast<const float*>(t.scale->data);
    const uint64_t sc = (cols + 127) / 128;
    for (uint64_t r = 0; r < rows; ++r)
      quants::dequantize_row_fp8_block(t.data + r * cols, s + (r / 128) * sc, out.data() + r * cols,
                                       static_cast<int64_t>(cols));
    return out;
  }
  const uint64_t rb = *dtype_row_bytes(t.dtype, cols);
  for (uint64_t r = 0; r < rows; ++r)
    quants::dequantize_row(t.dtype, t.data + r * rb, out.data() + r * cols,
                           static_cast<int64_t>(cols));
  return out;
}

struct Made {
  test::TempDir dir;
  std::string gguf, st;
};

std::unique_ptr<Made> make_pair(Arch arch, const std::string& gguf_type = "F32",
                                const std::string& st_type = "F32") {
  auto m = std::make_unique<Made>();
  TestModelOptions o;
  o.config = test_model_config("tiny", arch);
  o.seed = 7;
  o.progress = false;
  o.weights = parse_weight_type(gguf_type);
  o.format = FileKind::kGguf;
  m->gguf = m->dir.file("m.gguf");
  write_test_model(o, m->gguf);
  o.weights = parse_weight_type(st_type);
  o.format = FileKind::kSafetensors;
  m->st = m->dir.file("st");
  write_test_model(o, m->st);
  return m;
}

class AllArchs : public ::testing::TestWithParam<Arch> {};

TEST_P(AllArchs, BothFormatsOpenValidateAndAgree) {
  auto m = make_pair(GetParam());
  ModelSource g = ModelSource::open(m->gguf);
  ModelSource s = ModelSource::open(m->st);
  EXPECT_EQ(g.format(), SourceFormat::kGguf);
  EXPECT_EQ(s.format(), SourceFormat::kSafetensors);
  EXPECT_NO_THROW(g.validate_tensors());
  EXPECT_NO_THROW(s.validate_tensors());
  EXPECT_EQ(g.config().arch, GetParam());
  EXPECT_EQ(s.config().arch, GetParam());
  EXPECT_EQ(config_to_hf_json(g.config()).dump(), config_to_hf_json(s.config()).dump())
      << "GGUF and config.json describe different models";
  EXPECT_EQ(model_stats(g.config()).total_params, model_stats(s.config()).total_params);
  // Every GGUF tensor that is a plain rename holds the same values as its HF source.
  size_t compared = 0;
  for (const auto& t : g.tensors()) {
    const std::string hf = hf_name_of_gguf(t.name);
    if (hf.empty()) continue;
    const SourceTensor* h = s.find(hf);
    ASSERT_NE(h, nullptr) << hf;
    if (GetParam() == Arch::kLlama && (t.name.find("attn_q.weight") != std::string::npos ||
                                       t.name.find("attn_k.weight") != std::string::npos))
      continue;  // permuted, checked below
    EXPECT_EQ(dequant(t), dequant(*h)) << t.name;
    ++compared;
  }
  EXPECT_GT(compared, 10u);
  // One tokenizer in both forms: GGUF tokenizer.ggml.* and tokenizer.json agree, and the chat
  // prompt starts with BOS.
  const Tokenizer tg = Tokenizer::from_gguf(*g.gguf());
  const Tokenizer ts = Tokenizer::from_hf(m->st);
  const std::string text = "Let me think: 12345 + 678 = ?\n\nHéllo 世界, ok… <think>x</think>";
  EXPECT_EQ(tg.encode(text, true), ts.encode(text, true));
  EXPECT_EQ(tg.decode(tg.encode(text, false)), text);
  EXPECT_LT(tg.encode("the answer is the number", false).size(), 24u) << "merges not learned";
  // The generator's tokenizer fixes bos/eos inside the vocabulary.
  EXPECT_GE(g.config().bos_token_id, 0);
  EXPECT_LT(g.config().eos_token_id, g.config().vocab_size);
}

INSTANTIATE_TEST_SUITE_P(TestModel, AllArchs,
                         ::testing::Values(Arch::kDeepSeekV3, Arch::kDeepSeekV2, Arch::kQwen2,
                                           Arch::kLlama),
                         [](const auto& info) { return std::string(arch_name(info.param)); });

TEST(TestModel, DeepSeekLayoutTransforms) {
  auto m = make_pair(Arch::kDeepSeekV3);
  ModelSource g = ModelSource::open(m->gguf), s = ModelSource::open(m->st);
  const ModelConfig& c = g.config();
  const uint64_t H = c.n_heads, nope = c.qk_nope_head_dim, v = c.v_head_dim, r = c.kv_lora_rank;
  // attn_k_b[h][c][i] = kv_b[h*(nope+v) + i][c]; attn_v_b[h][j][c] = kv_b[h*(nope+v)+nope+j][c].
  auto kvb = dequant(*s.find("model.layers.0.self_attn.kv_b_proj.weight"));
  auto kb = dequant(*g.find("blk.0.attn_k_b.weight"));
  auto vb = dequant(*g.find("blk.0.attn_v_b.weight"));
  for (uint64_t h = 0; h < H; ++h)
    for (uint64_t cc = 0; cc < r; ++cc) {
      for (uint64_t i = 0; i < nope; ++i)
        ASSERT_EQ(kb[(h * r + cc) * nope + i], kvb[(h * (nope + v) + i) * r + cc]);
      for (uint64_t j = 0; j < v; ++j)
        ASSERT_EQ(vb[(h * v + j) * r + cc], kvb[(h * (nope + v) + nope + j) * r + cc]);
    }
  // Stacked experts: expert e of ffn_down_exps is mlp.experts.e.down_proj.
  const int64_t L = c.first_k_dense_replace;
  auto stacked = dequant(*g.find("blk." + std::to_string(L) + ".ffn_down_exps.weight"));
  for (int64_t e = 0; e < c.n_routed_experts; ++e) {
    auto one = dequant(*s.find("model.layers." + std::to_string(L) + ".mlp.experts." +
                               std::to_string(e) + ".down_proj.weight"));
    ASSERT_TRUE(std::equal(one.begin(), one.end(), stacked.begin() + e * one.size())) << e;
  }
  // The MTP module is written in both formats.
  EXPECT_NE(g.find("blk.3.nextn.eh_proj.weight"), nullptr);
  EXPECT_NE(s.find("model.layers.3.eh_proj.weight"), nullptr);
}

TEST(TestModel, LlamaQueryRowsArePermutedAsLlamaCpp) {
  auto m = make_pair(Arch::kLlama);
  ModelSource g = ModelSource::open(m->gguf), s = ModelSource::open(m->st);
  const uint64_t hd = g.config().head_dim, d = g.config().hidden_size;
  auto gq = dequant(*g.find("blk.1.attn_q.weight"));
  auto hq = dequant(*s.find("model.layers.1.self_attn.q_proj.weight"));
  for (uint64_t row = 0; row < gq.size() / d; ++row) {
    const uint64_t h = row / hd, k = row % hd;
    const uint64_t src = h * hd + (k % 2) * (hd / 2) + k / 2;
    ASSERT_TRUE(std::equal(gq.begin() + row * d, gq.begin() + (row + 1) * d, hq.begin() + src * d))
        << row;
  }
  EXPECT_NE(g.find("rope_freqs.weight"), nullptr);
}

TEST(TestModel, QuantizedAndFp8Files) {
  auto m = make_pair(Arch::kDeepSeekV3, "Q4_K_M", "FP8");
  ModelSource g = ModelSource::open(m->gguf), s = ModelSource::open(m->st);
  EXPECT_NO_THROW(g.validate_tensors());
  EXPECT_NO_THROW(s.validate_tensors());
  std::map<DType, int> types;
  for (const auto& t : g.tensors()) types[t.dtype]++;
  EXPECT_GT(types[DType::Q4_K], 0);
  EXPECT_GT(types[DType::Q6_K], 0);
  EXPECT_EQ(g.find("blk.1.ffn_gate_inp.weight")->dtype, DType::F32);  // router kept exact
  EXPECT_EQ(g.find("output.weight")->dtype, DType::Q6_K);
  const SourceTensor* w = s.find("model.layers.0.self_attn.q_a_proj.weight");
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->dtype, DType::F8_E4M3);
  ASSERT_NE(w->scale, nullptr);
  EXPECT_EQ(w->scale->shape, (std::vector<uint64_t>{1, 2}));
  EXPECT_EQ(s.find("model.embed_tokens.weight")->dtype, DType::BF16);
  // FP8 with block scales stays close to the F32 weights of the same seed.
  auto f32 = make_pair(Arch::kDeepSeekV3);
  ModelSource ref = ModelSource::open(f32->st);
  auto a = dequant(*w), b = dequant(*ref.find(w->name));
  double err = 0, norm = 0;
  for (size_t i = 0; i < a.size(); ++i) err += (a[i] - b[i]) * (a[i] - b[i]), norm += b[i] * b[i];
  EXPECT_LT(std::sqrt(err / norm), 0.05);
}

TEST(TestModel, SplitGgufAndLegacyKvB) {
  test::TempDir dir;
  TestModelOptions o;
  o.config = test_model_config("tiny", Arch::kDeepSeekV2);
  o.progress = false;
  o.split_count = 3;
  auto paths = write_test_model(o, dir.file("m.gguf"));
  ASSERT_EQ(paths.size(), 3u);
  ModelSource g = ModelSource::open(paths[0]);
  EXPECT_EQ(g.file_count(), 3u);
  EXPECT_NO_THROW(g.validate_tensors());
  o.split_count = 1;
  o.legacy_kv_b = true;
  write_test_model(o, dir.file("legacy.gguf"));
  ModelSource l = ModelSource::open(dir.file("legacy.gguf"));
  EXPECT_EQ(l.layout(), TensorLayout::kGgufLegacyKvB);
  EXPECT_NO_THROW(l.validate_tensors());
  EXPECT_NE(l.find("blk.0.attn_kv_b.weight"), nullptr);
}

TEST(TestModel, SameSeedSameBytesDifferentSeedDifferent) {
  test::TempDir dir;
  TestModelOptions o;
  o.config = test_model_config("tiny", Arch::kQwen2);
  o.progress = false;
  o.weights = parse_weight_type("Q8_0");
  write_test_model(o, dir.file("a.gguf"));
  write_test_model(o, dir.file("b.gguf"));
  o.seed = 2;
  write_test_model(o, dir.file("c.gguf"));
  EXPECT_EQ(test::read_file(dir.file("a.gguf")), test::read_file(dir.file("b.gguf")));
  EXPECT_NE(test::read_file(dir.file("a.gguf")), test::read_file(dir.file("c.gguf")));
}

TEST(TestModel, RejectsBadRequests) {
  EXPECT_THROW(test_model_config("huge", Arch::kLlama), Error);
  EXPECT_THROW(test_model_config("v2-lite", Arch::kLlama), Error);
  EXPECT_THROW(parse_weight_type("Q3_XL"), Error);
  test::TempDir dir;
  TestModelOptions o;
  o.config = test_model_config("tiny", Arch::kQwen2);
  o.progress = false;
  o.weights = parse_weight_type("FP8");
  EXPECT_THROW(write_test_model(o, dir.file("x.gguf")), Error);  // GGUF has no FP8
  o.format = FileKind::kSafetensors;
  o.weights = parse_weight_type("Q4_K");
  EXPECT_THROW(write_test_model(o, dir.file("x")), Error);  // safetensors has no K-quants
}

TEST(TestModel, ValidationNamesMissingAndMisshapenTensors) {
  auto m = make_pair(Arch::kQwen2);
  // Rewrite the GGUF without one tensor and with another of the wrong shape.
  ModelSource src = ModelSource::open(m->gguf);
  const gguf::File& f = *src.gguf();
  {
    gguf::Writer w(m->dir.file("bad.gguf"));
    for (const auto& [k, v] : f.metadata()) w.add_kv(k, v);
    for (const auto& t : f.tensors()) {
      if (t.name == "blk.0.attn_k.weight") continue;
      auto ne = t.ne;
      if (t.name == "blk.1.ffn_up.weight") ne[1] /= 2;
      w.add_tensor(t.name, ne, t.dtype);
    }
    for (const auto& t : f.tensors()) {
      if (t.name == "blk.0.attn_k.weight") continue;
      uint64_t n = t.nbytes;
      if (t.name == "blk.1.ffn_up.weight") n /= 2;
      w.write_data(t.data, n);
    }
    w.finish();
  }
  ModelSource bad = ModelSource::open(m->dir.file("bad.gguf"));
  try {
    bad.validate_tensors();
    FAIL() << "validation passed";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("missing tensor 'blk.0.attn_k.weight'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("'blk.1.ffn_up.weight' has shape [256, 256], expected [512, 256]"),
              std::string::npos)
        << msg;
  }
}

// A vocabulary larger than the built-in text's merges is filled with ordinary words, not
// invisible padding: a random model then writes text. Both formats' tokenizers agree on them.
TEST(TestModel, LargeVocabulariesAreFilledWithWords) {
  test::TempDir dir;
  TestModelOptions o;
  o.config = test_model_config("tiny", Arch::kQwen2);
  o.config.vocab_size = 6000;
  o.progress = false;
  o.weights = parse_weight_type("F32");
  o.format = FileKind::kGguf;
  write_test_model(o, dir.file("m.gguf"));
  o.format = FileKind::kSafetensors;
  write_test_model(o, dir.file("st"));
  const Tokenizer a = Tokenizer::from_path(dir.file("m.gguf"));
  const Tokenizer b = Tokenizer::from_path(dir.file("st"));
  ASSERT_EQ(a.vocab_size(), 6000u);
  ASSERT_EQ(b.vocab_size(), 6000u);
  std::set<std::string> seen;
  for (int32_t id = 5000; id < 6000; ++id) {
    const int32_t one[] = {id};
    const std::string text = a.decode(one);
    EXPECT_EQ(text.rfind(" x", 0), 0u) << id << ": " << text;
    EXPECT_EQ(b.decode(one), text) << id;
    EXPECT_TRUE(seen.insert(text).second) << "duplicate " << text;
  }
  const std::string prompt = "Tell me a story about xbaba and the sea.";
  EXPECT_EQ(a.encode(prompt, false), b.encode(prompt, false));
  EXPECT_EQ(a.decode(a.encode(prompt, false)), prompt);
}

TEST(TestModel, InspectJsonFromTheCli) {
  auto m = make_pair(Arch::kDeepSeekV3, "Q8_0");
  for (const std::string& path : {m->gguf, m->st}) {
    auto r = test::run_command(test::r1_binary() + " inspect --json " + path);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["architecture"], "deepseek_v3");
    for (const char* k : {"total_params", "active_params", "kv_bytes_per_token", "file_bytes"})
      EXPECT_GT(j[k].get<uint64_t>(), 0u) << k;
    EXPECT_TRUE(j["tensor_types"].is_object());
    EXPECT_EQ(j["kv_bytes_per_token"].get<uint64_t>(), 3u * (64 + 16) * kKvCacheValueBytes);
  }
  auto bad = test::run_command(test::r1_binary() + " inspect " + m->dir.file("nope.gguf"));
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.err.find("nope.gguf"), std::string::npos);
}

}  // namespace
}  // namespace r1
