// Attention over a cache with a streaming (flash-style) softmax: scores are computed for blocks
// of cached positions at a time and folded into a running maximum, sum and weighted value sum,
// so memory stays O(heads x block) however long the context. No model knowledge: the caller
// says which query heads share which key and value rows (one KV head of GQA; all heads of
// absorbed MLA, whose keys and values are the same latent rows).
#pragma once

#include <cstdint>
#include <functional>

namespace r1::ops {

// `heads` query heads over `len` cached positions:
//   score(g, s) = scale * (q[g] . k[s] + q2[g] . k2[s])      (the q2/k2 part is optional)
//   out[g]      = sum_s softmax_s(score(g, s)) v[s]
// Rows are strided: q[g] at q + g * ldq (dk values), k[s] at k + s * ldk, v[s] at v + s * ldv.
struct AttentionHeads {
  int64_t heads = 0, len = 0;
  const float* q = nullptr;
  int64_t ldq = 0, dk = 0;
  const float* q2 = nullptr;
  int64_t ldq2 = 0, dk2 = 0;
  const float* k = nullptr;
  int64_t ldk = 0;
  const float* k2 = nullptr;
  int64_t ldk2 = 0;
  const float* v = nullptr;
  int64_t ldv = 0, dv = 0;
  float scale = 1.0f;
};

// The running state of positions [s0, s1): per head the maximum score m, the sum l of
// exp(score - m), and z = sum exp(score - m) v (dv values per head).
void attend_partial(const AttentionHeads& a, int64_t s0, int64_t s1, float* m, float* l, float* z);

// Combines `parts` partial states (m, l: [parts, heads]; z: [parts, heads, dv]) into
// out[g * dv + j].
void merge_partials(int64_t parts, int64_t heads, int64_t dv, const float* m, const float* l,
                    const float* z, float* out);

// Runs `tasks` attentions (spec(i) describes task i; all with the same heads and dv), writing
// task i's [heads, dv] output at out + i * heads * dv. Uses the global thread pool: over tasks,
// and over blocks of positions of each task when there are fewer tasks than threads.
void attend_many(int64_t tasks, const std::function<AttentionHeads(int64_t)>& spec, float* out);

// The plain two-pass reference (scores, softmax, weighted sum), for tests.
void attend_reference(const AttentionHeads& a, float* out);

}  // namespace r1::ops
