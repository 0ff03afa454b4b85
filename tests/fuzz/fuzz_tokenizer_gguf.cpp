// libFuzzer target: Tokenizer::from_gguf on arbitrary GGUF bytes. Any input must either load or
// throw r1::Error; a loaded tokenizer must encode and decode without undefined behaviour.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/error.h"
#include "formats/gguf.h"
#include "tokenizer/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto mf = r1::MappedFile::from_bytes("fuzz.gguf", std::vector<uint8_t>(data, data + size));
  try {
    r1::gguf::File file = r1::gguf::File::parse(mf);
    r1::Tokenizer tok = r1::Tokenizer::from_gguf(file);
    std::vector<int32_t> ids;
    try {
      ids = tok.encode("Hello world <think>12345</think> \xE4\xBD\xA0\xFF\n\n", true);
    } catch (const r1::Error&) {
      // e.g. a vocabulary without byte tokens
    }
    for (size_t i = 0; i < tok.vocab_size() && i < 300; ++i) ids.push_back(static_cast<int32_t>(i));
    r1::StreamingDecoder sd(tok);
    std::string s;
    for (int32_t id : ids) s += sd.push(id);
    s += sd.flush();
    if (s != tok.decode(ids)) __builtin_trap();
  } catch (const r1::Error&) {
  }
  return 0;
}
