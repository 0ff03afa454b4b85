// Forward pass properties that need no reference: incremental decoding equals one-pass
// prefill, sequences are independent, routing follows the published rules, RoPE frequencies
// follow YaRN, and bad input is refused with a clear error.
#include <gtest/gtest.h>
#include <algorithm>

#include <cmath>
#include <cstring>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/mmap_file.h"
#include "formats/gguf.h"
#include "kernels/int8.h"
#include "model/forward.h"
#include "model/source.h"
#include "test_util.h"

namespace r1 {
namespace {

std::string make_model(const test::TempDir& dir, const std::string& arch,
                       const std::string& fmt = "gguf", const std::string& type = "F32") {
  const std::string out = dir.file(arch + (fmt == "gguf" ? ".gguf" : "-st"));
  auto r = test::run_command(test::r1_binary() + " make-test-model -q --arch " + arch +
                             " --format " + fmt + " --type " + type + " " + out);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return out;
}

float max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  float m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::fabs(a[i] - b[i]));
  return m;
}

class EveryArch : public ::testing::TestWithParam<std::string> {};

TEST_P(EveryArch, IncrementalDecodingEqualsPrefill) {
  test::TempDir dir;
  ModelSource src = ModelSource::open(make_model(dir, GetParam()));
  Model m(bind_weights(src));
  const int64_t V = m.config().vocab_size;
  const std::vector<int32_t> toks = {1, 17, 300, 42, 5, 99, 260, 7};
  const int64_t n = static_cast<int64_t>(toks.size());
  Sequence a = m.new_sequence(64);
  std::vector<float> all(static_cast<size_t>(n * V));
  m.forward(a, toks, all.data(), true);
  // The same tokens one at a time (and then in two chunks) give the same logits.
  Sequence b = m.new_sequence(64);
  std::vector<float> one(static_cast<size_t>(V)), stepwise;
  for (int64_t t = 0; t < n; ++t) {
    m.forward(b, std::span(toks).subspan(t, 1), one.data(), false);
    stepwise.insert(stepwise.end(), one.begin(), one.end());
  }
  EXPECT_LT(max_abs_diff(all, stepwise), 2e-4f);
  Sequence c = m.new_sequence(64);
  std::vector<float> first(static_cast<size_t>(3 * V)), second(static_cast<size_t>((n - 3) * V));
  m.forward(c, std::span(toks).subspan(0, 3), first.data(), true);
  m.forward(c, std::span(toks).subspan(3), second.data(), true);
  first.insert(first.end(), second.begin(), second.end());
  EXPECT_LT(max_abs_diff(all, first), 2e-4f);
  EXPECT_EQ(c.position(), n);
}

TEST_P(EveryArch, SequencesAreIndependent) {
  test::TempDir dir;
  ModelSource src = ModelSource::open(make_model(dir, GetParam()));
  Model m(bind_weights(src));
  const int64_t V = m.config().vocab_size;
  const std::vector<int32_t> x = {3, 4, 5, 6}, y = {200, 100, 50};
  // Alone.
  std::vector<float> alone(static_cast<size_t>(V));
  Sequence s0 = m.new_sequence(16);
  m.forward(s0, x, alone.data(), false);
  // Interleaved with another sequence through forward_batch.
  Sequence s1 = m.new_sequence(16), s2 = m.new_sequence(16);
  std::vector<float> l1(static_cast<size_t>(V)), l2(static_cast<size_t>(V));
  std::vector<Sequence*> seqs = {&s2, &s1};
  std::vector<std::vector<int32_t>> first = {y, {x[0], x[1]}};
  std::vector<float*> outs = {l2.data(), l1.data()};
  m.forward_batch(seqs, first, outs);
  std::vector<std::vector<int32_t>> rest = {{7}, {x[2], x[3]}};
  m.forward_batch(seqs, rest, outs);
  EXPECT_LT(max_abs_diff(alone, l1), 2e-4f);
}

