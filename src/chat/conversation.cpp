#include "chat/conversation.h"

#include "core/error.h"

namespace r1::chat {

namespace {

using nlohmann::json;

[[noreturn]] void fail(size_t index, const std::string& field, const std::string& what) {
  throw Error("message " + std::to_string(index) + ": field \"" + field + "\": " + what);
}

std::string type_of(const json& j) {
  return j.type_name();
}

// Returns nullopt for null/absent, the string otherwise; anything else is an error.
std::optional<std::string> optional_string(const json& msg, const char* key, size_t index) {
  auto it = msg.find(key);
  if (it == msg.end() || it->is_null()) return std::nullopt;
  if (!it->is_string()) {
    if (it->is_array())
      fail(index, key, "must be a string (content parts arrays are not supported)");
    fail(index, key, "must be a string, not " + type_of(*it));
  }
  return it->get<std::string>();
}

void check_arguments(const std::string& args, size_t index, const std::string& field) {
  json parsed;
  try {
    parsed = json::parse(args);
  } catch (const json::exception& e) {
    fail(index, field, std::string("not valid JSON (") + e.what() + ")");
  }
  if (!parsed.is_object()) fail(index, field, "must be a JSON object, not " + type_of(parsed));
}

ToolCall tool_call_from_json(const json& j, size_t index, size_t k) {
  const std::string at = "tool_calls[" + std::to_string(k) + "]";
  if (!j.is_object()) fail(index, at, "must be an object, not " + type_of(j));
  ToolCall call;
  if (auto it = j.find("id"); it != j.end() && !it->is_null()) {
    if (!it->is_string()) fail(index, at + ".id", "must be a string");
    call.id = it->get<std::string>();
  }
  if (auto it = j.find("type"); it != j.end() && !it->is_null()) {
    if (!it->is_string()) fail(index, at + ".type", "must be a string");
    call.type = it->get<std::string>();
  }
  auto fn = j.find("function");
  if (fn == j.end() || fn->is_null()) fail(index, at + ".function", "missing");
  if (!fn->is_object()) fail(index, at + ".function", "must be an object, not " + type_of(*fn));
  auto name = fn->find("name");
  if (name == fn->end() || name->is_null()) fail(index, at + ".function.name", "missing");
  if (!name->is_string()) fail(index, at + ".function.name", "must be a string");
  call.name = name->get<std::string>();
  auto args = fn->find("arguments");
  if (args == fn->end() || args->is_null()) fail(index, at + ".function.arguments", "missing");
  if (args->is_string()) {
    call.arguments = args->get<std::string>();
  } else if (args->is_object()) {
    call.arguments = args->dump();
  } else {
    fail(index, at + ".function.arguments",
         "must be a JSON string (or an object), not " + type_of(*args));
  }
  return call;
}

void validate_message(const Message& m, size_t index) {
  switch (m.role) {
    case Role::kSystem:
    case Role::kUser:
    case Role::kTool:
      if (!m.content)
        fail(index, "content",
             std::string("missing (a ") + role_name(m.role) + " message needs a string content)");
      if (!m.tool_calls.empty())
        fail(index, "tool_calls",
             std::string("only assistant messages may have tool calls, not ") + role_name(m.role));
      break;
    case Role::kAssistant:
      if (!m.content && m.tool_calls.empty())
        fail(index, "content", "missing (an assistant message needs content or tool_calls)");
      break;
  }
  for (size_t k = 0; k < m.tool_calls.size(); ++k) {
    const ToolCall& c = m.tool_calls[k];
    const std::string at = "tool_calls[" + std::to_string(k) + "]";
    if (c.type.empty()) fail(index, at + ".type", "empty");
    if (c.name.empty()) fail(index, at + ".function.name", "empty");
    check_arguments(c.arguments, index, at + ".function.arguments");
  }
}

Tool tool_from_json(const json& j, size_t k) {
  const std::string at = "tools[" + std::to_string(k) + "]";
  auto bad = [&](const std::string& field, const std::string& what) -> Error {
    return Error(at + ": field \"" + field + "\": " + what);
  };
  if (!j.is_object()) throw bad("", "must be an object, not " + type_of(j));
  Tool t;
  if (auto it = j.find("type"); it != j.end()) {
    if (!it->is_string()) throw bad("type", "must be a string");
    t.type = it->get<std::string>();
  }
  auto fn = j.find("function");
  if (fn == j.end() || !fn->is_object()) throw bad("function", "missing or not an object");
  auto name = fn->find("name");
  if (name == fn->end() || !name->is_string() || name->get<std::string>().empty())
    throw bad("function.name", "missing or not a non-empty string");
  t.name = name->get<std::string>();
  if (auto it = fn->find("description"); it != fn->end() && !it->is_null()) {
    if (!it->is_string()) throw bad("function.description", "must be a string");
    t.description = it->get<std::string>();
  }
  if (auto it = fn->find("parameters"); it != fn->end()) {
    if (!it->is_null() && !it->is_object()) throw bad("function.parameters", "must be an object");
    t.parameters = *it;
  }
  return t;
}

}  // namespace

const char* role_name(Role r) {
  switch (r) {
    case Role::kSystem:
      return "system";
    case Role::kUser:
      return "user";
    case Role::kAssistant:
      return "assistant";
    case Role::kTool:
      return "tool";
  }
  return "?";
}

std::optional<Role> role_from_name(std::string_view s) {
  if (s == "system") return Role::kSystem;
  if (s == "user") return Role::kUser;
  if (s == "assistant") return Role::kAssistant;
  if (s == "tool") return Role::kTool;
  return std::nullopt;
}

Message message_from_json(const json& j, size_t index) {
  if (!j.is_object())
    throw Error("message " + std::to_string(index) + ": must be an object, not " + type_of(j));
  auto role_it = j.find("role");
  if (role_it == j.end() || role_it->is_null()) fail(index, "role", "missing");
  if (!role_it->is_string()) fail(index, "role", "must be a string, not " + type_of(*role_it));
  const std::string role_str = role_it->get<std::string>();
  auto role = role_from_name(role_str);
  if (!role)
    fail(index, "role",
         "unknown role \"" + role_str + "\" (expected system, user, assistant or tool)");

  Message m;
  m.role = *role;
  m.content = optional_string(j, "content", index);
  m.tool_call_id = optional_string(j, "tool_call_id", index);
  m.reasoning_content = optional_string(j, "reasoning_content", index);
  if (auto it = j.find("tool_calls"); it != j.end() && !it->is_null()) {
    if (!it->is_array()) fail(index, "tool_calls", "must be an array, not " + type_of(*it));
    for (size_t k = 0; k < it->size(); ++k)
      m.tool_calls.push_back(tool_call_from_json((*it)[k], index, k));
  }
  // OpenAI clients often send "" next to tool calls; DeepSeek's template would then render the
  // empty text and drop the calls. Read it as "no content" (docs/CHAT.md, "Deviations").
  if (m.role == Role::kAssistant && !m.tool_calls.empty() && m.content && m.content->empty())
    m.content.reset();
  validate_message(m, index);
  return m;
}

Conversation conversation_from_json(const json& j) {
  const json* messages = &j;
  Conversation c;
  if (j.is_object()) {
    auto it = j.find("messages");
    if (it == j.end()) throw Error("conversation: field \"messages\" missing");
    messages = &*it;
    if (auto t = j.find("tools"); t != j.end() && !t->is_null()) {
      if (!t->is_array()) throw Error("conversation: field \"tools\" must be an array");
      for (size_t k = 0; k < t->size(); ++k) c.tools.push_back(tool_from_json((*t)[k], k));
    }
  }
  if (!messages->is_array())
    throw Error("conversation: \"messages\" must be an array of messages, not " +
                type_of(*messages));
  c.messages.reserve(messages->size());
  for (size_t i = 0; i < messages->size(); ++i)
    c.messages.push_back(message_from_json((*messages)[i], i));
  return c;
}

void validate(const Conversation& c) {
  for (size_t i = 0; i < c.messages.size(); ++i) validate_message(c.messages[i], i);
  for (size_t k = 0; k < c.tools.size(); ++k)
    if (c.tools[k].name.empty())
      throw Error("tools[" + std::to_string(k) + "]: field \"function.name\": empty");
}

json to_json(const Message& m) {
  json j = json::object();
  j["role"] = role_name(m.role);
  j["content"] = m.content ? json(*m.content) : json(nullptr);
  if (!m.tool_calls.empty()) {
    json calls = json::array();
    for (const ToolCall& c : m.tool_calls) {
      json call = json::object();
      if (!c.id.empty()) call["id"] = c.id;
      call["type"] = c.type;
      call["function"] = {{"name", c.name}, {"arguments", c.arguments}};
      calls.push_back(std::move(call));
    }
    j["tool_calls"] = std::move(calls);
  }
  if (m.tool_call_id) j["tool_call_id"] = *m.tool_call_id;
  if (m.reasoning_content) j["reasoning_content"] = *m.reasoning_content;
  return j;
}

json to_json(const Conversation& c) {
  json j = json::object();
  json msgs = json::array();
  for (const Message& m : c.messages) msgs.push_back(to_json(m));
  j["messages"] = std::move(msgs);
  if (!c.tools.empty()) {
    json tools = json::array();
    for (const Tool& t : c.tools) {
      json fn = {{"name", t.name}};
      if (!t.description.empty()) fn["description"] = t.description;
      if (!t.parameters.is_null()) fn["parameters"] = t.parameters;
      tools.push_back({{"type", t.type}, {"function", std::move(fn)}});
    }
    j["tools"] = std::move(tools);
  }
  return j;
}

}  // namespace r1::chat
