// Turns logits into the next token: exact argmax at temperature 0, otherwise seeded sampling
// from softmax(logits / temperature). Same seed, same tokens. Non-finite logits are an error,
// never a silent token.
#pragma once

#include <cstdint>

#include "core/rng.h"

namespace r1 {

struct SamplingParams {
  float temperature = 0.0f;
  uint64_t seed = 0;
};

class Sampler {
 public:
  explicit Sampler(const SamplingParams& p) : p_(p), rng_(p.seed) {}
  // Throws r1::Error when a logit is NaN or infinite (naming the token id).
  int32_t sample(const float* logits, int64_t n);

 private:
  SamplingParams p_;
  Rng rng_;
};

// Index of the largest value (the first one on ties).
int32_t argmax(const float* x, int64_t n);

}  // namespace r1
