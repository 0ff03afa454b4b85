#include "model/weight_types.h"

#include "core/error.h"

namespace r1 {

std::string WeightType::name() const {
  return q4_k_m ? "Q4_K_M" : dtype_name(base);
}

uint32_t WeightType::llama_file_type() const {
  if (q4_k_m) return 15;
  switch (base) {
    case DType::F32:
      return 0;
    case DType::F16:
      return 1;
    case DType::Q4_0:
      return 2;
    case DType::Q8_0:
      return 7;
    case DType::Q4_K:
      return 14;
    case DType::Q5_K:
      return 16;
    case DType::Q6_K:
      return 18;
    case DType::BF16:
      return 32;
    default:
      return 1024;
  }
}

WeightType parse_weight_type(const std::string& s) {
  WeightType w;
  if (s == "Q4_K_M" || s == "q4_k_m") {
    w.base = DType::Q4_K;
    w.q4_k_m = true;
    return w;
  }
  auto d = dtype_from_name(s);
  constexpr DType kAllowed[] = {DType::F32,  DType::F16,  DType::BF16, DType::F8_E4M3, DType::Q8_0,
                                DType::Q4_0, DType::Q4_K, DType::Q5_K, DType::Q6_K};
  bool ok = false;
  for (DType a : kAllowed) ok = ok || (d && *d == a);
  if (!ok)
    throw Error("unknown weight type '" + s +
                "' (choose F32, F16, BF16, FP8, Q8_0, Q4_0, Q4_K, Q5_K, Q6_K or Q4_K_M)");
  w.base = *d;
  return w;
}

namespace {

// llama.cpp-style "use more bits" layers: the first and last eighth, and every third between.
bool more_bits_layer(int64_t layer, int64_t n_layers) {
  if (layer < 0 || n_layers <= 0) return false;
  return layer < n_layers / 8 || layer >= 7 * n_layers / 8 || (layer - n_layers / 8) % 3 == 2;
}

bool fits(DType t, uint64_t row) {
  return row % dtype_traits(t).block_elems == 0;
}

DType with_fallback(DType t, uint64_t row) {
  if (fits(t, row)) return t;
  if (dtype_is_quantized(t) && fits(DType::Q8_0, row)) return DType::Q8_0;
  return DType::F16;
}

}  // namespace

DType tensor_type(const TensorSpec& spec, const WeightType& wt, FileKind kind, int64_t n_layers) {
  const bool gguf = kind == FileKind::kGguf;
  // Vectors: norms, biases, frequency factors.
  if (spec.shape.size() == 1) {
    if (gguf || spec.role == TensorRole::kBias) return DType::F32;
    return wt.base == DType::F32 ? DType::F32 : DType::BF16;
  }
  if (!gguf) {
    if (wt.base == DType::F8_E4M3) {
      // As published: projections in FP8 with block scales; embeddings, head, router in BF16.
      const bool fp8 = spec.role != TensorRole::kEmbedding && spec.role != TensorRole::kOutput &&
                       spec.role != TensorRole::kRouter;
      return fp8 ? DType::F8_E4M3 : DType::BF16;
    }
    if (dtype_is_quantized(wt.base))
      throw Error(std::string("safetensors cannot hold ") + dtype_name(wt.base) +
                  " (choose F32, F16, BF16 or FP8)");
    return wt.base;
  }
  if (wt.base == DType::F8_E4M3)
    throw Error(
        "GGUF cannot hold FP8 weights (choose F32, F16, BF16, Q8_0, Q4_K, Q6_K, Q4_K_M, ...)");
  if (spec.role == TensorRole::kRouter) return DType::F32;  // small and decisive: kept exact
  const uint64_t row = spec.shape.back();
  DType t = wt.base;
  if (wt.q4_k_m) {
    const bool sensitive =
        spec.role == TensorRole::kEmbedding || spec.role == TensorRole::kOutput ||
        spec.role == TensorRole::kAttnOutput ||
        ((spec.role == TensorRole::kFfnDown || spec.role == TensorRole::kExpertDown) &&
         more_bits_layer(spec.layer, n_layers)) ||
        (spec.role == TensorRole::kAttnKV && spec.name.find("v") != std::string::npos &&
         spec.name.find("kv_a") == std::string::npos);
    t = sensitive ? DType::Q6_K : DType::Q4_K;
  }
  return with_fallback(t, row);
}

}  // namespace r1
