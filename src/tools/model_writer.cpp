#include "tools/model_writer.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include "core/check.h"
#include "core/error.h"
#include "kernels/quants.h"
#include "model/weights.h"

namespace r1 {

uint64_t PlannedTensor::bytes() const {
  return *dtype_bytes(dtype, spec.n_elements());
}

// ---- Layout transforms -----------------------------------------------------------------------

namespace {

using RowFn = std::function<void(uint64_t row, float* out)>;

class Planner {
 public:
  Planner(const PlanOptions& o, HfRowSource source)
      : o_(o), c_(o.config), source_(std::move(source)) {
    for (const TensorSpec& s : expected_tensors(c_, TensorLayout::kHuggingFace)) hf_[s.name] = s;
  }

  std::vector<PlannedTensor> plan() const {
    std::vector<PlannedTensor> out;
    TensorLayout layout = TensorLayout::kHuggingFace;
    if (o_.format == FileKind::kGguf)
      layout = o_.legacy_kv_b ? TensorLayout::kGgufLegacyKvB : TensorLayout::kGguf;
    for (const TensorSpec& s : expected_tensors(c_, layout)) {
      if (s.mtp && !o_.include_mtp) continue;
      PlannedTensor t;
      t.spec = s;
      t.dtype = tensor_type(s, o_.weights, o_.format, c_.n_layers);
      t.row = o_.format == FileKind::kGguf ? gguf_rows(s, t.sequential) : direct(s.name);
      out.push_back(std::move(t));
    }
    return out;
  }

 private:
  const TensorSpec& hf(const std::string& name) const {
    auto it = hf_.find(name);
    R1_CHECK_MSG(it != hf_.end(), "no HF tensor %s", name.c_str());
    return it->second;
  }

  RowFn direct(const std::string& hf_name) const {
    const TensorSpec* s = &hf(hf_name);
    const HfRowSource* src = &source_;
    return [s, src](uint64_t r, float* out) { (*src)(*s, r, out); };
  }

  RowFn gguf_rows(const TensorSpec& g, bool& sequential) const {
    const std::string& n = g.name;
    const HfRowSource* src = &source_;
    if (n == "rope_freqs.weight") {
      const Vec f = llama3_frequency_factors(c_);
      return [f](uint64_t, float* out) { std::copy(f.begin(), f.end(), out); };
    }
    const std::string layer = g.layer >= 0 ? std::to_string(g.layer) : "";
    const std::string hp = "model.layers." + layer + ".";
    auto ends = [&](const char* suf) {
      const size_t k = std::strlen(suf);
      return n.size() >= k && n.compare(n.size() - k, k, suf) == 0;
    };
    // Stacked routed experts: row (e, r) is row r of expert e.
    for (const char* kind : {"gate", "up", "down"}) {
      if (ends((std::string(".ffn_") + kind + "_exps.weight").c_str())) {
        std::vector<const TensorSpec*> experts;
        for (int64_t e = 0; e < c_.n_routed_experts; ++e)
          experts.push_back(
              &hf(hp + "mlp.experts." + std::to_string(e) + "." + kind + "_proj.weight"));
        const uint64_t per = g.shape[1];
        return [experts, per, src](uint64_t r, float* out) {
          (*src)(*experts[r / per], r % per, out);
        };
      }
    }
    const uint64_t nope = static_cast<uint64_t>(c_.qk_nope_head_dim);
    const uint64_t vdim = static_cast<uint64_t>(c_.v_head_dim);
    const uint64_t lora = static_cast<uint64_t>(c_.kv_lora_rank);
    if (ends(".attn_k_b.weight")) {
      // Row (h, c) holds W_UK^h column c: kv_b[h*(nope+v) + i][c] for i < nope. The nope rows
      // of the current head are cached, so rows must come in order.
      sequential = true;
      const TensorSpec* kvb = &hf(hp + "self_attn.kv_b_proj.weight");
      auto cache = std::make_shared<std::pair<int64_t, std::vector<float>>>(
          -1, std::vector<float>(nope * lora));
      return [kvb, src, nope, vdim, lora, cache](uint64_t r, float* out) {
        const int64_t h = static_cast<int64_t>(r / lora);
        const uint64_t col = r % lora;
        if (cache->first != h) {
          for (uint64_t i = 0; i < nope; ++i)
            (*src)(*kvb, h * (nope + vdim) + i, cache->second.data() + i * lora);
          cache->first = h;
        }
        for (uint64_t i = 0; i < nope; ++i) out[i] = cache->second[i * lora + col];
      };
    }
    if (ends(".attn_v_b.weight")) {
      const TensorSpec* kvb = &hf(hp + "self_attn.kv_b_proj.weight");
      return [kvb, src, nope, vdim](uint64_t r, float* out) {
        (*src)(*kvb, (r / vdim) * (nope + vdim) + nope + r % vdim, out);
      };
    }
    const std::string name = hf_name_of_gguf(n);
    R1_CHECK_MSG(!name.empty(), "no source for GGUF tensor %s", n.c_str());
    if (c_.arch == Arch::kLlama && (ends(".attn_q.weight") || ends(".attn_k.weight"))) {
      // llama.cpp stores Llama's q/k rows in interleaved-pair order: GGUF row h*hd + 2i + j is
      // HF row h*hd + j*hd/2 + i.
      const TensorSpec* s = &hf(name);
      const uint64_t hd = static_cast<uint64_t>(c_.head_dim);
      return [s, src, hd](uint64_t r, float* out) {
        const uint64_t h = r / hd, k = r % hd, i = k / 2, j = k % 2;
        (*src)(*s, h * hd + j * (hd / 2) + i, out);
      };
    }
    return direct(name);
  }

