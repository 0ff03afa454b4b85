#include "sampling/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/check.h"
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

namespace {

// Candidates best first: larger logit, then smaller id (a strict total order).
struct ByLogit {
  const float* l;
  bool operator()(int32_t a, int32_t b) const { return l[a] > l[b] || (l[a] == l[b] && a < b); }
};

// The top-p cut over candidates with weights w (unnormalised, the best has weight 1): the
// smallest best-first prefix whose mass reaches top_p of the total. Instead of sorting them all,
// tokens are binned by weight on a log scale, the bins summed best first, and only the bin where
// the mass crosses top_p is sorted. Linear in the candidates, however flat the distribution.
void cut_top_p(Candidates& c, const float* l, double top_p) {
  std::vector<int32_t>& ids = c.ids;
  std::vector<double>& w = c.weights;
  constexpr int kBins = 2048;
  constexpr double kRange = 40.0;  // log-weights below -40 (weights < 4e-18) share the last bin
  double sum = 0;
  for (double x : w) sum += x;
  auto bin_of = [](double x) {
    const double key = x > 0 ? -std::log(x) * (kBins / kRange) : kBins;
    return static_cast<int>(std::min<double>(key, kBins - 1));
  };
  std::vector<int>& bins = c.bins;
  std::vector<double>& mass = c.mass;
  bins.resize(ids.size());
  mass.assign(kBins, 0.0);
  for (size_t i = 0; i < ids.size(); ++i) mass[static_cast<size_t>(bins[i] = bin_of(w[i]))] += w[i];
  double acc = 0;
  int cross = kBins - 1;
  for (int b = 0; b < kBins; ++b) {
    if ((acc + mass[static_cast<size_t>(b)]) / sum >= top_p) {
      cross = b;
      break;
    }
    acc += mass[static_cast<size_t>(b)];
  }
  // Everything in better bins stays; the crossing bin is taken best first until top_p.
  std::vector<int32_t>& edge = c.edge;  // positions in ids
  edge.clear();
  for (size_t i = 0; i < ids.size(); ++i)
    if (bins[i] == cross) edge.push_back(static_cast<int32_t>(i));
  std::sort(edge.begin(), edge.end(), [&](int32_t a, int32_t b) {
    return ByLogit{l}(ids[static_cast<size_t>(a)], ids[static_cast<size_t>(b)]);
  });
  bool any = acc > 0;  // tokens kept from better bins (each has a positive weight)
  for (int32_t i : edge) {
    if (any && acc / sum >= top_p) {
      bins[static_cast<size_t>(i)] = kBins;  // cut
      continue;
    }
    bins[static_cast<size_t>(i)] = -1;  // kept
    acc += w[static_cast<size_t>(i)];
    any = true;
  }
  // Compact in place, keeping the ids' order (kept: a better bin, or marked -1).
  size_t k = 0;
  for (size_t i = 0; i < ids.size(); ++i)
    if (bins[i] < cross) {
      ids[k] = ids[i];
      w[k++] = w[i];
    }
  ids.resize(k);
  w.resize(k);
}

}  // namespace

void filter_candidates(const float* l, int64_t n, const SamplingParams& p, Candidates& c) {
  R1_CHECK(n > 0 && p.temperature > 0.0f);
  c.ids.resize(static_cast<size_t>(n));
  std::iota(c.ids.begin(), c.ids.end(), 0);
  // top-k: the k best (ties to the smaller id).
  if (p.top_k > 0 && p.top_k < n) {
    std::nth_element(c.ids.begin(), c.ids.begin() + (p.top_k - 1), c.ids.end(), ByLogit{l});
    c.ids.resize(static_cast<size_t>(p.top_k));
    std::sort(c.ids.begin(), c.ids.end());
  }
  std::erase_if(c.ids, [&](int32_t i) { return std::isinf(l[i]); });  // forbidden by the bias
  R1_CHECK(!c.ids.empty());
  // Softmax with temperature, in double, unnormalised: the best token has weight 1.
  float mx = l[c.ids[0]];
  for (int32_t i : c.ids) mx = std::max(mx, l[i]);
  c.weights.resize(c.ids.size());
  for (size_t i = 0; i < c.ids.size(); ++i)
    c.weights[i] = std::exp((static_cast<double>(l[c.ids[i]]) - mx) / p.temperature);
  if (p.top_p < 1.0f) cut_top_p(c, l, p.top_p);
  // min-p: tokens at least min_p times as likely as the best one.
  if (p.min_p > 0.0f) {
    size_t k = 0;
    for (size_t i = 0; i < c.ids.size(); ++i)
      if (c.weights[i] >= p.min_p) {
        c.ids[k] = c.ids[i];
        c.weights[k++] = c.weights[i];
      }
    c.ids.resize(k);
    c.weights.resize(k);
  }
}

Candidates filter_candidates(const float* l, int64_t n, const SamplingParams& p) {
  Candidates c;
  filter_candidates(l, n, p, c);
  return c;
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

int32_t Sampler::choose(int64_t n) {
  const std::vector<float>& l = work_;
  const int32_t best = argmax(l.data(), n);
  if (std::isinf(l[static_cast<size_t>(best)]))
    throw Error("the logit bias forbids every token; nothing to sample");
  if (p_.temperature <= 0.0f) return best;
  filter_candidates(l.data(), n, p_, cand_);
  const Candidates& c = cand_;
  double total = 0;
  for (double w : c.weights) total += w;
  // Uniform in [0, total) from 53 random bits.
  const double u = static_cast<double>(rng_.next() >> 11) * (1.0 / 9007199254740992.0) * total;
  double acc = 0;
  for (size_t i = 0; i < c.ids.size(); ++i) {
    acc += c.weights[i];
    if (u < acc) return c.ids[i];
  }
  return c.ids.back();
}

int32_t Sampler::sample(const float* logits, int64_t n, const TokenConstraint* constraint) {
  if (n <= 0) throw Error("no logits to sample from");
  for (int64_t i = 0; i < n; ++i)
    if (!std::isfinite(logits[i]))
      throw Error("the model produced a non-finite logit (" + std::to_string(logits[i]) +
                  ") for token " + std::to_string(i) + "; refusing to sample");
  std::vector<float>& l = work_;
  l.assign(logits, logits + n);
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
  int32_t chosen = choose(n);
  if (constraint != nullptr && !constraint->allows(chosen)) {
    constraint->mask(l.data(), n);
    if (std::isinf(l[static_cast<size_t>(argmax(l.data(), n))]))
      throw Error("the required output format allows no token here");
    chosen = choose(n);
  }
  accept(chosen);
  return chosen;
}

}  // namespace r1
