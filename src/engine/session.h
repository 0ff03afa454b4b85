// A chat session: the conversation, the model's cache for it, and generation of the next
// assistant turn with the controls a reasoning model needs (think budget, no-think, stop strings,
// max tokens, cancellation), reporting reasoning and answer apart as they stream.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "chat/reasoning_parser.h"
#include "chat/template.h"
#include "core/error.h"
#include "model/forward.h"
#include "sampling/sampler.h"
#include "tokenizer/tokenizer.h"

namespace r1::engine {

struct SessionOptions {
  int64_t n_ctx = 4096;     // tokens of context (prompt + all turns + the answer)
  int64_t max_tokens = -1;  // per answer; -1 = until end of sequence or a full context
  SamplingParams sampling = deepseek_r1_defaults();
  int64_t think_budget = -1;  // -1 = unlimited; else thinking tokens before `</think>` is forced
  // Written into the reasoning just before the forced `</think>` (may be empty).
  std::string think_budget_message;
  bool thinking = true;           // false: the prompt pre-fills an empty think block (--no-think)
  std::vector<std::string> stop;  // stop strings (never part of the reported text)
  std::string system_prompt;
  // When the next prompt does not fit: drop the oldest turns (true) or throw ContextFull.
  bool drop_oldest = false;
};

// The conversation does not fit the context; nothing was changed.
struct ContextFull : Error {
  ContextFull(const std::string& what, int64_t needed_, int64_t context_)
      : Error(what), needed(needed_), context(context_) {}
  int64_t needed = 0, context = 0;
};

enum class Finish : uint8_t { kEos, kStop, kLength, kContext, kCancelled };
const char* finish_name(Finish f);

struct TurnStats {
  int64_t prompt_tokens = 0;    // the rendered prompt
  int64_t reused_tokens = 0;    // of those, already in the cache (not recomputed)
  int64_t generated = 0;        // sampled tokens (the end-of-sequence token included)
  int64_t thinking_tokens = 0;  // sampled while inside the reasoning
  int64_t inserted = 0;         // tokens the engine inserted (think budget)
  int64_t dropped_turns = 0;    // oldest turns dropped to fit the context
  double prefill_s = 0, time_to_first_token_s = 0, total_s = 0;
  Finish finish = Finish::kEos;
  // Generation speed after the first token.
  double tokens_per_s() const;
};

struct TurnResult {
  std::string reasoning;
  std::string content;
  std::vector<int32_t> tokens;  // sampled and inserted, in order
  TurnStats stats;
};

// Called with each piece of text as it is generated: kReasoning or kContent (tool calls and
// parser errors arrive as kToolCall / kError events too).
using EventCallback = std::function<void(const chat::StreamEvent&)>;

// Holds back text that may be the start of a stop string; reports a match.
class StopMatcher {
 public:
  explicit StopMatcher(std::vector<std::string> stops);
  // Returns the text that is safe to pass on; stopped() becomes true at a match (the match and
  // anything after it are dropped).
  std::string push(std::string_view piece);
  std::string flush();  // the held-back text (no match can complete any more)
  bool stopped() const { return stopped_; }

 private:
  std::vector<std::string> stops_;
  std::string held_;
  bool stopped_ = false;
};

class ChatSession {
 public:
  // Uses the tokenizer's chat template (the R1 one when the model ships none).
  ChatSession(const Model& model, const Tokenizer& tok, SessionOptions options);
  ChatSession(const Model& model, const Tokenizer& tok, chat::ChatTemplate tmpl,
              SessionOptions options);

  // Adds a user message and generates the assistant's answer, calling `on_event` as text
  // streams. The answer (without its reasoning) joins the conversation, also when cancelled.
  // `cancel` is checked before each token. Throws ContextFull (conversation unchanged) when the
  // prompt cannot fit even after dropping turns (if allowed).
  TurnResult send(const std::string& user_text, const EventCallback& on_event = {},
                  const std::atomic<bool>* cancel = nullptr);

  void reset();  // forgets the conversation and the cache (the system prompt stays)
  // Drops the oldest user turn and what followed it up to the next user turn. False if none.
  bool drop_oldest_turn();
  const chat::Conversation& conversation() const { return conv_; }
  void set_conversation(chat::Conversation c);  // validated
  SessionOptions& options() { return opt_; }
  const SessionOptions& options() const { return opt_; }
  const chat::ChatTemplate& chat_template() const { return tmpl_; }
  // The prompt the next turn would render with `user_text` as the last message.
  std::vector<int32_t> prompt_tokens(const std::string& user_text) const;
  int64_t cached_tokens() const { return static_cast<int64_t>(cached_.size()); }

 private:
  std::vector<int32_t> render_tokens(const chat::Conversation& c) const;
  void prefill(const std::vector<int32_t>& prompt, TurnStats& stats);

  const Model& model_;
  const Tokenizer& tok_;
  chat::ChatTemplate tmpl_;
  SessionOptions opt_;
  chat::Conversation conv_;
  Sequence seq_;
  std::vector<int32_t> cached_;  // the tokens in seq_
  std::vector<float> logits_;    // of the last token in seq_
  uint64_t turn_ = 0;            // each turn's sampler is seeded with seed + turn
};

}  // namespace r1::engine
