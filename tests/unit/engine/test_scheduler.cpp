// The request scheduler on a tiny random-weight DeepSeek-V3 model: several requests generated
// together give exactly what a chat session gives one at a time (greedy), the bounded queue
// refuses beyond its length, cancellation frees a slot, the think budget and stop strings work,
// and impossible requests are refused up front.
#include <gtest/gtest.h>

#include "kernels/int8.h"

#include <chrono>
#include <limits>
#include <memory>
#include <thread>

#include "chat/tool_grammar.h"
#include "core/error.h"
#include "engine/scheduler.h"
#include "engine/session.h"
#include "model/source.h"
#include "sampling/json_schema.h"
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

struct Output {
  std::string reasoning, content;
  chat::ParsedResponse parsed;  // every event (tool calls and errors too)
  GenerationStats stats;
  std::string error;
};

Output collect(GenerationHandle& h) {
  Output o;
  std::vector<chat::StreamEvent> ev;
  for (int i = 0; i < 6000; ++i) {
    const bool done = h.wait(ev, 10);
    if (done) break;
  }
  o.parsed.add(ev);
  for (const auto& e : ev) {
    if (e.kind == chat::EventKind::kReasoning) o.reasoning += e.text;
    if (e.kind == chat::EventKind::kContent) o.content += e.text;
  }
  EXPECT_TRUE(h.finished());
  o.stats = h.stats();
  o.error = h.error();
  return o;
}

GenerationRequest request(const Fixture& f, const std::string& user, int64_t max_tokens) {
  SessionOptions so;
  so.n_ctx = 512;
  ChatSession s(*f.model, *f.tok, so);
  GenerationRequest r;
  r.prompt = s.prompt_tokens(user);
  r.sampling = {};
  r.max_tokens = max_tokens;
  r.starts_in_reasoning = true;
  return r;
}

TEST(Scheduler, ConcurrentGreedyRequestsMatchTheSession) {
  // Float32 activations: prompts are chunked and batched differently from a lone session, and
  // only the exact kernels give the same values for every batching.
  r1::int8::set_enabled(false);
  Fixture& f = fx();
  const std::vector<std::string> users = {"Hello there", "Why is the sky blue?", "2+2?",
                                          "Tell me a story about a cat", "x"};
  std::vector<TurnResult> expected;
  for (const auto& u : users) {
    SessionOptions so;
    so.n_ctx = 512;
    so.sampling = {};
    so.max_tokens = 20;
    ChatSession s(*f.model, *f.tok, so);
    expected.push_back(s.send(u));
  }
  SchedulerOptions opt;
  opt.slots = 3;
  opt.n_ctx = 512;
  opt.queue_max = 8;
  opt.prefill_chunk = 7;  // prompts go in several chunks between decode steps
  Scheduler sched(*f.model, *f.tok, opt);
  std::vector<std::shared_ptr<GenerationHandle>> hs;
  for (const auto& u : users) {
    hs.push_back(sched.submit(request(f, u, 20)));
    ASSERT_NE(hs.back(), nullptr);
  }
  for (size_t i = 0; i < users.size(); ++i) {
    const Output o = collect(*hs[i]);
    EXPECT_EQ(o.error, "");
    EXPECT_EQ(o.reasoning, expected[i].reasoning) << users[i];
    EXPECT_EQ(o.content, expected[i].content) << users[i];
    EXPECT_EQ(o.stats.generated, expected[i].stats.generated);
    EXPECT_EQ(o.stats.thinking_tokens, expected[i].stats.thinking_tokens);
  }
  const SchedulerMetrics m = sched.metrics();
  EXPECT_EQ(m.requests_finished, users.size());
  EXPECT_EQ(m.busy_slots, 0);
}

TEST(Scheduler, BoundedQueueRefusesBeyondItsLength) {
  Fixture& f = fx();
  SchedulerOptions opt;
  opt.slots = 1;
  opt.n_ctx = 512;
  opt.queue_max = 2;
  Scheduler sched(*f.model, *f.tok, opt);
  GenerationRequest r = request(f, "Hi", 400);
  r.sampling.logit_bias[f.tok->eos()] = kForbid;
  std::vector<std::shared_ptr<GenerationHandle>> hs;
  int refused = 0;
  for (int i = 0; i < 6; ++i) {
    auto h = sched.submit(r);
    if (h)
      hs.push_back(h);
    else
      ++refused;
  }
  // One slot + two waiting; the rest refused at once.
  EXPECT_EQ(hs.size(), 3u);
  EXPECT_EQ(refused, 3);
  for (auto& h : hs) h->cancel();
  for (auto& h : hs) {
    const Output o = collect(*h);
    EXPECT_EQ(o.stats.finish, Finish::kCancelled);
  }
  EXPECT_EQ(sched.metrics().queued, 0);
}

