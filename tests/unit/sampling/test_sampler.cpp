// Sampler: exact argmax at temperature 0, the truncations (top-k, top-p, min-p) at their edges,
// penalties, logit bias, seeded determinism and refusal of non-finite logits.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>
#include <random>
#include <set>
#include <vector>

#include "core/error.h"
#include "sampling/sampler.h"

namespace r1 {
namespace {

// Logits with a clear order: token i has logit -0.1 * i, except `best` which is highest.
std::vector<float> ramp(int n, int best = 3) {
  std::vector<float> l(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) l[static_cast<size_t>(i)] = -0.1f * static_cast<float>(i);
  l[static_cast<size_t>(best)] = 1.0f;
  return l;
}

std::set<int32_t> distinct(SamplingParams p, const std::vector<float>& l, int draws = 2000) {
  Sampler s(p);
  std::set<int32_t> seen;
  for (int i = 0; i < draws; ++i) seen.insert(s.sample(l.data(), static_cast<int64_t>(l.size())));
  return seen;
}

SamplingParams hot(float temp = 1.0f) {
  SamplingParams p;
  p.temperature = temp;
  p.seed = 42;
  return p;
}

TEST(Sampler, TemperatureZeroIsExactArgmax) {
  const auto l = ramp(100, 57);
  EXPECT_EQ(distinct({}, l, 50), std::set<int32_t>{57});
  // Ties go to the first index.
  std::vector<float> tie = {0.5f, 2.0f, 2.0f, 1.0f};
  Sampler s({});
  EXPECT_EQ(s.sample(tie.data(), 4), 1);
}

TEST(Sampler, DefaultsFollowDeepSeek) {
  const SamplingParams d = deepseek_r1_defaults();
  EXPECT_FLOAT_EQ(d.temperature, 0.6f);
  EXPECT_FLOAT_EQ(d.top_p, 0.95f);
}

TEST(Sampler, HotSamplingVisitsManyTokens) {
  EXPECT_GT(distinct(hot(), ramp(20)).size(), 10u);
}

TEST(Sampler, TinyTemperatureIsArgmax) {
  std::vector<float> l = ramp(1000, 777);
  l[500] = 0.9999f;  // a close second
  EXPECT_EQ(distinct(hot(1e-6f), l), std::set<int32_t>{777});
}

TEST(Sampler, TopPTinyKeepsOnlyTheBest) {
  SamplingParams p = hot(5.0f);
  p.top_p = 1e-9f;
  EXPECT_EQ(distinct(p, ramp(50, 7)), std::set<int32_t>{7});
}

TEST(Sampler, TopPKeepsTheSmallestNucleus) {
  // Probabilities 0.5, 0.3, 0.15, 0.05 at temperature 1.
  std::vector<float> l = {std::log(0.05f), std::log(0.5f), std::log(0.15f), std::log(0.3f)};
  SamplingParams p = hot();
  p.top_p = 0.75f;  // 0.5 + 0.3 reaches it
  EXPECT_EQ(distinct(p, l), (std::set<int32_t>{1, 3}));
  p.top_p = 0.85f;  // needs the third
  EXPECT_EQ(distinct(p, l), (std::set<int32_t>{1, 2, 3}));
}

TEST(Sampler, TopKOneIsArgmax) {
  SamplingParams p = hot(10.0f);
  p.top_k = 1;
  EXPECT_EQ(distinct(p, ramp(30, 11)), std::set<int32_t>{11});
}

TEST(Sampler, TopKLimitsAndLargerThanVocabularyIsOff) {
  SamplingParams p = hot(100.0f);
  p.top_k = 3;
  EXPECT_EQ(distinct(p, ramp(10, 5)), (std::set<int32_t>{0, 1, 5}));
  p.top_k = 1000;  // more than the 10 tokens
  EXPECT_EQ(distinct(p, ramp(10, 5)).size(), 10u);
}

TEST(Sampler, MinPOneKeepsOnlyTheBest) {
  SamplingParams p = hot(3.0f);
  p.min_p = 1.0f;
  EXPECT_EQ(distinct(p, ramp(40, 9)), std::set<int32_t>{9});
  // Tied best tokens both survive min-p 1.
  std::vector<float> l = {0.0f, 2.0f, 2.0f, 0.0f};
  EXPECT_EQ(distinct(p, l), (std::set<int32_t>{1, 2}));
}

TEST(Sampler, MinPDropsUnlikelyTokens) {
  std::vector<float> l = {std::log(0.5f), std::log(0.3f), std::log(0.15f), std::log(0.05f)};
  SamplingParams p = hot();
  p.min_p = 0.2f;  // keeps p >= 0.1
  EXPECT_EQ(distinct(p, l), (std::set<int32_t>{0, 1, 2}));
}

// The plain definition: sort every token best first, then cut top-k, top-p and min-p prefixes.
std::map<int32_t, double> reference_candidates(const std::vector<float>& l,
                                               const SamplingParams& p) {
  std::vector<int32_t> idx(l.size());
  std::iota(idx.begin(), idx.end(), 0);
  std::sort(idx.begin(), idx.end(), [&](int32_t a, int32_t b) {
    return l[static_cast<size_t>(a)] > l[static_cast<size_t>(b)] ||
           (l[static_cast<size_t>(a)] == l[static_cast<size_t>(b)] && a < b);
  });
  size_t keep = idx.size();
  if (p.top_k > 0 && static_cast<size_t>(p.top_k) < keep) keep = static_cast<size_t>(p.top_k);
  while (keep > 1 && std::isinf(l[static_cast<size_t>(idx[keep - 1])])) --keep;
  std::vector<double> w(keep);
  double sum = 0;
  for (size_t i = 0; i < keep; ++i)
    sum += w[i] = std::exp(
        (static_cast<double>(l[static_cast<size_t>(idx[i])]) - l[static_cast<size_t>(idx[0])]) /
        p.temperature);
  if (p.top_p < 1.0f) {
    double acc = 0;
    size_t k = 0;
    while (k < keep) {
      acc += w[k++] / sum;
      if (acc >= p.top_p) break;
    }
    keep = std::max<size_t>(k, 1);
  }
  if (p.min_p > 0.0f) {
    size_t k = 1;
    while (k < keep && w[k] >= p.min_p) ++k;
    keep = k;
  }
  std::map<int32_t, double> out;
  for (size_t i = 0; i < keep; ++i) out[idx[i]] = w[i];
  return out;
}

TEST(Sampler, CandidatesEqualTheSortedDefinition) {
  std::mt19937 rng(5);
  for (int trial = 0; trial < 300; ++trial) {
    const int n = 1 + static_cast<int>(rng() % 3000);
    std::vector<float> l(static_cast<size_t>(n));
    const float spread = std::vector<float>{0.01f, 1.0f, 10.0f, 100.0f}[rng() % 4];
    std::normal_distribution<float> g(0.0f, spread);
    for (auto& x : l) x = g(rng);
    if (trial % 3 == 0)  // ties: a few distinct values only
      for (auto& x : l) x = std::round(x * 2.0f / spread);
    if (trial % 5 == 0)  // some forbidden tokens
      for (int i = 0; i < n / 4; ++i)
        l[rng() % static_cast<size_t>(n)] = -std::numeric_limits<float>::infinity();
    if (std::all_of(l.begin(), l.end(), [](float x) { return std::isinf(x); })) l[0] = 0.0f;
    SamplingParams p;
    p.temperature = std::vector<float>{0.1f, 0.6f, 1.0f, 3.0f}[rng() % 4];
    p.top_k = std::vector<int32_t>{0, 1, 5, 40, 100000}[rng() % 5];
    p.top_p = std::vector<float>{1.0f, 0.95f, 0.5f, 0.999f, 1e-6f}[rng() % 5];
    p.min_p = std::vector<float>{0.0f, 0.0f, 0.05f, 0.5f}[rng() % 4];
    const Candidates c = filter_candidates(l.data(), n, p);
    ASSERT_EQ(c.ids.size(), c.weights.size());
    EXPECT_TRUE(std::is_sorted(c.ids.begin(), c.ids.end()));
    std::map<int32_t, double> got;
    for (size_t i = 0; i < c.ids.size(); ++i) got[c.ids[i]] = c.weights[i];
    const auto want = reference_candidates(l, p);
    ASSERT_EQ(got.size(), want.size()) << "trial " << trial << " n " << n;
    for (const auto& [id, w] : want) {
      ASSERT_TRUE(got.count(id)) << "trial " << trial << " token " << id;
      EXPECT_NEAR(got[id], w, 1e-12 * std::max(1.0, w));
    }
  }
}

// The draws follow the candidates' probabilities (a 3-sigma check on each of them).
TEST(Sampler, DrawFrequenciesMatchTheCandidates) {
  std::vector<float> l = ramp(200, 17);
  SamplingParams p = hot(0.3f);
  p.top_p = 0.9f;
  const Candidates c = filter_candidates(l.data(), 200, p);
  double total = 0;
  for (double w : c.weights) total += w;
  Sampler s(p);
  std::map<int32_t, int> count;
  const int draws = 40000;
  for (int i = 0; i < draws; ++i) ++count[s.sample(l.data(), 200)];
  int in = 0;
  for (size_t i = 0; i < c.ids.size(); ++i) {
    const double q = c.weights[i] / total;
    const double sd = std::sqrt(draws * q * (1 - q));
    EXPECT_NEAR(count[c.ids[i]], draws * q, 3 * sd + 1) << "token " << c.ids[i];
    in += count[c.ids[i]];
  }
  EXPECT_EQ(in, draws);  // nothing outside the nucleus
}

TEST(Sampler, SameSeedSameTokensOtherSeedOtherTokens) {
  const auto l = ramp(64);
  auto draw = [&](uint64_t seed) {
    SamplingParams p = hot(2.0f);
    p.seed = seed;
    p.top_k = 40;
    p.top_p = 0.9f;
    Sampler s(p);
    std::vector<int32_t> out;
    for (int i = 0; i < 200; ++i) out.push_back(s.sample(l.data(), 64));
    return out;
  };
  EXPECT_EQ(draw(7), draw(7));
  EXPECT_NE(draw(7), draw(8));
}

TEST(Sampler, RepeatPenaltyMovesArgmaxAway) {
  std::vector<float> l = {2.0f, 1.5f, -1.0f};
  SamplingParams p;  // greedy
  p.repeat_penalty = 1.5f;
  Sampler s(p);
  s.accept(0);  // 2.0 / 1.5 = 1.33 < 1.5
  EXPECT_EQ(s.sample(l.data(), 3), 1);
  // A negative logit is multiplied (pushed further down), never raised.
  std::vector<float> neg = {-1.0f, -1.2f};
  Sampler t(p);
  t.accept(1);
  EXPECT_EQ(t.sample(neg.data(), 2), 0);
  t.clear_history();
  t.accept(0);  // -1.5 < -1.2
  EXPECT_EQ(t.sample(neg.data(), 2), 1);
}

TEST(Sampler, PresenceAndFrequencyPenalties) {
  std::vector<float> l = {3.0f, 2.5f, 0.0f};
  auto pick = [&](float presence, float frequency, int repeats) {
    SamplingParams p;
    p.presence_penalty = presence;
    p.frequency_penalty = frequency;
    Sampler s(p);
    s.accept(std::vector<int32_t>(static_cast<size_t>(repeats), 0));
    return s.sample(l.data(), 3);
  };
  EXPECT_EQ(pick(0.4f, 0, 5), 0);  // 3 - 0.4 = 2.6 > 2.5, however often it was seen
  EXPECT_EQ(pick(0.6f, 0, 1), 1);  // 2.4 < 2.5
  EXPECT_EQ(pick(0, 0.2f, 2), 0);  // 3 - 2 x 0.2 = 2.6
  EXPECT_EQ(pick(0, 0.2f, 3), 1);  // 3 - 3 x 0.2 = 2.4
}

TEST(Sampler, PenaltyWindowForgetsOldTokens) {
  std::vector<float> l = {2.0f, 1.5f};
  SamplingParams p;
  p.repeat_penalty = 2.0f;
  p.penalty_last_n = 3;
  Sampler s(p);
  s.accept(std::vector<int32_t>{0, 1, 1, 1});  // token 0 fell out of the window
  EXPECT_EQ(s.sample(l.data(), 2), 0);
}

TEST(Sampler, LogitBiasForbidsAndFavours) {
  SamplingParams p;
  p.logit_bias[3] = -std::numeric_limits<float>::infinity();
  const auto l = ramp(10, 3);
  EXPECT_EQ(distinct(p, l, 5), std::set<int32_t>{0});
  SamplingParams q = hot(1.0f);
  q.logit_bias[3] = -std::numeric_limits<float>::infinity();
  EXPECT_EQ(distinct(q, l).count(3), 0u);
  SamplingParams f;
  f.logit_bias[9] = 100.0f;
  EXPECT_EQ(distinct(f, l, 5), std::set<int32_t>{9});
  // Forbidding everything is an error, not a token.
  SamplingParams all;
  for (int i = 0; i < 10; ++i) all.logit_bias[i] = -std::numeric_limits<float>::infinity();
  Sampler s(all);
  EXPECT_THROW(s.sample(l.data(), 10), Error);
}

TEST(Sampler, NonFiniteLogitsAreAnError) {
  for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                    -std::numeric_limits<float>::infinity()}) {
    for (float temp : {0.0f, 0.7f}) {
      auto l = ramp(16);
      l[5] = bad;
      SamplingParams p;
      p.temperature = temp;
      Sampler s(p);
      try {
        s.sample(l.data(), 16);
        ADD_FAILURE() << "no error for " << bad;
      } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("token 5"), std::string::npos) << e.what();
      }
    }
  }
}

TEST(Sampler, BadParametersAreRefused) {
  SamplingParams p;
  p.top_p = 0.0f;
  EXPECT_THROW(Sampler{p}, Error);
  p = {};
  p.min_p = 1.5f;
  EXPECT_THROW(Sampler{p}, Error);
  p = {};
  p.temperature = std::numeric_limits<float>::quiet_NaN();
  EXPECT_THROW(Sampler{p}, Error);
  p = {};
  p.repeat_penalty = 0.0f;
  EXPECT_THROW(Sampler{p}, Error);
}

}  // namespace
}  // namespace r1
