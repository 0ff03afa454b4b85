// Turns logits into the next token. The pipeline, in llama.cpp's order: logit bias, repetition /
// presence / frequency penalties over a window of recent tokens, then either exact argmax
// (temperature 0) or top-k, softmax(logits / temperature), top-p, min-p and a seeded draw.
// Same parameters and seed, same tokens. Non-finite logits are an error, never a silent token.
#pragma once

#include <cstdint>
#include <deque>
#include <limits>
#include <map>
#include <span>
#include <vector>

#include "core/rng.h"
#include "sampling/constraint.h"

namespace r1 {

struct SamplingParams {
  float temperature = 0.0f;        // <= 0: exact argmax (after bias and penalties)
  int32_t top_k = 0;               // <= 0: off
  float top_p = 1.0f;              // 1: off
  float min_p = 0.0f;              // 0: off; keeps tokens with p >= min_p * p_max
  float repeat_penalty = 1.0f;     // 1: off; positive logits divided, negative multiplied
  float presence_penalty = 0.0f;   // subtracted once from each token seen in the window
  float frequency_penalty = 0.0f;  // subtracted per occurrence in the window
  int32_t penalty_last_n = 64;     // window of recent tokens the penalties look at (0: none)
  uint64_t seed = 0;
  // Added to the logits before anything else; -infinity forbids a token.
  std::map<int32_t, float> logit_bias;
};

// DeepSeek's recommendation for R1-family models: temperature 0.6, top-p 0.95.
SamplingParams deepseek_r1_defaults();

// The tokens a draw at temperature > 0 can pick, in ascending id order, with their unnormalised
// probabilities (the best token weighs 1): top-k, softmax(logits / temperature), top-p (the
// smallest best-first nucleus reaching top_p; ties go to the smaller id), then min-p. Forbidden
// (-infinity) logits are left out; at least one finite logit is required. Linear time: no sort of
// the whole vocabulary. The draw walks them in this order, so its result for a seed is fixed.
struct Candidates {
  std::vector<int32_t> ids;
  std::vector<double> weights;
  // Working memory of the top-p cut, kept between calls: vocabulary-sized buffers allocated per
  // token would cost page faults (they come from mmap) comparable to the whole selection.
  std::vector<int> bins;
  std::vector<double> mass;
  std::vector<int32_t> edge;
};
void filter_candidates(const float* logits, int64_t n, const SamplingParams& p, Candidates& out);
Candidates filter_candidates(const float* logits, int64_t n, const SamplingParams& p);

class Sampler {
 public:
  explicit Sampler(const SamplingParams& p);
  // Samples the next token and records it in the penalty window. Throws r1::Error when a logit
  // is NaN or infinite (naming the token id), or when the bias forbids every token.
  // With a constraint, the token is one it allows: the unconstrained choice when the constraint
  // allows it, else the choice among the allowed tokens only (another draw at temperature > 0;
  // at temperature 0 this is exactly the best allowed token). The constraint is not advanced.
  int32_t sample(const float* logits, int64_t n, const TokenConstraint* constraint = nullptr);
  // Records tokens the sampler did not choose (prompt, inserted markers) in the penalty window.
  void accept(std::span<const int32_t> tokens);
  void accept(int32_t token) { accept(std::span(&token, 1)); }
  // Forbids `token` from now on (its bias becomes -infinity, replacing any other).
  void forbid(int32_t token) { p_.logit_bias[token] = -std::numeric_limits<float>::infinity(); }
  // Forgets the penalty window (the random state continues).
  void clear_history() { recent_.clear(); }
  const SamplingParams& params() const { return p_; }

 private:
  int32_t choose(int64_t n);  // argmax or a draw over work_

  SamplingParams p_;
  Rng rng_;
  std::deque<int32_t> recent_;
  std::vector<float> work_;  // the logits after bias and penalties
  Candidates cand_;
};

// Index of the largest value (the first one on ties).
int32_t argmax(const float* x, int64_t n);

}  // namespace r1