  PlanOptions o_;
  const ModelConfig& c_;
  HfRowSource source_;
  std::map<std::string, TensorSpec> hf_;
};

}  // namespace

std::vector<PlannedTensor> plan_tensors(const PlanOptions& o, HfRowSource source) {
  // The row functions point into the planner: keep it alive as long as any of them.
  auto planner = std::make_shared<Planner>(o, std::move(source));
  std::vector<PlannedTensor> plan = planner->plan();
  for (PlannedTensor& t : plan)
    t.row = [planner, f = std::move(t.row)](uint64_t r, float* out) { f(r, out); };
  return plan;
}

// ---- Streaming output ------------------------------------------------------------------------

namespace {

// Makes and encodes rows [r0, r0 + n) of a tensor into `dst` using all cores.
void encode_rows(const PlannedTensor& t, uint64_t r0, uint64_t n, uint8_t* dst, uint64_t row_bytes,
                 EncodeStats* stats) {
  const uint64_t cols = t.cols();
  std::mutex mu;
  auto work = [&](uint64_t a, uint64_t b) {
    std::vector<float> buf(cols), back(stats ? cols : 0);
    EncodeStats local;
    for (uint64_t r = a; r < b; ++r) {
      t.row(r0 + r, buf.data());
      uint8_t* q = dst + r * row_bytes;
      quants::quantize_row(t.dtype, buf.data(), q, static_cast<int64_t>(cols));
      if (stats) {
        quants::dequantize_row(t.dtype, q, back.data(), static_cast<int64_t>(cols));
        for (uint64_t i = 0; i < cols; ++i) {
          const double x = buf[i], e = x - back[i];
          local.sum_sq += x * x;
          local.err_sq += e * e;
        }
      }
    }
    if (stats) {
      std::lock_guard<std::mutex> lock(mu);
      stats->sum_sq += local.sum_sq;
      stats->err_sq += local.err_sq;
    }
  };
  const uint64_t threads = std::min<uint64_t>(std::max(1u, std::thread::hardware_concurrency()), n);
  if (threads <= 1 || t.sequential || n * cols < (1u << 16)) {
    work(0, n);
    return;
  }
  std::vector<std::thread> pool;
  for (uint64_t i = 0; i < threads; ++i)
    pool.emplace_back(work, n * i / threads, n * (i + 1) / threads);
  for (auto& th : pool) th.join();
}

constexpr uint64_t kChunkBytes = 32ull << 20;

void stream_plain(const PlannedTensor& t, const WriteFn& write, Progress& progress, uint64_t& done,
                  EncodeStats* stats) {
  const uint64_t row_bytes = *dtype_row_bytes(t.dtype, t.cols());
  const uint64_t rows = t.rows();
  const uint64_t chunk_rows = std::max<uint64_t>(1, kChunkBytes / std::max<uint64_t>(row_bytes, 1));
  std::vector<uint8_t> buf(std::min(rows, chunk_rows) * row_bytes);
  for (uint64_t r = 0; r < rows; r += chunk_rows) {
    const uint64_t n = std::min(chunk_rows, rows - r);
    encode_rows(t, r, n, buf.data(), row_bytes, stats);
    write(buf.data(), n * row_bytes);
    done += n * row_bytes;
    progress.update(done);
  }
}

// FP8 with 128x128 block scales: returns the scales (row-major [ceil(M/128), ceil(N/128)]).
std::vector<float> stream_fp8(const PlannedTensor& t, const WriteFn& write, Progress& progress,
                              uint64_t& done, EncodeStats* stats) {
  const uint64_t rows = t.rows(), cols = t.cols();
  const uint64_t scale_cols = (cols + 127) / 128;
  std::vector<float> scales;
  std::vector<float> block(128 * cols), back(stats ? 128 * cols : 0);
  std::vector<uint8_t> q(128 * cols);
  std::vector<float> s(scale_cols);
  for (uint64_t r = 0; r < rows; r += 128) {
    const uint64_t n = std::min<uint64_t>(128, rows - r);
    for (uint64_t i = 0; i < n; ++i) t.row(r + i, block.data() + i * cols);
    quants::quantize_fp8_blocks(block.data(), static_cast<int64_t>(n), static_cast<int64_t>(cols),
                                q.data(), s.data());
    if (stats) {
      quants::dequantize_fp8_blocks(q.data(), s.data(), static_cast<int64_t>(n),
                                    static_cast<int64_t>(cols), back.data());
      for (uint64_t i = 0; i < n * cols; ++i) {
        const double x = block[i], e = x - back[i];
        stats->sum_sq += x * x;
        stats->err_sq += e * e;
      }
    }
    scales.insert(scales.end(), s.begin(), s.end());
    write(q.data(), n * cols);
    done += n * cols;
    progress.update(done);
  }
  return scales;
}

std::vector<uint64_t> reversed(const std::vector<uint64_t>& v) {
  return {v.rbegin(), v.rend()};
}

}  // namespace

std::vector<float> stream_tensor(const PlannedTensor& t, const WriteFn& write, Progress& progress,
                                 uint64_t& done, EncodeStats* stats) {
  if (t.dtype == DType::F8_E4M3) return stream_fp8(t, write, progress, done, stats);
  stream_plain(t, write, progress, done, stats);
  return {};
}

std::vector<std::string> write_gguf_model(
    const std::string& out, const std::vector<std::pair<std::string, gguf::Value>>& kvs,
    const std::vector<PlannedTensor>& plan, uint32_t split_count, bool show_progress,
    std::vector<EncodeStats>* stats) {
  uint64_t total = 0;
  for (const auto& t : plan) total += t.bytes();
  Progress progress("writing", total, show_progress);
  uint64_t done = 0;
  if (stats) stats->assign(plan.size(), EncodeStats{});

  auto emit = [&](auto& writer) {
    for (auto& [k, v] : kvs) writer.add_kv(k, v);
    for (const auto& t : plan) writer.add_tensor(t.spec.name, reversed(t.spec.shape), t.dtype);
    writer.write_header();
    const WriteFn write = [&](const void* p, uint64_t n) { writer.write_data(p, n); };
    for (size_t i = 0; i < plan.size(); ++i) {
      if (plan[i].dtype == DType::F8_E4M3) throw Error("GGUF cannot hold FP8 block-scaled tensors");
      stream_tensor(plan[i], write, progress, done, stats ? &(*stats)[i] : nullptr);
    }
    writer.finish();
  };

  std::vector<std::string> paths;
  if (split_count > 1) {
    std::string stem = out;
    if (stem.size() > 5 && stem.compare(stem.size() - 5, 5, ".gguf") == 0)
      stem.resize(stem.size() - 5);
    gguf::SplitOptions so;
    so.max_tensors = static_cast<uint32_t>((plan.size() + split_count - 1) / split_count);
    gguf::SplitWriter w(stem, so);
    emit(w);
    paths = w.paths();
  } else {
    gguf::Writer w(out);
    emit(w);
    paths = {out};
  }
  progress.finish();
  return paths;
}

}  // namespace r1
