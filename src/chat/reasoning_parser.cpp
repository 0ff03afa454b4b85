#include "chat/reasoning_parser.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "chat/special_tokens.h"
#include "core/check.h"

namespace r1::chat {

namespace {

using namespace tokens;  // NOLINT: the DeepSeek token spellings

// Markers recognised in each state. No marker is a prefix of another, and each has a single
// '<' (its first byte), so the earliest match in the text is never part of a longer one.
const std::vector<std::string_view> kReasoningMarkers = {kThink, kThinkEnd};
const std::vector<std::string_view> kContentMarkersPlain = {kThink, kThinkEnd};
const std::vector<std::string_view> kContentMarkers = {
    kThink, kThinkEnd,     kCallsBegin, kCallBegin,   kCallEnd,  kCallsEnd,
    kSep,   kOutputsBegin, kOutputsEnd, kOutputBegin, kOutputEnd};
const std::vector<std::string_view> kBlockMarkers = kContentMarkers;
// Inside one call only the markers that end it matter; <｜tool▁sep｜> is part of its body.
const std::vector<std::string_view> kCallMarkers = {kCallEnd,     kCallBegin,    kCallsEnd,
                                                    kCallsBegin,  kOutputsBegin, kOutputsEnd,
                                                    kOutputBegin, kOutputEnd};

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

bool all_space(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return is_space(c); });
}

// Bytes at the end of `s` that start a UTF-8 sequence not yet complete (0 if none).
size_t incomplete_utf8_tail(std::string_view s) {
  const size_t n = s.size();
  for (size_t back = 1; back <= 3 && back <= n; ++back) {
    const auto b = static_cast<unsigned char>(s[n - back]);
    if ((b & 0xC0) == 0x80) continue;  // continuation byte: look further back
    size_t need = 1;
    if ((b & 0xE0) == 0xC0) {
      need = 2;
    } else if ((b & 0xF0) == 0xE0) {
      need = 3;
    } else if ((b & 0xF8) == 0xF0) {
      need = 4;
    }
    return need > back ? back : 0;
  }
  return 0;
}

std::string quoted_excerpt(std::string_view s) {
  std::string e(s.substr(0, 40));
  std::string out = "\"";
  for (char c : e) {
    if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  out += s.size() > 40 ? "...\"" : "\"";
  return out;
}

}  // namespace

const char* event_kind_name(EventKind k) {
  switch (k) {
    case EventKind::kReasoning:
      return "reasoning";
    case EventKind::kContent:
      return "content";
    case EventKind::kToolCall:
      return "tool_call";
    case EventKind::kError:
      return "error";
  }
  return "?";
}

void ParsedResponse::add(const StreamEvent& e) {
  switch (e.kind) {
    case EventKind::kReasoning:
      reasoning_content += e.text;
      break;
    case EventKind::kContent:
      content += e.text;
      break;
    case EventKind::kToolCall:
      tool_calls.push_back(e.tool_call);
      break;
    case EventKind::kError:
      errors.push_back(e.text);
      break;
  }
}

void ParsedResponse::add(const std::vector<StreamEvent>& events) {
  for (const StreamEvent& e : events) add(e);
}

ReasoningParser::ReasoningParser(ParserOptions options)
    : options_(options),
      state_(options.starts_in_reasoning ? State::kReasoning : State::kContent),
      trim_newlines_(!options.starts_in_reasoning) {}

const std::vector<std::string_view>& ReasoningParser::markers() const {
  switch (state_) {
    case State::kReasoning:
      return kReasoningMarkers;
    case State::kContent:
      return options_.parse_tool_calls ? kContentMarkers : kContentMarkersPlain;
    case State::kToolBlock:
      return kBlockMarkers;
    case State::kToolCall:
      return kCallMarkers;
  }
  return kReasoningMarkers;
}

std::vector<StreamEvent> ReasoningParser::feed(std::string_view piece) {
  R1_CHECK_MSG(!finished_, "ReasoningParser::feed after finish");
  std::vector<StreamEvent> out;
  pending_.append(piece);
  process(false, out);
  return out;
}

