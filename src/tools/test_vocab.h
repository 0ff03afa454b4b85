// A small, real byte-level BPE vocabulary for generated test models: 256 byte tokens, merges
// learned from a built-in English text, the family's special tokens, and its chat template.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "formats/gguf.h"
#include "model/config.h"

namespace r1 {

struct TestVocab {
  std::vector<std::string> tokens;  // byte-level strings (GPT-2 byte map)
  std::vector<int32_t> types;  // GGUF token types: 1 normal, 3 control, 4 user-defined, 5 unused
  std::vector<std::string> merges;  // "a b", in rank order
  int64_t n_tokenizer = 0;          // tokens the tokenizer knows (every row, fillers included)
  int64_t bos = 0, eos = 0, pad = 0;
  std::string pre;            // GGUF tokenizer.ggml.pre
  std::string chat_template;  // Jinja text
};

// The number of tokens (bytes + merges + specials) a tiny vocabulary of this family uses.
int64_t test_vocab_min_size(Arch arch);
// Builds a vocabulary of exactly `vocab_size` rows for `arch` (merges fill what the built-in
// text allows, then the specials; ordinary filler words, which no merge makes, fill the rest).
TestVocab make_test_vocab(Arch arch, int64_t vocab_size);

// GGUF tokenizer.* keys.
std::vector<std::pair<std::string, gguf::Value>> test_vocab_gguf_kvs(const TestVocab& v);
// Hugging Face tokenizer.json and tokenizer_config.json.
nlohmann::json test_vocab_tokenizer_json(const TestVocab& v);
nlohmann::json test_vocab_tokenizer_config(const TestVocab& v);

}  // namespace r1