TEST(Scheduler, CancellationFreesTheSlotWithinAStep) {
  Fixture& f = fx();
  SchedulerOptions opt;
  opt.slots = 2;
  opt.n_ctx = 512;
  Scheduler sched(*f.model, *f.tok, opt);
  GenerationRequest r = request(f, "Hi", 450);
  r.sampling.logit_bias[f.tok->eos()] = kForbid;
  auto h = sched.submit(r);
  ASSERT_NE(h, nullptr);
  std::vector<chat::StreamEvent> ev;
  while (ev.empty() && !h->finished()) h->wait(ev, 50);  // generating
  h->cancel();
  const auto t0 = std::chrono::steady_clock::now();
  while (sched.metrics().busy_slots != 0 &&
         std::chrono::steady_clock::now() - t0 < std::chrono::seconds(5))
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  EXPECT_EQ(sched.metrics().busy_slots, 0);
  const Output o = collect(*h);
  EXPECT_EQ(o.stats.finish, Finish::kCancelled);
  EXPECT_LT(o.stats.generated, 450);
  EXPECT_EQ(sched.metrics().cache_tokens, 0);
}

TEST(Scheduler, ThinkBudgetAndStopStrings) {
  Fixture& f = fx();
  SchedulerOptions opt;
  opt.slots = 2;
  opt.n_ctx = 512;
  Scheduler sched(*f.model, *f.tok, opt);
  GenerationRequest r = request(f, "Why?", 40);
  r.sampling.logit_bias[f.id("</think>")] = kForbid;
  r.sampling.logit_bias[f.tok->eos()] = kForbid;
  r.think_budget = 8;
  const Output o = collect(*sched.submit(r));
  EXPECT_EQ(o.stats.thinking_tokens, 8);
  EXPECT_GT(o.stats.inserted, 0);
  EXPECT_FALSE(o.content.empty());
  EXPECT_EQ(o.stats.finish, Finish::kLength);

  // Once the budget has closed the reasoning, the model cannot open it again.
  GenerationRequest again = r;
  again.sampling.logit_bias[f.id("<think>")] = 100.0f;
  const Output a = collect(*sched.submit(again));
  EXPECT_EQ(a.stats.thinking_tokens, 8);
  EXPECT_FALSE(a.content.empty());
  EXPECT_EQ(a.content.find("<think>"), std::string::npos) << a.content;

  // A stop string taken from the greedy answer ends the generation there.
  GenerationRequest g = request(f, "Why?", 40);
  g.think_budget = 0;
  g.sampling.logit_bias[f.tok->eos()] = kForbid;
  const Output full = collect(*sched.submit(g));
  ASSERT_GT(full.content.size(), 6u);
  g.stop = {full.content.substr(3, 3)};
  const Output cut = collect(*sched.submit(g));
  EXPECT_EQ(cut.stats.finish, Finish::kStop);
  EXPECT_EQ(cut.content, full.content.substr(0, full.content.find(g.stop[0])));
}

TEST(Scheduler, RefusesImpossibleRequests) {
  Fixture& f = fx();
  SchedulerOptions opt;
  opt.n_ctx = 16;
  Scheduler sched(*f.model, *f.tok, opt);
  GenerationRequest r;
  EXPECT_THROW(sched.submit(r), Error);  // empty prompt
  r.prompt = std::vector<int32_t>(16, 1);
  EXPECT_THROW(sched.submit(r), Error);  // no room for one token
  r.prompt = std::vector<int32_t>(4, 1);
  r.max_tokens = 0;
  EXPECT_THROW(sched.submit(r), Error);
  r.max_tokens = 4;
  r.prompt[0] = -5;
  EXPECT_THROW(sched.submit(r), Error);
  r.prompt[0] = 1;
  auto h = sched.submit(r);
  ASSERT_NE(h, nullptr);
  const Output o = collect(*h);
  EXPECT_EQ(o.error, "");
  sched.stop();
  r.prompt = {1, 2};
  EXPECT_EQ(sched.submit(r), nullptr);  // stopping: refused
}

