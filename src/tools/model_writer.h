// The one place that turns Hugging Face-layout rows into the tensors of a model file: llama.cpp's
// GGUF layout (stacked experts, split attn_k_b/attn_v_b, Llama's q/k row order, rope_freqs) or
// HF safetensors, and streams them tensor by tensor, quantizing on all cores. make-test-model
// feeds it seeded random rows; convert feeds it a checkpoint's dequantized rows.
#pragma once

#include <cmath>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "core/progress.h"
#include "formats/gguf.h"
#include "model/config.h"
#include "model/tensors.h"
#include "model/weight_types.h"

namespace r1 {

// Row `row` of the HF tensor `hf` (row-major, [rows, cols] with cols = shape.back()) as floats.
// Called from several threads at once.
using HfRowSource = std::function<void(const TensorSpec& hf, uint64_t row, float* out)>;

// One tensor of the output file and how to make its rows.
struct PlannedTensor {
  TensorSpec spec;  // in the file's naming and shape
  DType dtype = DType::F32;
  std::function<void(uint64_t row, float* out)> row;
  bool sequential = false;  // rows must be asked for in order (a row function with a cache)
  uint64_t rows() const { return spec.n_elements() / spec.shape.back(); }
  uint64_t cols() const { return spec.shape.back(); }
  uint64_t bytes() const;
};

struct PlanOptions {
  ModelConfig config;
  WeightType weights;
  FileKind format = FileKind::kGguf;
  bool legacy_kv_b = false;  // GGUF DeepSeek: one attn_kv_b
  bool include_mtp = true;
};

// The tensors of the file, in expected_tensors() order, made from the HF rows of `source`.
std::vector<PlannedTensor> plan_tensors(const PlanOptions& o, HfRowSource source);

// Quality of one encoded tensor: sums over its elements of x² and (x - decode(encode(x)))².
struct EncodeStats {
  double sum_sq = 0;
  double err_sq = 0;
  double relative_rms() const { return sum_sq > 0 ? std::sqrt(err_sq / sum_sq) : 0.0; }
};

// Makes, encodes and hands to `write` every row of `t` in chunks of a bounded buffer (32 MiB),
// quantizing on all cores. FP8 (safetensors) returns the block scales, to be written after the
// data; other types return nothing. `stats` (optional) collects the encoding error.
using WriteFn = std::function<void(const void* data, uint64_t nbytes)>;
std::vector<float> stream_tensor(const PlannedTensor& t, const WriteFn& write, Progress& progress,
                                 uint64_t& done, EncodeStats* stats = nullptr);

// Writes a GGUF model (one file, or `split_count` split files) with the metadata `kvs` and the
// tensors of `plan`, streaming. Returns the paths written. `stats` (optional) gets one entry per
// tensor of the plan.
std::vector<std::string> write_gguf_model(
    const std::string& out, const std::vector<std::pair<std::string, gguf::Value>>& kvs,
    const std::vector<PlannedTensor>& plan, uint32_t split_count, bool progress,
    std::vector<EncodeStats>* stats = nullptr);

}  // namespace r1
