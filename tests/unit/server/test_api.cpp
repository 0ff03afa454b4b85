// The server's request validation and response shapes without HTTP: parameters against the
// table of docs/SERVER.md, tool calls parsed from DeepSeek's format into OpenAI's tool_calls,
// reasoning_effort budgets, key comparison and loopback detection.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "chat/reasoning_parser.h"
#include "server/api.h"
#include "server/server.h"

namespace r1::server {
namespace {

using json = nlohmann::json;

json chat_body() {
  return {{"messages", json::array({{{"role", "user"}, {"content", "Hi"}}})}};
}

ChatRequest parse(const json& body) {
  return parse_chat_request(body, Limits{}, Defaults{}, 1000);
}

ApiError error_of(const json& body) {
  try {
    parse(body);
  } catch (const ApiError& e) {
    return e;
  }
  ADD_FAILURE() << "no error for " << body.dump();
  return ApiError(0, "");
}

TEST(ServerApi, DefaultsAndOverrides) {
  Defaults d;
  d.sampling.temperature = 0.6f;
  d.max_tokens = 77;
  ChatRequest r = parse_chat_request(chat_body(), Limits{}, d, 1000);
  EXPECT_FLOAT_EQ(r.gen.sampling.temperature, 0.6f);
  EXPECT_EQ(r.gen.max_tokens, 77);
  EXPECT_TRUE(r.gen.thinking);
  EXPECT_EQ(r.gen.think_budget, -1);
  json b = chat_body();
  b["temperature"] = 0;
  b["max_tokens"] = 5;
  b["max_completion_tokens"] = 3;
  b["stop"] = "END";
  b["seed"] = 42;
  b["logit_bias"] = {{"7", -100}, {"8", 2.5}};
  b["reasoning_effort"] = "low";
  b["model"] = nullptr;  // null = not given
  r = parse(b);
  EXPECT_EQ(r.gen.sampling.temperature, 0.0f);
  EXPECT_EQ(r.gen.max_tokens, 3);
  EXPECT_EQ(r.gen.stop, std::vector<std::string>{"END"});
  EXPECT_EQ(r.gen.sampling.seed, 42u);
  EXPECT_TRUE(std::isinf(r.gen.sampling.logit_bias.at(7)));
  EXPECT_FLOAT_EQ(r.gen.sampling.logit_bias.at(8), 2.5f);
  EXPECT_EQ(r.gen.think_budget, 256);
  b["think_budget"] = 9;  // the explicit budget wins
  EXPECT_EQ(parse(b).gen.think_budget, 9);
  EXPECT_EQ(think_budget_of_effort("medium"), 1024);
  EXPECT_EQ(think_budget_of_effort("high"), -1);
}

TEST(ServerApi, ErrorsNameTheField) {
  struct Case {
    json patch;
    int status;
    const char* param;
  };
  const std::vector<Case> cases = {
      {{{"temperature", -0.1}}, 400, "temperature"},
      {{{"top_p", 0.0}}, 400, "top_p"},
      {{{"top_k", 1001}}, 400, "top_k"},  // beyond the vocabulary
      {{{"max_tokens", 0}}, 400, "max_tokens"},
      {{{"n", 3}}, 422, "n"},
      {{{"stream_options", {{"include_usage", true}}}}, 400, "stream_options"},
      {{{"stream", true}, {"stream_options", {{"bogus", 1}}}}, 400, "stream_options.bogus"},
      {{{"logit_bias", {{"1000", 1}}}}, 400, "logit_bias"},
      {{{"logit_bias", {{"-1", 1}}}}, 400, "logit_bias"},
      {{{"stop", json::array({"a", ""})}}, 400, "stop"},
      {{{"messages", json::array({{{"role", "user"}, {"content", json::array({1})}}})}},
       400,
       "messages"},
      {{{"tools", json::array({{{"type", "function"}, {"function", {{"name", ""}}}}})}},
       400,
       "tools"},
      {{{"whatever", true}}, 400, "whatever"},
  };
  for (const auto& c : cases) {
    json b = chat_body();
    b.update(c.patch);
    const ApiError e = error_of(b);
    EXPECT_EQ(e.status, c.status) << b.dump() << " " << e.what();
    EXPECT_EQ(e.param, c.param) << b.dump() << " " << e.what();
    const json j = error_json(e);
    EXPECT_EQ(j["error"]["param"], c.param);
    EXPECT_TRUE(j["error"]["message"].is_string());
  }
}

TEST(ServerApi, BodyParsing) {
  const Limits lim;
  EXPECT_NO_THROW(parse_body(R"({"a":[1,{"b":2}]})", lim));
  for (const std::string bad : {"", "nul", "[1]", "{\"a\":NaN}", "{\"a\":1e999}",
                                "{\"a\":\"\xff\"}", "{\"a\":\"\\udc00\"}"}) {
    try {
      parse_body(bad, lim);
      ADD_FAILURE() << bad;
    } catch (const ApiError& e) {
      EXPECT_EQ(e.status, 400) << bad;
    }
  }
  // Nesting is counted outside strings only.
  EXPECT_NO_THROW(check_depth("{\"a\":\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\"}", 3));
  EXPECT_THROW(check_depth("[[[[", 3), ApiError);
  EXPECT_NO_THROW(check_depth("{\"a\\\"[[[[\":1}", 1));  // an escaped quote stays in the string
  Limits small;
  small.max_body_bytes = 10;
  try {
    parse_body(std::string(11, ' '), small);
    ADD_FAILURE();
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status, 413);
  }
}

TEST(ServerApi, ToolsAndToolChoice) {
  json b = chat_body();
  b["tools"] = json::array(
      {{{"type", "function"},
        {"function", {{"name", "get_weather"}, {"parameters", {{"type", "object"}}}}}}});
  ChatRequest r = parse(b);
  EXPECT_TRUE(r.tools_enabled);
  ASSERT_EQ(r.conversation.tools.size(), 1u);
  const std::string sys = tools_system_prompt(r.conversation.tools);
  EXPECT_NE(sys.find("get_weather"), std::string::npos);
  EXPECT_NE(sys.find("<｜tool▁calls▁begin｜>"), std::string::npos);
  b["tool_choice"] = "none";
  r = parse(b);
  EXPECT_FALSE(r.tools_enabled);
  EXPECT_TRUE(r.conversation.tools.empty());
  // A client sends back the assistant's reasoning and tool call, then the tool's result.
  b = chat_body();
  b["messages"].push_back(
      {{"role", "assistant"},
       {"content", nullptr},
       {"reasoning_content", "thinking..."},
       {"tool_calls",
        json::array(
            {{{"id", "call_1"},
              {"type", "function"},
              {"function", {{"name", "get_weather"}, {"arguments", "{\"city\":\"Paris\"}"}}}}})}});
  b["messages"].push_back({{"role", "tool"}, {"tool_call_id", "call_1"}, {"content", "21C"}});
  r = parse(b);
  ASSERT_EQ(r.conversation.messages.size(), 3u);
  EXPECT_EQ(r.conversation.messages[1].tool_calls.at(0).name, "get_weather");
}

TEST(ServerApi, ToolCallsParsedIntoTheMessage) {
  const std::string out =
      "Let me look it up.</think>\n\nChecking."
      "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n"
      "```json\n{\"city\": \"Paris\"}\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>";
  chat::ParserOptions po;
  po.starts_in_reasoning = true;
  po.parse_tool_calls = true;
  // Any split gives the same message; here: one byte at a time, as a stream might.
  chat::ReasoningParser parser(po);
  chat::ParsedResponse p;
  for (char c : out) p.add(parser.feed(std::string(1, c)));
  p.add(parser.finish());
  const chat::ParsedResponse whole = chat::parse_response(out, po);
  EXPECT_EQ(p.reasoning_content, whole.reasoning_content);
  EXPECT_EQ(p.content, whole.content);
  EXPECT_EQ(p.tool_calls, whole.tool_calls);
  EXPECT_TRUE(p.errors.empty());
  const json msg = chat_message_json(p, "chatcmpl-x", true);
  EXPECT_EQ(msg["reasoning_content"], "Let me look it up.");
  EXPECT_EQ(msg["content"], "Checking.");
  ASSERT_EQ(msg["tool_calls"].size(), 1u);
  const json& call = msg["tool_calls"][0];
  EXPECT_EQ(call["id"], "call_chatcmpl-x-0");
  EXPECT_EQ(call["type"], "function");
  EXPECT_EQ(call["function"]["name"], "get_weather");
  EXPECT_EQ(json::parse(call["function"]["arguments"].get<std::string>()),
            json({{"city", "Paris"}}));
  EXPECT_FALSE(call.contains("index"));
  EXPECT_EQ(tool_call_json(p.tool_calls[0], "c", 3, true)["index"], 3);
  // Only calls: content null; no reasoning and thinking off: no reasoning_content.
  chat::ParsedResponse only;
  only.tool_calls = p.tool_calls;
  const json m2 = chat_message_json(only, "id", false);
  EXPECT_TRUE(m2["content"].is_null());
  EXPECT_FALSE(m2.contains("reasoning_content"));
}

TEST(ServerApi, KeysAndLoopback) {
  const std::vector<std::string> keys = {"first-key-123", "second-key-456"};
  EXPECT_TRUE(key_matches("first-key-123", keys));
  EXPECT_TRUE(key_matches("second-key-456", keys));
  EXPECT_FALSE(key_matches("first-key-12", keys));
  EXPECT_FALSE(key_matches("first-key-1234", keys));
  EXPECT_FALSE(key_matches("", keys));
  EXPECT_FALSE(key_matches(std::string("first-key-123\0", 14), keys));
  EXPECT_FALSE(key_matches("x", {}));
  for (const char* h : {"127.0.0.1", "127.1.2.3", "localhost", "::1"})
    EXPECT_TRUE(is_loopback(h)) << h;
  for (const char* h : {"0.0.0.0", "192.168.1.2", "::", "127.0.0.1.evil.com", "1.127.0.0"})
    EXPECT_FALSE(is_loopback(h)) << h;
}

}  // namespace
}  // namespace r1::server
