// GGUF values, names and helpers shared by the reader (gguf_reader.cpp) and writers
// (gguf_writer.cpp).
#include "formats/gguf.h"

#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <limits>

#include "core/checked_math.h"
#include "core/error.h"
#include "formats/gguf_internal.h"

namespace r1::gguf {

const char* value_type_name(ValueType t) {
  switch (t) {
    case ValueType::U8:
      return "u8";
    case ValueType::I8:
      return "i8";
    case ValueType::U16:
      return "u16";
    case ValueType::I16:
      return "i16";
    case ValueType::U32:
      return "u32";
    case ValueType::I32:
      return "i32";
    case ValueType::F32:
      return "f32";
    case ValueType::BOOL:
      return "bool";
    case ValueType::STRING:
      return "string";
    case ValueType::ARRAY:
      return "array";
    case ValueType::U64:
      return "u64";
    case ValueType::I64:
      return "i64";
    case ValueType::F64:
      return "f64";
  }
  return "unknown";
}

Value Value::str_array(const std::vector<std::string>& xs) {
  std::vector<Value> items;
  items.reserve(xs.size());
  for (const auto& x : xs) items.push_back(Value::str(x));
  return array(ValueType::STRING, std::move(items));
}

Value Value::i32_array(const std::vector<int32_t>& xs) {
  std::vector<Value> items;
  items.reserve(xs.size());
  for (int32_t x : xs) items.push_back(Value::i32(x));
  return array(ValueType::I32, std::move(items));
}

Value Value::f32_array(const std::vector<float>& xs) {
  std::vector<Value> items;
  items.reserve(xs.size());
  for (float x : xs) items.push_back(Value::f32(x));
  return array(ValueType::F32, std::move(items));
}

namespace {
bool is_int_type(ValueType t) {
  switch (t) {
    case ValueType::U8:
    case ValueType::I8:
    case ValueType::U16:
    case ValueType::I16:
    case ValueType::U32:
    case ValueType::I32:
    case ValueType::U64:
    case ValueType::I64:
      return true;
    default:
      return false;
  }
}
}  // namespace

std::optional<uint64_t> Value::as_uint() const {
  if (!is_int_type(type)) return std::nullopt;
  if (const auto* u = std::get_if<uint64_t>(&v)) return *u;
  if (const auto* i = std::get_if<int64_t>(&v))
    if (*i >= 0) return static_cast<uint64_t>(*i);
  return std::nullopt;
}

std::optional<int64_t> Value::as_int() const {
  if (!is_int_type(type)) return std::nullopt;
  if (const auto* i = std::get_if<int64_t>(&v)) return *i;
  if (const auto* u = std::get_if<uint64_t>(&v))
    if (*u <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      return static_cast<int64_t>(*u);
  return std::nullopt;
}

std::optional<double> Value::as_float() const {
  if (type == ValueType::F32 || type == ValueType::F64) {
    if (const auto* d = std::get_if<double>(&v)) return *d;
    return std::nullopt;
  }
  if (!is_int_type(type)) return std::nullopt;
  if (const auto* u = std::get_if<uint64_t>(&v)) return static_cast<double>(*u);
  if (const auto* i = std::get_if<int64_t>(&v)) return static_cast<double>(*i);
  return std::nullopt;
}

std::optional<bool> Value::as_bool() const {
  if (type != ValueType::BOOL) return std::nullopt;
  if (const auto* b = std::get_if<bool>(&v)) return *b;
  return std::nullopt;
}

const std::string* Value::as_string() const {
  return type == ValueType::STRING ? std::get_if<std::string>(&v) : nullptr;
}

const Array* Value::as_array() const {
  return type == ValueType::ARRAY ? std::get_if<Array>(&v) : nullptr;
}

bool Value::operator==(const Value& o) const {
  if (type != o.type || v.index() != o.v.index()) return false;
  if (const auto* d = std::get_if<double>(&v)) {
    double e = std::get<double>(o.v);
    return std::memcmp(d, &e, sizeof e) == 0;
  }
  if (const auto* a = std::get_if<Array>(&v)) {
    const Array& b = std::get<Array>(o.v);
    return a->elem_type == b.elem_type && a->items == b.items;
  }
  if (const auto* s = std::get_if<std::string>(&v)) return *s == std::get<std::string>(o.v);
  if (const auto* u = std::get_if<uint64_t>(&v)) return *u == std::get<uint64_t>(o.v);
  if (const auto* i = std::get_if<int64_t>(&v)) return *i == std::get<int64_t>(o.v);
  return std::get<bool>(v) == std::get<bool>(o.v);
}

uint64_t TensorInfo::n_elements() const {
  uint64_t n = 1;
  for (uint64_t d : ne) {
    auto m = checked_mul(n, d);
    if (!m) return std::numeric_limits<uint64_t>::max();  // never for a loaded tensor
    n = *m;
  }
  return n;
}

std::string split_path(const std::string& stem, uint32_t index, uint32_t count) {
  if (count == 0 || count > 65535 || index == 0 || index > count)
    throw Error("gguf::split_path: split " + std::to_string(index) + " of " +
                std::to_string(count) + " is out of range (1 <= index <= count <= 65535)");
  char buf[32];
  std::snprintf(buf, sizeof buf, "-%05" PRIu32 "-of-%05" PRIu32 ".gguf", index, count);
  return stem + buf;
}

std::optional<SplitName> parse_split_path(const std::string& path) {
  // "-NNNNN-of-MMMMM.gguf" is 20 characters.
  constexpr size_t kSuffix = 20;
  if (path.size() < kSuffix) return std::nullopt;
  std::string_view s(path);
  std::string_view tail = s.substr(s.size() - kSuffix);
  auto digits = [](std::string_view d, uint32_t* out) {
    uint32_t v = 0;
    for (char c : d) {
      if (c < '0' || c > '9') return false;
      v = v * 10 + static_cast<uint32_t>(c - '0');
    }
    *out = v;
    return true;
  };
  SplitName n;
  if (tail[0] != '-' || tail.substr(6, 4) != "-of-" || tail.substr(15) != ".gguf")
    return std::nullopt;
  if (!digits(tail.substr(1, 5), &n.index) || !digits(tail.substr(10, 5), &n.count))
    return std::nullopt;
  if (n.index == 0 || n.count == 0 || n.index > n.count || n.count > 65535) return std::nullopt;
  n.stem = std::string(s.substr(0, s.size() - kSuffix));
  return n;
}

namespace detail {

std::optional<size_t> utf8_error(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  size_t n = s.size(), i = 0;
  while (i < n) {
    unsigned char c = p[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len;
    uint32_t cp;
    if (c >= 0xc2 && c <= 0xdf) {
      len = 2;
      cp = c & 0x1fu;
    } else if (c >= 0xe0 && c <= 0xef) {
      len = 3;
      cp = c & 0x0fu;
    } else if (c >= 0xf0 && c <= 0xf4) {
      len = 4;
      cp = c & 0x07u;
    } else {
      return i;  // continuation byte, overlong lead (c0, c1) or f5..ff
    }
    if (n - i < len) return i;
    for (size_t k = 1; k < len; ++k) {
      unsigned char cc = p[i + k];
      if ((cc & 0xc0u) != 0x80u) return i + k;
      cp = (cp << 6) | (cc & 0x3fu);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
        (cp >= 0xd800 && cp <= 0xdfff))
      return i;
    i += len;
  }
  return std::nullopt;
}

namespace {
std::optional<std::string> name_problem(std::string_view s, size_t* bad_at, uint64_t max,
                                        const char* what) {
  *bad_at = std::string_view::npos;
  if (s.empty()) return std::string("empty ") + what;
  if (s.size() > max)
    return std::string(what) + " is " + std::to_string(s.size()) + " bytes long (at most " +
           std::to_string(max) + ")";
  if (auto bad = utf8_error(s)) {
    *bad_at = *bad;
    return std::string(what) + " is not valid UTF-8 (byte " + std::to_string(*bad) + ")";
  }
  if (auto z = s.find('\0'); z != std::string_view::npos) {
    *bad_at = z;
    return std::string(what) + " contains a NUL byte (byte " + std::to_string(z) + ")";
  }
  return std::nullopt;
}
}  // namespace

std::optional<std::string> key_problem(std::string_view s, size_t* bad_at) {
  return name_problem(s, bad_at, kMaxKeyBytes, "key");
}

std::optional<std::string> tensor_name_problem(std::string_view s, size_t* bad_at) {
  return name_problem(s, bad_at, kMaxTensorNameBytes, "tensor name");
}

const char* ggml_type_name(uint32_t id) {
  static const char* const kNames[] = {
      "F32",   "F16",        "Q4_0",       "Q4_1",       "Q4_2",     "Q4_3",     "Q5_0",
      "Q5_1",  "Q8_0",       "Q8_1",       "Q2_K",       "Q3_K",     "Q4_K",     "Q5_K",
      "Q6_K",  "Q8_K",       "IQ2_XXS",    "IQ2_XS",     "IQ3_XXS",  "IQ1_S",    "IQ4_NL",
      "IQ3_S", "IQ2_S",      "IQ4_XS",     "I8",         "I16",      "I32",      "I64",
      "F64",   "IQ1_M",      "BF16",       "Q4_0_4_4",   "Q4_0_4_8", "Q4_0_8_8", "TQ1_0",
      "TQ2_0", "IQ4_NL_4_4", "IQ4_NL_4_8", "IQ4_NL_8_8", "MXFP4",
  };
  return id < sizeof kNames / sizeof kNames[0] ? kNames[id] : nullptr;
}

uint64_t checked_tensor_bytes(const std::string& name, const std::vector<uint64_t>& ne,
                              DType dtype) {
  size_t bad;
  if (auto why = tensor_name_problem(name, &bad))
    throw Error("gguf: tensor '" + name + "': " + *why);
  const std::string who = "gguf: tensor '" + name + "': ";
  if (dtype_traits(dtype).ggml_id < 0)
    throw Error(who + "dtype " + dtype_name(dtype) + " cannot be stored in GGUF");
  if (ne.empty() || ne.size() > kMaxDims)
    throw Error(who + std::to_string(ne.size()) + " dimensions (must be 1.." +
                std::to_string(kMaxDims) + ")");
  uint64_t n = 1;
  for (size_t i = 0; i < ne.size(); ++i) {
    if (ne[i] == 0)
      throw Error(who + "ne[" + std::to_string(i) + "] is 0 (empty tensors are not supported)");
    auto m = checked_mul(n, ne[i]);
    if (!m || *m > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      throw Error(who + "element count overflows int64");
    n = *m;
  }
  auto row = dtype_row_bytes(dtype, ne[0]);
  if (!row && ne[0] % dtype_traits(dtype).block_elems == 0)
    throw Error(who + "byte size overflows");
  if (!row)
    throw Error(who + "row length ne[0]=" + std::to_string(ne[0]) + " is not a multiple of the " +
                dtype_name(dtype) + " block size " +
                std::to_string(dtype_traits(dtype).block_elems));
  auto bytes = checked_mul(*row, n / ne[0]);
  if (!bytes) throw Error(who + "byte size overflows");
  return *bytes;
}

}  // namespace detail
}  // namespace r1::gguf
