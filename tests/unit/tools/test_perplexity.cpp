// perplexity and KL divergence on known distributions: uniform rows give perplexity V, identical
// rows KL 0, hand-computable rows their closed forms; NaN/+inf logits are refused, -inf logits
// are probability zero; the windowed evaluation of a test model matches a direct computation,
// a model against itself has KL 0 and F32 against Q4_0 a small positive KL.
#include <gtest/gtest.h>

#include "kernels/int8.h"

#include <cmath>
#include <limits>
#include <vector>

#include "core/error.h"
#include "model/forward.h"
#include "model/source.h"
#include "test_util.h"
#include "tools/perplexity.h"
#include "tools/test_model.h"

namespace r1 {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();
constexpr double kInf = std::numeric_limits<double>::infinity();

TEST(Perplexity, LogSoftmaxOfKnownRows) {
  const std::vector<float> x = {0.0f, 1.0f, 2.0f, kNegInf};
  std::vector<double> out(x.size());
  ppl::log_softmax(x, out);
  const double lse = std::log(1.0 + std::exp(1.0) + std::exp(2.0));
  EXPECT_NEAR(out[0], -lse, 1e-15);
  EXPECT_NEAR(out[1], 1.0 - lse, 1e-15);
  EXPECT_NEAR(out[2], 2.0 - lse, 1e-15);
  EXPECT_EQ(out[3], -kInf);
  // Large logits do not overflow (computed relative to the maximum).
  const std::vector<float> big = {1e30f, 1e30f};
  std::vector<double> b(2);
  ppl::log_softmax(big, b);
  EXPECT_NEAR(b[0], -std::log(2.0), 1e-15);
}

TEST(Perplexity, UniformDistributionHasPerplexityV) {
  for (int64_t V : {1, 2, 7, 1000, 129280}) {
    const std::vector<float> row(static_cast<size_t>(V), 3.25f);
    ppl::NllStats s;
    for (int64_t t = 0; t < V; t += std::max<int64_t>(1, V / 10))
      s.add(ppl::negative_log_likelihood(row, t));
    EXPECT_NEAR(s.perplexity(), static_cast<double>(V), 1e-9 * static_cast<double>(V)) << V;
    if (s.count() >= 2) {
      EXPECT_NEAR(s.mean_stderr(), 0.0, 1e-12);
      EXPECT_NEAR(s.perplexity_stderr(), 0.0, 1e-6);
    }
  }
}

TEST(Perplexity, NllStatsMeanAndStandardError) {
  ppl::NllStats s;
  EXPECT_TRUE(std::isnan(s.mean()));
  for (double v : {1.0, 2.0, 3.0, 4.0}) s.add(v);
  EXPECT_EQ(s.count(), 4);
  EXPECT_DOUBLE_EQ(s.mean(), 2.5);
  // Sample variance 5/3, standard error sqrt(5/3 / 4).
  EXPECT_NEAR(s.mean_stderr(), std::sqrt(5.0 / 12.0), 1e-15);
  EXPECT_NEAR(s.perplexity(), std::exp(2.5), 1e-12);
  EXPECT_NEAR(s.perplexity_stderr(), std::exp(2.5) * std::sqrt(5.0 / 12.0), 1e-12);
}

TEST(Perplexity, NllOfAKnownDistribution) {
  // p = (1/6, 2/6, 3/6) from logits log(1), log(2), log(3) (shifted: softmax is shift-free).
  const std::vector<float> row = {0.0f, std::log(2.0f), std::log(3.0f)};
  const double lse = std::log(1.0 + std::exp(double(row[1])) + std::exp(double(row[2])));
  EXPECT_NEAR(ppl::negative_log_likelihood(row, 0), lse, 1e-14);
  EXPECT_NEAR(ppl::negative_log_likelihood(row, 2), lse - double(row[2]), 1e-14);
  EXPECT_NEAR(ppl::negative_log_likelihood(row, 2), std::log(2.0), 1e-7);
  // A target with probability zero has infinite NLL.
  const std::vector<float> masked = {0.0f, kNegInf};
  EXPECT_EQ(ppl::negative_log_likelihood(masked, 1), kInf);
  EXPECT_EQ(ppl::negative_log_likelihood(masked, 0), 0.0);
  EXPECT_THROW(ppl::negative_log_likelihood(row, 3), Error);
  EXPECT_THROW(ppl::negative_log_likelihood(row, -1), Error);
}

TEST(Perplexity, KlOfIdenticalDistributionsIsZero) {
  std::vector<float> row(5000);
  for (size_t i = 0; i < row.size(); ++i) row[i] = std::sin(0.37f * float(i)) * 8.0f;
  row[17] = kNegInf;
  EXPECT_EQ(ppl::kl_divergence(row, row), 0.0);
  // A constant shift is the same distribution.
  std::vector<float> shifted = row;
  for (float& v : shifted) v += 4.0f;
  EXPECT_NEAR(ppl::kl_divergence(row, shifted), 0.0, 1e-12);
}

TEST(Perplexity, KlMatchesClosedForms) {
  // Two tokens: P from logits (0, 1), Q from (0, 2).
  // KL = log(1+e^2) - log(1+e) - p1 with p1 = e/(1+e).
  const std::vector<float> a = {0.0f, 1.0f}, b = {0.0f, 2.0f};
  const double e = std::exp(1.0), e2 = std::exp(2.0);
  const double kl_ab = std::log(1 + e2) - std::log(1 + e) - e / (1 + e);
  EXPECT_NEAR(ppl::kl_divergence(a, b), kl_ab, 1e-15);
  // And the other way round: KL(Q||P) = log(1+e) - log(1+e^2) + q1, q1 = e^2/(1+e^2).
  EXPECT_NEAR(ppl::kl_divergence(b, a), std::log(1 + e) - std::log(1 + e2) + e2 / (1 + e2), 1e-15);
  EXPECT_GT(ppl::kl_divergence(a, b), 0.0);

  // P uniform over half of V tokens (the rest -inf), Q uniform over all V: KL(P||Q) = log 2,
  // KL(Q||P) = +inf (Q puts mass where P has none).
  const size_t V = 1024;
  std::vector<float> half(V, 0.5f), all(V, -1.0f);
  for (size_t i = 0; i < V; i += 2) half[i] = kNegInf;
  EXPECT_NEAR(ppl::kl_divergence(half, all), std::log(2.0), 1e-13);
  EXPECT_EQ(ppl::kl_divergence(all, half), kInf);

  // Bernoulli-like rows over many tokens: P puts 1/2 on token 0 and 1/2 spread over the rest
  // equally; Q uniform. KL = sum p log(p V).
  std::vector<float> p_row(V, 0.0f), q_row(V, 0.0f);
  p_row[0] = static_cast<float>(std::log(double(V - 1)));  // p0 = (V-1)/(2(V-1)) = 1/2
  const double p0 = double(std::exp(double(p_row[0]))) / (std::exp(double(p_row[0])) + (V - 1));
  const double pi = (1 - p0) / (V - 1);
  const double closed = p0 * std::log(p0 * V) + (V - 1) * pi * std::log(pi * V);
  EXPECT_NEAR(ppl::kl_divergence(p_row, q_row), closed, 1e-12);
}

TEST(Perplexity, NonFiniteLogitsAreRefused) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  const std::vector<float> ok = {0.0f, 1.0f, 2.0f};
  const std::vector<float> with_nan = {0.0f, nan, 2.0f};
  const std::vector<float> with_inf = {0.0f, inf, 2.0f};
  const std::vector<float> all_masked = {kNegInf, kNegInf, kNegInf};
  std::vector<double> out(3);
  EXPECT_THROW(ppl::log_softmax(with_nan, out), Error);
  EXPECT_THROW(ppl::log_softmax(with_inf, out), Error);
  EXPECT_THROW(ppl::log_softmax(all_masked, out), Error);
  EXPECT_THROW(ppl::negative_log_likelihood(with_nan, 0), Error);
  EXPECT_THROW(ppl::kl_divergence(ok, with_nan), Error);
  EXPECT_THROW(ppl::kl_divergence(with_inf, ok), Error);
  EXPECT_THROW(ppl::kl_divergence(ok, std::vector<float>{0.0f, 1.0f}), Error);
  EXPECT_THROW(ppl::log_softmax(std::vector<float>{}, std::span<double>()), Error);
  try {
    ppl::negative_log_likelihood(with_nan, 0);
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("logit 1 is NaN"), std::string::npos) << e.what();
  }
}

