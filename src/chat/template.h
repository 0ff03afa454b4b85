// Chat templates: renders a conversation into the exact prompt text a model was trained on.
// (Interface fixed early so the tokenizer CLI can use it; see docs/ARCHITECTURE.md.)
//
// There is no Jinja engine here. The template families DeepSeek published are implemented
// natively, byte for byte (proved against a real Jinja renderer by tests/npm/
// test_chat_templates.mjs); a model's own Jinja text is only inspected to tell which family
// and variant it is. docs/CHAT.md describes each family and the derived R1 template.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "chat/conversation.h"

namespace r1::chat {

// Renders an OpenAI-style conversation (a JSON array of messages, or an object with
// "messages" and optionally "tools") with the family recognised from `chat_template` (the
// model's own Jinja template text). bos/eos are the model's token strings.
// Throws r1::Error on a malformed conversation, naming the message and field.
std::string render_conversation(const std::string& chat_template,
                                const nlohmann::json& conversation, const std::string& bos,
                                const std::string& eos, bool add_generation_prompt = true);

enum class TemplateFamily : uint8_t {
  kDeepSeekR1,  // R1 and the R1 distills: V3's layout, reasoning dropped, <think>\n prompt
  kDeepSeekV3,  // `<｜User｜>…<｜Assistant｜>…` with DeepSeek's tool tokens
  kDeepSeekV2,  // V2 / V2-Lite chat: `User: …\n\nAssistant: …`
};

// A template family plus the variant switches seen in the published texts.
struct ChatTemplate {
  TemplateFamily family = TemplateFamily::kDeepSeekR1;
  // Assistant content is cut after its last `</think>` (earlier turns' reasoning dropped).
  bool strips_reasoning = true;
  // The generation prompt is `<｜Assistant｜><think>\n` instead of `<｜Assistant｜>`.
  bool opens_think = true;
  // All system messages are joined with "\n\n" (V3/R1 as published now); when false only the
  // last system message is used (the R1-distill template). Both go right after BOS.
  bool joins_system_prompts = true;

  // "deepseek-r1", "deepseek-r1-distill", "deepseek-v3", "deepseek-v2"; other switch
  // combinations get a parenthesised note, e.g. "deepseek-r1 (no <think> prompt)".
  std::string name() const;
  bool operator==(const ChatTemplate&) const = default;
};

// Recognises the family from a model's Jinja chat template (GGUF tokenizer.chat_template or
// tokenizer_config.json "chat_template"). Throws r1::Error for an empty template, a template
// of another model family, or a DeepSeek variant this renderer does not reproduce exactly
// (the message says which and suggests forcing a family by name).
ChatTemplate detect_chat_template(std::string_view jinja_text);

// By name: deepseek-r1 | r1, deepseek-r1-distill | r1-distill, deepseek-v3 | v3,
// deepseek-v2 | v2 | v2-lite. Throws r1::Error listing the names for anything else.
ChatTemplate chat_template_by_name(std::string_view name);
std::vector<std::string> chat_template_names();

// The Jinja text of a family kept in this repository (for models without a template, for
// detection tests and for rendering with a real Jinja engine in the npm tests): the R1 text
// derived from V3's (docs/CHAT.md), the R1-distill text and the V2 text. Empty for V3, whose
// text ships with the model (and the npm package).
std::string_view builtin_template_text(const ChatTemplate& t);

struct RenderOptions {
  std::string bos = "<｜begin▁of▁sentence｜>";
  std::string eos = "<｜end▁of▁sentence｜>";  // used by V2 (R1/V3 spell theirs out)
  bool add_generation_prompt = true;
  // R1 family only: false renders the generation prompt with an empty think block
  // (`<｜Assistant｜><think>\n\n</think>\n\n`), so the model answers without reasoning.
  bool thinking = true;
};

// Renders a validated conversation (validate() is called first). Throws r1::Error naming the
// message for what the family cannot express (tool messages in V2).
std::string render(const ChatTemplate& t, const Conversation& c, const RenderOptions& o = {});

// True when a rendered prompt leaves the model inside a think block (it ends with `<think>`
// and optional whitespace): the reasoning parser should then start in reasoning.
bool prompt_opens_reasoning(std::string_view prompt);

}  // namespace r1::chat