std::vector<StreamEvent> ReasoningParser::finish() {
  R1_CHECK_MSG(!finished_, "ReasoningParser::finish called twice");
  std::vector<StreamEvent> out;
  process(true, out);
  finished_ = true;
  if (state_ == State::kToolCall) {
    emit_text(EventKind::kError,
              "tool call #" + std::to_string(calls_seen_) +
                  " is not terminated: the output ended before <｜tool▁call▁end｜>",
              out);
    call_body_.clear();
  } else if (state_ == State::kToolBlock) {
    // A block whose calls all ended but without <｜tool▁calls▁end｜> is accepted: V3's
    // template itself renders a single call that way (docs/CHAT.md).
    check_gap(out);
  }
  return out;
}

void ReasoningParser::process(bool final, std::vector<StreamEvent>& out) {
  for (;;) {
    const auto& ms = markers();
    size_t best = std::string::npos;
    std::string_view found;
    for (std::string_view m : ms) {
      const size_t p = pending_.find(m);
      if (p < best) {
        best = p;
        found = m;
      }
    }
    if (best != std::string::npos) {
      on_text(std::string_view(pending_).substr(0, best), out);
      const std::string marker(found);
      pending_.erase(0, best + marker.size());
      on_marker(marker, out);
      continue;
    }
    size_t keep = 0;
    if (!final) {
      // Hold back the longest suffix that could still grow into a marker.
      size_t longest = 0;
      for (std::string_view m : ms) longest = std::max(longest, m.size());
      const size_t from = pending_.size() >= longest ? pending_.size() - longest + 1 : 0;
      for (size_t i = from; i < pending_.size(); ++i) {
        if (pending_[i] != '<') continue;
        const std::string_view tail = std::string_view(pending_).substr(i);
        const bool could_grow = std::any_of(ms.begin(), ms.end(), [&](std::string_view m) {
          return m.size() > tail.size() && m.substr(0, tail.size()) == tail;
        });
        if (could_grow) {
          keep = pending_.size() - i;
          break;
        }
      }
      // Emitted text ends on a whole UTF-8 character.
      if (state_ == State::kReasoning || state_ == State::kContent)
        keep += incomplete_utf8_tail(std::string_view(pending_).substr(0, pending_.size() - keep));
    }
    on_text(std::string_view(pending_).substr(0, pending_.size() - keep), out);
    pending_.erase(0, pending_.size() - keep);
    return;
  }
}

void ReasoningParser::emit_text(EventKind kind, std::string_view text,
                                std::vector<StreamEvent>& out) {
  if (text.empty()) return;
  if ((kind == EventKind::kReasoning || kind == EventKind::kContent) && !out.empty() &&
      out.back().kind == kind) {
    out.back().text.append(text);
    return;
  }
  StreamEvent e;
  e.kind = kind;
  e.text = std::string(text);
  out.push_back(std::move(e));
}

void ReasoningParser::on_text(std::string_view text, std::vector<StreamEvent>& out) {
  switch (state_) {
    case State::kReasoning:
      emit_text(EventKind::kReasoning, text, out);
      break;
    case State::kContent:
      if (trim_newlines_) {
        while (!text.empty() && (text.front() == '\n' || text.front() == '\r'))
          text.remove_prefix(1);
        if (!text.empty()) trim_newlines_ = false;
      }
      emit_text(EventKind::kContent, text, out);
      break;
    case State::kToolBlock:
      gap_.append(text);
      break;
    case State::kToolCall:
      call_body_.append(text);
      break;
  }
}

void ReasoningParser::check_gap(std::vector<StreamEvent>& out) {
  if (!all_space(gap_))
    emit_text(EventKind::kError,
              "unexpected text in a tool-call block: " + quoted_excerpt(trim(gap_)), out);
  gap_.clear();
}

