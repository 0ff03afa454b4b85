// Conversations as structured data: messages, tool calls and tool definitions, with the
// validation that turns an OpenAI-style JSON request into them (errors name the message index
// and the field). Rendering lives in template.h, parsing of generated text in reasoning_parser.h.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace r1::chat {

enum class Role : uint8_t { kSystem, kUser, kAssistant, kTool };

const char* role_name(Role r);
// "system", "user", "assistant", "tool"; nullopt for anything else.
std::optional<Role> role_from_name(std::string_view s);

// One function call made by the assistant (in a request's history, or parsed from generated
// text). `arguments` is JSON text, kept byte for byte as given: the templates print it verbatim.
struct ToolCall {
  std::string id;                 // OpenAI's "id"; DeepSeek's templates do not render it
  std::string type = "function";  // rendered before <｜tool▁sep｜>
  std::string name;
  std::string arguments;  // a JSON object, as text

  bool operator==(const ToolCall&) const = default;
};

struct Message {
  Role role = Role::kUser;
  // nullopt = JSON null or absent; only an assistant message with tool_calls may lack content.
  std::optional<std::string> content;
  std::vector<ToolCall> tool_calls;              // assistant only
  std::optional<std::string> tool_call_id;       // tool only; not rendered by DeepSeek's templates
  std::optional<std::string> reasoning_content;  // accepted, never rendered (see docs/CHAT.md)

  bool operator==(const Message&) const = default;
};

// A tool the model may call ("tools" of the request). DeepSeek's R1/V3 templates do not render
// tool definitions; they are validated and carried for callers that put them in a system prompt.
struct Tool {
  std::string type = "function";
  std::string name;
  std::string description;
  nlohmann::json parameters;  // JSON schema, or null

  bool operator==(const Tool&) const = default;
};

struct Conversation {
  std::vector<Message> messages;
  std::vector<Tool> tools;

  bool operator==(const Conversation&) const = default;
};

// Reads an OpenAI-style conversation: a JSON array of messages, or an object with "messages"
// and optionally "tools" (other keys are ignored). Validates every message (see validate()) and
// throws r1::Error naming the message index and field, e.g.
//   message 2: field "tool_calls[0].function.arguments": not valid JSON (...)
// Tool-call arguments given as a JSON object (not a string) are accepted and serialised
// compactly; an assistant message with tool_calls and content "" is read as content null.
Conversation conversation_from_json(const nlohmann::json& j);
Message message_from_json(const nlohmann::json& j, size_t index);

// The reverse (OpenAI shape): content null when absent, tool_calls only when present.
nlohmann::json to_json(const Message& m);
nlohmann::json to_json(const Conversation& c);

// Checks what the JSON reader checks, for conversations built in code: content present where
// the role needs it, tool calls only on assistant messages, each with a type, a name and
// arguments that parse as a JSON object. Throws r1::Error naming message index and field.
void validate(const Conversation& c);

}  // namespace r1::chat
