#include "model/weights.h"

#include <algorithm>
#include <cmath>

#include "core/check.h"
#include "core/error.h"
#include "core/half.h"
#include "core/mmap_file.h"
#include "kernels/quants.h"

namespace r1 {

namespace {

class Binder {
 public:
  Binder(const ModelSource& src, ModelWeights& w) : src_(src), w_(w) {}

  // Tensors are named here in GGUF terms and translated for Hugging Face files.
  const SourceTensor* find(const std::string& gguf_name) const {
    if (src_.layout() == TensorLayout::kHuggingFace) {
      const std::string hf = hf_name_of_gguf(gguf_name);
      return hf.empty() ? nullptr : src_.find(hf);
    }
    return src_.find(gguf_name);
  }
  const SourceTensor& need(const std::string& gguf_name) const {
    const SourceTensor* t = find(gguf_name);
    if (t == nullptr) throw Error(src_.path() + ": missing tensor for '" + gguf_name + "'");
    return *t;
  }

  Matrix matrix(const SourceTensor& t) {
    Matrix m;
    m.dtype = t.dtype;
    m.data = t.data;
    m.cols = static_cast<int64_t>(t.shape.back());
    m.rows = static_cast<int64_t>(t.shape.size() == 1 ? 1 : 1);
    for (size_t i = 0; i + 1 < t.shape.size(); ++i) m.rows *= static_cast<int64_t>(t.shape[i]);
    m.row_bytes = *dtype_row_bytes(t.dtype, t.shape.back());
    if (t.dtype == DType::F8_E4M3) {
      R1_CHECK(t.scale != nullptr);
      m.scale_cols = quants::fp8_scale_blocks(m.cols);
      m.fp8_scales = scales_f32(*t.scale);
    }
    if (ops::gains_from_interleaving(m)) interleave(m);
    return m;
  }
  Matrix matrix(const std::string& gguf_name) { return matrix(need(gguf_name)); }
  Matrix optional_matrix(const std::string& gguf_name) {
    const SourceTensor* t = find(gguf_name);
    return t ? matrix(*t) : Matrix{};
  }

  Vec vec(const SourceTensor& t) {
    Matrix m = matrix(t);
    Vec out(static_cast<size_t>(m.rows * m.cols));
    for (int64_t r = 0; r < m.rows; ++r) ops::load_row(m, r, out.data() + r * m.cols);
    return out;
  }
  Vec vec(const std::string& gguf_name) { return vec(need(gguf_name)); }
  Vec optional_vec(const std::string& gguf_name) {
    const SourceTensor* t = find(gguf_name);
    return t ? vec(*t) : Vec{};
  }

  // A float buffer owned by the weights.
  float* own_floats(size_t n) {
    auto buf = std::make_shared<std::vector<uint8_t>>(n * sizeof(float));
    w_.owned.push_back(buf);
    return reinterpret_cast<float*>(buf->data());
  }

  Matrix f32_matrix(const float* data, int64_t rows, int64_t cols) {
    Matrix m;
    m.dtype = DType::F32;
    m.data = reinterpret_cast<const uint8_t*>(data);
    m.rows = rows;
    m.cols = cols;
    m.row_bytes = static_cast<uint64_t>(cols) * sizeof(float);
    return m;
  }

 private:
  // Q8_0, Q4_K and Q6_K weights in a private copy of the file are stored interleaved by four, the
  // layout decode streams fastest (kernels/interleave.h); a mapped file keeps the file's layout.
  static void interleave(Matrix& m) {
    const uint64_t bytes = static_cast<uint64_t>(m.rows) * m.row_bytes;
    switch (
        MappedFile::rewrite_once(m.data, bytes, [&](uint8_t* p) { ops::interleave_rows(m, p); })) {
      case MappedFile::Rewrite::kRewritten:
        break;
      case MappedFile::Rewrite::kDoneBefore:  // bound before (the tied output, a second model)
        m.layout = ops::RowLayout::kInterleaved4;
        break;
      case MappedFile::Rewrite::kNotPrivate:
        break;
    }
  }

  const float* scales_f32(const SourceTensor& s) {
    if (s.dtype == DType::F32) return reinterpret_cast<const float*>(s.data);
    uint64_t n = 1;
    for (uint64_t d : s.shape) n *= d;
    float* out = own_floats(n);
    quants::dequantize_row(s.dtype, s.data, out, static_cast<int64_t>(n));
    return out;
  }

