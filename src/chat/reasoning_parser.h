// Incremental parser of a reasoning model's output: splits the generated text, fed piece by
// piece (one detokenised token at a time, or any other split), into reasoning text, answer text
// and DeepSeek tool calls, as DeepSeek's API reports them (reasoning_content / content /
// tool_calls). The rules are listed in docs/CHAT.md, "Reasoning and tool-call parser"; in short:
//
//  * text before `</think>` is reasoning when the prompt opened `<think>`, or after the model
//    writes `<think>` itself; `<think>`/`</think>` markers are never part of either text;
//  * the answer's leading newlines (after `</think>`, or at the start of an output that starts
//    as the answer) are trimmed;
//  * `<｜tool▁calls▁begin｜>…<｜tool▁calls▁end｜>` in the answer is parsed into tool calls;
//    anything malformed there is reported as an error event, never as answer text;
//  * a possible partial marker (and an incomplete UTF-8 sequence) at the end of a piece is held
//    back until the next piece or finish(), so any split of the same text gives the same
//    concatenated reasoning, answer, tool calls and errors.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "chat/conversation.h"

namespace r1::chat {

enum class EventKind : uint8_t {
  kReasoning,  // `text` is a piece of reasoning_content
  kContent,    // `text` is a piece of the answer (content)
  kToolCall,   // `tool_call` is one complete, well-formed call
  kError,      // `text` says what was malformed (a tool-call block); nothing of it is content
};

const char* event_kind_name(EventKind k);

struct StreamEvent {
  EventKind kind = EventKind::kContent;
  std::string text;
  ToolCall tool_call;

  bool operator==(const StreamEvent&) const = default;
};

struct ParserOptions {
  // The prompt already opened `<think>` (R1's generation prompt; see prompt_opens_reasoning()
  // in template.h): the output starts as reasoning. Otherwise it starts as the answer and only
  // a `<think>` written by the model starts reasoning.
  bool starts_in_reasoning = true;
  // Parse DeepSeek tool-call blocks in the answer. When false their markers are answer text.
  bool parse_tool_calls = true;
};

// The accumulated result (what a non-streaming API response carries).
struct ParsedResponse {
  std::string reasoning_content;
  std::string content;
  std::vector<ToolCall> tool_calls;
  std::vector<std::string> errors;
  bool reasoning_closed = false;  // a `</think>` was seen

  void add(const StreamEvent& e);
  void add(const std::vector<StreamEvent>& events);
  bool operator==(const ParsedResponse&) const = default;
};

class ReasoningParser {
 public:
  explicit ReasoningParser(ParserOptions options = {});

  // Feeds the next piece of generated text; returns the events it completes (possibly none).
  std::vector<StreamEvent> feed(std::string_view piece);
  // Ends the stream: flushes held-back text and reports an unterminated tool call. Further
  // feed() calls are internal errors.
  std::vector<StreamEvent> finish();

  bool in_reasoning() const { return state_ == State::kReasoning; }
  // True once `</think>` was seen (even if a later `<think>` reopened reasoning).
  bool reasoning_closed() const { return reasoning_closed_; }

 private:
  enum class State : uint8_t { kReasoning, kContent, kToolBlock, kToolCall };

  void process(bool final, std::vector<StreamEvent>& out);
  void on_text(std::string_view text, std::vector<StreamEvent>& out);
  void on_marker(std::string_view marker, std::vector<StreamEvent>& out);
  void emit_text(EventKind kind, std::string_view text, std::vector<StreamEvent>& out);
  void end_call(std::vector<StreamEvent>& out);
  void check_gap(std::vector<StreamEvent>& out);
  const std::vector<std::string_view>& markers() const;

  ParserOptions options_;
  State state_;
  std::string pending_;         // input not yet classified (a possible partial marker at its end)
  std::string call_body_;       // text of the tool call being read
  std::string gap_;             // text between tool calls of a block (must be whitespace)
  bool trim_newlines_ = false;  // drop the answer's leading newlines (after `</think>`)
  bool reasoning_closed_ = false;
  bool finished_ = false;
  size_t calls_seen_ = 0;  // tool calls begun, for messages
};

// Parses a whole output at once (same result as feeding it in any pieces).
ParsedResponse parse_response(std::string_view text, ParserOptions options = {});

}  // namespace r1::chat
