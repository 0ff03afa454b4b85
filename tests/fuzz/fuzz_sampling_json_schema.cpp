// Fuzzes the JSON-schema compiler and the grammar matcher: the input is a schema (JSON text up
// to the first NUL byte) and a candidate answer (the rest). Compiling must either succeed or
// throw r1::Error; a compiled grammar must match or refuse the answer without crashing; and
// an answer the grammar accepts must parse as JSON.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string_view>

#include "core/error.h"
#include "sampling/json_schema.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const size_t nul = in.find('\0');
  const std::string_view schema_text = in.substr(0, nul);
  const std::string_view answer = nul == std::string_view::npos ? "" : in.substr(nul + 1);
  // The server refuses bodies nested deeper than 32; deep nesting only tests recursion limits.
  size_t opens = 0;
  for (char c : schema_text) opens += c == '[' || c == '{';
  if (opens > 256) return 0;
  const nlohmann::json schema = nlohmann::json::parse(schema_text, nullptr, false);
  if (schema.is_discarded()) return 0;
  std::shared_ptr<const r1::Grammar> g;
  try {
    g = r1::json_grammar::document_grammar(&schema);
    if (!g->matches(answer)) return 0;
  } catch (const r1::Error&) {
    return 0;
  }
  if (nlohmann::json::parse(answer, nullptr, false).is_discarded()) {
    std::fprintf(stderr, "the grammar accepted text that is not JSON\n");
    std::abort();
  }
  return 0;
}
