// The streaming (flash-style) attention against the plain two-pass reference: MLA-like (a second
// score part, values = keys), GQA-like (strided rows), 1 to 2,000 positions, one task split over
// threads and many tasks, on every SIMD target.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "core/thread_pool.h"
#include "kernels/attention.h"
#include "kernels/simd.h"

namespace {

using r1::ops::AttentionHeads;

std::vector<float> rnd(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

struct Case {
  int64_t heads, len, dk, dk2, dv;
  bool values_are_keys;
  int64_t stride_pad;
};

void check_case(const Case& c, int threads) {
  r1::ThreadPool::set_threads(threads);
  const int64_t ldk = c.dk + c.stride_pad, ldq = c.dk + 3;
  const auto q = rnd(static_cast<size_t>(c.heads * ldq), 1);
  const auto q2 = rnd(static_cast<size_t>(c.heads * (c.dk2 + 1) + 1), 2);
  const auto k = rnd(static_cast<size_t>(c.len * ldk), 3);
  const auto k2 = rnd(static_cast<size_t>(c.len * (c.dk2 + 2) + 1), 4);
  const auto v = rnd(static_cast<size_t>(c.len * (c.dv + 5)), 5);
  AttentionHeads a;
  a.heads = c.heads;
  a.len = c.len;
  a.q = q.data(), a.ldq = ldq, a.dk = c.dk;
  if (c.dk2 > 0) a.q2 = q2.data(), a.ldq2 = c.dk2 + 1, a.dk2 = c.dk2;
  a.k = k.data(), a.ldk = ldk;
  if (c.dk2 > 0) a.k2 = k2.data(), a.ldk2 = c.dk2 + 2;
  if (c.values_are_keys)
    a.v = k.data(), a.ldv = ldk, a.dv = c.dk;
  else
    a.v = v.data(), a.ldv = c.dv + 5, a.dv = c.dv;
  a.scale = 1.0f / std::sqrt(static_cast<float>(c.dk + c.dk2));
  std::vector<float> want(static_cast<size_t>(c.heads * a.dv)), got(want.size() * 3, NAN);
  r1::ops::attend_reference(a, want.data());
  // Three tasks (the same spec) and one task: both paths of attend_many.
  r1::ops::attend_many(
      3, [&](int64_t) { return a; }, got.data());
  for (int64_t t = 0; t < 3; ++t)
    for (size_t i = 0; i < want.size(); ++i)
      ASSERT_NEAR(got[t * want.size() + i], want[i], 2e-5)
          << "len " << c.len << " heads " << c.heads << " task " << t;
  std::fill(got.begin(), got.end(), NAN);
  r1::ops::attend_many(
      1, [&](int64_t) { return a; }, got.data());
  for (size_t i = 0; i < want.size(); ++i)
    ASSERT_NEAR(got[i], want[i], 2e-5) << "len " << c.len << " heads " << c.heads << " single";
}

class Attention : public testing::TestWithParam<int64_t> {
 protected:
  void SetUp() override { r1::simd::force_target(GetParam()); }
  void TearDown() override {
    r1::simd::force_target(0);
    r1::ThreadPool::set_threads(r1::ThreadPool::default_threads());
  }
};

TEST_P(Attention, StreamingEqualsTwoPassReference) {
  const Case cases[] = {
      {1, 1, 8, 0, 8, false, 0},       {4, 1, 16, 4, 16, true, 0},    {2, 63, 8, 0, 5, false, 3},
      {3, 64, 17, 0, 9, false, 1},     {16, 65, 32, 8, 32, true, 0},  {5, 257, 24, 6, 24, true, 2},
      {2, 2000, 16, 0, 16, false, 16}, {7, 1031, 33, 0, 1, false, 0},
  };
  for (int threads : {1, 3})
    for (const Case& c : cases) check_case(c, threads);
}

TEST_P(Attention, LargeScoresDoNotOverflow) {
  // Scores around 1e3: the running maximum keeps exp() finite; one position dominates.
  AttentionHeads a;
  std::vector<float> q = {1.0f}, k = {1000.0f, 999.0f, -5.0f}, v = {1.0f, 2.0f, 3.0f};
  a.heads = 1, a.len = 3, a.q = q.data(), a.ldq = 1, a.dk = 1, a.k = k.data(), a.ldk = 1;
  a.v = v.data(), a.ldv = 1, a.dv = 1, a.scale = 1.0f;
  float out = NAN;
  r1::ops::attend_many(
      1, [&](int64_t) { return a; }, &out);
  const double e = std::exp(-1.0);
  EXPECT_NEAR(out, (1.0 + 2.0 * e) / (1.0 + e), 1e-5);
}

std::string label(const testing::TestParamInfo<int64_t>& info) {
  std::string s = r1::simd::target_name_of(info.param);
  for (char& ch : s)
    if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
  return s;
}
INSTANTIATE_TEST_SUITE_P(EveryTarget, Attention, testing::ValuesIn(r1::simd::supported_targets()),
                         label);

}  // namespace
