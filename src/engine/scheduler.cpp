#include "engine/scheduler.h"

#include <algorithm>
#include <chrono>
#include <optional>
#include <utility>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "chat/special_tokens.h"
#include "core/check.h"
#include "core/error.h"
#include "core/thread_pool.h"

namespace r1::engine {
namespace {

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace

// ---- GenerationHandle

bool GenerationHandle::wait(std::vector<chat::StreamEvent>& out, int timeout_ms) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms),
               [&] { return done_ || !events_.empty(); });
  while (!events_.empty()) {
    out.push_back(std::move(events_.front()));
    events_.pop_front();
  }
  return done_;
}

bool GenerationHandle::finished() const {
  std::lock_guard lock(mu_);
  return done_;
}

GenerationStats GenerationHandle::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

std::string GenerationHandle::error() const {
  std::lock_guard lock(mu_);
  return error_;
}

void GenerationHandle::push(const std::vector<chat::StreamEvent>& events) {
  if (events.empty()) return;
  {
    std::lock_guard lock(mu_);
    events_.insert(events_.end(), events.begin(), events.end());
  }
  cv_.notify_all();
}

void GenerationHandle::finish(const GenerationStats& st, std::string error) {
  {
    std::lock_guard lock(mu_);
    stats_ = st;
    error_ = std::move(error);
    done_ = true;
  }
  cv_.notify_all();
}

// ---- Scheduler

struct Scheduler::Slot {
  explicit Slot(Sequence s) : seq(std::move(s)) {}
  std::atomic<bool> active{false};  // read by submit() under the scheduler's lock
  Sequence seq;
  GenerationRequest req;
  std::shared_ptr<GenerationHandle> handle;
  size_t prefilled = 0;  // prompt tokens already in seq
  std::vector<float> logits;
  std::unique_ptr<Sampler> sampler;
  std::unique_ptr<StreamingDecoder> decoder;
  std::unique_ptr<StopMatcher> stop;
  std::unique_ptr<chat::ReasoningParser> parser;
  std::unique_ptr<TokenConstraint> constraint;  // when the request has a grammar
  bool budget_spent = false;
  GenerationStats st;
  double t_start = 0;  // when the slot took the request
  // This step's token, drawn ahead (in parallel with the other slots' draws), or why not.
  std::optional<int32_t> drawn;
  std::string draw_error;

  bool prefilling() const { return active && prefilled < req.prompt.size(); }
  // The thinking budget is used up: this step inserts the end of the reasoning.
  bool budget_due() const {
    return parser->in_reasoning() && !budget_spent && req.think_budget >= 0 &&
           st.thinking_tokens >= req.think_budget;
  }
  // Whether this step samples a token (rather than ending or inserting the end of reasoning).
  bool samples_next() const {
    return active && !prefilling() && st.generated < req.max_tokens && !budget_due();
  }
};

std::vector<chat::StreamEvent> Scheduler::feed(Slot& s, const std::string& text) {
  if (!s.req.raw) return s.parser->feed(text);
  chat::StreamEvent e;
  e.kind = chat::EventKind::kContent;
  e.text = text;
  return {e};
}

Scheduler::Scheduler(const Model& model, const Tokenizer& tok, SchedulerOptions options)
    : model_(model), tok_(tok), opt_(options) {
  if (opt_.slots < 1 || opt_.slots > 1024) throw Error("the number of slots must be 1..1024");
  if (opt_.n_ctx < 2) throw Error("the context must hold at least 2 tokens");
  if (opt_.queue_max < 0) throw Error("the queue length cannot be negative");
  if (opt_.prefill_chunk < 1) opt_.prefill_chunk = 1;
  for (int64_t i = 0; i < opt_.slots; ++i)
    slots_.push_back(std::make_unique<Slot>(model_.new_sequence(opt_.n_ctx)));
  m_.slots = opt_.slots;
  m_.cache_capacity_tokens = opt_.slots * opt_.n_ctx;
  thread_ = std::thread([this] { loop(); });
}

Scheduler::~Scheduler() {
  stop();
  if (thread_.joinable()) thread_.join();
}

void Scheduler::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
}

