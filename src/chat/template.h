// Chat templates: renders a conversation into the exact prompt text a model was trained on.
// (Interface fixed early so the tokenizer CLI can use it; see docs/ARCHITECTURE.md.)
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace r1::chat {

// Renders an OpenAI-style conversation (a JSON array of messages, or an object with
// "messages" and optionally "tools") with the family recognised from `chat_template` (the
// model's own Jinja template text). bos/eos are the model's token strings.
// Throws r1::Error on a malformed conversation, naming the message and field.
std::string render_conversation(const std::string& chat_template, const nlohmann::json& conversation,
                                const std::string& bos, const std::string& eos,
                                bool add_generation_prompt = true);

}  // namespace r1::chat
