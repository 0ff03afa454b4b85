#include "core/dtype.h"

#include <array>
#include <cctype>

#include "core/check.h"
#include "core/checked_math.h"

namespace r1 {

namespace {
constexpr std::array<DTypeTraits, static_cast<size_t>(DType::kCount)> kTraits = {{
    {"F32", 1, 4, 0, "F32", true},
    {"F16", 1, 2, 1, "F16", true},
    {"BF16", 1, 2, 30, "BF16", true},
    {"F64", 1, 8, 28, "F64", true},
    {"I8", 1, 1, 24, "I8", false},
    {"I16", 1, 2, 25, "I16", false},
    {"I32", 1, 4, 26, "I32", false},
    {"I64", 1, 8, 27, "I64", false},
    {"U8", 1, 1, -1, "U8", false},
    {"F8_E4M3", 1, 1, -1, "F8_E4M3", true},
    {"Q8_0", 32, 34, 8, nullptr, true},
    {"Q4_0", 32, 18, 2, nullptr, true},
    {"Q2_K", 256, 84, 10, nullptr, true},
    {"Q3_K", 256, 110, 11, nullptr, true},
    {"Q4_K", 256, 144, 12, nullptr, true},
    {"Q5_K", 256, 176, 13, nullptr, true},
    {"Q6_K", 256, 210, 14, nullptr, true},
}};

bool iequal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  return true;
}
}  // namespace

const DTypeTraits& dtype_traits(DType t) {
  auto i = static_cast<size_t>(t);
  R1_CHECK(i < kTraits.size());
  return kTraits[i];
}

std::optional<uint64_t> dtype_row_bytes(DType t, uint64_t n) {
  const auto& tr = dtype_traits(t);
  if (n % tr.block_elems != 0) return std::nullopt;
  return checked_mul(n / tr.block_elems, tr.block_bytes);
}

std::optional<DType> dtype_from_ggml(uint32_t id) {
  for (size_t i = 0; i < kTraits.size(); ++i)
    if (kTraits[i].ggml_id >= 0 && static_cast<uint32_t>(kTraits[i].ggml_id) == id)
      return static_cast<DType>(i);
  return std::nullopt;
}

std::optional<DType> dtype_from_safetensors(std::string_view s) {
  for (size_t i = 0; i < kTraits.size(); ++i)
    if (kTraits[i].st_name != nullptr && s == kTraits[i].st_name) return static_cast<DType>(i);
  return std::nullopt;
}

std::optional<DType> dtype_from_name(std::string_view s) {
  if (iequal(s, "fp8") || iequal(s, "f8") || iequal(s, "fp8_e4m3")) return DType::F8_E4M3;
  for (size_t i = 0; i < kTraits.size(); ++i)
    if (iequal(s, kTraits[i].name)) return static_cast<DType>(i);
  return std::nullopt;
}

}  // namespace r1