TEST_P(EveryArch, OneBatchEqualsEachSequenceAlone) {
  // Float32 activations: alone, each sequence's tokens are batched differently.
  r1::int8::set_enabled(false);
  test::TempDir dir;
  ModelSource src = ModelSource::open(make_model(dir, GetParam()));
  Model m(bind_weights(src));
  const int64_t V = m.config().vocab_size;
  const std::vector<std::vector<int32_t>> prompts = {{5, 9, 2, 7, 11}, {3}, {8, 1, 4}};
  const std::vector<std::vector<int32_t>> next = {
      {6},
      {12, 13},
      {},
  };
  // Alone.
  std::vector<std::vector<float>> want(3, std::vector<float>(static_cast<size_t>(V)));
  std::vector<Sequence> alone;
  for (int i = 0; i < 3; ++i) {
    alone.push_back(m.new_sequence(16));
    m.forward(alone[i], prompts[i], want[i].data(), false);
  }
  // As one batch (prompts of different lengths), then a second step with an empty entry.
  std::vector<Sequence> batch;
  for (int i = 0; i < 3; ++i) batch.push_back(m.new_sequence(16));
  std::vector<Sequence*> seqs = {&batch[0], &batch[1], &batch[2]};
  std::vector<std::vector<float>> got(3, std::vector<float>(static_cast<size_t>(V)));
  std::vector<float*> outs = {got[0].data(), got[1].data(), got[2].data()};
  m.forward_batch(seqs, prompts, outs);
  for (int i = 0; i < 3; ++i) {
    EXPECT_LT(max_abs_diff(want[i], got[i]), 1e-4f) << "sequence " << i;
    EXPECT_EQ(batch[i].position(), alone[i].position());
  }
  std::vector<float> untouched = got[2];
  m.forward_batch(seqs, next, outs);
  for (int i = 0; i < 2; ++i) {
    m.forward(alone[i], next[i], want[i].data(), false);
    EXPECT_LT(max_abs_diff(want[i], got[i]), 1e-4f) << "sequence " << i << ", step 2";
  }
  EXPECT_EQ(got[2], untouched);  // the empty entry: no logits written, nothing run
  EXPECT_EQ(batch[2].position(), 3);
  // A batch that would overflow one context changes none.
  Sequence small = m.new_sequence(2);
  std::vector<Sequence*> two = {&batch[0], &small};
  const std::vector<std::vector<int32_t>> toks = {{1}, {1, 2, 3}};
  std::vector<float*> outs2 = {got[0].data(), got[1].data()};
  EXPECT_THROW(m.forward_batch(two, toks, outs2), Error);
  EXPECT_EQ(batch[0].position(), 6);
  EXPECT_EQ(small.position(), 0);
  r1::int8::set_enabled(true);
}

TEST_P(EveryArch, RefusesBadTokensAndFullContext) {
  test::TempDir dir;
  ModelSource src = ModelSource::open(make_model(dir, GetParam()));
  Model m(bind_weights(src));
  std::vector<float> logits(static_cast<size_t>(m.config().vocab_size));
  Sequence s = m.new_sequence(4);
  const std::vector<int32_t> bad = {1, 100000};
  EXPECT_THROW(m.forward(s, bad, logits.data(), false), Error);
  const std::vector<int32_t> five = {1, 2, 3, 4, 5};
  try {
    m.forward(s, five, logits.data(), false);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("context full"), std::string::npos);
  }
}

TEST_P(EveryArch, CacheSizeMatchesInspect) {
  test::TempDir dir;
  ModelSource src = ModelSource::open(make_model(dir, GetParam()));
  Model m(bind_weights(src));
  Sequence s = m.new_sequence(32);
  std::vector<float> logits(static_cast<size_t>(m.config().vocab_size));
  const std::vector<int32_t> toks = {1, 2, 3, 4, 5, 6, 7};
  m.forward(s, toks, logits.data(), false);
  const ModelStats st = model_stats(m.config());
  EXPECT_EQ(s.cache_bytes(), 7 * st.kv_bytes_per_token);
  if (m.config().is_deepseek())
    EXPECT_EQ(st.kv_bytes_per_token,
              static_cast<uint64_t>(m.config().n_layers *
                                    (m.config().kv_lora_rank + m.config().qk_rope_head_dim) *
                                    kKvCacheValueBytes));
}

INSTANTIATE_TEST_SUITE_P(Forward, EveryArch,
                         ::testing::Values("deepseek_v3", "deepseek_v2", "qwen2", "llama"));

