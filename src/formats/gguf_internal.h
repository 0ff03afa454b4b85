// Shared by the GGUF reader and writers (not part of the public API).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "formats/gguf.h"

namespace r1::gguf::detail {

inline constexpr uint64_t kHeaderBytes = 24;  // magic, version, tensor_count, kv_count
// The smallest possible records: a KV with a 1-byte key and a 1-byte value, a tensor info with a
// 1-byte name and one dimension.
inline constexpr uint64_t kMinKvBytes = 8 + 1 + 4 + 1;
inline constexpr uint64_t kMinTensorInfoBytes = 8 + 1 + 4 + 8 + 4 + 8;

inline bool is_known_value_type(uint32_t t) {
  return t <= static_cast<uint32_t>(ValueType::F64);
}

// Bytes a value of this type takes at the least (strings: the length; arrays: type + count).
inline uint64_t min_value_bytes(ValueType t) {
  switch (t) {
    case ValueType::U8:
    case ValueType::I8:
    case ValueType::BOOL:
      return 1;
    case ValueType::U16:
    case ValueType::I16:
      return 2;
    case ValueType::U32:
    case ValueType::I32:
    case ValueType::F32:
      return 4;
    case ValueType::U64:
    case ValueType::I64:
    case ValueType::F64:
    case ValueType::STRING:
      return 8;
    case ValueType::ARRAY:
      return 12;
  }
  return 1;
}

// Offset of the first byte that breaks UTF-8 (overlong forms, surrogates and code points past
// U+10FFFF count as broken); nullopt when `s` is valid.
std::optional<size_t> utf8_error(std::string_view s);

// Checks of keys and tensor names shared by reader and writers: nullopt when fine, else a
// message; `bad_at` receives the offset of the offending byte within `s` (npos for errors of
// the whole string: empty, too long).
std::optional<std::string> key_problem(std::string_view s, size_t* bad_at);
std::optional<std::string> tensor_name_problem(std::string_view s, size_t* bad_at);

// Name of a ggml type id for messages ("Q4_1", "IQ2_XXS", ...); nullptr when unknown.
const char* ggml_type_name(uint32_t id);

// Checks a tensor declaration (n_dims, ne, row length vs. block size) and returns its byte size,
// or throws r1::Error naming the tensor.
uint64_t checked_tensor_bytes(const std::string& name, const std::vector<uint64_t>& ne,
                              DType dtype);

}  // namespace r1::gguf::detail
