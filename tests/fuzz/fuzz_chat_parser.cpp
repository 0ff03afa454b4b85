// Fuzzes the reasoning/tool-call parser: any bytes, any split. The result must not depend on
// how the text is split.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "chat/reasoning_parser.h"

using r1::chat::ParsedResponse;
using r1::chat::ParserOptions;
using r1::chat::ReasoningParser;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  ParserOptions o;
  o.starts_in_reasoning = data[0] & 1;
  o.parse_tool_calls = data[0] & 2;
  const size_t step = 1 + data[1] % 16;
  const std::string_view text(reinterpret_cast<const char*>(data + 2), size - 2);

  const ParsedResponse whole = r1::chat::parse_response(text, o);
  ReasoningParser p(o);
  ParsedResponse split;
  for (size_t i = 0; i < text.size(); i += step) split.add(p.feed(text.substr(i, step)));
  split.add(p.finish());
  split.reasoning_closed = p.reasoning_closed();
  if (!(split == whole)) {
    std::fprintf(stderr, "split-dependent result (step %zu)\n", step);
    std::abort();
  }
  return 0;
}