// Q8_0 and K-quant weights of a private copy are interleaved by four for decode
// (kernels/interleave.h);
// the logits equal those from the file's own layout bit for bit, also for a second model bound
// from the same copy (which finds the weights already rewritten).
TEST(Forward, InterleavedWeightsGiveTheSameLogits) {
  if (!int8::cpu_has_vnni()) GTEST_SKIP() << "weights are interleaved only for the VNNI kernel";
  test::TempDir dir;
  const Residency saved = MappedFile::default_residency();
  for (const auto& [arch, type] : std::vector<std::pair<std::string, std::string>>{
           {"deepseek_v2", "Q8_0"}, {"qwen2", "Q8_0"}, {"qwen2", "Q4_K_M"}, {"qwen2", "Q6_K"}}) {
    const std::string path = make_model(dir, arch, "gguf", type);
    MappedFile::set_default_residency(Residency::kMapped);
    Model plain(bind_weights(ModelSource::open(path)));
    MappedFile::set_default_residency(Residency::kHugePages);
    ModelSource src = ModelSource::open(path);
    MappedFile::set_default_residency(saved);
    Model fast(bind_weights(src)), again(bind_weights(src));
    int interleaved = 0;
    for (const Model* m : {&plain, &fast, &again}) {
      interleaved = 0;
      for (const auto& l : m->weights().layers) {
        std::vector<const ops::Matrix*> ms = {&l.mlp.gate, &l.mlp.up, &l.mlp.down, &l.gqa.q,
                                              &l.mla.kv_a};
        for (const auto& e : l.moe.experts) ms.insert(ms.end(), {&e.gate, &e.up, &e.down});
        for (const ops::Matrix* x : ms) interleaved += x->layout == ops::RowLayout::kInterleaved4;
      }
      if (m == &plain) EXPECT_EQ(interleaved, 0) << arch << " " << type;
    }
    EXPECT_GT(interleaved, 0) << arch << " " << type;
    const std::vector<int32_t> toks = {10, 20, 30, 40, 50, 60, 70, 80, 90};
    const int64_t V = plain.config().vocab_size;
    std::vector<std::vector<float>> logits;
    for (const Model* m : {&plain, &fast, &again}) {
      Sequence s = m->new_sequence(16);
      std::vector<float> all(static_cast<size_t>(10 * V));
      m->forward(s, toks, all.data(), true);                                    // prefill
      m->forward(s, std::span(toks).subspan(0, 1), all.data() + 9 * V, false);  // decode
      logits.push_back(all);
    }
    EXPECT_EQ(logits[1], logits[0]) << arch << " " << type;
    EXPECT_EQ(logits[2], logits[0]) << arch << " " << type;
  }
}

// The routing trace: k distinct valid experts per token for every MoE layer, the same choices
// whether the tokens run together (prefill) or one at a time (decode), and nothing for the
// dense layers or after it is switched off.
TEST(Forward, RoutingTraceRecordsEveryMoeLayer) {
  test::TempDir dir;
  Model m(bind_weights(ModelSource::open(make_model(dir, "deepseek_v3"))));
  const ModelConfig& c = m.config();
  const std::vector<int32_t> toks = {1, 17, 300, 42, 5};
  const size_t k = static_cast<size_t>(c.n_experts_per_tok);
  std::vector<float> logits(static_cast<size_t>(c.vocab_size));
  std::vector<std::vector<int32_t>> together, apart;
  m.trace_routing(&together);
  Sequence a = m.new_sequence(16);
  m.forward(a, toks, logits.data(), false);
  m.trace_routing(&apart);
  Sequence b = m.new_sequence(16);
  for (size_t t = 0; t < toks.size(); ++t)
    m.forward(b, std::span(toks).subspan(t, 1), logits.data(), false);
  m.trace_routing(nullptr);
  m.forward(b, std::span(toks).subspan(0, 1), logits.data(), false);
  ASSERT_EQ(together.size(), static_cast<size_t>(c.n_layers));
  ASSERT_EQ(apart.size(), together.size());
  for (int64_t l = 0; l < c.n_layers; ++l) {
    const auto& t = together[static_cast<size_t>(l)];
    if (!c.is_moe_layer(l)) {
      EXPECT_TRUE(t.empty()) << l;
      continue;
    }
    ASSERT_EQ(t.size(), toks.size() * k) << l;
    EXPECT_EQ(t, apart[static_cast<size_t>(l)]) << l;
    for (size_t i = 0; i < toks.size(); ++i) {
      std::vector<int32_t> e(t.begin() + static_cast<ptrdiff_t>(i * k),
                             t.begin() + static_cast<ptrdiff_t>((i + 1) * k));
      std::sort(e.begin(), e.end());
      EXPECT_EQ(std::unique(e.begin(), e.end()), e.end());
      EXPECT_GE(e.front(), 0);
      EXPECT_LT(e.back(), c.n_routed_experts);
    }
  }
}

