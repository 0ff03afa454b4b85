// Grammars for answers in DeepSeek's tool-call format (the markers of special_tokens.h), for
// requests that force a tool call (`tool_choice` "required" or a named function).
#pragma once

#include <memory>
#include <vector>

#include "chat/conversation.h"
#include "sampling/grammar.h"

namespace r1::chat {

// The whole answer is a tool-call block: up to 4 leading newlines,
// <｜tool▁calls▁begin｜>, one call (or several when `parallel`), each
// <｜tool▁call▁begin｜>function<｜tool▁sep｜>NAME\n```json\nARGUMENTS\n```<｜tool▁call▁end｜>
// to one of `tools` with ARGUMENTS valid for its parameter schema (any object when it has
// none), then <｜tool▁calls▁end｜>. Throws r1::Error naming the tool whose schema cannot be
// compiled ("tools[2].function.parameters...").
std::shared_ptr<const Grammar> tool_call_grammar(const std::vector<Tool>& tools, bool parallel);

}  // namespace r1::chat
