// libFuzzer target: Tokenizer::encode / decode / StreamingDecoder on arbitrary bytes, with the
// DeepSeek-V3 and the Qwen2 (NFC) pre-tokenizers over a small byte-level vocabulary.
// Checks: valid UTF-8 without lone surrogates round-trips (V3, no normalization); decode always
// returns valid UTF-8; streaming equals one-shot decoding; ids are in range.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "tokenizer/tokenizer.h"

namespace {

std::string utf8(uint32_t cp) {
  std::string s;
  if (cp < 0x80) {
    s.push_back(static_cast<char>(cp));
  } else {
    s.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
  return s;
}

std::string json_str(const std::string& s) {
  std::string o = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') o += '\\';
    o += c;
  }
  return o + "\"";
}

std::string tokenizer_json(const std::string& pre_tokenizer, const std::string& normalizer) {
  std::vector<std::string> vocab;
  int n = 0;
  for (int b = 0; b < 256; ++b) {
    bool self = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
    vocab.push_back(utf8(self ? static_cast<uint32_t>(b) : static_cast<uint32_t>(256 + n++)));
  }
  const std::string G = utf8(0x120);  // the byte-level space
  std::vector<std::pair<std::string, std::string>> merges = {
      {G, "t"},       {"h", "e"}, {G + "t", "he"}, {"l", "l"}, {"o", "r"}, {G, G},
      {G + G, G + G}, {"1", "2"}, {"12", "3"},     {"e", "r"}, {"i", "n"}, {"in", "g"}};
  std::string j = "{\"model\": {\"type\": \"BPE\", \"vocab\": {";
  for (size_t i = 0; i < vocab.size(); ++i)
    j += json_str(vocab[i]) + ": " + std::to_string(i) + ", ";
  size_t id = vocab.size();
  std::string m;
  for (const auto& [a, b] : merges) {
    j += json_str(a + b) + ": " + std::to_string(id++) + ", ";
    m += (m.empty() ? "" : ", ") + std::string("[") + json_str(a) + ", " + json_str(b) + "]";
  }
  j.resize(j.size() - 2);
  j += "}, \"merges\": [" + m + "]}, \"added_tokens\": [";
  const char* added[] = {"<s>", "<think>", "</think>", "<\xEF\xBD\x9CUser\xEF\xBD\x9C>"};
  for (int i = 0; i < 4; ++i)
    j += std::string(i ? ", " : "") + "{\"id\": " + std::to_string(id++) +
         ", \"content\": " + json_str(added[i]) + ", \"special\": " + (i == 0 ? "true" : "false") +
         "}";
  j += "], \"normalizer\": " + normalizer + ", \"pre_tokenizer\": " + pre_tokenizer + "}";
  return j;
}

const r1::Tokenizer& v3() {
  static const r1::Tokenizer t = r1::Tokenizer::from_hf_json(tokenizer_json(
      R"({"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": "\\p{N}{1,3}"}, "behavior": "Isolated", "invert": false},
        {"type": "Split", "pattern": {"Regex": "[\u4e00-\u9fa5\u3040-\u309f\u30a0-\u30ff]+"}, "behavior": "Isolated", "invert": false},
        {"type": "Split", "pattern": {"Regex": "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+"}, "behavior": "Isolated", "invert": false},
        {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false}]})",
      "null"));
  return t;
}

const r1::Tokenizer& qwen() {
  static const r1::Tokenizer t = r1::Tokenizer::from_hf_json(tokenizer_json(
      R"({"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"}, "behavior": "Isolated", "invert": false},
        {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": false}]})",
      R"({"type": "NFC"})"));
  return t;
}

bool valid_utf8_no_surrogates(std::string_view s) {
  std::string clean;
  r1::utf8_sanitize_append(clean, s);
  return clean == s;
}

void check(const r1::Tokenizer& tok, std::string_view text, bool must_round_trip) {
  std::vector<int32_t> ids = tok.encode(text, true);
  for (int32_t id : ids)
    if (id < 0 || static_cast<size_t>(id) >= tok.vocab_size()) std::abort();
  std::string dec = tok.decode(ids);
  if (!valid_utf8_no_surrogates(dec)) std::abort();
  r1::StreamingDecoder sd(tok);
  std::string streamed;
  for (int32_t id : ids) streamed += sd.push(id);
  streamed += sd.flush();
  if (streamed != dec) std::abort();
  if (must_round_trip && tok.decode(ids, /*skip_special=*/true) != text) std::abort();
  std::vector<int32_t> plain = tok.encode(text, false, /*parse_special=*/false);
  if (must_round_trip && tok.decode(plain) != text) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  bool valid = valid_utf8_no_surrogates(text);
  // "<s>" is the only special token: skip_special drops it, so text containing it is excluded.
  bool round_trip = valid && text.find("<s>") == std::string_view::npos;
  check(v3(), text, round_trip);
  check(qwen(), text, false);
  return 0;
}
