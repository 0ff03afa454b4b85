// ModelConfig <-> GGUF metadata with llama.cpp's keys (deepseek2.*, qwen2.*, llama.*).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "formats/gguf.h"
#include "model/config.h"

namespace r1 {

// Reads and validates the configuration of a GGUF model. Throws r1::Error naming the key.
ModelConfig config_from_gguf(const gguf::File& f);

// The architecture keys of `c` in llama.cpp's naming (general.architecture first). `legacy_mla`
// writes the old MLA head sizes (key_length 192, value_length 128) that go with attn_kv_b.
std::vector<std::pair<std::string, gguf::Value>> gguf_config_kvs(const ModelConfig& c,
                                                                 bool legacy_mla = false);

}  // namespace r1