TEST(Forward, GgufAndSafetensorsGiveTheSameLogits) {
  test::TempDir dir;
  for (const std::string arch : {"deepseek_v3", "llama"}) {
    Model g(bind_weights(ModelSource::open(make_model(dir, arch, "gguf"))));
    Model s(bind_weights(ModelSource::open(make_model(dir, arch, "safetensors"))));
    const std::vector<int32_t> toks = {10, 20, 30, 40, 50};
    const int64_t V = g.config().vocab_size;
    std::vector<float> a(static_cast<size_t>(5 * V)), b(a.size());
    Sequence sa = g.new_sequence(8), sb = s.new_sequence(8);
    g.forward(sa, toks, a.data(), true);
    s.forward(sb, toks, b.data(), true);
    EXPECT_LT(max_abs_diff(a, b), 1e-4f) << arch;
  }
}

TEST(Forward, MtpDraftLogits) {
  test::TempDir dir;
  Model m(bind_weights(ModelSource::open(make_model(dir, "deepseek_v3"))));
  ASSERT_TRUE(m.has_mtp());
  const std::vector<int32_t> toks = {10, 20, 30, 40};
  const int64_t V = m.config().vocab_size;
  std::vector<float> logits(static_cast<size_t>(4 * V)), hidden, draft(static_cast<size_t>(3 * V));
  Sequence s = m.new_sequence(8), mtp = m.new_mtp_sequence(8);
  m.forward(s, toks, logits.data(), true, &hidden);
  ASSERT_EQ(hidden.size(), static_cast<size_t>(4 * m.config().hidden_size));
  m.forward_mtp(mtp, hidden.data(), std::span(toks).subspan(1), draft.data());
  for (float v : draft) ASSERT_TRUE(std::isfinite(v));
  EXPECT_GT(max_abs_diff(draft, std::vector<float>(logits.begin(), logits.begin() + 3 * V)), 1e-3f);
}

// Copies a GGUF, letting `edit_kv` change metadata and `edit_tensor` change tensor bytes.
void rewrite_gguf(
    const std::string& in, const std::string& out,
    const std::function<void(const std::string&, gguf::Value&)>& edit_kv,
    const std::function<void(const std::string&, std::vector<uint8_t>&)>& edit_tensor) {
  gguf::File f = gguf::File::open(in);
  gguf::Writer w(out);
  for (const auto& [k, v] : f.metadata()) {
    gguf::Value copy = v;
    edit_kv(k, copy);
    w.add_kv(k, copy);
  }
  for (const auto& t : f.tensors()) w.add_tensor(t.name, t.ne, t.dtype);
  for (const auto& t : f.tensors()) {
    std::vector<uint8_t> bytes(t.data, t.data + t.nbytes);
    edit_tensor(t.name, bytes);
    w.write_data(bytes.data(), bytes.size());
  }
  w.finish();
}

TEST(BadModel, NanWeightsGiveAClearError) {
  test::TempDir dir;
  const std::string good = make_model(dir, "qwen2");
  rewrite_gguf(
      good, dir.file("nan.gguf"), [](const std::string&, gguf::Value&) {},
      [](const std::string& name, std::vector<uint8_t>& b) {
        if (name != "blk.0.ffn_down.weight") return;
        const float nan = std::nanf("");
        for (size_t i = 0; i + 4 <= b.size(); i += 4) std::memcpy(b.data() + i, &nan, 4);
      });
  Model m(bind_weights(ModelSource::open(dir.file("nan.gguf"))));
  Sequence s = m.new_sequence(8);
  std::vector<float> logits(static_cast<size_t>(m.config().vocab_size));
  const std::vector<int32_t> toks = {1, 2};
  try {
    m.forward(s, toks, logits.data(), false);
    FAIL() << "NaN weights went unnoticed";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("non-finite"), std::string::npos) << e.what();
  }
  auto r =
      test::run_command(test::r1_binary() + " generate " + dir.file("nan.gguf") + " -p hi -n 2");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("non-finite"), std::string::npos) << r.err;
}

