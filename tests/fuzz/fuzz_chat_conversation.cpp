// Fuzzes conversation reading and rendering: any JSON (or not) either renders with every
// family or throws r1::Error; nothing else may escape.
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "chat/template.h"
#include "core/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const nlohmann::json j =
      nlohmann::json::parse(data, data + size, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return 0;
  for (const char* family : {"deepseek-r1", "deepseek-r1-distill", "deepseek-v3", "deepseek-v2"}) {
    try {
      const r1::chat::ChatTemplate t = r1::chat::chat_template_by_name(family);
      (void)r1::chat::render(t, r1::chat::conversation_from_json(j));
    } catch (const r1::Error&) {
    }
  }
  return 0;
}
