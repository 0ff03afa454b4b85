#include "model/forward.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <numeric>

#include "core/check.h"
#include "core/error.h"
#include "core/heap.h"
#include "core/thread_pool.h"
#include "kernels/attention.h"

namespace r1 {

using ops::matmul;
using ops::rms_norm;

namespace {
float sigmoid(float x) {
  return 1.0f / (1.0f + std::exp(-x));
}

// Indices of the k largest values (ties: lower index first).
std::vector<int32_t> top_k(const std::vector<float>& v, int64_t k) {
  std::vector<int32_t> idx(v.size());
  std::iota(idx.begin(), idx.end(), 0);
  std::stable_sort(idx.begin(), idx.end(), [&](int32_t a, int32_t b) { return v[a] > v[b]; });
  idx.resize(static_cast<size_t>(k));
  return idx;
}
}  // namespace

Routing route(const ModelConfig& c, const float* logits, const float* bias) {
  const int64_t E = c.n_routed_experts, k = c.n_experts_per_tok;
  const int64_t per_group = E / c.n_group;
  Routing r;
  std::vector<float> score(static_cast<size_t>(E));
  if (c.scoring_func == "sigmoid") {
    for (int64_t e = 0; e < E; ++e) score[e] = sigmoid(logits[e]);
  } else {
    std::copy(logits, logits + E, score.begin());
    ops::softmax(score.data(), E);
  }
  // Selection scores: V3 adds the correction bias (choice only, never the weights).
  std::vector<float> choice = score;
  if (bias != nullptr)
    for (int64_t e = 0; e < E; ++e) choice[e] += bias[e];
  if (c.n_group > 1 && c.topk_group < c.n_group) {
    // Group score: sum of the top two (noaux_tc) or the maximum (group_limited_greedy).
    std::vector<float> group(static_cast<size_t>(c.n_group));
    for (int64_t g = 0; g < c.n_group; ++g) {
      std::vector<float> in(choice.begin() + g * per_group, choice.begin() + (g + 1) * per_group);
      std::sort(in.begin(), in.end(), std::greater<>());
      group[g] = c.topk_method == "noaux_tc" ? in[0] + (in.size() > 1 ? in[1] : 0.0f) : in[0];
    }
    std::vector<char> keep(static_cast<size_t>(c.n_group), 0);
    for (int32_t g : top_k(group, c.topk_group)) keep[g] = 1;
    for (int64_t e = 0; e < E; ++e)
      if (!keep[e / per_group]) choice[e] = -INFINITY;
  }
  r.experts = top_k(choice, k);
  double sum = 0;
  for (int32_t e : r.experts) {
    r.weights.push_back(score[e]);
    sum += score[e];
  }
  const bool v3 = c.scoring_func == "sigmoid";
  if (c.norm_topk_prob && (v3 || k > 1)) {
    for (float& w : r.weights) w = static_cast<float>(w / (sum + 1e-20));
    if (v3)
      for (float& w : r.weights) w *= static_cast<float>(c.routed_scaling_factor);
  } else {
    for (float& w : r.weights) w *= static_cast<float>(c.routed_scaling_factor);
  }
  return r;
}

// Runs fn(head, scratch_in, scratch_out) for every head on the thread pool; `work` (the
// multiply-adds of all heads) decides whether threads pay off.
static void per_head(
    int64_t heads, int64_t work,
    const std::function<void(int64_t, std::vector<float>&, std::vector<float>&)>& fn) {
  const int64_t grain = work < (1 << 16) ? heads : 1;
  ThreadPool::global().parallel_for(heads, grain, [&](int64_t h0, int64_t h1) {
    std::vector<float> in, out;
    for (int64_t h = h0; h < h1; ++h) fn(h, in, out);
  });
}

Model::Model(std::shared_ptr<const ModelWeights> w) : w_(std::move(w)) {
  keep_freed_memory_for_reuse();
  attn_scale_ = static_cast<float>(attention_scale(w_->config));
}

void Model::mlp(const MlpWeights& m, int64_t n, const float* h, float* out) const {
  const int64_t f = m.gate.rows;
  std::vector<float> gate(static_cast<size_t>(n * f)), up(gate.size());
  const ops::Matrix* w[2] = {&m.gate, &m.up};
  float* y[2] = {gate.data(), up.data()};  // [n, f] each
  ops::matmul_many(w, y, 2, h, n);
  ops::silu_mul(gate.data(), up.data(), n * f, gate.data());
  matmul(m.down, gate.data(), n, out);  // [n, d]
}

// One token through the shared expert and its chosen experts, in two parallel loops: all gate
// and up products share the input, and the down products take each expert's own activation.
// The same arithmetic, summed in the same order, as the general path of moe().
void Model::moe_one_token(const MoeWeights& m, const Routing& r, const float* h, float* out) const {
  const int64_t d = config().hidden_size;
  // The shared expert first (assigned, not added), then the chosen ones by expert index.
  std::vector<std::pair<int32_t, float>> chosen;
  for (size_t i = 0; i < r.experts.size(); ++i) chosen.push_back({r.experts[i], r.weights[i]});
  std::sort(chosen.begin(), chosen.end());
  std::vector<const MlpWeights*> mlps;
  if (m.shared.valid()) mlps.push_back(&m.shared);
  for (const auto& [e, weight] : chosen) mlps.push_back(&m.experts[e]);
  const size_t k = mlps.size();
  std::vector<std::vector<float>> gate(k), up(k), down(k);
  std::vector<const ops::Matrix*> gu, dw;
  std::vector<float*> gu_out, dw_out;
  std::vector<const float*> dw_in;
  for (size_t i = 0; i < k; ++i) {
    const int64_t f = mlps[i]->gate.rows;
    gate[i].resize(static_cast<size_t>(f));
    up[i].resize(static_cast<size_t>(f));
    down[i].resize(static_cast<size_t>(d));
    gu.insert(gu.end(), {&mlps[i]->gate, &mlps[i]->up});
    gu_out.insert(gu_out.end(), {gate[i].data(), up[i].data()});
    dw.push_back(&mlps[i]->down);
    dw_in.push_back(gate[i].data());
    dw_out.push_back(down[i].data());
  }
  ops::matmul_many(gu.data(), gu_out.data(), static_cast<int>(gu.size()), h, 1);  // [f_i] each
  for (size_t i = 0; i < k; ++i)
    ops::silu_mul(gate[i].data(), up[i].data(), static_cast<int64_t>(gate[i].size()),
                  gate[i].data());
  ops::matmul_each(dw.data(), dw_in.data(), dw_out.data(), static_cast<int>(k), 1);  // [d] each
  size_t i = 0;
  if (m.shared.valid())
    std::copy_n(down[i++].data(), d, out);
  else
    std::fill(out, out + d, 0.0f);
  for (const auto& [e, weight] : chosen) ops::axpy(weight, down[i++].data(), out, d);
}

void Model::moe(const MoeWeights& m, int64_t n, const float* h, float* out,
                std::vector<int32_t>* trace) const {
  const ModelConfig& c = config();
  const int64_t d = c.hidden_size, E = c.n_routed_experts;
  std::vector<float> logits(static_cast<size_t>(n * E));
  matmul(m.router, h, n, logits.data());  // [n, E]
  const float* bias = m.correction_bias.empty() ? nullptr : m.correction_bias.data();
  if (n == 1) {
    const Routing r = route(c, logits.data(), bias);
    if (trace != nullptr) trace->insert(trace->end(), r.experts.begin(), r.experts.end());
    return moe_one_token(m, r, h, out);
  }
  if (m.shared.valid())
    mlp(m.shared, n, h, out);
  else
    std::fill(out, out + n * d, 0.0f);
  // Route every token, then run each chosen expert once over all the tokens routed to it (one
  // matrix product per expert: decode reads only the k chosen experts; prefill groups tokens).
  std::vector<std::vector<std::pair<int64_t, float>>> routed(static_cast<size_t>(E));
  for (int64_t t = 0; t < n; ++t) {
    const Routing r = route(c, logits.data() + t * E, bias);
    if (trace != nullptr) trace->insert(trace->end(), r.experts.begin(), r.experts.end());
    for (size_t i = 0; i < r.experts.size(); ++i) routed[r.experts[i]].push_back({t, r.weights[i]});
  }
  std::vector<float> xin, y;
  for (int64_t e = 0; e < E; ++e) {
    const auto& toks = routed[e];
    if (toks.empty()) continue;
    const int64_t m_e = static_cast<int64_t>(toks.size());
    xin.resize(static_cast<size_t>(m_e * d));
    y.resize(static_cast<size_t>(m_e * d));
    for (int64_t i = 0; i < m_e; ++i) std::copy_n(h + toks[i].first * d, d, xin.data() + i * d);
    mlp(m.experts[e], m_e, xin.data(), y.data());  // [m_e, d]
    for (int64_t i = 0; i < m_e; ++i)
      ops::axpy(toks[i].second, y.data() + i * d, out + toks[i].first * d, d);
  }
}

namespace {
// For each row of a batch: its segment and its position in it.
struct RowMap {
  std::vector<int32_t> seg;
  std::vector<int64_t> local;
  RowMap(std::span<const Segment> segs, int64_t n)
      : seg(static_cast<size_t>(n)), local(static_cast<size_t>(n)) {
    for (size_t i = 0; i < segs.size(); ++i)
      for (int64_t t = 0; t < segs[i].n; ++t) {
        seg[segs[i].offset + t] = static_cast<int32_t>(i);
        local[segs[i].offset + t] = t;
      }
  }
};
}  // namespace

void Model::attention_mla(const MlaWeights& a, std::span<const Segment> segs, int64_t n,
                          const float* h, float* out) const {
  const ModelConfig& c = config();
  const int64_t H = c.n_heads, nope = c.qk_nope_head_dim, rope = c.qk_rope_head_dim;
  const int64_t qk = nope + rope, lora = c.kv_lora_rank, vd = c.v_head_dim;
  const int64_t nf = rope / 2;
  // Queries: [n, H * qk], per head q_nope then q_pe.
  std::vector<float> q(static_cast<size_t>(n * H * qk));
  // Compressed KV: [n, lora + rope] -> normalised latent c and the shared rope key k_pe.
  std::vector<float> kv(static_cast<size_t>(n * (lora + rope)));
  if (a.q_a.valid()) {
    std::vector<float> qa(static_cast<size_t>(n * c.q_lora_rank));
    const ops::Matrix* w[2] = {&a.q_a, &a.kv_a};
    float* y[2] = {qa.data(), kv.data()};  // [n, q_lora], [n, lora + rope]
    ops::matmul_many(w, y, 2, h, n);
    rms_norm(qa.data(), a.q_a_norm.data(), n, c.q_lora_rank, static_cast<float>(c.rms_norm_eps),
             qa.data());
    matmul(a.q_b, qa.data(), n, q.data());
  } else {
    const ops::Matrix* w[2] = {&a.q, &a.kv_a};
    float* y[2] = {q.data(), kv.data()};
    ops::matmul_many(w, y, 2, h, n);
  }
  for (const Segment& sg : segs) {
    LayerCache& cache = *sg.cache;
    const size_t old = cache.a.size() / static_cast<size_t>(lora);
    R1_CHECK(static_cast<int64_t>(old) == sg.pos0);
    cache.a.resize((old + sg.n) * lora);
    cache.b.resize((old + sg.n) * rope);
    for (int64_t t = 0; t < sg.n; ++t) {
      const int64_t pos = sg.pos0 + t, row_i = sg.offset + t;
      float* row = kv.data() + row_i * (lora + rope);
      rms_norm(row, a.kv_a_norm.data(), 1, lora, static_cast<float>(c.rms_norm_eps),
               cache.a.data() + pos * lora);
      ops::rope(row + lora, 1, rope, 0, nf, w_->rope_inv_freq.data(), pos, w_->rope_interleaved);
      std::copy(row + lora, row + lora + rope, cache.b.data() + pos * rope);
      ops::rope(q.data() + row_i * H * qk, H, qk, nope, nf, w_->rope_inv_freq.data(), pos,
                w_->rope_interleaved);
    }
  }
  const RowMap rows(segs, n);
  // Absorbed attention: per head q̃ = W_UKᵀ q_nope [n, H, lora]; then all heads attend over
  // the shared latent rows: score = scale (q̃·c + q_pe·k_pe); z = Σ p c [n, H, lora];
  // finally o = W_UV z per head [n, H, vd].
  std::vector<float> qt(static_cast<size_t>(n * H * lora));
  per_head(H, n * H * nope * lora,
           [&](int64_t hh, std::vector<float>& in, std::vector<float>& res) {
             in.resize(static_cast<size_t>(n * nope));
             res.resize(static_cast<size_t>(n * lora));
             for (int64_t t = 0; t < n; ++t)
               std::copy_n(q.data() + (t * H + hh) * qk, nope, in.data() + t * nope);
             matmul(a.k_b[hh], in.data(), n, res.data());  // [n, lora]
             for (int64_t t = 0; t < n; ++t)
               std::copy_n(res.data() + t * lora, lora, qt.data() + (t * H + hh) * lora);
           });
  std::vector<float> z(static_cast<size_t>(n * H * lora));
  ops::attend_many(
      n,
      [&](int64_t t) {
        const Segment& sg = segs[rows.seg[t]];
        const LayerCache& cache = *sg.cache;
        ops::AttentionHeads at;
        at.heads = H;
        at.len = sg.pos0 + rows.local[t] + 1;  // causal: positions 0..pos
        at.q = qt.data() + t * H * lora, at.ldq = lora, at.dk = lora;
        at.q2 = q.data() + t * H * qk + nope, at.ldq2 = qk, at.dk2 = rope;
        at.k = cache.a.data(), at.ldk = lora;
        at.k2 = cache.b.data(), at.ldk2 = rope;
        at.v = cache.a.data(), at.ldv = lora, at.dv = lora;
        at.scale = attn_scale_;
        return at;
      },
      z.data());
  std::vector<float> heads(static_cast<size_t>(n * H * vd));
  per_head(H, n * H * lora * vd, [&](int64_t hh, std::vector<float>& in, std::vector<float>& res) {
    in.resize(static_cast<size_t>(n * lora));
    res.resize(static_cast<size_t>(n * vd));
    for (int64_t t = 0; t < n; ++t)
      std::copy_n(z.data() + (t * H + hh) * lora, lora, in.data() + t * lora);
    matmul(a.v_b[hh], in.data(), n, res.data());  // [n, vd]
    for (int64_t t = 0; t < n; ++t)
      std::copy_n(res.data() + t * vd, vd, heads.data() + (t * H + hh) * vd);
  });
  matmul(a.o, heads.data(), n, out);  // [n, d]
}

void Model::attention_gqa(const GqaWeights& a, std::span<const Segment> segs, int64_t n,
                          const float* h, float* out) const {
  const ModelConfig& c = config();
  const int64_t H = c.n_heads, Hkv = c.n_kv_heads, hd = c.head_dim;
  const int64_t kvw = Hkv * hd;
  std::vector<float> q(static_cast<size_t>(n * H * hd)), k(static_cast<size_t>(n * kvw)),
      v(static_cast<size_t>(n * kvw));
  const ops::Matrix* w[3] = {&a.q, &a.k, &a.v};
  float* y[3] = {q.data(), k.data(), v.data()};
  ops::matmul_many(w, y, 3, h, n);
  const RowMap rows(segs, n);
  for (int64_t t = 0; t < n; ++t) {
    const int64_t pos = segs[rows.seg[t]].pos0 + rows.local[t];
    if (!a.q_bias.empty()) ops::axpy(1.0f, a.q_bias.data(), q.data() + t * H * hd, H * hd);
    if (!a.k_bias.empty()) ops::axpy(1.0f, a.k_bias.data(), k.data() + t * kvw, kvw);
    if (!a.v_bias.empty()) ops::axpy(1.0f, a.v_bias.data(), v.data() + t * kvw, kvw);
    ops::rope(q.data() + t * H * hd, H, hd, 0, hd / 2, w_->rope_inv_freq.data(), pos,
              w_->rope_interleaved);
    ops::rope(k.data() + t * kvw, Hkv, hd, 0, hd / 2, w_->rope_inv_freq.data(), pos,
              w_->rope_interleaved);
  }
  for (const Segment& sg : segs) {
    LayerCache& cache = *sg.cache;
    R1_CHECK(static_cast<int64_t>(cache.a.size()) == sg.pos0 * kvw);
    cache.a.insert(cache.a.end(), k.begin() + sg.offset * kvw,
                   k.begin() + (sg.offset + sg.n) * kvw);
    cache.b.insert(cache.b.end(), v.begin() + sg.offset * kvw,
                   v.begin() + (sg.offset + sg.n) * kvw);
  }
  // Each KV head serves `group` consecutive query heads: one attention per (token, KV head).
  std::vector<float> heads(static_cast<size_t>(n * H * hd));
  const int64_t group = H / Hkv;
  ops::attend_many(
      n * Hkv,
      [&](int64_t i) {
        const int64_t t = i / Hkv, kh = i % Hkv;
        const Segment& sg = segs[rows.seg[t]];
        const LayerCache& cache = *sg.cache;
        ops::AttentionHeads at;
        at.heads = group;
        at.len = sg.pos0 + rows.local[t] + 1;
        at.q = q.data() + (t * H + kh * group) * hd, at.ldq = hd, at.dk = hd;
        at.k = cache.a.data() + kh * hd, at.ldk = kvw;
        at.v = cache.b.data() + kh * hd, at.ldv = kvw, at.dv = hd;
        at.scale = attn_scale_;
        return at;
      },
      heads.data());
  matmul(a.o, heads.data(), n, out);
}

void Model::block(const LayerWeights& l, std::span<const Segment> segs, int64_t n, float* x) const {
  const ModelConfig& c = config();
  const int64_t d = c.hidden_size;
  const float eps = static_cast<float>(c.rms_norm_eps);
  std::vector<float> h(static_cast<size_t>(n * d)), y(static_cast<size_t>(n * d));
  rms_norm(x, l.attn_norm.data(), n, d, eps, h.data());
  if (c.is_deepseek())
    attention_mla(l.mla, segs, n, h.data(), y.data());
  else
    attention_gqa(l.gqa, segs, n, h.data(), y.data());
  ops::axpy(1.0f, y.data(), x, n * d);
  rms_norm(x, l.ffn_norm.data(), n, d, eps, h.data());
  if (l.is_moe) {
    // The routing trace has a slot per main-model layer (the MTP block is not traced).
    std::vector<int32_t>* trace = nullptr;
    const auto& layers = w_->layers;
    if (routing_trace_ != nullptr && &l >= layers.data() && &l < layers.data() + layers.size()) {
      routing_trace_->resize(layers.size());
      trace = &(*routing_trace_)[static_cast<size_t>(&l - layers.data())];
    }
    moe(l.moe, n, h.data(), y.data(), trace);
  } else
    mlp(l.mlp, n, h.data(), y.data());
  ops::axpy(1.0f, y.data(), x, n * d);
}

void Model::forward(Sequence& seq, std::span<const int32_t> tokens, float* logits, bool all_logits,
                    std::vector<float>* hidden) const {
  const ModelConfig& c = config();
  const int64_t n = static_cast<int64_t>(tokens.size()), d = c.hidden_size;
  if (n == 0) return;
  if (seq.pos_ + n > seq.n_ctx_)
    throw Error("context full: " + std::to_string(seq.pos_) + " + " + std::to_string(n) +
                " tokens exceed the context of " + std::to_string(seq.n_ctx_));
  std::vector<float> x(static_cast<size_t>(n * d));
  embed(tokens, x.data());
  for (int64_t l = 0; l < c.n_layers; ++l) {
    const Segment seg{&seq.layers[l], seq.pos_, n, 0};
    block(w_->layers[l], std::span<const Segment>(&seg, 1), n, x.data());
  }
  seq.pos_ += n;
  rms_norm(x.data(), w_->output_norm.data(), n, d, static_cast<float>(c.rms_norm_eps), x.data());
  if (hidden) hidden->assign(x.begin(), x.end());
  if (all_logits)
    matmul(w_->output, x.data(), n, logits);
  else
    matmul(w_->output, x.data() + (n - 1) * d, 1, logits);
  check_finite(logits, (all_logits ? n : 1) * c.vocab_size,
               all_logits ? seq.pos_ - n : seq.pos_ - 1);
}

void Model::check_finite(const float* v, int64_t count, int64_t pos0) const {
  const int64_t V = config().vocab_size;
  for (int64_t i = 0; i < count; ++i)
    if (!std::isfinite(v[i]))
      throw Error("the model produced a non-finite value (" + std::to_string(v[i]) +
                  ") in the logits of position " + std::to_string(pos0 + i / V) +
                  "; the weights may be corrupt (NaN or Inf in the file)");
}

void Model::embed(std::span<const int32_t> tokens, float* x) const {
  const int64_t d = config().hidden_size;
  for (size_t t = 0; t < tokens.size(); ++t) {
    if (tokens[t] < 0 || tokens[t] >= w_->embed.rows)
      throw Error("token id " + std::to_string(tokens[t]) + " is outside the vocabulary of " +
                  std::to_string(w_->embed.rows));
    ops::load_row(w_->embed, tokens[t], x + static_cast<int64_t>(t) * d);
  }
}

void Model::forward_batch(std::span<Sequence*> seqs, std::span<const std::vector<int32_t>> tokens,
                          std::span<float*> last_logits) const {
  R1_CHECK(seqs.size() == tokens.size() && seqs.size() == last_logits.size());
  const ModelConfig& c = config();
  const int64_t d = c.hidden_size, V = c.vocab_size;
  // The batch: non-empty sequences, their rows one after the other. Check all before changing any.
  std::vector<size_t> which;
  std::vector<int32_t> all;
  for (size_t i = 0; i < seqs.size(); ++i) {
    const int64_t m = static_cast<int64_t>(tokens[i].size());
    if (m == 0) continue;
    if (seqs[i]->pos_ + m > seqs[i]->n_ctx_)
      throw Error("context full: " + std::to_string(seqs[i]->pos_) + " + " + std::to_string(m) +
                  " tokens exceed the context of " + std::to_string(seqs[i]->n_ctx_));
    for (size_t j = 0; j < i; ++j)
      R1_CHECK_MSG(seqs[j] != seqs[i] || tokens[j].empty(), "a sequence twice in one batch");
    which.push_back(i);
    all.insert(all.end(), tokens[i].begin(), tokens[i].end());
  }
  const int64_t n = static_cast<int64_t>(all.size());
  if (n == 0) return;
  std::vector<float> x(static_cast<size_t>(n * d));
  embed(all, x.data());
  std::vector<Segment> segs(which.size());
  for (int64_t l = 0; l < c.n_layers; ++l) {
    int64_t off = 0;
    for (size_t s = 0; s < which.size(); ++s) {
      Sequence& q = *seqs[which[s]];
      const int64_t m = static_cast<int64_t>(tokens[which[s]].size());
      segs[s] = Segment{&q.layers[l], q.pos_, m, off};
      off += m;
    }
    block(w_->layers[l], segs, n, x.data());
  }
  // The last row of each sequence: final norm and LM head.
  const int64_t S = static_cast<int64_t>(which.size());
  std::vector<float> last(static_cast<size_t>(S * d)), logits(static_cast<size_t>(S * V));
  int64_t off = 0;
  for (int64_t s = 0; s < S; ++s) {
    Sequence& q = *seqs[which[s]];
    const int64_t m = static_cast<int64_t>(tokens[which[s]].size());
    q.pos_ += m;
    off += m;
    std::copy_n(x.data() + (off - 1) * d, d, last.data() + s * d);
  }
  rms_norm(last.data(), w_->output_norm.data(), S, d, static_cast<float>(c.rms_norm_eps),
           last.data());
  matmul(w_->output, last.data(), S, logits.data());
  for (int64_t s = 0; s < S; ++s) {
    check_finite(logits.data() + s * V, V, seqs[which[s]]->pos_ - 1);
    std::copy_n(logits.data() + s * V, V, last_logits[which[s]]);
  }
}

void Model::forward_mtp(Sequence& mtp_seq, const float* hidden, std::span<const int32_t> next,
                        float* logits) const {
  if (w_->mtp.empty()) throw Error("this model file has no multi-token-prediction module");
  const MtpWeights& m = w_->mtp[0];
  const ModelConfig& c = config();
  const int64_t n = static_cast<int64_t>(next.size()), d = c.hidden_size;
  const float eps = static_cast<float>(c.rms_norm_eps);
  if (mtp_seq.pos_ + n > mtp_seq.n_ctx_) throw Error("context full (MTP)");
  // u = eh_proj · [enorm(Emb(t_{i+1})) ; hnorm(h_i)]
  std::vector<float> cat(static_cast<size_t>(n * 2 * d)), e(static_cast<size_t>(d));
  for (int64_t t = 0; t < n; ++t) {
    if (next[t] < 0 || next[t] >= m.embed.rows) throw Error("token id out of range (MTP)");
    ops::load_row(m.embed, next[t], e.data());
    rms_norm(e.data(), m.enorm.data(), 1, d, eps, cat.data() + t * 2 * d);
    rms_norm(hidden + t * d, m.hnorm.data(), 1, d, eps, cat.data() + t * 2 * d + d);
  }
  std::vector<float> x(static_cast<size_t>(n * d));
  matmul(m.eh_proj, cat.data(), n, x.data());
  const Segment seg{&mtp_seq.layers[0], mtp_seq.pos_, n, 0};
  block(m.block, std::span<const Segment>(&seg, 1), n, x.data());
  mtp_seq.pos_ += n;
  rms_norm(x.data(), m.head_norm.data(), n, d, eps, x.data());
  matmul(m.head, x.data(), n, logits);
  check_finite(logits, n * c.vocab_size, mtp_seq.pos_ - n);
}

}  // namespace r1