std::shared_ptr<GenerationHandle> Scheduler::submit(GenerationRequest req) {
  if (req.prompt.empty()) throw Error("the prompt is empty");
  if (req.max_tokens < 1) throw Error("max_tokens must be at least 1");
  const int64_t n = static_cast<int64_t>(req.prompt.size());
  if (n + 1 > opt_.n_ctx)
    throw Error("the prompt has " + std::to_string(n) + " tokens but the context holds " +
                std::to_string(opt_.n_ctx) + " (prompt + at least 1 generated token)");
  const int64_t vocab = model_.config().vocab_size;
  for (int32_t id : req.prompt)
    if (id < 0 || id >= vocab)
      throw Error("prompt token id " + std::to_string(id) + " is out of range");
  auto h = std::make_shared<GenerationHandle>();
  {
    std::lock_guard lock(mu_);
    if (stopping_) return nullptr;
    // The queue counts requests not yet in a slot; free slots take them at the next step.
    int64_t free_slots = 0;
    for (const auto& s : slots_) free_slots += s->active ? 0 : 1;
    if (static_cast<int64_t>(queue_.size()) >= opt_.queue_max + free_slots) return nullptr;
    queue_.push_back(Pending{std::move(req), h, now_s()});
    m_.queued = static_cast<int64_t>(queue_.size());
  }
  cv_.notify_all();
  return h;
}

bool Scheduler::full() const {
  std::lock_guard lock(mu_);
  int64_t free_slots = 0;
  for (const auto& s : slots_) free_slots += s->active ? 0 : 1;
  return stopping_ || static_cast<int64_t>(queue_.size()) >= opt_.queue_max + free_slots;
}

SchedulerMetrics Scheduler::metrics() const {
  std::lock_guard lock(mu_);
  return m_;
}

void Scheduler::start_slot(Slot& s, Pending p) {
  s.active = true;
  s.req = std::move(p.req);
  s.handle = std::move(p.handle);
  s.prefilled = 0;
  s.seq = model_.new_sequence(opt_.n_ctx);  // a fresh cache (the old one's memory is freed)
  s.logits.assign(static_cast<size_t>(model_.config().vocab_size), 0.0f);
  s.sampler = std::make_unique<Sampler>(s.req.sampling);
  const size_t window = static_cast<size_t>(std::max(s.req.sampling.penalty_last_n, 0));
  const auto& pr = s.req.prompt;
  s.sampler->accept(std::span(pr).subspan(pr.size() - std::min(window, pr.size())));
  s.decoder = std::make_unique<StreamingDecoder>(tok_);
  s.stop = std::make_unique<StopMatcher>(s.req.stop);
  chat::ParserOptions po;
  po.starts_in_reasoning = s.req.starts_in_reasoning;
  po.parse_tool_calls = s.req.parse_tool_calls;
  s.parser = std::make_unique<chat::ReasoningParser>(po);
  s.budget_spent = false;
  s.st = {};
  s.st.prompt_tokens = static_cast<int64_t>(pr.size());
  s.t_start = now_s();
  s.st.queue_s = s.t_start - p.submitted;
  s.constraint.reset();
  if (s.req.grammar) {
    if (!vocab_) {
      const int64_t n = model_.config().vocab_size;
      std::vector<std::string> bytes(static_cast<size_t>(n));
      for (int64_t id = 0; id < n && static_cast<size_t>(id) < tok_.vocab_size(); ++id)
        bytes[static_cast<size_t>(id)] = tok_.token_bytes(static_cast<int32_t>(id));
      vocab_ = std::make_shared<VocabIndex>(std::move(bytes), tok_.eos());
    }
    s.constraint = std::make_unique<TokenConstraint>(
        s.req.grammar, vocab_,
        s.req.starts_in_reasoning ? std::string(chat::tokens::kThinkEnd) : "");
  }
}

void Scheduler::end_slot(Slot& s, Finish f, std::string error) {
  std::vector<chat::StreamEvent> events;
  if (error.empty() && f != Finish::kCancelled) {
    if (!s.stop->stopped()) {
      std::string rest = s.stop->push(s.decoder->flush());
      rest += s.stop->flush();
      if (!rest.empty()) events = feed(s, rest);
    }
    if (!s.req.raw)
      for (auto& e : s.parser->finish()) events.push_back(std::move(e));
  }
  for (const auto& e : events)
    if (e.kind == chat::EventKind::kToolCall) s.st.tool_calls = true;
  s.handle->push(events);
  s.st.finish = f;
  s.st.total_s = now_s() - s.t_start;
  {
    std::lock_guard lock(mu_);
    // The gauges follow at once (a client sees the slot free when its answer ends).
    m_.busy_slots = std::max<int64_t>(0, m_.busy_slots - 1);
    m_.cache_tokens = std::max<int64_t>(0, m_.cache_tokens - s.seq.position());
    m_.cache_bytes -= std::min(m_.cache_bytes, s.seq.cache_bytes());
    if (!error.empty())
      ++m_.requests_failed;
    else if (f == Finish::kCancelled)
      ++m_.requests_cancelled;
    else
      ++m_.requests_finished;
  }
  s.handle->finish(s.st, std::move(error));
  s.handle.reset();
  s.active = false;
  s.seq = model_.new_sequence(opt_.n_ctx);
  s.sampler.reset();
  s.decoder.reset();
  s.stop.reset();
  s.parser.reset();
  s.constraint.reset();
  s.req = {};
}

