// Element and block types of tensor data, with their sizes and their names in GGUF and safetensors.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace r1 {

enum class DType : uint8_t {
  F32,
  F16,
  BF16,
  F64,
  I8,
  I16,
  I32,
  I64,
  U8,
  F8_E4M3,  // safetensors only; R1's FP8 weights (block scales live in a sibling tensor)
  Q8_0,
  Q4_0,
  Q2_K,
  Q3_K,
  Q4_K,
  Q5_K,
  Q6_K,
  kCount,
};

struct DTypeTraits {
  const char* name;      // "F32", "Q4_K", ...
  uint32_t block_elems;  // elements per block (1 for plain types)
  uint32_t block_bytes;  // bytes per block
  int32_t ggml_id;       // GGUF ggml_type id, -1 if GGUF cannot hold it
  const char* st_name;   // safetensors dtype string, nullptr if safetensors cannot hold it
  bool is_float;         // can be dequantized to f32 as model weights
};

const DTypeTraits& dtype_traits(DType t);
inline const char* dtype_name(DType t) {
  return dtype_traits(t).name;
}
inline bool dtype_is_quantized(DType t) {
  return dtype_traits(t).block_elems > 1;
}

// Bytes of a row of n elements; nullopt when n is not a multiple of the block size.
std::optional<uint64_t> dtype_row_bytes(DType t, uint64_t n);
// Bytes of n elements total (same rule, used for whole tensors laid out row by row).
inline std::optional<uint64_t> dtype_bytes(DType t, uint64_t n) {
  return dtype_row_bytes(t, n);
}

std::optional<DType> dtype_from_ggml(uint32_t ggml_id);
std::optional<DType> dtype_from_safetensors(std::string_view s);
// Case-insensitive name lookup ("q4_k", "F16", "fp8" -> F8_E4M3).
std::optional<DType> dtype_from_name(std::string_view s);

}  // namespace r1
