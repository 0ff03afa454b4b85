// Constrained decoding: the vocabulary walk that masks the logits agrees with checking every
// token on its own, the gate lets the reasoning run free until `</think>` (also split across
// tokens), end-of-sequence comes only once the sentence is whole, and the sampler only ever
// returns allowed tokens (the best allowed one at temperature 0).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>

#include "core/error.h"
#include "sampling/constraint.h"
#include "sampling/json_schema.h"
#include "sampling/sampler.h"

namespace r1 {
namespace {

using json = nlohmann::json;

// A vocabulary like a byte-level BPE one: every byte, and random multi-byte pieces over a
// JSON-ish alphabet (many sharing prefixes), some empty slots, and an end-of-sequence token.
std::shared_ptr<const VocabIndex> test_vocab(int32_t* eos_out) {
  std::vector<std::string> v;
  for (int b = 0; b < 256; ++b) v.emplace_back(1, static_cast<char>(b));
  std::mt19937 rng(3);
  const std::string alpha = "{}[]\":, \n\tabcxyz0129.-e\\";
  for (int i = 0; i < 3000; ++i) {
    std::string t;
    for (int n = 2 + static_cast<int>(rng() % 5); n > 0; --n) t += alpha[rng() % alpha.size()];
    v.push_back(t);
  }
  for (const char* t : {"</think>", "</th", "ink>", "ink>{\"", "\"city\"", "\"Paris\"", "Par"})
    v.emplace_back(t);
  v.emplace_back();  // unused slot
  v.emplace_back("<|eos|>");
  *eos_out = static_cast<int32_t>(v.size() - 1);
  return std::make_shared<VocabIndex>(std::move(v), *eos_out);
}

std::shared_ptr<const Grammar> city_grammar() {
  return json_grammar::document_grammar(
      std::make_unique<json>(
          json::parse(
              R"({"type":"object","properties":{"city":{"enum":["Paris","Rome"]},"n":{"type":"integer"}},"required":["city"]})"))
          .get());
}

void expect_mask_matches_allows(const TokenConstraint& c, size_t n, const std::string& at) {
  std::vector<float> l(n, 0.0f);
  c.mask(l.data(), static_cast<int64_t>(n));
  size_t allowed = 0;
  for (size_t id = 0; id < n; ++id) {
    const bool masked_ok = !std::isinf(l[id]);
    allowed += masked_ok;
    ASSERT_EQ(masked_ok, c.allows(static_cast<int32_t>(id))) << "token " << id << " after " << at;
  }
  EXPECT_GT(allowed, 0u) << at;
}

TEST(TokenConstraint, MaskAgreesWithCheckingEachToken) {
  int32_t eos = -1;
  const auto vocab = test_vocab(&eos);
  TokenConstraint c(city_grammar(), vocab);
  EXPECT_TRUE(c.active());
  const std::string answer = "{\"city\": \"Paris\", \"n\": 12}";
  std::string fed;
  for (char ch : answer) {
    expect_mask_matches_allows(c, vocab->size(), fed);
    EXPECT_FALSE(c.allows(eos)) << fed;
    const int32_t id = static_cast<unsigned char>(ch);
    ASSERT_TRUE(c.allows(id)) << fed << " + " << ch;
    c.advance(id);
    fed += ch;
  }
  EXPECT_TRUE(c.complete());
  EXPECT_TRUE(c.allows(eos));
  expect_mask_matches_allows(c, vocab->size(), fed);
  EXPECT_FALSE(c.done());  // trailing whitespace may still follow
  EXPECT_FALSE(c.allows('x'));
  EXPECT_THROW(c.advance('x'), Error);
}

TEST(TokenConstraint, MultiByteTokensAndForcedLiterals) {
  int32_t eos = -1;
  const auto vocab = test_vocab(&eos);
  TokenConstraint c(city_grammar(), vocab);
  c.advance('{');
  const int32_t city = static_cast<int32_t>(vocab->size() - 5);  // "\"city\""
  ASSERT_EQ(vocab->bytes(city), "\"city\"");
  EXPECT_TRUE(c.allows(city));
  c.advance(city);
  c.advance(':');
  const int32_t paris = city + 1, par = city + 2;
  EXPECT_TRUE(c.allows(paris));
  EXPECT_FALSE(c.allows(par));  // 'P' 'a' 'r' without the quote
  c.advance(paris);
  expect_mask_matches_allows(c, vocab->size(), "{\"city\":\"Paris\"");
  c.advance('}');
  EXPECT_TRUE(c.complete());
}

TEST(TokenConstraint, TheGateLeavesTheReasoningFree) {
  int32_t eos = -1;
  const auto vocab = test_vocab(&eos);
  const auto id_of = [&](const std::string& t) {
    for (size_t i = 0; i < vocab->size(); ++i)
      if (vocab->bytes(static_cast<int32_t>(i)) == t) return static_cast<int32_t>(i);
    ADD_FAILURE() << t;
    return 0;
  };
  TokenConstraint c(city_grammar(), vocab, "</think>");
  EXPECT_FALSE(c.active());
  EXPECT_TRUE(c.allows('x'));
  EXPECT_TRUE(c.allows(']'));
  EXPECT_FALSE(c.allows(eos));  // the answer must come
  expect_mask_matches_allows(c, vocab->size(), "(reasoning)");
  c.advance('x');
  c.advance(id_of("</th"));
  EXPECT_FALSE(c.active());
  // "ink>" completes the gate; "ink>{\"" also starts the answer.
  EXPECT_TRUE(c.allows(id_of("ink>")));
  EXPECT_TRUE(c.allows(id_of("ink>{\"")));
  expect_mask_matches_allows(c, vocab->size(), "x</th");
  c.advance(id_of("ink>{\""));
  EXPECT_TRUE(c.active());
  EXPECT_FALSE(c.allows('x'));
  EXPECT_TRUE(c.allows('c'));
  // A whole `</think>` token, then the answer after leading newlines.
  TokenConstraint d(city_grammar(), vocab, "</think>");
  d.advance(id_of("</think>"));
  EXPECT_TRUE(d.active());
  d.advance('\n');
  d.advance('\n');
  EXPECT_TRUE(d.allows('{'));
  EXPECT_FALSE(d.allows('['));
}

TEST(TokenConstraint, SamplerDrawsOnlyAllowedTokens) {
  int32_t eos = -1;
  const auto vocab = test_vocab(&eos);
  std::mt19937 rng(9);
  std::normal_distribution<float> nd(0.0f, 3.0f);
  for (float temperature : {0.0f, 0.8f}) {
    SamplingParams p;
    p.temperature = temperature;
    p.top_p = 0.9f;
    p.seed = 4;
    Sampler s(p);
    TokenConstraint c(city_grammar(), vocab);
    std::vector<float> logits(vocab->size());
    std::string out;
    for (int step = 0; step < 200 && !c.done(); ++step) {
      for (float& x : logits) x = nd(rng);
      const int32_t id = s.sample(logits.data(), static_cast<int64_t>(logits.size()), &c);
      ASSERT_TRUE(c.allows(id)) << out;
      if (temperature == 0.0f) {
        // Exactly the best allowed token.
        std::vector<float> masked = logits;
        c.mask(masked.data(), static_cast<int64_t>(masked.size()));
        EXPECT_EQ(id, argmax(masked.data(), static_cast<int64_t>(masked.size())));
      }
      if (id == eos) break;
      c.advance(id);
      out += vocab->bytes(id);
    }
    SCOPED_TRACE(out);
    // Bounded whitespace and numbers: the answer completes.
    ASSERT_TRUE(c.complete());
    const json v = json::parse(out);
    EXPECT_TRUE(v["city"] == "Paris" || v["city"] == "Rome");
  }
}

}  // namespace
}  // namespace r1
