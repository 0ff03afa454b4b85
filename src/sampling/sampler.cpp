#include "sampling/sampler.h"

#include <cmath>
#include <string>
#include <vector>

#include "core/error.h"

namespace r1 {

int32_t argmax(const float* x, int64_t n) {
  int64_t best = 0;
  for (int64_t i = 1; i < n; ++i)
    if (x[i] > x[best]) best = i;
  return static_cast<int32_t>(best);
}

int32_t Sampler::sample(const float* logits, int64_t n) {
  for (int64_t i = 0; i < n; ++i)
    if (!std::isfinite(logits[i]))
      throw Error("the model produced a non-finite logit (" + std::to_string(logits[i]) +
                  ") for token " + std::to_string(i) + "; refusing to sample");
  if (p_.temperature <= 0.0f) return argmax(logits, n);
  const float mx = logits[argmax(logits, n)];
  std::vector<double> p(static_cast<size_t>(n));
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += p[i] = std::exp((logits[i] - mx) / p_.temperature);
  // Uniform in [0, sum) from 53 random bits.
  const double u = static_cast<double>(rng_.next() >> 11) * (1.0 / 9007199254740992.0) * sum;
  double acc = 0;
  for (int64_t i = 0; i < n; ++i) {
    acc += p[i];
    if (u < acc) return static_cast<int32_t>(i);
  }
  return argmax(logits, n);
}

}  // namespace r1
