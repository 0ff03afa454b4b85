// Reasoning and tool-call parser: a table of outputs, each fed one byte at a time, in
// token-sized pieces and all at once; every split must give the same result.
#include <gtest/gtest.h>

#include <cctype>
#include <random>
#include <string>
#include <vector>

#include "chat/reasoning_parser.h"
#include "test_util.h"

namespace r1::chat {

// Readable failure messages.
void PrintTo(const ToolCall& c, std::ostream* os) {
  *os << c.type << ":" << c.name << "(" << c.arguments << ")";
}
void PrintTo(const StreamEvent& e, std::ostream* os) {
  *os << event_kind_name(e.kind) << ":";
  if (e.kind == EventKind::kToolCall) {
    PrintTo(e.tool_call, os);
  } else {
    *os << ::testing::PrintToString(e.text);
  }
}
void PrintTo(const ParsedResponse& r, std::ostream* os) {
  *os << "{reasoning " << ::testing::PrintToString(r.reasoning_content) << ", content "
      << ::testing::PrintToString(r.content) << ", " << r.tool_calls.size() << " calls, errors "
      << ::testing::PrintToString(r.errors) << ", closed " << r.reasoning_closed << "}";
}

namespace {

const std::string kCallsBegin = "<｜tool▁calls▁begin｜>";
const std::string kCallsEnd = "<｜tool▁calls▁end｜>";
const std::string kCallBegin = "<｜tool▁call▁begin｜>";
const std::string kCallEnd = "<｜tool▁call▁end｜>";
const std::string kSep = "<｜tool▁sep｜>";

std::string call_text(const std::string& name, const std::string& args) {
  return kCallBegin + "function" + kSep + name + "\n```json\n" + args + "\n```" + kCallEnd;
}

struct Case {
  const char* name = "";
  std::string output;
  bool starts_in_reasoning = true;
  std::string reasoning;
  std::string content;
  std::vector<ToolCall> calls;
  std::vector<std::string> errors;  // one substring per expected error, in order
  bool closed = true;
  bool parse_tools = true;
};

ToolCall tc(const std::string& name, const std::string& args) {
  return {"", "function", name, args};
}

Case mk(const char* name, std::string output, bool starts_in_reasoning, std::string reasoning,
        std::string content, std::vector<ToolCall> calls = {}, std::vector<std::string> errors = {},
        bool closed = true) {
  Case c;
  c.name = name;
  c.output = std::move(output);
  c.starts_in_reasoning = starts_in_reasoning;
  c.reasoning = std::move(reasoning);
  c.content = std::move(content);
  c.calls = std::move(calls);
  c.errors = std::move(errors);
  c.closed = closed;
  return c;
}

std::vector<Case> cases() {
  std::vector<Case> v;
  v.push_back(mk("prompt opened think", "Let me think.\n</think>\n\nThe answer is 4.", true,
                 "Let me think.\n", "The answer is 4."));
  v.push_back(mk("model writes think itself", "<think>\nreason\n</think>\n\nanswer", false,
                 "\nreason\n", "answer"));
  v.push_back(mk("model repeats think after the prompt's", "<think>\nreason</think>answer", true,
                 "\nreason", "answer"));
  v.push_back(mk("no reasoning at all (V3)", "Plain answer.\nSecond line.", false, "",
                 "Plain answer.\nSecond line.", {}, {}, false));
  v.push_back(mk("missing think end: all reasoning", "thinking and thinking, cut off", true,
                 "thinking and thinking, cut off", "", {}, {}, false));
  v.push_back(
      mk("partial marker at the end is text", "abc</thi", true, "abc</thi", "", {}, {}, false));
  v.push_back(mk("angle brackets that are not markers", "a < b, <tag> and <thinking>x</think>y",
                 true, "a < b, <tag> and <thinking>x", "y"));
  v.push_back(mk("text before a stray think in the answer", "Hello<think>r</think>world", false,
                 "r", "Helloworld"));
  v.push_back(mk("text before a stray think in reasoning", "pre<think>post</think>ans", true,
                 "prepost", "ans"));
  v.push_back(mk("answer's leading newlines trimmed", "r</think>\n\n\r\nAnswer\n\nmore", true, "r",
                 "Answer\n\nmore"));
  v.push_back(mk("empty answer", "r</think>\n\n", true, "r", ""));
  v.push_back(mk("stray second think end dropped", "r</think>a</think>\nb", true, "r", "ab"));
  v.push_back(mk("unicode reasoning and answer",
                 "思考中…🤔</think>\n\n答案是四。👍🏽", true, "思考中…🤔",
                 "答案是四。👍🏽"));
  v.push_back(mk(
      "two tool calls",
      "r</think>\n\n" + kCallsBegin + call_text("get_weather", R"({"city": "Paris"})") + "\n" +
          call_text("search", R"({"q": "東京", "n": [1, 2]})") + kCallsEnd,
      true, "r", "",
      {tc("get_weather", R"({"city": "Paris"})"), tc("search", R"({"q": "東京", "n": [1, 2]})")}));
  v.push_back(mk("answer text then a tool call",
                 "Let me check." + kCallsBegin + call_text("f", "{}") + kCallsEnd, false, "",
                 "Let me check.", {tc("f", "{}")}, {}, false));
  v.push_back(mk("block without calls end is accepted",
                 "r</think>" + kCallsBegin + call_text("f", R"({"a": 1})"), true, "r", "",
                 {tc("f", R"({"a": 1})")}));
  v.push_back(mk("arguments without a code fence",
                 "r</think>" + kCallsBegin + kCallBegin + "function" + kSep + "f\n{\"a\": 1}" +
                     kCallEnd + kCallsEnd,
                 true, "r", "", {tc("f", R"({"a": 1})")}));
  v.push_back(
      mk("pretty-printed arguments",
         "r</think>" + kCallsBegin + call_text("f", "{\n  \"a\": [\n    1\n  ]\n}") + kCallsEnd,
         true, "r", "", {tc("f", "{\n  \"a\": [\n    1\n  ]\n}")}));
  v.push_back(mk("bad arguments JSON is an error, not content",
                 "r</think>" + kCallsBegin + call_text("f", "{\"a\": }") + kCallsEnd + "after",
                 true, "r", "after", {}, {"tool call #1: arguments of f are not valid JSON"}));
  v.push_back(mk("arguments not an object",
                 "r</think>" + kCallsBegin + call_text("f", "[1, 2]") + kCallsEnd, true, "r", "",
                 {}, {"not a JSON object"}));
  v.push_back(mk("missing tool sep",
                 "r</think>" + kCallsBegin + kCallBegin + "function f\n```json\n{}\n```" +
                     kCallEnd + kCallsEnd,
                 true, "r", "", {}, {"missing <｜tool▁sep｜>"}));
  v.push_back(mk("missing name",
                 "r</think>" + kCallsBegin + kCallBegin + "function" + kSep + "\n```json\n{}\n```" +
                     kCallEnd + kCallsEnd,
                 true, "r", "", {}, {"missing function name"}));
  v.push_back(mk(
      "missing type",
      "r</think>" + kCallsBegin + kCallBegin + kSep + "f\n```json\n{}\n```" + kCallEnd + kCallsEnd,
      true, "r", "", {}, {"missing type"}));
  v.push_back(mk("code fence not closed",
                 "r</think>" + kCallsBegin + kCallBegin + "function" + kSep + "f\n```json\n{}" +
                     kCallEnd + kCallsEnd,
                 true, "r", "", {}, {"not closed with ```"}));
  v.push_back(mk("unterminated call at the end",
                 "r</think>" + kCallsBegin + kCallBegin + "function" + kSep + "f\n```json\n{\"a\"",
                 true, "r", "", {}, {"tool call #1 is not terminated"}));
  v.push_back(mk("unterminated call before the next",
                 "r</think>" + kCallsBegin + kCallBegin + "function" + kSep + "f\n" +
                     call_text("g", "{}") + kCallsEnd,
                 true, "r", "", {tc("g", "{}")}, {"tool call #1 is not terminated"}));
  v.push_back(mk(
      "text between calls",
      "r</think>" + kCallsBegin + call_text("f", "{}") + "oops" + call_text("g", "{}") + kCallsEnd,
      true, "r", "", {tc("f", "{}"), tc("g", "{}")}, {"unexpected text in a tool-call block"}));
  v.push_back(mk("call without calls begin", "r</think>" + call_text("f", "{}"), true, "r", "",
                 {tc("f", "{}")}, {"without <｜tool▁calls▁begin｜>"}));
  v.push_back(mk("stray tool markers in the answer",
                 "r</think>a" + kCallEnd + "b" + kSep + "c<｜tool▁outputs▁begin｜>d", true, "r",
                 "abcd", {},
                 {"unexpected <｜tool▁call▁end｜>", "unexpected <｜tool▁sep｜>",
                  "unexpected <｜tool▁outputs▁begin｜>"}));
  v.push_back(mk("think markers inside a block",
                 "r</think>" + kCallsBegin + "</think>" + call_text("f", "{}") + kCallsEnd, true,
                 "r", "", {tc("f", "{}")}, {"unexpected </think> in a tool-call block"}));
  Case plain =
      mk("tool parsing off", "r</think>x" + kCallsBegin + "y", true, "r", "x" + kCallsBegin + "y");
  plain.parse_tools = false;
  v.push_back(plain);
  return v;
}

// Pieces the size of tokens: markers whole, other text in runs of up to 3 characters.
std::vector<std::string> token_pieces(const std::string& s) {
  static const std::vector<std::string> markers = {
      "<think>",  "</think>", kCallsBegin, kCallsEnd,
      kCallBegin, kCallEnd,   kSep,        "<｜tool▁outputs▁begin｜>"};
  std::vector<std::string> out;
  size_t i = 0;
  while (i < s.size()) {
    bool matched = false;
    for (const std::string& m : markers) {
      if (s.compare(i, m.size(), m) == 0) {
        out.push_back(m);
        i += m.size();
        matched = true;
        break;
      }
    }
    if (matched) continue;
    std::string piece;
    for (int chars = 0; chars < 3 && i < s.size(); ++chars) {
      if (s[i] == '<' && !piece.empty()) break;
      size_t len = 1;
      const auto b = static_cast<unsigned char>(s[i]);
      if (b >= 0xF0) {
        len = 4;
      } else if (b >= 0xE0) {
        len = 3;
      } else if (b >= 0xC0) {
        len = 2;
      }
      piece += s.substr(i, len);
      i += len;
    }
    out.push_back(piece);
  }
  return out;
}

std::vector<std::string> byte_pieces(const std::string& s) {
  std::vector<std::string> out;
  for (char c : s) out.emplace_back(1, c);
  return out;
}

bool valid_utf8(const std::string& s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto b = static_cast<unsigned char>(s[i]);
    size_t len = b < 0x80 ? 1 : (b >> 5) == 6 ? 2 : (b >> 4) == 14 ? 3 : (b >> 3) == 30 ? 4 : 0;
    if (len == 0 || i + len > s.size()) return false;
    for (size_t k = 1; k < len; ++k)
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
    i += len;
  }
  return true;
}

// Adjacent reasoning/content events merged: the split-independent shape of the stream.
std::vector<StreamEvent> merged(const std::vector<StreamEvent>& events) {
  std::vector<StreamEvent> out;
  for (const StreamEvent& e : events) {
    const bool text = e.kind == EventKind::kReasoning || e.kind == EventKind::kContent;
    if (text && !out.empty() && out.back().kind == e.kind) {
      out.back().text += e.text;
    } else {
      out.push_back(e);
    }
  }
  return out;
}

struct RunResult {
  ParsedResponse result;
  std::vector<StreamEvent> events;
};

RunResult run(const Case& c, const std::vector<std::string>& pieces) {
  ParserOptions o;
  o.starts_in_reasoning = c.starts_in_reasoning;
  o.parse_tool_calls = c.parse_tools;
  ReasoningParser p(o);
  RunResult r;
  for (const std::string& piece : pieces) {
    auto ev = p.feed(piece);
    r.events.insert(r.events.end(), ev.begin(), ev.end());
  }
  auto ev = p.finish();
  r.events.insert(r.events.end(), ev.begin(), ev.end());
  r.result.add(r.events);
  r.result.reasoning_closed = p.reasoning_closed();
  return r;
}

void PrintTo(const Case& c, std::ostream* os) {
  *os << c.name;
}

class ParserTable : public ::testing::TestWithParam<Case> {};

// Every case fed one byte at a time, in token-sized pieces and all at once.
TEST_P(ParserTable, SameResultForEverySplit) {
  const Case& c = GetParam();
  const RunResult whole = run(c, {c.output});
  const RunResult tokens = run(c, token_pieces(c.output));
  const RunResult bytes = run(c, byte_pieces(c.output));

  EXPECT_EQ(whole.result.reasoning_content, c.reasoning);
  EXPECT_EQ(whole.result.content, c.content);
  EXPECT_EQ(whole.result.tool_calls, c.calls);
  EXPECT_EQ(whole.result.reasoning_closed, c.closed);
  ASSERT_EQ(whole.result.errors.size(), c.errors.size())
      << (whole.result.errors.empty() ? "" : whole.result.errors[0]);
  for (size_t i = 0; i < c.errors.size(); ++i)
    EXPECT_NE(whole.result.errors[i].find(c.errors[i]), std::string::npos)
        << whole.result.errors[i];

  EXPECT_EQ(tokens.result, whole.result) << "token-sized pieces";
  EXPECT_EQ(bytes.result, whole.result) << "one byte at a time";
  EXPECT_EQ(merged(tokens.events), merged(whole.events)) << "token-sized pieces";
  EXPECT_EQ(merged(bytes.events), merged(whole.events)) << "one byte at a time";
  // And a few arbitrary splits.
  std::mt19937 rng(12345);
  for (int trial = 0; trial < 20; ++trial) {
    std::vector<std::string> pieces;
    for (size_t i = 0; i < c.output.size();) {
      const size_t n = std::uniform_int_distribution<size_t>(1, 12)(rng);
      pieces.push_back(c.output.substr(i, n));
      i += n;
    }
    const RunResult random = run(c, pieces);
    EXPECT_EQ(random.result, whole.result) << "random split " << trial;
    EXPECT_EQ(merged(random.events), merged(whole.events)) << "random split " << trial;
  }

  for (const RunResult* r : {&whole, &tokens, &bytes}) {
    for (const StreamEvent& e : r->events) {
      if (e.kind != EventKind::kReasoning && e.kind != EventKind::kContent) continue;
      EXPECT_FALSE(e.text.empty());
      EXPECT_TRUE(valid_utf8(e.text)) << "delta splits a UTF-8 character: " << e.text;
      if (c.parse_tools) {
        EXPECT_EQ(e.text.find("</think>"), std::string::npos) << e.text;
        EXPECT_EQ(e.text.find("<｜tool"), std::string::npos) << e.text;
      }
    }
  }
}

std::string case_name(const ::testing::TestParamInfo<Case>& info) {
  std::string n;
  for (const char* p = info.param.name; *p; ++p)
    n += std::isalnum(static_cast<unsigned char>(*p)) ? *p : '_';
  return n;
}

INSTANTIATE_TEST_SUITE_P(Cases, ParserTable, ::testing::ValuesIn(cases()), case_name);

TEST(ReasoningParser, PartialMarkerIsHeldBackNotEmitted) {
  ReasoningParser p;
  ParsedResponse r;
  r.add(p.feed("step one"));
  r.add(p.feed("</"));
  r.add(p.feed("thi"));
  EXPECT_EQ(r.reasoning_content, "step one");  // "</thi" not emitted yet
  r.add(p.feed("nk>"));
  EXPECT_FALSE(p.in_reasoning());
  EXPECT_TRUE(p.reasoning_closed());
  r.add(p.feed("\n"));
  r.add(p.feed("\n"));
  EXPECT_EQ(r.content, "");  // leading newlines trimmed, nothing else yet
  r.add(p.feed("Answer"));
  r.add(p.finish());
  EXPECT_EQ(r.reasoning_content, "step one");
  EXPECT_EQ(r.content, "Answer");
}

TEST(ReasoningParser, EventsComeInStreamOrder) {
  ReasoningParser p;
  std::vector<StreamEvent> ev;
  for (const std::string& piece : {std::string("think"), std::string("</think>"), std::string("ok"),
                                   kCallsBegin, call_text("f", "{}"), kCallsEnd}) {
    auto e = p.feed(piece);
    ev.insert(ev.end(), e.begin(), e.end());
  }
  auto e = p.finish();
  ev.insert(ev.end(), e.begin(), e.end());
  ASSERT_EQ(ev.size(), 3u);
  EXPECT_EQ(ev[0].kind, EventKind::kReasoning);
  EXPECT_EQ(ev[1].kind, EventKind::kContent);
  EXPECT_EQ(ev[2].kind, EventKind::kToolCall);
  EXPECT_EQ(ev[2].tool_call.name, "f");
}

TEST(ReasoningParser, ParseResponseMatchesStreaming) {
  const std::string out = "a</think>\n\nb";
  const ParsedResponse r = parse_response(out);
  EXPECT_EQ(r.reasoning_content, "a");
  EXPECT_EQ(r.content, "b");
  EXPECT_TRUE(r.reasoning_closed);
  ParserOptions o;
  o.starts_in_reasoning = false;
  const ParsedResponse plain = parse_response("no reasoning", o);
  EXPECT_EQ(plain.content, "no reasoning");
  EXPECT_EQ(plain.reasoning_content, "");
  EXPECT_FALSE(plain.reasoning_closed);
}

TEST(ReasoningParser, CliParseOutput) {
  test::TempDir tmp;
  const std::string in = tmp.file("out.txt");
  test::write_file(in, "r</think>\n\nHi" + kCallsBegin + call_text("f", R"({"a":1})") + kCallsEnd);
  auto res =
      test::run_command(test::r1_binary() + " chat-template parse-output --piece-bytes 1 < " + in);
  ASSERT_EQ(res.exit_code, 0) << res.err;
  const auto j = nlohmann::json::parse(res.out);
  EXPECT_EQ(j["reasoning_content"], "r");
  EXPECT_EQ(j["content"], "Hi");
  EXPECT_EQ(j["tool_calls"][0]["function"]["name"], "f");
  EXPECT_EQ(j["tool_calls"][0]["function"]["arguments"], R"({"a":1})");
  EXPECT_TRUE(j["errors"].empty());
}

}  // namespace
}  // namespace r1::chat