bool Scheduler::sample_and_advance(Slot& s, std::vector<int32_t>& next) {
  GenerationStats& st = s.st;
  next.clear();
  std::vector<chat::StreamEvent> events;
  auto push_token = [&](int32_t id) {
    const std::string safe = s.stop->push(s.decoder->push(id));
    if (!safe.empty())
      for (auto& e : feed(s, safe)) {
        if (e.kind == chat::EventKind::kToolCall) st.tool_calls = true;
        events.push_back(std::move(e));
      }
  };
  auto finish = [&](Finish f) {
    s.handle->push(events);
    end_slot(s, f);
    return false;
  };
  if (st.generated >= s.req.max_tokens) return finish(Finish::kLength);
  const bool thinking = s.parser->in_reasoning();
  if (s.budget_due()) {
    // End the reasoning: the optional message, then `</think>`, so the model answers next.
    s.budget_spent = true;
    // The reasoning is over for this request: the model may not open it again.
    if (const auto open = tok_.find("<think>")) s.sampler->forbid(*open);
    std::string text = "\n</think>\n\n";
    if (!s.req.think_budget_message.empty()) text = "\n" + s.req.think_budget_message + text;
    const std::vector<int32_t> ins = tok_.encode(text, false);
    if (s.seq.position() + static_cast<int64_t>(ins.size()) > opt_.n_ctx)
      return finish(Finish::kContext);
    s.sampler->accept(ins);
    if (s.constraint)
      for (int32_t id : ins) s.constraint->advance(id);
    st.inserted += static_cast<int64_t>(ins.size());
    for (int32_t id : ins) push_token(id);
    if (s.stop->stopped()) return finish(Finish::kStop);
    s.handle->push(events);
    next = ins;
    return true;
  }
  if (!s.draw_error.empty()) throw Error(std::exchange(s.draw_error, {}));
  R1_CHECK(s.drawn.has_value());  // drawn ahead: samples_next() said this step samples
  const int32_t id = *s.drawn;
  s.drawn.reset();
  if (st.generated++ == 0) st.time_to_first_token_s = now_s() - s.t_start + st.queue_s;
  if (thinking) ++st.thinking_tokens;
  if (id == tok_.eos()) return finish(Finish::kEos);
  if (s.constraint) s.constraint->advance(id);
  push_token(id);
  if (s.stop->stopped()) return finish(Finish::kStop);
  // The grammar's sentence is whole and nothing can follow: the answer is over.
  if (s.constraint && s.constraint->done()) return finish(Finish::kEos);
  if (st.generated >= s.req.max_tokens) return finish(Finish::kLength);
  if (s.seq.position() + 1 > opt_.n_ctx) return finish(Finish::kContext);
  s.handle->push(events);
  next.push_back(id);
  return true;
}

