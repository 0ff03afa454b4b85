// The forward pass of every supported architecture, reading like the math: embedding, then per
// layer attention (MLA in absorbed form over a compressed cache, or GQA) and a feed-forward
// block (dense SwiGLU or mixture of experts), then the final norm and the LM head.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "model/weights.h"

namespace r1 {

// The cache of one sequence. DeepSeek layers keep only the normalised latent c (kv_lora values)
// and the rotated rope key k_pe (rope values) per token — 576 values per layer for R1 — never
// decompressed keys and values. GQA layers keep K and V of the kv heads.
struct LayerCache {
  std::vector<float> a;  // MLA: latent c [n, kv_lora]   GQA: K [n, n_kv * hd]
  std::vector<float> b;  // MLA: rope key [n, rope]      GQA: V [n, n_kv * hd]
};

class Sequence {
 public:
  Sequence(int64_t n_layers, int64_t n_ctx)
      : layers(static_cast<size_t>(n_layers)), n_ctx_(n_ctx) {}
  int64_t position() const { return pos_; }  // tokens seen so far
  // Bytes the cache holds now (for N tokens: N x model_stats().kv_bytes_per_token).
  uint64_t cache_bytes() const {
    uint64_t n = 0;
    for (const auto& l : layers) n += (l.a.size() + l.b.size()) * sizeof(float);
    return n;
  }
  int64_t context() const { return n_ctx_; }
  void reset() {
    pos_ = 0;
    for (auto& l : layers) l.a.clear(), l.b.clear();
  }
  std::vector<LayerCache> layers;

 private:
  friend class Model;
  int64_t pos_ = 0;
  int64_t n_ctx_;
};

// Rows [offset, offset + n) of a batch's activations: tokens of one sequence at positions
// pos0.., with that sequence's cache of the layer being run.
struct Segment {
  LayerCache* cache = nullptr;
  int64_t pos0 = 0, n = 0, offset = 0;
};

// The experts chosen for one token and their weights (exposed for tests).
struct Routing {
  std::vector<int32_t> experts;
  std::vector<float> weights;
};
Routing route(const ModelConfig& c, const float* router_logits, const float* correction_bias);

class Model {
 public:
  explicit Model(std::shared_ptr<const ModelWeights> w);
  const ModelConfig& config() const { return w_->config; }
  const ModelWeights& weights() const { return *w_; }

  Sequence new_sequence(int64_t n_ctx) const { return Sequence(config().n_layers, n_ctx); }
  // A cache for the MTP module (one layer), following the main sequence's positions.
  Sequence new_mtp_sequence(int64_t n_ctx) const { return Sequence(1, n_ctx); }
  bool has_mtp() const { return !w_->mtp.empty(); }

  // Runs `tokens` at the sequence's next positions. logits: [n, vocab] when all_logits, else
  // [1, vocab] for the last token. hidden (optional): the final hidden states [n, d] after the
  // output norm, the input the MTP module takes. Throws r1::Error when the context is full or a
  // token id is out of range.
  void forward(Sequence& seq, std::span<const int32_t> tokens, float* logits, bool all_logits,
               std::vector<float>* hidden = nullptr) const;

  // Several independent sequences, each with its own tokens (empty: skipped), run as one batch:
  // every weight is read once for all their tokens. Logits of each one's last token. Throws
  // r1::Error (nothing changed) when one would overflow its context or a token is out of range.
  void forward_batch(std::span<Sequence*> seqs, std::span<const std::vector<int32_t>> tokens,
                     std::span<float*> last_logits) const;

  // MTP draft logits [n, vocab]: for position i, from the main model's hidden state h_i
  // (`hidden` [n, d], from forward) and the next token t_{i+1} (`next_tokens`), predicting
  // t_{i+2}. `mtp_seq` holds the module's own cache at the same positions.
  void forward_mtp(Sequence& mtp_seq, const float* hidden, std::span<const int32_t> next_tokens,
                   float* logits) const;

  // Reference comparisons: while `out` is set, each MoE layer of the main model appends the
  // experts it chooses for every token it runs ((*out)[layer], k ids per token, in the order the
  // tokens run; dense layers stay empty). Null stops it. Not for concurrent forwards.
  void trace_routing(std::vector<std::vector<int32_t>>* out) const { routing_trace_ = out; }

 private:
  // x: [n, d] for the n tokens of all segments (n = the sum of their lengths).
  void block(const LayerWeights& l, std::span<const Segment> segs, int64_t n, float* x) const;
  void attention_mla(const MlaWeights& a, std::span<const Segment> segs, int64_t n, const float* h,
                     float* out) const;
  void attention_gqa(const GqaWeights& a, std::span<const Segment> segs, int64_t n, const float* h,
                     float* out) const;
  // Embeds tokens into x [n, d], checking ids.
  void embed(std::span<const int32_t> tokens, float* x) const;
  void check_finite(const float* logits, int64_t count, int64_t pos0) const;
  void mlp(const MlpWeights& m, int64_t n, const float* h, float* out) const;
  // trace: where this layer's routing is recorded (trace_routing), or null.
  void moe(const MoeWeights& m, int64_t n, const float* h, float* out,
           std::vector<int32_t>* trace) const;
  void moe_one_token(const MoeWeights& m, const Routing& r, const float* h, float* out) const;

  std::shared_ptr<const ModelWeights> w_;
  float attn_scale_;
  mutable std::vector<std::vector<int32_t>>* routing_trace_ = nullptr;
};

}  // namespace r1
