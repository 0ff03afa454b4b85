// JSON plumbing for safetensors headers and index files: UTF-8 check, depth-capping pre-scan,
// nlohmann parse with duplicate-key detection.
#include <set>

#include "core/error.h"
#include "formats/safetensors.h"
#include "formats/safetensors_internal.h"

namespace r1::safetensors::detail {

size_t find_invalid_utf8(std::string_view s) {
  const auto* p = reinterpret_cast<const uint8_t*>(s.data());
  const size_t n = s.size();
  size_t i = 0;
  while (i < n) {
    const uint8_t c = p[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len;
    uint32_t cp, min;
    if ((c & 0xe0) == 0xc0) {
      len = 2, cp = c & 0x1fu, min = 0x80;
    } else if ((c & 0xf0) == 0xe0) {
      len = 3, cp = c & 0x0fu, min = 0x800;
    } else if ((c & 0xf8) == 0xf0) {
      len = 4, cp = c & 0x07u, min = 0x10000;
    } else {
      return i;  // continuation byte without a lead, or 0xf8..0xff
    }
    if (n - i < len) return i;
    for (size_t k = 1; k < len; ++k) {
      const uint8_t d = p[i + k];
      if ((d & 0xc0) != 0x80) return i;
      cp = (cp << 6) | (d & 0x3fu);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
    i += len;
  }
  return kNoError;
}

std::string quote(std::string_view name) {
  constexpr size_t kMaxShown = 200;
  std::string out = "'";
  for (size_t i = 0; i < name.size() && i < kMaxShown; ++i) {
    const auto c = static_cast<unsigned char>(name[i]);
    if (c < 0x20 || c == 0x7f) {
      static const char* hex = "0123456789abcdef";
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  if (name.size() > kMaxShown) out += "...";
  out += "'";
  return out;
}

uint64_t JsonDoc::offset_of(const std::string& key, uint64_t fallback) const {
  if (top_keys.size() != top_key_offsets.size()) return fallback;
  for (size_t i = 0; i < top_keys.size(); ++i)
    if (top_keys[i] == key) return top_key_offsets[i];
  return fallback;
}

namespace {

// One pass over the bytes outside strings: caps the nesting depth before any recursive or
// allocating work happens, and records where each top-level key starts. It does not validate
// the syntax (nlohmann does that afterwards), so on malformed input the key list may be wrong;
// it is only used once the parse succeeded.
std::vector<uint64_t> prescan(std::string_view text, const std::string& file, uint64_t base,
                              const std::string& what) {
  std::vector<uint64_t> keys;
  int depth = 0;
  bool in_string = false, escaped = false, expect_key = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    // nlohmann's lexer takes a NUL byte for the end of input and would ignore what follows;
    // JSON allows none anyway (inside strings control characters must be escaped).
    if (c == '\0') throw FormatError(file, what + ".json", base + i, "NUL byte in JSON text");
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    switch (c) {
      case '"':
        in_string = true;
        if (depth == 1 && expect_key) keys.push_back(base + i);
        expect_key = false;
        break;
      case '{':
      case '[':
        if (++depth > kMaxJsonDepth)
          throw FormatError(file, what + ".depth", base + i,
                            "JSON nested deeper than " + std::to_string(kMaxJsonDepth) + " levels");
        expect_key = (c == '{' && depth == 1);
        break;
      case '}':
      case ']':
        if (depth > 0) --depth;
        expect_key = false;
        break;
      case ',':
        expect_key = (depth == 1);
        break;
      default:
        break;
    }
  }
  return keys;
}

std::string strip_nlohmann_prefix(const std::string& msg) {
  // "[json.exception.parse_error.101] parse error at ..." -> "parse error at ..."
  if (!msg.empty() && msg[0] == '[') {
    size_t close = msg.find("] ");
    if (close != std::string::npos) return msg.substr(close + 2);
  }
  return msg;
}

}  // namespace

JsonDoc parse_json(std::string_view text, const std::string& file, uint64_t base,
                   const std::string& what) {
  const size_t bad = find_invalid_utf8(text);
  if (bad != kNoError)
    throw FormatError(file, what + ".utf8", base + bad, "invalid UTF-8 in JSON text");

  JsonDoc doc;
  std::vector<uint64_t> key_offsets = prescan(text, file, base, what);

  // Keys of every open object, innermost last, to catch repeats (nlohmann keeps the last one).
  std::vector<std::set<std::string>> open;
  auto callback = [&](int depth, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
    using E = nlohmann::json::parse_event_t;
    switch (event) {
      case E::object_start:
        open.emplace_back();
        break;
      case E::object_end:
        if (!open.empty()) open.pop_back();
        break;
      case E::key: {
        const std::string* k = parsed.get_ptr<const std::string*>();
        if (k == nullptr) break;
        if (depth == 1) doc.top_keys.push_back(*k);
        if (!open.empty() && !open.back().insert(*k).second && !doc.has_duplicate) {
          doc.has_duplicate = true;
          doc.duplicate.depth = depth;
          doc.duplicate.key = *k;
          const size_t ordinal = doc.top_keys.empty() ? 0 : doc.top_keys.size() - 1;
          doc.duplicate.top_key = doc.top_keys.empty() ? std::string() : doc.top_keys.back();
          doc.duplicate.top_offset = ordinal < key_offsets.size() ? key_offsets[ordinal] : base;
        }
        break;
      }
      default:
        break;
    }
    return true;
  };

  try {
    doc.value = nlohmann::json::parse(text.data(), text.data() + text.size(), callback,
                                      /*allow_exceptions=*/true, /*ignore_comments=*/false);
  } catch (const nlohmann::json::parse_error& e) {
    const uint64_t at = e.byte > 0 ? e.byte - 1 : 0;
    throw FormatError(file, what + ".json", base + std::min<uint64_t>(at, text.size()),
                      "invalid JSON: " + strip_nlohmann_prefix(e.what()));
  } catch (const nlohmann::json::exception& e) {
    throw FormatError(file, what + ".json", base,
                      "invalid JSON: " + strip_nlohmann_prefix(e.what()));
  }
  doc.top_key_offsets = std::move(key_offsets);
  return doc;
}

}  // namespace r1::safetensors::detail
