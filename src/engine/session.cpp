#include "engine/session.h"

#include <algorithm>
#include <chrono>

namespace r1::engine {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

chat::ChatTemplate template_of(const Tokenizer& tok) {
  if (tok.chat_template().empty()) return chat::chat_template_by_name("deepseek-r1");
  return chat::detect_chat_template(tok.chat_template());
}

// Erases the oldest user message and everything up to the next user message. With
// `keep_last_user`, the last user message (the turn being answered) is never dropped.
bool drop_oldest(chat::Conversation& c, bool keep_last_user) {
  auto is_user = [](const chat::Message& m) { return m.role == chat::Role::kUser; };
  auto first = std::find_if(c.messages.begin(), c.messages.end(), is_user);
  if (first == c.messages.end()) return false;
  auto next = std::find_if(first + 1, c.messages.end(), is_user);
  if (next == c.messages.end() && keep_last_user) return false;
  c.messages.erase(first, next);
  return true;
}

}  // namespace

const char* finish_name(Finish f) {
  switch (f) {
    case Finish::kEos:
      return "end of sequence";
    case Finish::kStop:
      return "stop string";
    case Finish::kLength:
      return "max tokens";
    case Finish::kContext:
      return "context full";
    case Finish::kCancelled:
      return "cancelled";
  }
  return "?";
}

double TurnStats::tokens_per_s() const {
  const double t = total_s - time_to_first_token_s;
  return generated > 1 && t > 0 ? static_cast<double>(generated - 1) / t : 0.0;
}

StopMatcher::StopMatcher(std::vector<std::string> stops) {
  for (auto& s : stops)
    if (!s.empty()) stops_.push_back(std::move(s));
}

std::string StopMatcher::push(std::string_view piece) {
  if (stopped_) return {};
  held_.append(piece);
  size_t cut = std::string::npos;
  for (const auto& s : stops_) cut = std::min(cut, held_.find(s));
  if (cut != std::string::npos) {
    stopped_ = true;
    std::string out = held_.substr(0, cut);
    held_.clear();
    return out;
  }
  // Keep the longest tail that is a proper prefix of some stop string.
  size_t keep = 0;
  for (const auto& s : stops_)
    for (size_t k = std::min(s.size() - 1, held_.size()); k > keep; --k)
      if (held_.compare(held_.size() - k, k, s, 0, k) == 0) {
        keep = k;
        break;
      }
  std::string out = held_.substr(0, held_.size() - keep);
  held_.erase(0, held_.size() - keep);
  return out;
}

std::string StopMatcher::flush() {
  std::string out = stopped_ ? std::string() : held_;
  held_.clear();
  return out;
}

ChatSession::ChatSession(const Model& model, const Tokenizer& tok, SessionOptions options)
    : ChatSession(model, tok, template_of(tok), std::move(options)) {}

ChatSession::ChatSession(const Model& model, const Tokenizer& tok, chat::ChatTemplate tmpl,
                         SessionOptions options)
    : model_(model),
      tok_(tok),
      tmpl_(tmpl),
      opt_(std::move(options)),
      seq_(model.new_sequence(opt_.n_ctx)) {
  if (opt_.n_ctx < 2) throw Error("the context must hold at least 2 tokens");
}

void ChatSession::reset() {
  conv_ = {};
  seq_.reset();
  cached_.clear();
  logits_.clear();
}

bool ChatSession::drop_oldest_turn() {
  return drop_oldest(conv_, false);
}

void ChatSession::set_conversation(chat::Conversation c) {
  chat::validate(c);
  conv_ = std::move(c);
}

std::vector<int32_t> ChatSession::render_tokens(const chat::Conversation& c) const {
  chat::Conversation full;
  if (!opt_.system_prompt.empty()) {
    chat::Message sys;
    sys.role = chat::Role::kSystem;
    sys.content = opt_.system_prompt;
    full.messages.push_back(std::move(sys));
  }
  full.messages.insert(full.messages.end(), c.messages.begin(), c.messages.end());
  full.tools = c.tools;
  chat::RenderOptions ro;
  ro.bos = tok_.bos_text();
  ro.eos = tok_.eos_text();
  ro.thinking = opt_.thinking;
  const std::string text = chat::render(tmpl_, full, ro);
  const bool has_bos = !ro.bos.empty() && text.rfind(ro.bos, 0) == 0;
  return tok_.encode(text, tok_.add_bos() && !has_bos);
}

std::vector<int32_t> ChatSession::prompt_tokens(const std::string& user_text) const {
  chat::Conversation next = conv_;
  chat::Message m;
  m.content = user_text;
  next.messages.push_back(std::move(m));
  return render_tokens(next);
}

void ChatSession::prefill(const std::vector<int32_t>& prompt, TurnStats& st) {
  if (seq_.context() != opt_.n_ctx) {  // the context size changed
    seq_ = model_.new_sequence(opt_.n_ctx);
    cached_.clear();
    logits_.clear();
  }
  size_t common = 0;
  if (!cached_.empty() && cached_.size() <= prompt.size() &&
      std::equal(cached_.begin(), cached_.end(), prompt.begin()) && !logits_.empty())
    common = cached_.size();
  if (common == 0) {
    seq_.reset();
    cached_.clear();
  }
  st.reused_tokens = static_cast<int64_t>(common);
  const auto t0 = Clock::now();
  if (common < prompt.size()) {
    logits_.resize(static_cast<size_t>(model_.config().vocab_size));
    cached_.clear();  // stays consistent if forward throws
    model_.forward(seq_, std::span(prompt).subspan(common), logits_.data(), false);
  }
  cached_ = prompt;
  st.prefill_s = seconds_since(t0);
}

