#include "kernels/attention.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/check.h"
#include "core/thread_pool.h"
#include "kernels/simd.h"

namespace r1::ops {

namespace {
constexpr int64_t kBlock = 64;  // cached positions per score block

std::vector<float>& scratch(size_t n) {
  thread_local std::vector<float> buf;
  if (buf.size() < n) buf.resize(n);
  return buf;
}
}  // namespace

void attend_partial(const AttentionHeads& a, int64_t s0, int64_t s1, float* m, float* l, float* z) {
  const int64_t G = a.heads;
  std::fill(m, m + G, -INFINITY);
  std::fill(l, l + G, 0.0f);
  std::fill(z, z + G * a.dv, 0.0f);
  std::vector<float>& buf = scratch(static_cast<size_t>(2 * G * kBlock));
  float* S = buf.data();
  float* T = buf.data() + G * kBlock;
  for (int64_t s = s0; s < s1; s += kBlock) {
    const int64_t b = std::min(kBlock, s1 - s);
    // S[g, r] = q[g] . k[s + r] (+ q2[g] . k2[s + r])
    simd::gemm_f32_strided(a.k + s * a.ldk, a.ldk, b, a.q, a.ldq, G, a.dk, S, kBlock);
    if (a.q2 != nullptr) {
      simd::gemm_f32_strided(a.k2 + s * a.ldk2, a.ldk2, b, a.q2, a.ldq2, G, a.dk2, T, kBlock);
      for (int64_t g = 0; g < G; ++g)
        for (int64_t r = 0; r < b; ++r) S[g * kBlock + r] += T[g * kBlock + r];
    }
    for (int64_t g = 0; g < G; ++g) {
      float* row = S + g * kBlock;
      float mx = -INFINITY;
      for (int64_t r = 0; r < b; ++r) mx = std::max(mx, row[r]);
      const float m_new = std::max(m[g], a.scale * mx);
      const float f = std::exp(m[g] - m_new);  // 0 for the first block
      if (f != 1.0f) {
        l[g] *= f;
        for (int64_t j = 0; j < a.dv; ++j) z[g * a.dv + j] *= f;
      }
      l[g] += simd::exp_shift_sum(row, b, a.scale, m_new);
      m[g] = m_new;
    }
    simd::weighted_rows(S, kBlock, G, a.v + s * a.ldv, a.ldv, b, a.dv, z, a.dv);
  }
}

void merge_partials(int64_t parts, int64_t heads, int64_t dv, const float* m, const float* l,
                    const float* z, float* out) {
  for (int64_t g = 0; g < heads; ++g) {
    float mx = -INFINITY;
    for (int64_t p = 0; p < parts; ++p) mx = std::max(mx, m[p * heads + g]);
    double total = 0;
    float* o = out + g * dv;
    std::fill(o, o + dv, 0.0f);
    for (int64_t p = 0; p < parts; ++p) {
      if (m[p * heads + g] == -INFINITY) continue;  // an empty part
      const float w = std::exp(m[p * heads + g] - mx);
      total += static_cast<double>(w) * l[p * heads + g];
      simd::axpy_f32(w, z + (p * heads + g) * dv, o, dv);
    }
    const float inv = static_cast<float>(1.0 / total);
    for (int64_t j = 0; j < dv; ++j) o[j] *= inv;
  }
}

void attend_many(int64_t tasks, const std::function<AttentionHeads(int64_t)>& spec, float* out) {
  if (tasks <= 0) return;
  ThreadPool& pool = ThreadPool::global();
  const int threads = pool.threads();
  const AttentionHeads first = spec(0);
  const int64_t G = first.heads, dv = first.dv;
  // Small work (tiny models, short contexts) stays on the calling thread.
  const int64_t work = tasks * G * (first.dk + first.dk2 + dv) * first.len;
  if (work < (1 << 15)) {
    std::vector<float> m(static_cast<size_t>(G)), l(m.size()), z(static_cast<size_t>(G * dv));
    for (int64_t t = 0; t < tasks; ++t) {
      const AttentionHeads a = spec(t);
      R1_CHECK(a.heads == G && a.dv == dv && a.len > 0);
      attend_partial(a, 0, a.len, m.data(), l.data(), z.data());
      merge_partials(1, G, dv, m.data(), l.data(), z.data(), out + t * G * dv);
    }
    return;
  }
  if (tasks >= threads) {
    pool.parallel_for(tasks, 1, [&](int64_t t0, int64_t t1) {
      std::vector<float> m(static_cast<size_t>(G)), l(m.size()), z(static_cast<size_t>(G * dv));
      for (int64_t t = t0; t < t1; ++t) {
        const AttentionHeads a = spec(t);
        R1_CHECK(a.heads == G && a.dv == dv && a.len > 0);
        attend_partial(a, 0, a.len, m.data(), l.data(), z.data());
        merge_partials(1, G, dv, m.data(), l.data(), z.data(), out + t * G * dv);
      }
    });
    return;
  }
  // Few tasks (decoding): split each one's positions into parts over the threads.
  for (int64_t t = 0; t < tasks; ++t) {
    const AttentionHeads a = spec(t);
    R1_CHECK(a.heads == G && a.dv == dv && a.len > 0);
    const int64_t parts = std::clamp<int64_t>(a.len / (4 * kBlock), 1, 4 * threads);
    std::vector<float> m(static_cast<size_t>(parts * G)), l(m.size()),
        z(static_cast<size_t>(parts * G * dv));
    pool.parallel_for(parts, 1, [&](int64_t p0, int64_t p1) {
      for (int64_t p = p0; p < p1; ++p)
        attend_partial(a, a.len * p / parts, a.len * (p + 1) / parts, m.data() + p * G,
                       l.data() + p * G, z.data() + p * G * dv);
    });
    merge_partials(parts, G, dv, m.data(), l.data(), z.data(), out + t * G * dv);
  }
}

void attend_reference(const AttentionHeads& a, float* out) {
  std::vector<double> p(static_cast<size_t>(a.len));
  for (int64_t g = 0; g < a.heads; ++g) {
    double mx = -INFINITY;
    for (int64_t s = 0; s < a.len; ++s) {
      double sc = 0;
      for (int64_t i = 0; i < a.dk; ++i)
        sc += static_cast<double>(a.q[g * a.ldq + i]) * a.k[s * a.ldk + i];
      if (a.q2 != nullptr)
        for (int64_t i = 0; i < a.dk2; ++i)
          sc += static_cast<double>(a.q2[g * a.ldq2 + i]) * a.k2[s * a.ldk2 + i];
      p[s] = a.scale * sc;
      mx = std::max(mx, p[s]);
    }
    double sum = 0;
    for (int64_t s = 0; s < a.len; ++s) sum += (p[s] = std::exp(p[s] - mx));
    for (int64_t j = 0; j < a.dv; ++j) {
      double acc = 0;
      for (int64_t s = 0; s < a.len; ++s) acc += p[s] * a.v[s * a.ldv + j];
      out[g * a.dv + j] = static_cast<float>(acc / sum);
    }
  }
}

}  // namespace r1::ops
