#include "chat/template.h"

#include <array>

#include "chat/special_tokens.h"
#include "core/error.h"

namespace r1::chat {

namespace {

using namespace tokens;  // NOLINT: the DeepSeek token spellings

bool contains(std::string_view hay, std::string_view needle) {
  return hay.find(needle) != std::string_view::npos;
}

std::string& operator<<(std::string& out, std::string_view s) {
  return out.append(s);
}

// One call as V3's template prints it (without what goes before the <｜tool▁call▁begin｜>).
void append_call(std::string& out, const ToolCall& c) {
  out << kCallBegin << c.type << kSep << c.name << "\n```json\n"
      << c.arguments << "\n```" << kCallEnd;
}

// The V3/R1 templates, statement by statement. Their state (`ns.*`) lives for the whole
// conversation, which gives the layout quirks documented in docs/CHAT.md: `is_first` is never
// reset, so only the first tool call of the conversation opens <｜tool▁calls▁begin｜> and
// only the later ones close the block; `is_output_first` likewise.
std::string render_deepseek3(const ChatTemplate& t, const Conversation& c, const RenderOptions& o) {
  std::string system;
  bool first_system = true;
  for (const Message& m : c.messages) {
    if (m.role != Role::kSystem) continue;
    if (!t.joins_system_prompts) {
      system = *m.content;
    } else if (first_system) {
      system += *m.content;
    } else {
      system << "\n\n" << *m.content;
    }
    first_system = false;
  }

  std::string out;
  out << o.bos << system;
  bool is_first = false, is_tool = false, is_output_first = true;
  for (const Message& m : c.messages) {
    switch (m.role) {
      case Role::kSystem:
        break;
      case Role::kUser:
        is_tool = false;
        out << kUser << *m.content;
        break;
      case Role::kAssistant:
        if (!m.content) {
          is_tool = false;
          for (const ToolCall& call : m.tool_calls) {
            if (!is_first) {
              out << kAssistant << kCallsBegin;
              append_call(out, call);
              is_first = true;
            } else {
              out << "\n";
              append_call(out, call);
              out << kCallsEnd << kEndOfSentence;
            }
          }
        } else if (is_tool) {
          // After tool outputs the answer continues the assistant turn: no <｜Assistant｜>.
          out << kOutputsEnd << *m.content << kEndOfSentence;
          is_tool = false;
        } else {
          std::string_view content = *m.content;
          if (t.strips_reasoning) {
            size_t end = content.rfind(kThinkEnd);
            if (end != std::string_view::npos) content.remove_prefix(end + kThinkEnd.size());
          }
          out << kAssistant << content << kEndOfSentence;
        }
        break;
      case Role::kTool:
        is_tool = true;
        if (is_output_first) {
          out << kOutputsBegin << kOutputBegin << *m.content << kOutputEnd;
          is_output_first = false;
        } else {
          out << "\n" << kOutputBegin << *m.content << kOutputEnd;
        }
        break;
    }
  }
  if (is_tool) out << kOutputsEnd;
  if (o.add_generation_prompt && !is_tool) {
    out << kAssistant;
    if (t.family == TemplateFamily::kDeepSeekR1 && !o.thinking) {
      out << "<think>\n\n</think>\n\n";
    } else if (t.opens_think) {
      out << "<think>\n";
    }
  }
  return out;
}

std::string render_deepseek2(const Conversation& c, const RenderOptions& o) {
  std::string out;
  out << o.bos;
  for (size_t i = 0; i < c.messages.size(); ++i) {
    const Message& m = c.messages[i];
    if (m.role == Role::kTool || !m.tool_calls.empty())
      throw Error("message " + std::to_string(i) + ": field \"" +
                  (m.role == Role::kTool ? "role" : "tool_calls") +
                  "\": the DeepSeek-V2 chat template has no tool calls or tool messages");
    switch (m.role) {
      case Role::kUser:
        out << "User: " << *m.content << "\n\n";
        break;
      case Role::kAssistant:
        out << "Assistant: " << *m.content << o.eos;
        break;
      case Role::kSystem:
        out << *m.content << "\n\n";
        break;
      case Role::kTool:
        break;
    }
  }
  if (o.add_generation_prompt) out << "Assistant:";
  return out;
}

struct NamedTemplate {
  std::string_view name;
  ChatTemplate t;
};

constexpr ChatTemplate kR1{TemplateFamily::kDeepSeekR1, true, true, true};
constexpr ChatTemplate kR1Distill{TemplateFamily::kDeepSeekR1, true, true, false};
constexpr ChatTemplate kV3{TemplateFamily::kDeepSeekV3, false, false, true};
constexpr ChatTemplate kV2{TemplateFamily::kDeepSeekV2, false, false, true};

constexpr std::array<NamedTemplate, 9> kNames{{
    {"deepseek-r1", kR1},
    {"r1", kR1},
    {"deepseek-r1-distill", kR1Distill},
    {"r1-distill", kR1Distill},
    {"deepseek-v3", kV3},
    {"v3", kV3},
    {"deepseek-v2", kV2},
    {"v2", kV2},
    {"v2-lite", kV2},
}};

std::string excerpt(std::string_view s) {
  std::string e(s.substr(0, 60));
  for (char& ch : e)
    if (ch == '\n' || ch == '\r' || ch == '\t') ch = ' ';
  return s.size() > 60 ? e + "..." : e;
}

}  // namespace

// Defined in builtin_templates.cpp.
extern const std::string_view kBuiltinR1Template;
extern const std::string_view kBuiltinR1DistillTemplate;
extern const std::string_view kBuiltinV2Template;

std::string ChatTemplate::name() const {
  std::string n;
  switch (family) {
    case TemplateFamily::kDeepSeekV2:
      return "deepseek-v2";
    case TemplateFamily::kDeepSeekV3:
      n = "deepseek-v3";
      if (!joins_system_prompts) n += " (last system prompt wins)";
      if (strips_reasoning || opens_think) n += " (with R1 switches)";
      return n;
    case TemplateFamily::kDeepSeekR1:
      n = joins_system_prompts ? "deepseek-r1" : "deepseek-r1-distill";
      if (!strips_reasoning) n += " (keeps reasoning)";
      if (!opens_think) n += " (no <think> prompt)";
      return n;
  }
  return "?";
}

ChatTemplate detect_chat_template(std::string_view text) {
  const auto blank = text.find_first_not_of(" \t\r\n");
  if (blank == std::string_view::npos)
    throw Error(
        "the model has no chat template (empty); name a family instead "
        "(deepseek-r1, deepseek-r1-distill, deepseek-v3, deepseek-v2)");

  if (contains(text, kUser) && contains(text, kAssistant)) {
    // The layout every supported variant shares: V3's tool branches and namespace flags.
    const bool original_layout =
        contains(text, "ns.is_first") && contains(text, "is_output_first") &&
        contains(text, "message['content'] is none") && contains(text, kEndOfSentence);
    const bool newer_layout =
        contains(text, "is_last_user") || contains(text, "'tool_calls' in message");
    if (!original_layout || newer_layout)
      throw Error(
          "chat template is a DeepSeek <｜User｜>/<｜Assistant｜> template of a variant r1.cpp "
          "does not render exactly (e.g. the V3-0324 / R1-0528 / V3.1 revisions); supported: "
          "the V3, R1 and R1-distill templates (docs/CHAT.md). Name a family to force one. "
          "Template starts: \"" +
          excerpt(text) + "\"");
    ChatTemplate t;
    t.strips_reasoning = contains(text, "split('</think>')");
    t.opens_think = contains(text, "<｜Assistant｜><think>");
    t.joins_system_prompts = contains(text, "is_first_sp");
    t.family = (t.strips_reasoning || t.opens_think) ? TemplateFamily::kDeepSeekR1
                                                     : TemplateFamily::kDeepSeekV3;
    return t;
  }
  if (contains(text, "'User: '") && contains(text, "'Assistant: '") &&
      contains(text, "'Assistant:'") && contains(text, "eos_token"))
    return kV2;
  throw Error(
      "unrecognised chat template: not a DeepSeek R1, V3 or V2 template (r1.cpp renders those "
      "families natively and has no general Jinja engine); name a family to force one. "
      "Template starts: \"" +
      excerpt(text) + "\"");
}

ChatTemplate chat_template_by_name(std::string_view name) {
  for (const NamedTemplate& n : kNames)
    if (n.name == name) return n.t;
  std::string list;
  for (const std::string& n : chat_template_names()) list += (list.empty() ? "" : ", ") + n;
  throw Error("unknown chat template family \"" + std::string(name) + "\" (known: " + list + ")");
}

std::vector<std::string> chat_template_names() {
  std::vector<std::string> names;
  for (const NamedTemplate& n : kNames) names.emplace_back(n.name);
  return names;
}

std::string_view builtin_template_text(const ChatTemplate& t) {
  if (t == kR1) return kBuiltinR1Template;
  if (t == kR1Distill) return kBuiltinR1DistillTemplate;
  if (t == kV2) return kBuiltinV2Template;
  return {};
}

std::string render(const ChatTemplate& t, const Conversation& c, const RenderOptions& o) {
  validate(c);
  if (t.family == TemplateFamily::kDeepSeekV2) return render_deepseek2(c, o);
  return render_deepseek3(t, c, o);
}

std::string render_conversation(const std::string& chat_template,
                                const nlohmann::json& conversation, const std::string& bos,
                                const std::string& eos, bool add_generation_prompt) {
  const ChatTemplate t = detect_chat_template(chat_template);
  RenderOptions o;
  o.bos = bos;
  o.eos = eos;
  o.add_generation_prompt = add_generation_prompt;
  return render(t, conversation_from_json(conversation), o);
}

bool prompt_opens_reasoning(std::string_view prompt) {
  const size_t end = prompt.find_last_not_of(" \t\r\n");
  if (end == std::string_view::npos) return false;
  constexpr std::string_view kOpen = "<think>";
  return end + 1 >= kOpen.size() && prompt.substr(end + 1 - kOpen.size(), kOpen.size()) == kOpen;
}

}  // namespace r1::chat