TEST(BadModel, MoreExpertsPerTokenThanExperts) {
  test::TempDir dir;
  const std::string good = make_model(dir, "deepseek_v2");
  rewrite_gguf(
      good, dir.file("bad.gguf"),
      [](const std::string& k, gguf::Value& v) {
        if (k == "deepseek2.expert_used_count") v = gguf::Value::u32(99);
      },
      [](const std::string&, std::vector<uint8_t>&) {});
  try {
    ModelSource::open(dir.file("bad.gguf"));
    FAIL() << "accepted expert_used_count 99";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("num_experts_per_tok = 99"), std::string::npos)
        << e.what();
  }
}

ModelConfig r1_config() {
  std::ifstream f(test::source_dir() + "/tests/data/configs/deepseek-r1.json");
  return config_from_hf_json(nlohmann::json::parse(f), "deepseek-r1.json");
}

TEST(Routing, GroupLimitChangesTheChoiceAndBiasOnlyChooses) {
  ModelConfig c;
  c.arch = Arch::kDeepSeekV3;
  c.n_routed_experts = 8;
  c.n_experts_per_tok = 2;
  c.n_group = 4;  // groups {0,1} {2,3} {4,5} {6,7}
  c.topk_group = 1;
  c.scoring_func = "sigmoid";
  c.topk_method = "noaux_tc";
  c.norm_topk_prob = true;
  c.routed_scaling_factor = 2.5;
  // Expert 0 has the highest single score, but group {2,3} has the best top-two sum.
  const float logits[8] = {3.0f, -3.0f, 2.0f, 2.0f, 0, 0, 0, 0};
  Routing r = route(c, logits, nullptr);
  ASSERT_EQ(r.experts.size(), 2u);
  EXPECT_EQ(std::min(r.experts[0], r.experts[1]), 2);
  EXPECT_EQ(std::max(r.experts[0], r.experts[1]), 3);
  EXPECT_NEAR(r.weights[0] + r.weights[1], 2.5f, 1e-5f);  // normalised, then scaled
  // With all groups allowed, expert 0 is chosen.
  c.topk_group = 4;
  r = route(c, logits, nullptr);
  EXPECT_EQ(r.experts[0], 0);
  // A correction bias changes which experts are chosen, not their weights.
  const float bias[8] = {0, 0, 0, 0, 0, 0, 10.0f, 0};
  r = route(c, logits, bias);
  EXPECT_EQ(r.experts[0], 6);
  const float s6 = 0.5f, s0 = 1.0f / (1.0f + std::exp(-3.0f));
  EXPECT_NEAR(r.weights[0], 2.5f * s6 / (s6 + s0), 1e-5f);
}

TEST(Routing, SoftmaxGreedyWithoutNormalisation) {
  ModelConfig c;
  c.arch = Arch::kDeepSeekV2;
  c.n_routed_experts = 4;
  c.n_experts_per_tok = 2;
  c.scoring_func = "softmax";
  c.topk_method = "greedy";
  c.norm_topk_prob = false;
  c.routed_scaling_factor = 1.0;
  const float logits[4] = {1.0f, 2.0f, 0.0f, 3.0f};
  Routing r = route(c, logits, nullptr);
  const double z = std::exp(1.0) + std::exp(2.0) + std::exp(0.0) + std::exp(3.0);
  EXPECT_EQ(r.experts, (std::vector<int32_t>{3, 1}));
  EXPECT_NEAR(r.weights[0], std::exp(3.0) / z, 1e-6);
  EXPECT_NEAR(r.weights[1], std::exp(2.0) / z, 1e-6);
}

TEST(Rope, YarnKeepsLowPairsAndDividesHighPairs) {
  const ModelConfig c = r1_config();
  const Vec inv = rope_inverse_frequencies(c);
  ASSERT_EQ(inv.size(), 32u);
  for (int i = 0; i < 32; ++i) {
    const double base = std::pow(10000.0, -2.0 * i / 64);
    if (i <= 10) EXPECT_NEAR(inv[i], base, base * 1e-6) << i;       // below low = 10
    if (i >= 23) EXPECT_NEAR(inv[i], base / 40, base * 1e-6) << i;  // above high = 23
    if (i > 10 && i < 23) {
      EXPECT_LT(inv[i], base);
      EXPECT_GT(inv[i], base / 40);
    }
  }
  // i = 16: ramp (16 - 10) / 13 blends 1e-2 towards 1e-2 / 40.
  const double r = 6.0 / 13.0, b16 = 1e-2;
  EXPECT_NEAR(inv[16], b16 * (1 - r) + b16 / 40 * r, 1e-7);
}

}  // namespace
}  // namespace r1
