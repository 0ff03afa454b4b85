// `r1 perplexity`: how well a model predicts a text, and how far a (quantized) model's token
// distributions are from a base model's. The numerics (log-softmax, negative log-likelihood,
// KL divergence of two logit rows) are computed in double from float logits; the windowing
// follows llama.cpp's perplexity tool.
//
// Windows: the text's tokens (no BOS) are cut into consecutive windows of n_ctx tokens (a tail
// shorter than n_ctx is dropped). When the tokenizer adds BOS, each window's first token is
// replaced by BOS, as llama.cpp does. Each window is evaluated from an empty cache, and only the
// second half is scored: the logits at positions j = n_ctx/2 .. n_ctx-2 predict token j+1, so
// every scored token has at least n_ctx/2 tokens of context. A window scores n_ctx - 1 - n_ctx/2
// tokens.
#pragma once

#include <cmath>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

namespace r1 {

class Model;

namespace ppl {

// out[i] = logits[i] - log(sum_j exp(logits[j])), in double. -inf logits are allowed (probability
// zero); throws r1::Error for a NaN or +inf logit, an empty row, or a row that is all -inf.
void log_softmax(std::span<const float> logits, std::span<double> out);

// Negative log-likelihood of `target` under the distribution of `logits`: -log_softmax[target].
// +inf when the target's logit is -inf. Throws r1::Error as log_softmax, or for a target outside
// the row.
double negative_log_likelihood(std::span<const float> logits, int64_t target);

// KL(P || Q) = sum_i p_i (log p_i - log q_i) of the distributions of two logit rows of the same
// length, P from `base`, Q from `model`, in double. Terms with p_i = 0 are 0; a token with p_i > 0
// and q_i = 0 makes it +inf. Never negative (rounding below zero is clamped to 0). Throws
// r1::Error as log_softmax, or when the lengths differ.
double kl_divergence(std::span<const float> base, std::span<const float> model);

// Index of the largest logit (the first one on ties).
int64_t argmax(std::span<const float> logits);

// Running perplexity: exp of the mean negative log-likelihood, with the standard error of that
// mean carried through exp (delta method: stderr(ppl) = ppl * stderr(mean nll)), as llama.cpp.
class NllStats {
 public:
  void add(double nll);
  int64_t count() const { return n_; }
  double mean() const;         // mean NLL (nats); NaN when empty
  double mean_stderr() const;  // sqrt(sample variance / n); NaN with fewer than 2 values
  double perplexity() const { return std::exp(mean()); }
  double perplexity_stderr() const { return perplexity() * mean_stderr(); }

 private:
  int64_t n_ = 0;
  double mean_ = 0, m2_ = 0;  // running mean and sum of squared deviations
};

// KL divergences of every scored position, with the share of positions where both
// distributions have the same top token.
class KlStats {
 public:
  void add(double kl, bool same_top);
  int64_t count() const { return static_cast<int64_t>(values_.size()); }
  double mean() const;
  double mean_stderr() const;
  double quantile(double q) const;  // linear interpolation between order statistics, q in [0,1]
  double median() const { return quantile(0.5); }
  double max() const { return quantile(1.0); }
  double same_top_share() const;

 private:
  std::vector<double> values_;
  int64_t same_top_ = 0;
};

struct PerplexityOptions {
  int64_t n_ctx = 512;
  int64_t max_chunks = 0;  // 0: every window of the text
  int32_t bos = -1;        // replaces each window's first token when >= 0
};

// The windows of a token sequence: start offsets into the tokens. Throws r1::Error when n_ctx is
// below 4 or the text has fewer than n_ctx tokens.
std::vector<int64_t> window_starts(int64_t n_tokens, const PerplexityOptions& o);
// First scored logit position of a window (n_ctx/2); positions first..n_ctx-2 are scored.
inline int64_t first_scored(int64_t n_ctx) {
  return n_ctx / 2;
}

struct PerplexityResult {
  int64_t n_tokens = 0;  // tokens of the text
  int64_t windows = 0;
  NllStats nll;       // the model
  NllStats base_nll;  // the base model (with a base)
  KlStats kl;         // KL(base || model) (with a base)
};

// Called after each window: (windows done, windows in all, the result so far).
using PerplexityProgress = std::function<void(int64_t, int64_t, const PerplexityResult&)>;

// Scores `tokens` with `model` (and compares with `base` when it is not null; both must have the
// same vocabulary size). Throws r1::Error for bad options, too short a text, or mismatched
// models.
PerplexityResult evaluate_perplexity(const Model& model, const Model* base,
                                     std::span<const int32_t> tokens, const PerplexityOptions& o,
                                     const PerplexityProgress& progress = {});

}  // namespace ppl
}  // namespace r1