TurnResult ChatSession::send(const std::string& user_text, const EventCallback& on_event,
                             const std::atomic<bool>* cancel) {
  const auto t0 = Clock::now();
  TurnResult r;
  TurnStats& st = r.stats;
  chat::Conversation next = conv_;
  {
    chat::Message m;
    m.content = user_text;
    next.messages.push_back(std::move(m));
  }
  std::vector<int32_t> prompt = render_tokens(next);
  const int64_t n_ctx = opt_.n_ctx;
  while (static_cast<int64_t>(prompt.size()) + 1 > n_ctx) {
    if (!opt_.drop_oldest || !drop_oldest(next, true)) {
      const int64_t need = static_cast<int64_t>(prompt.size()) + 1;
      throw ContextFull("the conversation needs " + std::to_string(need) +
                            " tokens but the context holds " + std::to_string(n_ctx) +
                            (conv_.messages.empty()
                                 ? "; use a shorter message or a larger context (-c)"
                                 : "; drop the oldest turns, reset, or use a larger context (-c)"),
                        need, n_ctx);
    }
    ++st.dropped_turns;
    prompt = render_tokens(next);
  }
  st.prompt_tokens = static_cast<int64_t>(prompt.size());
  prefill(prompt, st);
  conv_ = std::move(next);

  SamplingParams sp = opt_.sampling;
  sp.seed += turn_++;
  Sampler sampler(sp);
  const size_t window = static_cast<size_t>(std::max(sp.penalty_last_n, 0));
  sampler.accept(std::span(prompt).subspan(prompt.size() - std::min(window, prompt.size())));

  chat::ParserOptions po;
  po.starts_in_reasoning =
      tmpl_.family == chat::TemplateFamily::kDeepSeekR1 && tmpl_.opens_think && opt_.thinking;
  po.parse_tool_calls = false;
  chat::ReasoningParser parser(po);
  StreamingDecoder decoder(tok_);
  StopMatcher stop(opt_.stop);
  auto deliver = [&](const std::vector<chat::StreamEvent>& events) {
    for (const auto& e : events) {
      if (e.kind == chat::EventKind::kReasoning) r.reasoning += e.text;
      if (e.kind == chat::EventKind::kContent) r.content += e.text;
      if (on_event) on_event(e);
    }
  };
  auto push_token = [&](int32_t id) {
    const std::string safe = stop.push(decoder.push(id));
    if (!safe.empty()) deliver(parser.feed(safe));
  };
  const int64_t V = model_.config().vocab_size;
  const int32_t eos = tok_.eos();
  bool budget_spent = false;
  st.finish = Finish::kEos;
  for (;;) {
    if (cancel != nullptr && cancel->load()) {
      st.finish = Finish::kCancelled;
      break;
    }
    if (opt_.max_tokens >= 0 && st.generated >= opt_.max_tokens) {
      st.finish = Finish::kLength;
      break;
    }
    const bool thinking = parser.in_reasoning();
    if (thinking && !budget_spent && opt_.think_budget >= 0 &&
        st.thinking_tokens >= opt_.think_budget) {
      // End the reasoning: the optional message, then `</think>`, so the model answers next.
      budget_spent = true;
      // The reasoning is over for this turn: the model may not open it again.
      if (const auto open = tok_.find("<think>")) sampler.forbid(*open);
      std::string text = "\n</think>\n\n";
      if (!opt_.think_budget_message.empty()) text = "\n" + opt_.think_budget_message + text;
      const std::vector<int32_t> ins = tok_.encode(text, false);
      if (seq_.position() + static_cast<int64_t>(ins.size()) > n_ctx) {
        st.finish = Finish::kContext;
        break;
      }
      model_.forward(seq_, ins, logits_.data(), false);
      cached_.insert(cached_.end(), ins.begin(), ins.end());
      sampler.accept(ins);
      st.inserted += static_cast<int64_t>(ins.size());
      for (int32_t id : ins) {
        r.tokens.push_back(id);
        push_token(id);
      }
      if (stop.stopped()) {
        st.finish = Finish::kStop;
        break;
      }
      continue;
    }
    const int32_t id = sampler.sample(logits_.data(), V);
    if (st.generated++ == 0) st.time_to_first_token_s = seconds_since(t0);
    if (thinking) ++st.thinking_tokens;
    r.tokens.push_back(id);
    if (id == eos) {
      st.finish = Finish::kEos;
      break;
    }
    push_token(id);
    if (stop.stopped()) {
      st.finish = Finish::kStop;
      break;
    }
    if (seq_.position() + 1 > n_ctx) {
      st.finish = Finish::kContext;
      break;
    }
    model_.forward(seq_, std::span(&id, 1), logits_.data(), false);
    cached_.push_back(id);
  }
  // The rest of the text: the decoder's and the stop matcher's held-back bytes, then the parser's.
  if (!stop.stopped()) {
    std::string rest = stop.push(decoder.flush());
    rest += stop.flush();
    if (!rest.empty()) deliver(parser.feed(rest));
  }
  deliver(parser.finish());

  chat::Message answer;
  answer.role = chat::Role::kAssistant;
  answer.content = r.content;
  if (!r.reasoning.empty()) answer.reasoning_content = r.reasoning;
  conv_.messages.push_back(std::move(answer));
  st.total_s = seconds_since(t0);
  return r;
}

}  // namespace r1::engine