TEST(Perplexity, KlStatsQuantilesAndAgreement) {
  ppl::KlStats s;
  EXPECT_TRUE(std::isnan(s.median()));
  for (int i = 100; i >= 0; --i) s.add(double(i), i % 4 == 0);
  EXPECT_EQ(s.count(), 101);
  EXPECT_DOUBLE_EQ(s.mean(), 50.0);
  EXPECT_DOUBLE_EQ(s.median(), 50.0);
  EXPECT_DOUBLE_EQ(s.quantile(0.99), 99.0);
  EXPECT_DOUBLE_EQ(s.quantile(0.995), 99.5);
  EXPECT_DOUBLE_EQ(s.max(), 100.0);
  EXPECT_DOUBLE_EQ(s.quantile(0.0), 0.0);
  EXPECT_NEAR(s.same_top_share(), 26.0 / 101.0, 1e-15);
  // Standard error of the mean of 0..100: sqrt(var/n), var = n(n+1)/12 with n = 101 values... as
  // a sample variance: sum (i-50)^2 / 100 = 858.5.
  EXPECT_NEAR(s.mean_stderr(), std::sqrt(858.5 / 101.0), 1e-12);
}

TEST(Perplexity, Windows) {
  ppl::PerplexityOptions o;
  o.n_ctx = 4;
  EXPECT_EQ(ppl::window_starts(11, o), (std::vector<int64_t>{0, 4}));
  EXPECT_EQ(ppl::window_starts(12, o), (std::vector<int64_t>{0, 4, 8}));
  o.max_chunks = 2;
  EXPECT_EQ(ppl::window_starts(100, o), (std::vector<int64_t>{0, 4}));
  EXPECT_THROW(ppl::window_starts(3, o), Error);
  o.n_ctx = 3;
  EXPECT_THROW(ppl::window_starts(100, o), Error);
  EXPECT_EQ(ppl::first_scored(512), 256);
}

