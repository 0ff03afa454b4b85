// Chat sessions on a tiny random-weight DeepSeek-V3 model: the think budget (with a logit bias
// that keeps the model thinking), no-think, seeded determinism, temperature 0 = `r1 generate`'s
// greedy tokens, cache reuse across turns, stop strings, cancellation and context overflow.
#include <gtest/gtest.h>

#include "kernels/int8.h"

#include <algorithm>
#include <limits>
#include <memory>
#include <sstream>

#include "core/error.h"
#include "engine/session.h"
#include "model/source.h"
#include "test_util.h"

namespace r1::engine {
namespace {

constexpr float kForbid = -std::numeric_limits<float>::infinity();

struct Fixture {
  test::TempDir dir;
  std::string path;
  std::unique_ptr<ModelSource> src;
  std::unique_ptr<Model> model;
  std::unique_ptr<Tokenizer> tok;
  Fixture() {
    path = dir.file("tiny.gguf");
    auto r = test::run_command(test::r1_binary() +
                               " make-test-model -q --arch deepseek_v3 --type Q8_0 " + path);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    src = std::make_unique<ModelSource>(ModelSource::open(path));
    model = std::make_unique<Model>(bind_weights(*src));
    tok = std::make_unique<Tokenizer>(Tokenizer::from_gguf(*src->gguf()));
  }
  int32_t id(const std::string& t) const {
    auto i = tok->find(t);
    EXPECT_TRUE(i.has_value()) << t;
    return i.value_or(0);
  }
};

Fixture& fx() {
  static Fixture f;
  return f;
}

SessionOptions greedy(int64_t max_tokens) {
  SessionOptions o;
  o.sampling = {};
  o.max_tokens = max_tokens;
  o.n_ctx = 512;
  return o;
}

TEST(Session, ThinkBudgetEndsTheReasoning) {
  Fixture& f = fx();
  SessionOptions o = greedy(48);
  o.sampling = deepseek_r1_defaults();
  o.sampling.seed = 5;
  // The model may never close its reasoning itself, nor end the answer.
  o.sampling.logit_bias[f.id("</think>")] = kForbid;
  o.sampling.logit_bias[f.tok->eos()] = kForbid;
  {
    ChatSession s(*f.model, *f.tok, o);
    const TurnResult r = s.send("Why is the sky blue?");
    EXPECT_EQ(r.stats.thinking_tokens, 48);  // without a budget it thinks all along
    EXPECT_TRUE(r.content.empty());
  }
  o.think_budget = 16;
  ChatSession s(*f.model, *f.tok, o);
  std::string streamed_reasoning, streamed_content;
  const TurnResult r = s.send("Why is the sky blue?", [&](const chat::StreamEvent& e) {
    (e.kind == chat::EventKind::kReasoning ? streamed_reasoning : streamed_content) += e.text;
  });
  EXPECT_LE(r.stats.thinking_tokens, 16);
  EXPECT_EQ(r.stats.thinking_tokens, 16);
  EXPECT_GT(r.stats.inserted, 0);
  EXPECT_EQ(r.stats.finish, Finish::kLength);
  // 16 sampled thinking tokens, then the inserted `</think>`, then the answer.
  ASSERT_GT(r.tokens.size(), 17u);
  const auto close = std::find(r.tokens.begin(), r.tokens.end(), f.id("</think>"));
  ASSERT_NE(close, r.tokens.end());
  EXPECT_LE(close - r.tokens.begin(), 17);  // at most a newline token before it
  EXPECT_FALSE(r.content.empty());
  EXPECT_EQ(streamed_content, r.content);
  EXPECT_EQ(streamed_reasoning, r.reasoning);
  EXPECT_EQ(r.reasoning.find("</think>"), std::string::npos);
  // The answer joins the conversation without its reasoning in the content.
  ASSERT_EQ(s.conversation().messages.size(), 2u);
  EXPECT_EQ(s.conversation().messages[1].content.value_or(""), r.content);
}

TEST(Session, ThinkBudgetKeepsTheReasoningClosed) {
  Fixture& f = fx();
  SessionOptions o = greedy(24);
  // A model that would open its reasoning again at every step, were it allowed to.
  const int32_t open = f.id("<think>");
  o.sampling.logit_bias[open] = 100.0f;
  o.sampling.logit_bias[f.id("</think>")] = kForbid;
  o.sampling.logit_bias[f.tok->eos()] = kForbid;
  o.think_budget = 4;
  ChatSession s(*f.model, *f.tok, o);
  const TurnResult r = s.send("Hi");
  EXPECT_EQ(r.stats.thinking_tokens, 4);
  const auto close = std::find(r.tokens.begin(), r.tokens.end(), f.id("</think>"));
  ASSERT_NE(close, r.tokens.end());
  EXPECT_EQ(std::find(close, r.tokens.end(), open), r.tokens.end());
  EXPECT_FALSE(r.content.empty());
}

TEST(Session, ThinkBudgetMessageGoesIntoTheReasoning) {
  Fixture& f = fx();
  SessionOptions o = greedy(30);
  o.sampling.logit_bias[f.id("</think>")] = kForbid;
  o.think_budget = 4;
  o.think_budget_message = "Time is up, answering now.";
  ChatSession s(*f.model, *f.tok, o);
  const TurnResult r = s.send("Hi");
  EXPECT_EQ(r.stats.thinking_tokens, 4);
  EXPECT_NE(r.reasoning.find("Time is up, answering now."), std::string::npos) << r.reasoning;
}

TEST(Session, NoThinkAnswersDirectly) {
  Fixture& f = fx();
  SessionOptions o = greedy(20);
  o.thinking = false;
  o.sampling.logit_bias[f.id("<think>")] = kForbid;
  o.sampling.logit_bias[f.tok->eos()] = kForbid;
  ChatSession s(*f.model, *f.tok, o);
  const TurnResult r = s.send("Hi");
  EXPECT_EQ(r.stats.thinking_tokens, 0);
  EXPECT_TRUE(r.reasoning.empty());
  EXPECT_FALSE(r.content.empty());
  const auto p = s.prompt_tokens("x");
  EXPECT_NE(f.tok->decode(p).find("<think>\n\n</think>\n\n"), std::string::npos);
}

TEST(Session, SameSeedSameTextOtherSeedOtherText) {
  Fixture& f = fx();
  auto run = [&](uint64_t seed) {
    SessionOptions o;
    o.max_tokens = 40;
    o.sampling.seed = seed;
    ChatSession s(*f.model, *f.tok, o);
    return s.send("Tell me something").tokens;
  };
  EXPECT_EQ(run(11), run(11));
  EXPECT_NE(run(11), run(12));
}

TEST(Session, TemperatureZeroEqualsGenerateGreedy) {
  Fixture& f = fx();
  ChatSession s(*f.model, *f.tok, greedy(24));
  const TurnResult r = s.send("Hello there");
  auto g = test::run_command(test::r1_binary() + " generate " + f.path +
                             " -p 'Hello there' -n 24 --print-ids");
  ASSERT_EQ(g.exit_code, 0) << g.err;
  std::istringstream ss(g.out);
  std::vector<int32_t> ids;
  for (int32_t x; ss >> x;) ids.push_back(x);
  std::vector<int32_t> mine = r.tokens;
  if (!mine.empty() && mine.back() == f.tok->eos()) mine.pop_back();  // generate stops before it
  EXPECT_EQ(mine, ids);
}

TEST(Session, CachedPrefixIsReusedAndGivesTheSameAnswer) {
  // Float32 activations: the reused prefix and a fresh prompt are batched differently, and
  // only the exact kernels give the same values for every batching.
  r1::int8::set_enabled(false);
  Fixture& f = fx();
  const auto v3 = chat::chat_template_by_name("deepseek-v3");  // keeps turns verbatim
  ChatSession s(*f.model, *f.tok, v3, greedy(0));
  const TurnResult first = s.send("First question");
  EXPECT_EQ(first.stats.reused_tokens, 0);
  s.options().max_tokens = 12;
  const TurnResult second = s.send("Second question");
  EXPECT_EQ(second.stats.reused_tokens, first.stats.prompt_tokens);
  EXPECT_GT(second.stats.prompt_tokens, second.stats.reused_tokens);
  // A fresh session given the same history computes everything and samples the same tokens.
  ChatSession fresh(*f.model, *f.tok, v3, greedy(12));
  chat::Conversation c = s.conversation();
  c.messages.resize(2);
  fresh.set_conversation(c);
  const TurnResult again = fresh.send("Second question");
  EXPECT_EQ(again.stats.reused_tokens, 0);
  EXPECT_EQ(again.tokens, second.tokens);
}

TEST(Session, StopStringEndsTheAnswerAndIsNotReported) {
  Fixture& f = fx();
  SessionOptions o = greedy(40);
  o.thinking = false;
  o.sampling.logit_bias[f.tok->eos()] = kForbid;
  ChatSession probe(*f.model, *f.tok, o);
  const std::string full = probe.send("Hi").content;
  ASSERT_GE(full.size(), 8u);
  const std::string stop = full.substr(4, 3);
  o.stop = {stop};
  ChatSession s(*f.model, *f.tok, o);
  const TurnResult r = s.send("Hi");
  EXPECT_EQ(r.stats.finish, Finish::kStop);
  EXPECT_EQ(r.content, full.substr(0, full.find(stop)));
}

TEST(Session, StopMatcherHoldsBackPartialMatches) {
  StopMatcher m({"END", "xyz"});
  EXPECT_EQ(m.push("abcE"), "abc");
  EXPECT_EQ(m.push("N"), "");
  EXPECT_EQ(m.push("x"), "EN");  // "ENx": E-N is no longer a prefix of END
  EXPECT_EQ(m.push("yz tail"), "");
  EXPECT_TRUE(m.stopped());
  StopMatcher n({"END"});
  EXPECT_EQ(n.push("aEN"), "a");
  EXPECT_EQ(n.flush(), "EN");
}

TEST(Session, CancelFlagStopsBeforeTheNextToken) {
  Fixture& f = fx();
  std::atomic<bool> cancel{false};
  SessionOptions o = greedy(200);
  o.sampling.logit_bias[f.tok->eos()] = kForbid;
  ChatSession s(*f.model, *f.tok, o);
  int events = 0;
  const TurnResult r = s.send(
      "Hi",
      [&](const chat::StreamEvent&) {
        if (++events == 5) cancel = true;
      },
      &cancel);
  EXPECT_EQ(r.stats.finish, Finish::kCancelled);
  EXPECT_LT(r.stats.generated, 200);
  EXPECT_EQ(s.conversation().messages.size(), 2u);  // the partial answer is kept
}

TEST(Session, ContextOverflowIsReportedOrOldestTurnsDropped) {
  Fixture& f = fx();
  SessionOptions o = greedy(6);
  o.thinking = false;
  o.n_ctx = 48;
  o.sampling.logit_bias[f.tok->eos()] = kForbid;
  const std::string msg = "Please tell me about the weather in the mountains";
  ChatSession s(*f.model, *f.tok, o);
  s.send(msg);
  ASSERT_LT(static_cast<int64_t>(s.prompt_tokens(msg).size()) - 1, 100);
  try {
    s.send(msg);
    ADD_FAILURE() << "no ContextFull";
  } catch (const ContextFull& e) {
    EXPECT_GT(e.needed, e.context);
    EXPECT_NE(std::string(e.what()).find("context"), std::string::npos);
  }
  EXPECT_EQ(s.conversation().messages.size(), 2u);  // unchanged
  s.options().drop_oldest = true;
  const TurnResult r = s.send(msg);
  EXPECT_EQ(r.stats.dropped_turns, 1);
  EXPECT_EQ(s.conversation().messages.size(), 2u);
  // A single message longer than the context is refused, never a crash.
  EXPECT_THROW(s.send(std::string(400, 'x') + " long"), ContextFull);
  // Generation that reaches the end of the context stops cleanly.
  s.reset();
  s.options().max_tokens = -1;
  const TurnResult full = s.send("Hi");
  EXPECT_EQ(full.stats.finish, Finish::kContext);
}

TEST(Session, NonFiniteLogitsAreAnErrorNotAToken) {
  SamplingParams p;
  p.temperature = 0.6f;
  Sampler s(p);
  std::vector<float> l = {0.0f, std::numeric_limits<float>::quiet_NaN()};
  EXPECT_THROW(s.sample(l.data(), 2), Error);
}

}  // namespace
}  // namespace r1::engine