  const ModelSource& src_;
  ModelWeights& w_;
};

void bind_mla(Binder& b, const ModelConfig& c, const std::string& p, MlaWeights& m) {
  if (c.q_lora_rank > 0) {
    m.q_a = b.matrix(p + "attn_q_a.weight");
    m.q_a_norm = b.vec(p + "attn_q_a_norm.weight");
    m.q_b = b.matrix(p + "attn_q_b.weight");
  } else {
    m.q = b.matrix(p + "attn_q.weight");
  }
  m.kv_a = b.matrix(p + "attn_kv_a_mqa.weight");
  m.kv_a_norm = b.vec(p + "attn_kv_a_norm.weight");
  m.o = b.matrix(p + "attn_output.weight");
  const int64_t H = c.n_heads, nope = c.qk_nope_head_dim, v = c.v_head_dim, r = c.kv_lora_rank;
  if (const SourceTensor* kb = b.find(p + "attn_k_b.weight")) {
    const Matrix k_b = b.matrix(*kb);                    // [H * kv_lora, nope]
    const Matrix v_b = b.matrix(p + "attn_v_b.weight");  // [H * v, kv_lora]
    for (int64_t h = 0; h < H; ++h) {
      m.k_b.push_back(k_b.row_range(h * r, r));
      m.v_b.push_back(v_b.row_range(h * v, v));
    }
    return;
  }
  // One kv_b [H * (nope + v), kv_lora]: W_UV^h are row ranges; W_UK^h is transposed once here.
  const Matrix kv_b = b.matrix(p + "attn_kv_b.weight");
  float* kt = b.own_floats(static_cast<size_t>(H * r * nope));
  Vec row(static_cast<size_t>(r));
  for (int64_t h = 0; h < H; ++h) {
    for (int64_t i = 0; i < nope; ++i) {
      ops::load_row(kv_b, h * (nope + v) + i, row.data());
      for (int64_t cc = 0; cc < r; ++cc) kt[(h * r + cc) * nope + i] = row[cc];
    }
    m.k_b.push_back(b.f32_matrix(kt + h * r * nope, r, nope));
    m.v_b.push_back(kv_b.row_range(h * (nope + v) + nope, v));
  }
}

void bind_gqa(Binder& b, const std::string& p, GqaWeights& g) {
  g.q = b.matrix(p + "attn_q.weight");
  g.k = b.matrix(p + "attn_k.weight");
  g.v = b.matrix(p + "attn_v.weight");
  g.q_bias = b.optional_vec(p + "attn_q.bias");
  g.k_bias = b.optional_vec(p + "attn_k.bias");
  g.v_bias = b.optional_vec(p + "attn_v.bias");
  g.o = b.matrix(p + "attn_output.weight");
}

MlpWeights bind_mlp(Binder& b, const std::string& p, const std::string& suffix) {
  MlpWeights m;
  m.gate = b.matrix(p + "ffn_gate" + suffix + ".weight");
  m.up = b.matrix(p + "ffn_up" + suffix + ".weight");
  m.down = b.matrix(p + "ffn_down" + suffix + ".weight");
  return m;
}

void bind_moe(Binder& b, const ModelSource& src, const ModelConfig& c, int64_t layer,
              const std::string& p, MoeWeights& m) {
  m.router = b.matrix(p + "ffn_gate_inp.weight");
  if (c.topk_method == "noaux_tc") m.correction_bias = b.vec(p + "exp_probs_b.bias");
  const int64_t E = c.n_routed_experts, f = c.moe_intermediate_size;
  if (src.layout() == TensorLayout::kHuggingFace) {
    const std::string hp = "model.layers." + std::to_string(layer) + ".mlp.experts.";
    for (int64_t e = 0; e < E; ++e) {
      const std::string q = hp + std::to_string(e) + ".";
      MlpWeights x;
      x.gate = b.matrix(*src.find(q + "gate_proj.weight"));
      x.up = b.matrix(*src.find(q + "up_proj.weight"));
      x.down = b.matrix(*src.find(q + "down_proj.weight"));
      m.experts.push_back(x);
    }
  } else {
    const Matrix gate = b.matrix(p + "ffn_gate_exps.weight");  // [E * f, d]
    const Matrix up = b.matrix(p + "ffn_up_exps.weight");      // [E * f, d]
    const Matrix down = b.matrix(p + "ffn_down_exps.weight");  // [E * d, f]
    const int64_t d = c.hidden_size;
    for (int64_t e = 0; e < E; ++e)
      m.experts.push_back(
          {gate.row_range(e * f, f), up.row_range(e * f, f), down.row_range(e * d, d)});
  }
  if (c.n_shared_experts > 0) m.shared = bind_mlp(b, p, "_shexp");
}

void bind_block(Binder& b, const ModelSource& src, const ModelConfig& c, int64_t layer,
                LayerWeights& l) {
  const std::string p = "blk." + std::to_string(layer) + ".";
  l.attn_norm = b.vec(p + "attn_norm.weight");
  l.ffn_norm = b.vec(p + "ffn_norm.weight");
  if (c.is_deepseek())
    bind_mla(b, c, p, l.mla);
  else
    bind_gqa(b, p, l.gqa);
  l.is_moe = c.is_moe_layer(layer);
  if (l.is_moe)
    bind_moe(b, src, c, layer, p, l.moe);
  else
    l.mlp = bind_mlp(b, p, "");
}

}  // namespace

Vec llama3_frequency_factors(const ModelConfig& c) {
  const int64_t n = c.head_dim / 2;
  const double lo_wl = c.rope_original_max_position / c.llama3_low_freq_factor;
  const double hi_wl = c.rope_original_max_position / c.llama3_high_freq_factor;
  Vec out(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const double wl = 2 * M_PI * std::pow(c.rope_theta, 2.0 * i / c.head_dim);  // wavelength
    double f;
    if (wl < hi_wl) {
      f = 1;  // high frequencies keep their speed
    } else if (wl > lo_wl) {
      f = c.rope_factor;  // low frequencies are slowed by the full factor
    } else {
      const double t = (c.rope_original_max_position / wl - c.llama3_low_freq_factor) /
                       (c.llama3_high_freq_factor - c.llama3_low_freq_factor);
      f = 1.0 / ((1 - t) / c.rope_factor + t);
    }
    out[i] = static_cast<float>(f);
  }
  return out;
}

Vec rope_inverse_frequencies(const ModelConfig& c, const float* llama3_factors) {
  const int64_t dim = c.is_deepseek() ? c.qk_rope_head_dim : c.head_dim;
  const int64_t n = dim / 2;
  Vec inv(static_cast<size_t>(n));
  const double base = c.rope_theta;
  for (int64_t i = 0; i < n; ++i) inv[i] = static_cast<float>(std::pow(base, -2.0 * i / dim));
  if (c.rope_scaling == RopeScaling::kYarn && c.rope_factor > 1) {
    // DeepSeek's YaRN: pairs below `low` keep their frequency, above `high` are divided by
    // the factor, and a linear ramp blends in between.
    auto corr = [&](double rotations) {
      return dim * std::log(c.rope_original_max_position / (rotations * 2 * M_PI)) /
             (2 * std::log(base));
    };
    const double low = std::max(0.0, std::floor(corr(c.yarn_beta_fast)));
    const double high = std::min(static_cast<double>(dim - 1), std::ceil(corr(c.yarn_beta_slow)));
    for (int64_t i = 0; i < n; ++i) {
      const double ramp = std::clamp((i - low) / std::max(0.001, high - low), 0.0, 1.0);
      inv[i] = static_cast<float>(inv[i] * (1 - ramp) + inv[i] / c.rope_factor * ramp);
    }
  } else if (c.rope_scaling == RopeScaling::kLlama3) {
    const Vec computed = llama3_factors ? Vec() : llama3_frequency_factors(c);
    const float* f = llama3_factors ? llama3_factors : computed.data();
    for (int64_t i = 0; i < n; ++i) inv[i] = static_cast<float>(inv[i] / f[i]);
  }
  return inv;
}

std::shared_ptr<ModelWeights> bind_weights(const ModelSource& src) {
  if (src.format() == SourceFormat::kConfigOnly)
    throw Error(src.path() + ": a configuration alone has no weights to run");
  src.validate_tensors();
  auto w = std::make_shared<ModelWeights>();
  const ModelConfig& c = src.config();
  w->config = c;
  w->storage = src.storage();
  Binder b(src, *w);
  w->embed = b.matrix("token_embd.weight");
  w->output_norm = b.vec("output_norm.weight");
  w->output = c.tie_word_embeddings ? w->embed : b.matrix("output.weight");
  w->layers.resize(static_cast<size_t>(c.n_layers));
  for (int64_t l = 0; l < c.n_layers; ++l) bind_block(b, src, c, l, w->layers[l]);
  for (int64_t k = 0; k < c.n_mtp_layers; ++k) {
    const int64_t l = c.n_layers + k;
    const std::string p = "blk." + std::to_string(l) + ".nextn.";
    if (b.find(p + "eh_proj.weight") == nullptr) break;  // files without the MTP module
    MtpWeights m;
    m.embed = b.matrix(p + "embed_tokens.weight");
    m.enorm = b.vec(p + "enorm.weight");
    m.hnorm = b.vec(p + "hnorm.weight");
    m.eh_proj = b.matrix(p + "eh_proj.weight");
    bind_block(b, src, c, l, m.block);
    m.block.is_moe = c.n_routed_experts > 0;  // the MTP block is an MoE layer in V3/R1
    m.head_norm = b.vec(p + "shared_head_norm.weight");
    m.head = b.matrix(p + "shared_head_head.weight");
    w->mtp.push_back(std::move(m));
  }
  // RoPE pairing: DeepSeek pairs neighbours everywhere; Qwen2 rotates halves; Llama rotates
  // halves in HF files and neighbours in GGUF (llama.cpp permuted the q/k rows).
  const float* factors = nullptr;
  Vec llama3;
  if (const SourceTensor* rf = b.find("rope_freqs.weight");
      rf && src.layout() != TensorLayout::kHuggingFace) {
    llama3 = b.vec(*rf);
    factors = llama3.data();
  }
  w->rope_inv_freq = rope_inverse_frequencies(c, factors);
  w->rope_interleaved =
      c.is_deepseek() || (c.arch == Arch::kLlama && src.layout() != TensorLayout::kHuggingFace);
  return w;
}

}  // namespace r1