// Constrained decoding through the scheduler: whatever the random model prefers, a forced tool
// call comes out as one well-formed call with arguments from the schema's enum, and a JSON
// response format gives JSON valid for its schema; the reasoning before `</think>` stays free.
TEST(Scheduler, GrammarsShapeTheAnswer) {
  Fixture& f = fx();
  SchedulerOptions opt;
  opt.slots = 2;
  opt.n_ctx = 1024;
  Scheduler sched(*f.model, *f.tok, opt);
  chat::Tool weather;
  weather.name = "get_weather";
  weather.parameters = nlohmann::json::parse(
      R"({"type":"object","properties":{"city":{"enum":["Paris","Rome"]},"unit":{"enum":["c","f"]}},"required":["city","unit"]})");
  chat::Tool time;
  time.name = "get_time";
  time.parameters = nlohmann::json::parse(R"({"type":"object","properties":{}})");
  for (uint64_t seed : {0, 1, 2, 3}) {
    GenerationRequest r = request(f, "Weather in Paris?", 400);
    r.sampling.temperature = seed == 0 ? 0.0f : 0.8f;  // greedy, then drawn
    r.sampling.seed = seed;
    r.think_budget = 6;
    r.parse_tool_calls = true;
    r.grammar = chat::tool_call_grammar({weather, time}, /*parallel=*/false);
    auto h = sched.submit(r);
    ASSERT_NE(h, nullptr);
    const Output o = collect(*h);
    const chat::ParsedResponse& p = o.parsed;
    EXPECT_EQ(o.error, "");
    EXPECT_EQ(o.stats.finish, Finish::kEos) << seed;
    EXPECT_TRUE(p.errors.empty()) << p.errors.front();
    EXPECT_EQ(p.content, "");
    EXPECT_FALSE(p.reasoning_content.empty());
    ASSERT_EQ(p.tool_calls.size(), 1u) << seed;
    const chat::ToolCall& c = p.tool_calls[0];
    const auto args = nlohmann::json::parse(c.arguments);
    if (c.name == "get_weather") {
      EXPECT_TRUE(args["city"] == "Paris" || args["city"] == "Rome") << c.arguments;
      EXPECT_TRUE(args["unit"] == "c" || args["unit"] == "f") << c.arguments;
    } else {
      EXPECT_EQ(c.name, "get_time");
      EXPECT_EQ(args, nlohmann::json::object());
    }
    EXPECT_TRUE(o.stats.tool_calls);
  }
  // JSON answers, thinking first.
  const nlohmann::json schema = nlohmann::json::parse(
      R"({"type":"object","properties":{"answer":{"type":"integer"},"sure":{"type":"boolean"}},"required":["answer","sure"]})");
  GenerationRequest r = request(f, "2+2?", 400);
  r.sampling.temperature = 0.8f;
  r.sampling.seed = 5;
  r.think_budget = 4;
  r.grammar = json_grammar::document_grammar(&schema);
  const Output o = collect(*sched.submit(r));
  EXPECT_EQ(o.error, "");
  EXPECT_EQ(o.stats.finish, Finish::kEos);
  const auto v = nlohmann::json::parse(o.content, nullptr, false);
  ASSERT_FALSE(v.is_discarded()) << o.content;
  EXPECT_TRUE(v["answer"].is_number_integer() && v["sure"].is_boolean()) << o.content;

  // A grammar that cannot even start (too ambiguous) ends its request with an error; the
  // scheduler goes on.
  GrammarBuilder gb;
  uint32_t rule = gb.rule("leaf", {GrammarBuilder::lit("a")});
  for (int i = 0; i < 20; ++i)
    rule = gb.rule("twice",
                   {GrammarBuilder::cat({GrammarBuilder::ref(rule), GrammarBuilder::lit("z")}),
                    GrammarBuilder::cat({GrammarBuilder::ref(rule), GrammarBuilder::lit("z")})});
  GenerationRequest bad = request(f, "Hi", 10);
  bad.grammar = gb.build(rule);
  const Output e = collect(*sched.submit(bad));
  EXPECT_NE(e.error.find("ambiguous"), std::string::npos) << e.error;
  EXPECT_EQ(collect(*sched.submit(request(f, "Hi", 3))).error, "");
}

}  // namespace
}  // namespace r1::engine
