#include "tools/perplexity.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/check.h"
#include "core/error.h"
#include "model/forward.h"

namespace r1::ppl {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// log(sum_i exp(x_i)) in double as max + log(sum exp(x_i - max)), checking the row. Callers
// subtract the two parts separately ((x_i - max) - log_sum), which keeps log-probabilities exact
// when the logits are large.
struct LogSum {
  double max;
  double log_sum;  // log(sum_i exp(x_i - max)) >= 0
};

LogSum log_sum_exp(std::span<const float> x) {
  if (x.empty()) throw Error("log-softmax of an empty logit row");
  double m = -kInf;
  for (size_t i = 0; i < x.size(); ++i) {
    const float v = x[i];
    if (std::isnan(v)) throw Error("logit " + std::to_string(i) + " is NaN");
    if (v == std::numeric_limits<float>::infinity())
      throw Error("logit " + std::to_string(i) + " is +inf");
    m = std::max(m, static_cast<double>(v));
  }
  if (m == -kInf) throw Error("every logit of the row is -inf (no token has any probability)");
  double s = 0;
  for (float v : x) s += std::exp(static_cast<double>(v) - m);  // exp(-inf) = 0; s >= 1
  return {m, std::log(s)};
}

double log_prob(float x, const LogSum& l) {
  return (static_cast<double>(x) - l.max) - l.log_sum;
}

}  // namespace

void log_softmax(std::span<const float> logits, std::span<double> out) {
  R1_CHECK(out.size() == logits.size());
  const LogSum l = log_sum_exp(logits);
  for (size_t i = 0; i < logits.size(); ++i) out[i] = log_prob(logits[i], l);
}

double negative_log_likelihood(std::span<const float> logits, int64_t target) {
  if (target < 0 || static_cast<uint64_t>(target) >= logits.size())
    throw Error("target token " + std::to_string(target) + " is outside the logit row (" +
                std::to_string(logits.size()) + " tokens)");
  const LogSum l = log_sum_exp(logits);
  return -log_prob(logits[static_cast<size_t>(target)], l);  // +inf for a -inf logit
}

double kl_divergence(std::span<const float> base, std::span<const float> model) {
  if (base.size() != model.size())
    throw Error("KL divergence of logit rows of different lengths (" + std::to_string(base.size()) +
                " and " + std::to_string(model.size()) + ")");
  const LogSum lp_sum = log_sum_exp(base), lq_sum = log_sum_exp(model);
  double kl = 0;
  for (size_t i = 0; i < base.size(); ++i) {
    const double lp = log_prob(base[i], lp_sum);
    if (lp == -kInf) continue;  // p_i = 0: the term is 0 whatever q_i is
    const double lq = log_prob(model[i], lq_sum);
    if (lq == -kInf) return kInf;
    kl += std::exp(lp) * (lp - lq);
  }
  return std::max(kl, 0.0);
}

int64_t argmax(std::span<const float> logits) {
  R1_CHECK(!logits.empty());
  return std::max_element(logits.begin(), logits.end()) - logits.begin();
}

// ---- statistics ------------------------------------------------------------------------------

void NllStats::add(double nll) {  // Welford: no cancellation when the values are close
  ++n_;
  const double d = nll - mean_;
  mean_ += d / static_cast<double>(n_);
  m2_ += d * (nll - mean_);
}

double NllStats::mean() const {
  return n_ > 0 ? mean_ : std::numeric_limits<double>::quiet_NaN();
}

double NllStats::mean_stderr() const {
  if (n_ < 2) return std::numeric_limits<double>::quiet_NaN();
  const double n = static_cast<double>(n_);
  return std::sqrt(std::max(0.0, m2_ / (n - 1)) / n);  // sample variance / n
}

void KlStats::add(double kl, bool same_top) {
  values_.push_back(kl);
  same_top_ += same_top ? 1 : 0;
}

double KlStats::mean() const {
  if (values_.empty()) return std::numeric_limits<double>::quiet_NaN();
  double s = 0;
  for (double v : values_) s += v;
  return s / static_cast<double>(values_.size());
}

double KlStats::mean_stderr() const {
  if (values_.size() < 2) return std::numeric_limits<double>::quiet_NaN();
  const double m = mean(), n = static_cast<double>(values_.size());
  double ss = 0;
  for (double v : values_) ss += (v - m) * (v - m);
  return std::sqrt(ss / (n - 1) / n);
}

