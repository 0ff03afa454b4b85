// Helpers shared by the safetensors reader, checkpoint loader and writer (not a public API).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace r1::safetensors::detail {

inline constexpr size_t kNoError = static_cast<size_t>(-1);

// Position of the first byte that does not start a well-formed UTF-8 sequence (RFC 3629: no
// overlong forms, no surrogates, nothing above U+10FFFF), or kNoError.
size_t find_invalid_utf8(std::string_view s);

// A key seen twice in one JSON object.
struct DuplicateKey {
  int depth = 0;            // 1: top-level key; 2: key inside a top-level value; ...
  std::string key;          // the repeated key (decoded)
  std::string top_key;      // the top-level key it sits under (== key when depth == 1)
  uint64_t top_offset = 0;  // file offset of that top-level key
};

struct JsonDoc {
  nlohmann::json value;
  std::vector<std::string> top_keys;      // top-level keys in document order (decoded)
  std::vector<uint64_t> top_key_offsets;  // file offset of each top-level key (its opening quote)
  bool has_duplicate = false;
  DuplicateKey duplicate;  // the first one, when has_duplicate

  // File offset of top-level key `key`, or `fallback` when unknown.
  uint64_t offset_of(const std::string& key, uint64_t fallback) const;
};

// Parses `text` (which lies at file offset `base` in `file`) as JSON after checking UTF-8 and
// capping nesting depth with a non-recursive pre-scan. Syntax, UTF-8 and depth problems throw
// r1::FormatError with the field `what + ".json"`, `".utf8"` or `".depth"` and the byte offset
// where they occur. Duplicate keys do not throw here: they are reported in the result.
JsonDoc parse_json(std::string_view text, const std::string& file, uint64_t base,
                   const std::string& what);

// Quotes a name for messages and field paths: 'name', with control characters escaped and long
// names shortened.
std::string quote(std::string_view name);

}  // namespace r1::safetensors::detail
