// Byte-level BPE tokenizer of DeepSeek-V3/R1, DeepSeek-V2 (deepseek-llm), Qwen2 (R1-Distill-Qwen)
// and Llama-3 (R1-Distill-Llama), loaded from a Hugging Face tokenizer.json (+ the
// tokenizer_config.json beside it) or from a GGUF file's tokenizer.ggml.* metadata.
//
// Encoding follows the Hugging Face pipeline: added/special tokens are matched whole first
// (leftmost, longest), the text between them is normalized (NFC for Qwen2), split by the
// pre-tokenizer's regexes, mapped to the GPT-2 byte alphabet and merged by BPE rank.
// Input need not be valid UTF-8; it is read as the JavaScript string the reference would see:
// invalid bytes become U+FFFD (one per maximal invalid subpart, as TextDecoder does), and a
// 3-byte encoded UTF-16 surrogate (ED A0..BF xx, as WTF-8 writes a lone surrogate) is that lone
// surrogate: it splits like an unassigned character and is encoded as the bytes of U+FFFD (a
// high and a low surrogate written separately pair up into one character).
// Pre-tokenizer regexes use JavaScript's `\s` (it includes U+FEFF, not U+0085 or U+180E).
//
// A Tokenizer is immutable after loading (except set_added_token) and safe to use from several
// threads at once.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace r1::gguf {
class File;
}

namespace r1 {

enum class TokenKind : uint8_t {
  Normal,       // a BPE token (text in the byte alphabet)
  Byte,         // a <0xHH> byte token (GGUF token type BYTE)
  Control,      // a special token (HF special=true, GGUF CONTROL): matched whole, skippable
  UserDefined,  // an added token that is not special (e.g. R1's <think>): matched whole
  Unused,       // a padding slot with no text
  Unknown,      // the unknown token (GGUF UNKNOWN)
};

class Tokenizer {
 public:
  // `path` is a tokenizer.json file or a folder holding one; tokenizer_config.json beside it is
  // read when present (bos/eos, add_bos_token, chat_template). Throws r1::Error.
  static Tokenizer from_hf(const std::string& path);
  // The same from the two files' contents (config may be empty).
  static Tokenizer from_hf_json(std::string_view tokenizer_json, std::string_view config_json = {},
                                const std::string& name = "tokenizer.json");
  // From tokenizer.ggml.* metadata. Throws r1::Error naming the bad key or token.
  static Tokenizer from_gguf(const gguf::File& file);
  // A .gguf file, a tokenizer.json, or a folder holding tokenizer.json or one .gguf file.
  static Tokenizer from_path(const std::string& path);

  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;
  ~Tokenizer();

  // Token ids of `text`; add_bos prepends bos() (when there is one). With parse_special false,
  // all added token strings in the text (special or not, e.g. <｜User｜>, <think>) are tokenized
  // as plain text, so untrusted text cannot inject them (llama.cpp still matches the
  // non-special ones).
  std::vector<int32_t> encode(std::string_view text, bool add_bos, bool parse_special = true) const;

  // The text of `ids` as valid UTF-8 (byte sequences that are not UTF-8 become U+FFFD).
  // Throws r1::Error for an id out of range.
  std::string decode(std::span<const int32_t> ids, bool skip_special = false) const;
  // The raw bytes of `ids` (may end inside a UTF-8 character).
  std::string decode_bytes(std::span<const int32_t> ids, bool skip_special = false) const;

  // The token as written in the vocabulary (byte-level form for BPE tokens).
  const std::string& token_text(int32_t id) const;
  // The bytes the token stands for when decoded.
  const std::string& token_bytes(int32_t id) const;
  TokenKind token_kind(int32_t id) const;
  bool is_special(int32_t id) const { return token_kind(id) == TokenKind::Control; }
  // Id of a token given as written in the vocabulary (added tokens by their content).
  std::optional<int32_t> find(std::string_view token) const;

  int32_t bos() const;  // -1 when the vocabulary has none
  int32_t eos() const;  // -1 when the vocabulary has none
  // Whether prompts start with BOS (tokenizer_config add_bos_token / tokenizer.ggml.add_bos_token).
  bool add_bos() const;
  std::string bos_text() const;  // "" when there is no BOS
  std::string eos_text() const;
  size_t vocab_size() const;
  size_t merges_count() const;
  // The merges as "left right" (vocabulary spellings), lowest rank first (for writing GGUF).
  std::vector<std::string> merges() const;
  const std::string& chat_template() const;
  // Pre-tokenizer family: "deepseek-v3", "deepseek-llm", "qwen2", "llama3", "gpt2" or "custom".
  const std::string& pre_tokenizer() const;

  // Makes `id` an added token with `content` (matched whole in text, decoded verbatim).
  void set_added_token(int32_t id, std::string content, bool special);
  // DeepSeek-R1 = DeepSeek-V3's tokenizer files plus `<think>` (128798) and `</think>` (128799)
  // as added non-special tokens. If the vocabulary lacks `<think>` and has V3's placeholders in
  // those slots, turns them into the think tokens and returns true.
  bool apply_r1_think_tokens();

  struct Impl;

 private:
  explicit Tokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Incremental detokenizer: feed ids as they are generated; each call returns the text that is
// complete so far. Never returns part of a UTF-8 character; bytes split across tokens are joined;
// bytes that cannot become valid UTF-8 are emitted as U+FFFD at once. The concatenation of all
// push() results and flush() equals Tokenizer::decode of all ids.
class StreamingDecoder {
 public:
  explicit StreamingDecoder(const Tokenizer& tok, bool skip_special = false)
      : tok_(&tok), skip_special_(skip_special) {}
  std::string push(int32_t id);
  // Appends the text of raw bytes (as push does for a token's bytes).
  std::string push_bytes(std::string_view bytes);
  // Ends the stream: an incomplete character left over becomes U+FFFD.
  std::string flush();
  // Bytes held back waiting for the rest of a character (0..3).
  size_t pending() const { return pending_.size(); }

 private:
  const Tokenizer* tok_;
  bool skip_special_;
  std::string pending_;
};

// Appends the valid UTF-8 decoding of `bytes` to `out` (WHATWG replacement of invalid bytes).
void utf8_sanitize_append(std::string& out, std::string_view bytes);

}  // namespace r1