double KlStats::quantile(double q) const {
  R1_CHECK(q >= 0.0 && q <= 1.0);
  if (values_.empty()) return std::numeric_limits<double>::quiet_NaN();
  std::vector<double> v = values_;
  std::sort(v.begin(), v.end());
  const double at = q * static_cast<double>(v.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(at));
  const size_t hi = std::min(lo + 1, v.size() - 1);
  const double f = at - static_cast<double>(lo);
  if (f == 0.0 || v[lo] == v[hi]) return v[lo];
  return v[lo] + f * (v[hi] - v[lo]);
}

double KlStats::same_top_share() const {
  if (values_.empty()) return std::numeric_limits<double>::quiet_NaN();
  return static_cast<double>(same_top_) / static_cast<double>(values_.size());
}

// ---- windows ---------------------------------------------------------------------------------

std::vector<int64_t> window_starts(int64_t n_tokens, const PerplexityOptions& o) {
  if (o.n_ctx < 4)
    throw Error("context size " + std::to_string(o.n_ctx) +
                " is too small to score perplexity (at least 4 tokens)");
  if (o.max_chunks < 0) throw Error("--chunks " + std::to_string(o.max_chunks) + " is negative");
  const int64_t n = n_tokens / o.n_ctx;
  if (n == 0)
    throw Error("the text has " + std::to_string(n_tokens) + " tokens, fewer than one window of " +
                std::to_string(o.n_ctx) + " (give a longer text or a smaller -c)");
  const int64_t windows = o.max_chunks > 0 ? std::min(n, o.max_chunks) : n;
  std::vector<int64_t> starts;
  for (int64_t k = 0; k < windows; ++k) starts.push_back(k * o.n_ctx);
  return starts;
}

// ---- evaluation ------------------------------------------------------------------------------

namespace {

// Logits of positions first..n_ctx-2 of `window`: the first half is run without logits, then the
// scored part with logits of every position (the window's last token is never fed).
void scored_logits(const Model& m, std::span<const int32_t> window, int64_t first,
                   std::vector<float>& logits) {
  const int64_t n_ctx = static_cast<int64_t>(window.size());
  const int64_t V = m.config().vocab_size;
  Sequence seq = m.new_sequence(n_ctx);
  std::vector<float> last(static_cast<size_t>(V));
  if (first > 0) m.forward(seq, window.first(static_cast<size_t>(first)), last.data(), false);
  const int64_t n = n_ctx - 1 - first;
  logits.resize(static_cast<size_t>(n * V));
  m.forward(seq, window.subspan(static_cast<size_t>(first), static_cast<size_t>(n)), logits.data(),
            true);
}

}  // namespace

PerplexityResult evaluate_perplexity(const Model& model, const Model* base,
                                     std::span<const int32_t> tokens, const PerplexityOptions& o,
                                     const PerplexityProgress& progress) {
  const int64_t V = model.config().vocab_size;
  if (base != nullptr && base->config().vocab_size != V)
    throw Error("the base model's vocabulary (" + std::to_string(base->config().vocab_size) +
                " tokens) differs from the model's (" + std::to_string(V) + ")");
  const int64_t limit = std::min(model.config().max_position,
                                 base ? base->config().max_position : model.config().max_position);
  if (o.n_ctx > limit)
    throw Error("context size " + std::to_string(o.n_ctx) + " exceeds the model's " +
                std::to_string(limit) + " positions");
  PerplexityResult r;
  r.n_tokens = static_cast<int64_t>(tokens.size());
  const std::vector<int64_t> starts = window_starts(r.n_tokens, o);
  r.windows = static_cast<int64_t>(starts.size());
  const int64_t first = first_scored(o.n_ctx);
  std::vector<int32_t> window(static_cast<size_t>(o.n_ctx));
  std::vector<float> logits, base_logits;
  for (size_t w = 0; w < starts.size(); ++w) {
    std::copy_n(tokens.begin() + starts[w], o.n_ctx, window.begin());
    if (o.bos >= 0) window[0] = o.bos;
    scored_logits(model, window, first, logits);
    if (base) scored_logits(*base, window, first, base_logits);
    for (int64_t j = first; j + 1 < o.n_ctx; ++j) {
      const size_t row = static_cast<size_t>((j - first) * V);
      const std::span<const float> q(logits.data() + row, static_cast<size_t>(V));
      const int32_t target = window[static_cast<size_t>(j + 1)];
      r.nll.add(negative_log_likelihood(q, target));
      if (base) {
        const std::span<const float> p(base_logits.data() + row, static_cast<size_t>(V));
        r.base_nll.add(negative_log_likelihood(p, target));
        r.kl.add(kl_divergence(p, q), argmax(p) == argmax(q));
      }
    }
    if (progress) progress(static_cast<int64_t>(w) + 1, r.windows, r);
  }
  return r;
}

}  // namespace r1::ppl