// ---- on a test model -------------------------------------------------------------------------

std::string make_model(const test::TempDir& dir, const std::string& type, const std::string& name) {
  TestModelOptions o;
  o.config = test_model_config("tiny", Arch::kQwen2);
  o.seed = 5;
  o.progress = false;
  o.weights = parse_weight_type(type);
  o.format = FileKind::kGguf;
  const std::string out = dir.file(name);
  write_test_model(o, out);
  return out;
}

std::vector<int32_t> some_tokens(int64_t n, int64_t V) {
  std::vector<int32_t> t;
  for (int64_t i = 0; i < n; ++i) t.push_back(static_cast<int32_t>((i * 7919 + 13) % V));
  return t;
}

TEST(PerplexityModel, WindowsScoreTheSecondHalfAsADirectComputation) {
  // Float32 activations: the windows and the direct passes batch tokens differently, and only
  // the exact kernels give the same values for every batching.
  r1::int8::set_enabled(false);
  test::TempDir dir;
  ModelSource src = ModelSource::open(make_model(dir, "F32", "m.gguf"));
  Model m(bind_weights(src));
  const int64_t V = m.config().vocab_size;
  const std::vector<int32_t> tokens = some_tokens(37, V);
  ppl::PerplexityOptions o;
  o.n_ctx = 16;
  o.bos = 1;
  int calls = 0;
  const ppl::PerplexityResult r =
      ppl::evaluate_perplexity(m, nullptr, tokens, o, [&](int64_t done, int64_t all, auto&) {
        ++calls;
        EXPECT_EQ(all, 2);
        EXPECT_EQ(done, calls);
      });
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(r.windows, 2);
  EXPECT_EQ(r.n_tokens, 37);
  EXPECT_EQ(r.nll.count(), 2 * (16 - 1 - 8));
  EXPECT_EQ(r.kl.count(), 0);

  // The same from one forward pass over each whole window.
  ppl::NllStats direct;
  for (int64_t w = 0; w < 2; ++w) {
    std::vector<int32_t> win(tokens.begin() + w * 16, tokens.begin() + (w + 1) * 16);
    win[0] = 1;
    Sequence seq = m.new_sequence(16);
    std::vector<float> logits(static_cast<size_t>(16 * V));
    m.forward(seq, win, logits.data(), true);
    for (int64_t j = 8; j < 15; ++j)
      direct.add(ppl::negative_log_likelihood(
          std::span<const float>(logits.data() + j * V, static_cast<size_t>(V)), win[j + 1]));
  }
  EXPECT_NEAR(r.nll.mean(), direct.mean(), 1e-5 * direct.mean());
  EXPECT_NEAR(r.nll.perplexity(), direct.perplexity(), 1e-5 * direct.perplexity());
  EXPECT_GT(r.nll.perplexity(), 1.0);
}

TEST(PerplexityModel, KlAgainstItselfIsZeroAndAgainstQ4SmallButPositive) {
  test::TempDir dir;
  ModelSource f32 = ModelSource::open(make_model(dir, "F32", "f32.gguf"));
  ModelSource q4 = ModelSource::open(make_model(dir, "Q4_0", "q4.gguf"));
  Model base(bind_weights(f32)), again(bind_weights(f32)), quant(bind_weights(q4));
  const std::vector<int32_t> tokens = some_tokens(64, base.config().vocab_size);
  ppl::PerplexityOptions o;
  o.n_ctx = 32;

  const ppl::PerplexityResult self = ppl::evaluate_perplexity(again, &base, tokens, o);
  EXPECT_EQ(self.kl.count(), 2 * 15);
  EXPECT_EQ(self.kl.mean(), 0.0);
  EXPECT_EQ(self.kl.max(), 0.0);
  EXPECT_EQ(self.kl.same_top_share(), 1.0);
  EXPECT_EQ(self.nll.mean(), self.base_nll.mean());

  const ppl::PerplexityResult q = ppl::evaluate_perplexity(quant, &base, tokens, o);
  EXPECT_GT(q.kl.mean(), 0.0);
  EXPECT_LT(q.kl.mean(), 0.2);
  EXPECT_GT(q.kl.median(), 0.0);
  EXPECT_LE(q.kl.median(), q.kl.quantile(0.99));
  EXPECT_GT(q.kl.same_top_share(), 0.5);
  EXPECT_EQ(q.base_nll.mean(), self.nll.mean());
  EXPECT_NE(q.nll.mean(), q.base_nll.mean());

  o.n_ctx = 100;  // longer than the text
  EXPECT_THROW(ppl::evaluate_perplexity(quant, &base, tokens, o), Error);
}

}  // namespace
}  // namespace r1