void Scheduler::loop() {
  if (opt_.compute_nice > 0) {
    set_current_thread_nice(opt_.compute_nice);
    ThreadPool::global().set_worker_nice(opt_.compute_nice);
  }
  size_t prefill_rr = 0;  // round robin over slots that are prefilling
  bool trimmed = true;    // memory handed back since the last work
  for (;;) {
    std::vector<std::pair<Slot*, Pending>> admitted;
    {
      std::unique_lock lock(mu_);
      if (!stopping_ && queue_.empty() && m_.busy_slots == 0 && !trimmed) {
        // Idle: hand the freed caches' memory back to the system before waiting.
        lock.unlock();
#ifdef __GLIBC__
        malloc_trim(0);
#endif
        trimmed = true;
        lock.lock();
      }
      cv_.wait(lock, [&] {
        if (stopping_ || !queue_.empty()) return true;
        for (const auto& s : slots_)
          if (s->active) return true;
        return false;
      });
      if (stopping_) {
        while (!queue_.empty()) {
          queue_.front().handle->cancel();
          GenerationStats st;
          st.prompt_tokens = static_cast<int64_t>(queue_.front().req.prompt.size());
          st.finish = Finish::kCancelled;
          queue_.front().handle->finish(st, {});
          queue_.pop_front();
          ++m_.requests_cancelled;
        }
        m_.queued = 0;
        lock.unlock();
        for (auto& s : slots_)
          if (s->active) end_slot(*s, Finish::kCancelled);
        std::lock_guard relock(mu_);
        m_.busy_slots = 0;
        return;
      }
      // Requests cancelled while waiting leave the queue now.
      for (auto it = queue_.begin(); it != queue_.end();) {
        if (it->handle->cancelled()) {
          GenerationStats st;
          st.prompt_tokens = static_cast<int64_t>(it->req.prompt.size());
          st.finish = Finish::kCancelled;
          it->handle->finish(st, {});
          ++m_.requests_cancelled;
          it = queue_.erase(it);
        } else {
          ++it;
        }
      }
      for (auto& s : slots_) {
        if (queue_.empty()) break;
        if (s->active) continue;
        s->active = true;  // reserved (start_slot fills it outside the lock)
        ++m_.busy_slots;
        admitted.emplace_back(s.get(), std::move(queue_.front()));
        queue_.pop_front();
      }
      m_.queued = static_cast<int64_t>(queue_.size());
    }
    for (auto& [s, p] : admitted) {
      try {
        start_slot(*s, std::move(p));
      } catch (const std::exception& e) {  // e.g. a grammar too ambiguous to start
        end_slot(*s, Finish::kCancelled, e.what());
      }
    }
    trimmed = false;

    // Cancelled requests free their slots before any work is spent on them.
    for (auto& s : slots_)
      if (s->active && s->handle->cancelled()) end_slot(*s, Finish::kCancelled);

    // One chunk of one waiting prompt.
    uint64_t prompt_fed = 0, sampled = 0;
    for (size_t k = 0; k < slots_.size(); ++k) {
      Slot& s = *slots_[(prefill_rr + k) % slots_.size()];
      if (!s.prefilling()) continue;
      prefill_rr = (prefill_rr + k + 1) % slots_.size();
      const size_t n =
          std::min(static_cast<size_t>(opt_.prefill_chunk), s.req.prompt.size() - s.prefilled);
      try {
        model_.forward(s.seq, std::span(s.req.prompt).subspan(s.prefilled, n), s.logits.data(),
                       false);
        s.prefilled += n;
        prompt_fed += n;
      } catch (const std::exception& e) {
        end_slot(s, Finish::kCancelled, e.what());
      }
      break;
    }

    // One decode step for every slot whose prompt is in: sample, then one batched forward.
    // The draws (a pass over the vocabulary each) run on the pool, one slot per chunk.
    std::vector<Slot*> drawing;
    for (auto& sp : slots_)
      if (sp->samples_next()) drawing.push_back(sp.get());
    ThreadPool::global().parallel_for(
        static_cast<int64_t>(drawing.size()), 1, [&](int64_t b, int64_t e) {
          for (int64_t i = b; i < e; ++i) {
            Slot& s = *drawing[static_cast<size_t>(i)];
            try {
              s.drawn = s.sampler->sample(s.logits.data(), model_.config().vocab_size,
                                          s.constraint.get());
            } catch (const std::exception& ex) {
              s.draw_error = ex.what();
            }
          }
        });
    std::vector<Slot*> batch;
    std::vector<std::vector<int32_t>> tokens;
    for (auto& sp : slots_) {
      Slot& s = *sp;
      if (!s.active || s.prefilling()) continue;
      std::vector<int32_t> next;
      bool more = false;
      const int64_t before = s.st.generated;
      try {
        more = sample_and_advance(s, next);
      } catch (const std::exception& e) {
        end_slot(s, Finish::kCancelled, e.what());
        continue;
      }
      sampled += static_cast<uint64_t>(s.st.generated - before);
      if (!more) continue;
      batch.push_back(&s);
      tokens.push_back(std::move(next));
    }
    if (!batch.empty()) {
      std::vector<Sequence*> seqs;
      std::vector<float*> logits;
      for (Slot* s : batch) {
        seqs.push_back(&s->seq);
        logits.push_back(s->logits.data());
      }
      try {
        model_.forward_batch(seqs, tokens, logits);
      } catch (const std::exception& e) {
        for (Slot* s : batch) end_slot(*s, Finish::kCancelled, e.what());
      }
    }

    std::lock_guard lock(mu_);
    m_.prompt_tokens_total += prompt_fed;
    m_.generated_tokens_total += sampled;
    ++m_.steps_total;
    m_.busy_slots = 0;
    m_.cache_bytes = 0;
    m_.cache_tokens = 0;
    for (const auto& s : slots_) {
      m_.busy_slots += s->active ? 1 : 0;
      m_.cache_bytes += s->seq.cache_bytes();
      m_.cache_tokens += s->seq.position();
    }
  }
}

}  // namespace r1::engine