void ReasoningParser::on_marker(std::string_view marker, std::vector<StreamEvent>& out) {
  const std::string name(marker);
  switch (state_) {
    case State::kReasoning:
      if (marker == kThinkEnd) {
        state_ = State::kContent;
        trim_newlines_ = true;
        reasoning_closed_ = true;
      }
      // A repeated <think> inside reasoning is dropped.
      return;

    case State::kContent:
      if (marker == kThink) {
        state_ = State::kReasoning;
      } else if (marker == kThinkEnd) {
        // A stray </think> (no open block): dropped; what follows is still the answer.
        trim_newlines_ = true;
        reasoning_closed_ = true;
      } else if (marker == kCallsBegin) {
        state_ = State::kToolBlock;
        gap_.clear();
      } else if (marker == kCallBegin) {
        emit_text(EventKind::kError, "tool call without <｜tool▁calls▁begin｜>", out);
        state_ = State::kToolCall;
        call_body_.clear();
        ++calls_seen_;
      } else {
        emit_text(EventKind::kError, "unexpected " + name + " outside a tool-call block", out);
      }
      return;

    case State::kToolBlock:
      check_gap(out);
      if (marker == kCallBegin) {
        state_ = State::kToolCall;
        call_body_.clear();
        ++calls_seen_;
      } else if (marker == kCallsEnd) {
        state_ = State::kContent;
      } else {
        emit_text(EventKind::kError, "unexpected " + name + " in a tool-call block", out);
      }
      return;

    case State::kToolCall:
      if (marker == kCallEnd) {
        end_call(out);
        state_ = State::kToolBlock;
        gap_.clear();
        return;
      }
      emit_text(EventKind::kError,
                "tool call #" + std::to_string(calls_seen_) + " is not terminated: " + name +
                    " before <｜tool▁call▁end｜>",
                out);
      call_body_.clear();
      if (marker == kCallBegin) {
        ++calls_seen_;  // a new call starts; the block goes on
      } else if (marker == kCallsEnd) {
        state_ = State::kContent;
      } else {
        state_ = State::kToolBlock;
        gap_.clear();
      }
      return;
  }
}

// Parses `TYPE<｜tool▁sep｜>NAME\n```json\nARGS\n```` (the text between the call markers).
void ReasoningParser::end_call(std::vector<StreamEvent>& out) {
  const std::string body = std::move(call_body_);
  call_body_.clear();
  const std::string at = "tool call #" + std::to_string(calls_seen_);
  auto error = [&](const std::string& what) {
    emit_text(EventKind::kError, at + ": " + what, out);
  };

  const size_t sep = body.find(kSep);
  if (sep == std::string::npos) return error("missing <｜tool▁sep｜> between type and name");
  ToolCall call;
  call.type = std::string(trim(std::string_view(body).substr(0, sep)));
  if (call.type.empty()) return error("missing type (\"function\") before <｜tool▁sep｜>");
  std::string_view rest = std::string_view(body).substr(sep + kSep.size());
  const size_t nl = rest.find('\n');
  const std::string_view name = trim(rest.substr(0, nl));
  if (name.empty()) return error("missing function name after <｜tool▁sep｜>");
  for (char c : name)
    if (static_cast<unsigned char>(c) < 0x20 || c == ' ' || c == '<' || c == '>' || c == '`')
      return error("bad function name " + quoted_excerpt(name));
  call.name = std::string(name);
  if (nl == std::string_view::npos) return error("function " + call.name + " has no arguments");

  std::string_view args = trim(rest.substr(nl + 1));
  if (args.substr(0, 3) == "```") {
    // ```json\n{...}\n``` (any language tag is accepted).
    const size_t tag_end = args.find('\n');
    if (tag_end == std::string_view::npos)
      return error("arguments of " + call.name + ": code block has no body");
    args.remove_prefix(tag_end + 1);
    args = trim(args);
    if (args.size() < 3 || args.substr(args.size() - 3) != "```")
      return error("arguments of " + call.name + ": code block not closed with ```");
    args.remove_suffix(3);
    args = trim(args);
  }
  const nlohmann::json parsed = nlohmann::json::parse(args, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded())
    return error("arguments of " + call.name + " are not valid JSON: " + quoted_excerpt(args));
  if (!parsed.is_object())
    return error("arguments of " + call.name + " are not a JSON object: " + quoted_excerpt(args));
  call.arguments = std::string(args);
  StreamEvent e;
  e.kind = EventKind::kToolCall;
  e.tool_call = std::move(call);
  out.push_back(std::move(e));
}

ParsedResponse parse_response(std::string_view text, ParserOptions options) {
  ReasoningParser p(options);
  ParsedResponse r;
  r.add(p.feed(text));
  r.add(p.finish());
  r.reasoning_closed = p.reasoning_closed();
  return r;
}

}  // namespace r1::chat
