// The forced tool-call grammar and the tool-call parser agree: every sentence of the grammar
// (random walks through it) parses into well-formed calls to the given tools with arguments
// that meet their schemas, and what the parser would reject the grammar refuses.
#include <gtest/gtest.h>

#include <random>

#include "chat/reasoning_parser.h"
#include "chat/special_tokens.h"
#include "chat/tool_grammar.h"
#include "core/error.h"

namespace r1::chat {
namespace {

using json = nlohmann::json;

std::vector<Tool> test_tools() {
  Tool a;
  a.name = "get_weather";
  a.parameters = json::parse(
      R"({"type":"object","properties":{"city":{"type":"string","maxLength":6},"days":{"type":"integer"}},"required":["city"]})");
  Tool b;
  b.name = "ping";  // no schema: any object
  return {a, b};
}

std::string call_text(const std::string& name, const std::string& args) {
  return std::string(tokens::kCallBegin) + "function" + std::string(tokens::kSep) + name +
         "\n```json\n" + args + "\n```" + std::string(tokens::kCallEnd);
}

TEST(ToolGrammar, AcceptsCallsInDeepSeeksFormatOnly) {
  const auto one = tool_call_grammar(test_tools(), false);
  const auto many = tool_call_grammar(test_tools(), true);
  const std::string b(tokens::kCallsBegin), e(tokens::kCallsEnd);
  const std::string w = call_text("get_weather", R"({"city": "Paris"})");
  const std::string p = call_text("ping", R"({"x":[1,2]})");
  EXPECT_TRUE(one->matches(b + w + e));
  EXPECT_TRUE(one->matches("\n\n" + b + p + e));
  EXPECT_FALSE(one->matches(b + w + p + e));  // one call only
  EXPECT_TRUE(many->matches(b + w + "\n" + p + e));
  EXPECT_FALSE(one->matches(b + call_text("get_weather", R"({"days": 3})") + e));  // city required
  EXPECT_FALSE(one->matches(b + call_text("unknown", "{}") + e));
  EXPECT_FALSE(one->matches(b + call_text("ping", "[]") + e));  // arguments are an object
  EXPECT_FALSE(one->matches("Sure! " + b + w + e));
  EXPECT_FALSE(one->matches(b + w));  // the block must close
  EXPECT_THROW(tool_call_grammar({}, false), Error);
  Tool bad;
  bad.name = "bad";
  bad.parameters = json::parse(R"({"$ref":"#/missing"})");
  try {
    tool_call_grammar({test_tools()[0], bad}, false);
    ADD_FAILURE() << "compiled";
  } catch (const Error& ex) {
    EXPECT_EQ(std::string(ex.what()).rfind("tools[1].function.parameters", 0), 0u) << ex.what();
  }
}

TEST(ToolGrammar, EverySentenceParsesIntoValidCalls) {
  const auto g = tool_call_grammar(test_tools(), true);
  std::mt19937 rng(17);
  int finished = 0;
  for (int i = 0; i < 200; ++i) {
    GrammarState s = g->start(), next;
    std::string out;
    bool whole = false;
    while (out.size() < 3000) {
      if (Grammar::complete(s)) {
        whole = true;
        break;
      }
      std::vector<uint8_t> ok;
      for (int c = 0; c < 256; ++c)
        if (g->advance(s, static_cast<uint8_t>(c), next)) ok.push_back(static_cast<uint8_t>(c));
      ASSERT_FALSE(ok.empty()) << out;
      const uint8_t c = ok[rng() % ok.size()];
      g->advance(s, c, next);
      std::swap(s, next);
      out.push_back(static_cast<char>(c));
    }
    if (!whole) continue;
    ++finished;
    ParserOptions po;
    po.starts_in_reasoning = false;
    const ParsedResponse r = parse_response(out, po);
    EXPECT_TRUE(r.errors.empty()) << r.errors.front() << "\n" << out;
    EXPECT_EQ(r.content, "") << out;
    ASSERT_GE(r.tool_calls.size(), 1u) << out;
    for (const ToolCall& c : r.tool_calls) {
      const json args = json::parse(c.arguments);
      ASSERT_TRUE(args.is_object()) << out;
      if (c.name == "get_weather") {
        EXPECT_TRUE(args["city"].is_string()) << out;
      } else {
        EXPECT_EQ(c.name, "ping") << out;
      }
    }
  }
  EXPECT_GT(finished, 50);
}

}  // namespace
}  // namespace r1::chat
