// The OpenAI/DeepSeek request and response shapes of `r1 serve`, apart from HTTP: every request
// parameter checked against the table in docs/SERVER.md, errors in OpenAI's JSON shape naming
// the offending field, and the JSON the endpoints answer with.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "chat/conversation.h"
#include "chat/reasoning_parser.h"
#include "sampling/grammar.h"
#include "sampling/sampler.h"

namespace r1::server {

// An error answered to the client: HTTP status, OpenAI's error type, the parameter it concerns
// (may be empty) and a short machine-readable code.
struct ApiError : std::runtime_error {
  ApiError(int status_, std::string message, std::string param_ = {},
           std::string code_ = "invalid_value", std::string type_ = "invalid_request_error")
      : std::runtime_error(message),
        status(status_),
        param(std::move(param_)),
        code(std::move(code_)),
        type(std::move(type_)) {}
  int status;
  std::string param, code, type;
};

// {"error":{"message","type","param","code"}} (param and code null when empty).
nlohmann::json error_json(const ApiError& e);

struct Limits {
  size_t max_body_bytes = 4u << 20;  // whole request body
  int max_depth = 32;                // nesting of JSON arrays/objects
  size_t max_messages = 1024;
  size_t max_stop = 4;          // stop strings
  size_t max_stop_bytes = 256;  // each
  size_t max_tools = 128;
  size_t max_logit_bias = 1024;
  int64_t max_tokens = 0;  // upper bound of max_tokens (0: the context size)
};

struct Defaults {
  SamplingParams sampling = deepseek_r1_defaults();
  int64_t max_tokens = -1;    // -1: until the context is full
  int64_t think_budget = -1;  // -1: unlimited
  bool thinking = true;
};

// What a chat or completion request asks for, validated.
struct GenerationParams {
  std::string model;
  bool stream = false;
  bool include_usage = false;
  int64_t max_tokens = -1;  // -1: not given (the default applies)
  SamplingParams sampling;
  std::vector<std::string> stop;
  bool thinking = true;
  int64_t think_budget = -1;
  bool ignore_eos = false;  // never end at the end-of-sequence token (benchmarks, tests)
};

struct ChatRequest {
  GenerationParams gen;
  chat::Conversation conversation;
  bool tools_enabled = false;  // tools given and tool_choice is not "none"
  // The answer's required form (constrained decoding): a forced tool call (tool_choice
  // "required" or a named function) or JSON (response_format json_object / json_schema).
  std::shared_ptr<const Grammar> grammar;
};

struct CompletionRequest {
  GenerationParams gen;
  std::string prompt;
};

// Refuses JSON nested deeper than `max_depth` (checked on the raw text, before parsing).
void check_depth(std::string_view body, int max_depth);
// Parses a request body: 400 for malformed JSON (invalid UTF-8 included), a non-object, or
// too deep a nesting.
nlohmann::json parse_body(std::string_view body, const Limits& limits);

ChatRequest parse_chat_request(const nlohmann::json& body, const Limits& limits,
                               const Defaults& defaults, int64_t vocab_size);
CompletionRequest parse_completion_request(const nlohmann::json& body, const Limits& limits,
                                           const Defaults& defaults, int64_t vocab_size);

// The think budget `reasoning_effort` stands for: low 256, medium 1024, high unlimited (-1).
int64_t think_budget_of_effort(std::string_view effort);

// A system prompt describing the tools (DeepSeek's templates do not render tool definitions),
// ending with how to call them in DeepSeek's tool-call format.
std::string tools_system_prompt(const std::vector<chat::Tool>& tools);

// One tool call as OpenAI returns it; `index` only in stream deltas.
nlohmann::json tool_call_json(const chat::ToolCall& c, const std::string& id, size_t index,
                              bool stream);
// The assistant message of a whole chat answer: content (null when the answer is only tool
// calls), reasoning_content (when there is reasoning or thinking was on), tool_calls (ids
// "call_<id_base>-<i>").
nlohmann::json chat_message_json(const chat::ParsedResponse& p, const std::string& id_base,
                                 bool thinking);

// The JSON text of a value for the wire: invalid UTF-8 (never expected) replaced, not thrown.
std::string dump(const nlohmann::json& j);

}  // namespace r1::server
