// Pre-tokenization: a sequence of regex splits with "isolated" behaviour (each match becomes a
// piece and so does each gap between matches), applied stage by stage to every piece of the
// stage before. Regexes run on PCRE2 with UTF + UCP (Unicode properties) and JIT.
// Internal to the tokenizer library.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace r1::tok {

// A piece of the text: [begin, end) byte offsets.
struct Span {
  uint32_t begin, end;
};

// Translates a Hugging Face (Oniguruma / JavaScript) pre-tokenizer regex into PCRE2 syntax with
// the semantics of the reference implementation: `\s` / `\S` become explicit classes of the
// JavaScript white-space set, and the case-insensitive contraction group becomes ASCII-only.
std::string translate_hf_regex(std::string_view pattern);

class Regex {
 public:
  // `pattern` in PCRE2 syntax; throws r1::Error when it does not compile.
  explicit Regex(const std::string& pattern);
  ~Regex();
  Regex(Regex&&) noexcept;
  Regex& operator=(Regex&&) noexcept;
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // Appends the isolated split of text[span) to `out` (text must be valid UTF-8).
  void split(std::string_view text, Span span, std::vector<Span>& out) const;
  const std::string& pattern() const { return pattern_; }

 private:
  std::string pattern_;
  void* code_ = nullptr;  // pcre2_code_8*
  bool jit_ = false;
};

class PreTokenizer {
 public:
  PreTokenizer() = default;
  // One stage per pattern (each in Hugging Face syntax, translated with translate_hf_regex).
  static PreTokenizer from_hf_patterns(const std::vector<std::string>& patterns);

  // Splits valid UTF-8 text into pieces, in order, covering all of it.
  void split(std::string_view text, std::vector<Span>& out) const;
  size_t stages() const { return stages_.size(); }
  std::vector<std::string> patterns() const;

 private:
  std::vector<std::unique_ptr<Regex>> stages_;
};

// Known pre-tokenizers, by the name llama.cpp writes to tokenizer.ggml.pre.
struct KnownPreTokenizer {
  const char* family;                 // "deepseek-v3", "deepseek-llm", "qwen2", "llama3", "gpt2"
  std::vector<std::string> patterns;  // Hugging Face syntax
  bool ignore_merges;                 // Llama-3: a whole piece found in the vocabulary is kept
  bool nfc;                           // the Hugging Face tokenizer applies NFC first (Qwen2)
};
// nullptr when the name is unknown. An empty name means the GPT-2 default.
const KnownPreTokenizer* find_known_pre_tokenizer(std::string_view gguf_pre);
// The family whose patterns equal `patterns` exactly ("custom" if none).
std::string identify_pre_tokenizer(const std::vector<std::string>& patterns);
std::string known_pre_tokenizer_names();

}  // namespace r1::tok
