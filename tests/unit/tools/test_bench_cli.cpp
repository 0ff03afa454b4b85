// `r1 bench`: the JSON list holds one object per test with the fields scripts rely on, values
// that make sense, and bad flags are refused with a message naming the flag.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "test_util.h"

namespace {

using namespace r1;

TEST(BenchCli, JsonListsEveryTestWithSpeedAndRooflineFraction) {
  test::TempDir dir;
  const std::string model = dir.file("m.gguf");
  auto r = test::run_command(test::r1_binary() + " make-test-model -q --arch qwen2 --type Q8_0 " +
                             model);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = test::run_command(test::r1_binary() + " bench " + model +
                        " -p 16 -n 4 -d 0,8 -r 2 -t 1,2 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  ASSERT_TRUE(j.is_array());
  ASSERT_EQ(j.size(), 6u);  // per thread count: pp16, tg4, tg4@d8
  std::vector<std::string> names;
  for (const auto& t : j) {
    names.push_back(t.at("test").get<std::string>());
    EXPECT_GT(t.at("tokens_per_second").get<double>(), 0.0);
    EXPECT_GT(t.at("roofline_fraction").get<double>(), 0.0);
    EXPECT_LT(t.at("roofline_fraction").get<double>(), 5.0);  // a sane share of the limit
    EXPECT_EQ(t.at("repetitions").get<int>(), 2);
    EXPECT_EQ(t.at("samples").size(), 2u);
    EXPECT_LE(t.at("tokens_per_second_min").get<double>(), t.at("tokens_per_second").get<double>());
    EXPECT_GE(t.at("tokens_per_second_max").get<double>(), t.at("tokens_per_second").get<double>());
  }
  EXPECT_EQ(names, (std::vector<std::string>{"pp16", "tg4", "tg4@d8", "pp16", "tg4", "tg4@d8"}));
  EXPECT_EQ(j[0].at("threads").get<int>(), 1);
  EXPECT_EQ(j[3].at("threads").get<int>(), 2);
  EXPECT_EQ(j[1].at("limit").get<std::string>(), "read bandwidth");
}

TEST(BenchCli, BadListsAreRefusedByName) {
  auto r = test::run_command(test::r1_binary() + " bench nothing.gguf -p 12,x");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("--n-prompt: 'x'"), std::string::npos) << r.err;
  r = test::run_command(test::r1_binary() + " bench /nonexistent.gguf -p 8");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("/nonexistent.gguf"), std::string::npos) << r.err;
}

}  // namespace
