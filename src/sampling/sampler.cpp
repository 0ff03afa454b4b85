#include "sampling/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/error.h"

namespace r1 {

SamplingParams deepseek_r1_defaults() {
  SamplingParams p;
  p.temperature = 0.6f;
  p.top_p = 0.95f;
  return p;
}

int32_t argmax(const float* x, int64_t n) {
  int64_t best = 0;
  for (int64_t i = 1; i < n; ++i)
    if (x[i] > x[best]) best = i;
  return static_cast<int32_t>(best);
}

Sampler::Sampler(const SamplingParams& p) : p_(p), rng_(p.seed) {
  if (!(p.temperature >= 0.0f) || !std::isfinite(p.temperature))
    throw Error("temperature must be a finite number >= 0");
  if (!(p.top_p > 0.0f && p.top_p <= 1.0f)) throw Error("top-p must be in (0, 1]");
  if (!(p.min_p >= 0.0f && p.min_p <= 1.0f)) throw Error("min-p must be in [0, 1]");
  if (!(p.repeat_penalty > 0.0f) || !std::isfinite(p.repeat_penalty))
    throw Error("the repetition penalty must be a finite number > 0");
  if (!std::isfinite(p.presence_penalty) || !std::isfinite(p.frequency_penalty))
    throw Error("presence and frequency penalties must be finite");
  for (const auto& [id, b] : p.logit_bias)
    if (std::isnan(b) || b == std::numeric_limits<float>::infinity())
      throw Error("logit bias for token " + std::to_string(id) + " must be a number or -infinity");
}

void Sampler::accept(std::span<const int32_t> tokens) {
  if (p_.penalty_last_n <= 0) return;
  for (int32_t t : tokens) {
    recent_.push_back(t);
    if (recent_.size() > static_cast<size_t>(p_.penalty_last_n)) recent_.pop_front();
  }
}

int32_t Sampler::sample(const float* logits, int64_t n) {
  if (n <= 0) throw Error("no logits to sample from");
  for (int64_t i = 0; i < n; ++i)
    if (!std::isfinite(logits[i]))
      throw Error("the model produced a non-finite logit (" + std::to_string(logits[i]) +
                  ") for token " + std::to_string(i) + "; refusing to sample");
  std::vector<float> l(logits, logits + n);
  for (const auto& [id, b] : p_.logit_bias)
    if (id >= 0 && id < n) l[static_cast<size_t>(id)] += b;
  const bool penalise =
      p_.repeat_penalty != 1.0f || p_.presence_penalty != 0.0f || p_.frequency_penalty != 0.0f;
  if (penalise && !recent_.empty()) {
    std::unordered_map<int32_t, int> count;
    for (int32_t t : recent_)
      if (t >= 0 && t < n) ++count[t];
    for (const auto& [t, c] : count) {
      float& x = l[static_cast<size_t>(t)];
      if (std::isinf(x)) continue;  // forbidden stays forbidden
      x = x > 0 ? x / p_.repeat_penalty : x * p_.repeat_penalty;
      x -= p_.presence_penalty + p_.frequency_penalty * static_cast<float>(c);
    }
  }
  const int32_t best = argmax(l.data(), n);
  if (std::isinf(l[static_cast<size_t>(best)]))
    throw Error("the logit bias forbids every token; nothing to sample");

  int32_t chosen = best;
  if (p_.temperature > 0.0f) {
    // Candidates, best first (only the top k sorted when top-k is set).
    std::vector<int32_t> idx(static_cast<size_t>(n));
    std::iota(idx.begin(), idx.end(), 0);
    auto by_logit = [&](int32_t a, int32_t b) {
      return l[static_cast<size_t>(a)] > l[static_cast<size_t>(b)] ||
             (l[static_cast<size_t>(a)] == l[static_cast<size_t>(b)] && a < b);
    };
    size_t keep = idx.size();
    if (p_.top_k > 0 && static_cast<size_t>(p_.top_k) < keep) {
      keep = static_cast<size_t>(p_.top_k);
      std::partial_sort(idx.begin(), idx.begin() + static_cast<ptrdiff_t>(keep), idx.end(),
                        by_logit);
    } else {
      std::sort(idx.begin(), idx.end(), by_logit);
    }
    while (keep > 1 && std::isinf(l[static_cast<size_t>(idx[keep - 1])])) --keep;
    // Softmax with temperature, in double; the first candidate is the maximum.
    const double mx = l[static_cast<size_t>(idx[0])];
    std::vector<double> p(keep);
    double sum = 0;
    for (size_t i = 0; i < keep; ++i)
      sum += p[i] = std::exp((l[static_cast<size_t>(idx[i])] - mx) / p_.temperature);
    // top-p: the smallest prefix whose probability reaches top_p (at least one token).
    if (p_.top_p < 1.0f) {
      double acc = 0;
      size_t k = 0;
      while (k < keep) {
        acc += p[k++] / sum;
        if (acc >= p_.top_p) break;
      }
      keep = std::max<size_t>(k, 1);
    }
    // min-p: tokens at least min_p times as likely as the best one (p[0] == 1 unnormalised).
    if (p_.min_p > 0.0f) {
      size_t k = 1;
      while (k < keep && p[k] >= p_.min_p) ++k;
      keep = k;
    }
    double total = 0;
    for (size_t i = 0; i < keep; ++i) total += p[i];
    // Uniform in [0, total) from 53 random bits.
    const double u = static_cast<double>(rng_.next() >> 11) * (1.0 / 9007199254740992.0) * total;
    double acc = 0;
    chosen = idx[keep - 1];
    for (size_t i = 0; i < keep; ++i) {
      acc += p[i];
      if (u < acc) {
        chosen = idx[i];
        break;
      }
    }
  }
  accept(chosen);
  return chosen;
}

}  // namespace r1
