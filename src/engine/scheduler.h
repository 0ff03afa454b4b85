// A request scheduler for serving many clients from one model: N slots, each a Sequence with its
// own sampler, streaming decoder, stop matcher and reasoning parser; one loop thread that, each
// step, feeds one chunk of a waiting prompt (prefill) and then runs one decode step for every
// generating slot together (Model::forward_batch). Requests beyond the slots wait in a bounded
// queue; beyond that, submit() refuses at once (the server answers 429). A cancelled request
// (its client went away) frees its slot at the next step.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "chat/reasoning_parser.h"
#include "engine/session.h"
#include "model/forward.h"
#include "sampling/constraint.h"
#include "sampling/sampler.h"
#include "tokenizer/tokenizer.h"

namespace r1::engine {

struct SchedulerOptions {
  int64_t slots = 1;            // sequences generated together (--parallel)
  int64_t n_ctx = 4096;         // context of each slot (prompt + answer)
  int64_t queue_max = 16;       // requests waiting for a slot; beyond: refused
  int64_t prefill_chunk = 256;  // prompt tokens fed per step (between decode steps)
  // Nice value (0..19) for the thread that runs the forward pass and for the global pool's
  // workers: above 0, threads answering requests get the cores first when they are contended.
  int compute_nice = 0;
};

// One generation request: a rendered, tokenized prompt and its controls.
struct GenerationRequest {
  std::vector<int32_t> prompt;
  SamplingParams sampling;
  int64_t max_tokens = 256;   // > 0
  int64_t think_budget = -1;  // -1 = unlimited
  std::string think_budget_message;
  bool starts_in_reasoning = false;  // the prompt opened `<think>`
  bool parse_tool_calls = false;
  bool raw = false;  // plain text (every piece is content; no reasoning or tool-call parsing)
  std::vector<std::string> stop;
  // The answer must be a sentence of this grammar (constrained decoding; null: free). With
  // starts_in_reasoning it applies after `</think>`; the reasoning itself is free.
  std::shared_ptr<const Grammar> grammar;
};

struct GenerationStats {
  int64_t prompt_tokens = 0;
  int64_t generated = 0;        // sampled tokens (the end-of-sequence token included)
  int64_t thinking_tokens = 0;  // sampled inside the reasoning
  int64_t inserted = 0;         // inserted by the think budget
  double queue_s = 0, time_to_first_token_s = 0, total_s = 0;
  Finish finish = Finish::kEos;
  bool tool_calls = false;  // the answer contained at least one tool call
};

// Shared between the scheduler (producer) and the front-end (consumer) of one request.
class GenerationHandle {
 public:
  // Waits up to `timeout_ms` for events; moves them into `out`. Returns true once the request
  // has finished and every event was taken (stats() and error() are then final).
  bool wait(std::vector<chat::StreamEvent>& out, int timeout_ms);
  void cancel() { cancel_.store(true); }
  bool cancelled() const { return cancel_.load(); }
  bool finished() const;
  GenerationStats stats() const;
  // Non-empty when generation failed (e.g. non-finite logits); the text says why.
  std::string error() const;

 private:
  friend class Scheduler;
  void push(const std::vector<chat::StreamEvent>& events);
  void finish(const GenerationStats& st, std::string error);

  std::atomic<bool> cancel_{false};
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<chat::StreamEvent> events_;
  bool done_ = false;
  GenerationStats stats_;
  std::string error_;
};

struct SchedulerMetrics {
  int64_t busy_slots = 0, slots = 0, queued = 0;
  uint64_t cache_bytes = 0;  // of all slots
  int64_t cache_tokens = 0, cache_capacity_tokens = 0;
  uint64_t prompt_tokens_total = 0, generated_tokens_total = 0, steps_total = 0;
  uint64_t requests_finished = 0, requests_cancelled = 0, requests_failed = 0;
};

class Scheduler {
 public:
  Scheduler(const Model& model, const Tokenizer& tok, SchedulerOptions options);
  ~Scheduler();  // stops the loop; unfinished requests end as cancelled
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Queues a request. Returns nullptr when the queue is full or the scheduler is stopping.
  // Throws r1::Error for a request that can never run (empty prompt, prompt + 1 token longer
  // than a slot's context, max_tokens < 1).
  std::shared_ptr<GenerationHandle> submit(GenerationRequest req);
  // Cancels every queued and running request and ends the loop (idempotent).
  void stop();
  // True when submit() would refuse for want of room now (a cheap early check for callers).
  bool full() const;
  SchedulerMetrics metrics() const;
  const SchedulerOptions& options() const { return opt_; }

 private:
  struct Slot;
  struct Pending {
    GenerationRequest req;
    std::shared_ptr<GenerationHandle> handle;
    double submitted = 0;
  };
  void loop();
  void start_slot(Slot& s, Pending p);
  bool sample_and_advance(Slot& s, std::vector<int32_t>& next);  // false: finished
  void end_slot(Slot& s, Finish f, std::string error = {});
  std::vector<chat::StreamEvent> feed(Slot& s, const std::string& text);

  const Model& model_;
  const Tokenizer& tok_;
  SchedulerOptions opt_;
  std::shared_ptr<const VocabIndex> vocab_;  // for grammars; made at the first that needs it
  std::vector<std::unique_ptr<Slot>> slots_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Pending> queue_;
  bool stopping_ = false;
  SchedulerMetrics m_;  // counters (guarded by mu_)
  std::thread thread_;
};

}  // namespace r1::engine
