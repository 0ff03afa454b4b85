#include "tools/test_vocab.h"

#include <algorithm>
#include <map>
#include <set>

#include "chat/template.h"
#include "core/check.h"
#include "core/error.h"
#include "tokenizer/pretokenize.h"

namespace r1 {

namespace {

// Text the merges are learned from: plain English in the style of a reasoning model.
constexpr const char* kCorpus =
    "The user asks for the sum of two numbers. Let me think about this step by step. "
    "First, I will write down the numbers, then I will add them together, and finally I will "
    "check the answer. The answer is the total of the first number and the second number. "
    "When we reason about a problem, we should consider what is given and what is asked. "
    "In this case the question is simple, but the same method works for harder problems: "
    "break the problem into smaller parts, solve each part, and then combine the results. "
    "Wait, I should double check the calculation. Yes, that is correct. So the final answer "
    "is the number we found. Please reason step by step, and put your final answer within a box. "
    "A model that thinks before it answers can explain how it reached its conclusion, and that "
    "explanation helps the reader trust the result. The function returns the value of the "
    "expression, and the program prints it to the screen. For example, if the input is three "
    "and four, the output is seven. There are many ways to write this program in different "
    "languages, such as Python, C, and JavaScript. Each of them has its own style. "
    "Hello world! How are you today? I am fine, thank you. What is the weather like where you "
    "are? It is sunny and warm here, with a light wind from the west. "
    "def add(a, b):\n    return a + b\n\nint main() {\n  return 0;\n}\n"
    "Therefore, the answer is 42. However, we must also consider the case where the number is "
    "negative, because then the result changes. Let us verify: if x = 2 and y = 3, then x + y = 5 "
    "and x * y = 6. The reasoning above shows that the formula holds for these values, and by "
    "induction it holds for all natural numbers. This completes the proof.";

// GPT-2 byte-to-unicode map: printable bytes map to themselves, the rest to U+0100 onwards.
std::vector<std::string> byte_tokens() {
  std::vector<std::string> out(256);
  int extra = 0;
  for (int b = 0; b < 256; ++b) {
    const bool printable =
        (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
    const uint32_t cp =
        printable ? static_cast<uint32_t>(b) : 256u + static_cast<uint32_t>(extra++);
    std::string s;
    if (cp < 0x80) {
      s += static_cast<char>(cp);
    } else {
      s += static_cast<char>(0xC0 | (cp >> 6));
      s += static_cast<char>(0x80 | (cp & 0x3F));
    }
    out[b] = s;
  }
  return out;
}

// Splits ASCII text into pre-tokens: an optional space followed by a letter run, a digit, a
// punctuation run, or whitespace.
std::vector<std::string> pre_split(const std::string& text) {
  std::vector<std::string> words;
  size_t i = 0;
  auto cls = [](char c) {
    if (std::isalpha(static_cast<unsigned char>(c))) return 0;
    if (std::isdigit(static_cast<unsigned char>(c))) return 1;
    if (std::isspace(static_cast<unsigned char>(c))) return 2;
    return 3;
  };
  while (i < text.size()) {
    size_t j = i;
    if (text[j] == ' ' && j + 1 < text.size() && cls(text[j + 1]) != 2) ++j;
    const int k = cls(text[j]);
    ++j;
    if (k != 1)
      while (j < text.size() && cls(text[j]) == k) ++j;
    words.push_back(text.substr(i, j - i));
    i = j;
  }
  return words;
}

// Learns up to `n` merges with plain byte-pair encoding over the corpus words.
void learn_merges(int64_t n, const std::vector<std::string>& bytes,
                  std::vector<std::string>& tokens, std::vector<std::string>& merges) {
  std::map<std::vector<std::string>, int64_t> words;
  for (const std::string& w : pre_split(kCorpus)) {
    std::vector<std::string> sym;
    for (unsigned char c : w) sym.push_back(bytes[c]);
    words[sym]++;
  }
  std::set<std::string> known(tokens.begin(), tokens.end());
  while (static_cast<int64_t>(merges.size()) < n) {
    std::map<std::pair<std::string, std::string>, int64_t> pairs;
    for (const auto& [sym, count] : words)
      for (size_t i = 0; i + 1 < sym.size(); ++i) pairs[{sym[i], sym[i + 1]}] += count;
    if (pairs.empty()) break;
    // Most frequent pair; ties go to the first in lexicographic order (deterministic).
    auto best = pairs.begin();
    for (auto it = pairs.begin(); it != pairs.end(); ++it)
      if (it->second > best->second) best = it;
    const auto [a, b] = best->first;
    const std::string joined = a + b;
    merges.push_back(a + " " + b);
    if (known.insert(joined).second) tokens.push_back(joined);
    std::map<std::vector<std::string>, int64_t> next;
    for (const auto& [sym, count] : words) {
      std::vector<std::string> out;
      for (size_t i = 0; i < sym.size(); ++i) {
        if (i + 1 < sym.size() && sym[i] == a && sym[i + 1] == b) {
          out.push_back(joined);
          ++i;
        } else {
          out.push_back(sym[i]);
        }
      }
      next[out] += count;
    }
    words.swap(next);
  }
}

struct Special {
  const char* text;
  int32_t type;  // 3 control, 4 user-defined
};

std::vector<Special> specials_of(Arch arch) {
  const Special bos{"<｜begin▁of▁sentence｜>", 3}, eos{"<｜end▁of▁sentence｜>", 3},
      pad{"<｜▁pad▁｜>", 3}, user{"<｜User｜>", 3}, assistant{"<｜Assistant｜>", 3},
      think{"<think>", 4}, unthink{"</think>", 4}, eot{"<|EOT|>", 3};
  switch (arch) {
    case Arch::kDeepSeekV3:
      return {bos,
              eos,
              pad,
              think,
              unthink,
              user,
              assistant,
              eot,
              {"<｜tool▁calls▁begin｜>", 3},
              {"<｜tool▁calls▁end｜>", 3},
              {"<｜tool▁call▁begin｜>", 3},
              {"<｜tool▁call▁end｜>", 3},
              {"<｜tool▁outputs▁begin｜>", 3},
              {"<｜tool▁outputs▁end｜>", 3},
              {"<｜tool▁output▁begin｜>", 3},
              {"<｜tool▁output▁end｜>", 3},
              {"<｜tool▁sep｜>", 3}};
    case Arch::kDeepSeekV2:
      return {bos, eos, pad};
    case Arch::kQwen2:
    case Arch::kLlama:
      return {bos, eos, pad, user, assistant, eot, think, unthink};
  }
  return {};
}

const char* pre_of(Arch arch) {
  switch (arch) {
    case Arch::kDeepSeekV3:
      return "deepseek-v3";
    case Arch::kDeepSeekV2:
      return "deepseek-llm";
    case Arch::kQwen2:
      return "deepseek-r1-qwen";
    case Arch::kLlama:
      return "llama-bpe";
  }
  return "";
}

std::string template_of(Arch arch) {
  const char* name = arch == Arch::kDeepSeekV3   ? "deepseek-r1"
                     : arch == Arch::kDeepSeekV2 ? "deepseek-v2"
                                                 : "deepseek-r1-distill";
  return std::string(chat::builtin_template_text(chat::chat_template_by_name(name)));
}

// Hugging Face pre-tokenizers of each family (the published regex splits).
nlohmann::json split(const std::string& regex) {
  return {{"type", "Split"},
          {"pattern", {{"Regex", regex}}},
          {"behavior", "Isolated"},
          {"invert", false}};
}

// The family's published regex splits, from the tokenizer's own table (one source of truth).
nlohmann::json pre_tokenizer_of(const std::string& gguf_pre) {
  const tok::KnownPreTokenizer* known = tok::find_known_pre_tokenizer(gguf_pre);
  R1_CHECK_MSG(known != nullptr, "unknown pre-tokenizer %s", gguf_pre.c_str());
  nlohmann::json seq = nlohmann::json::array();
  for (const std::string& p : known->patterns) seq.push_back(split(p));
  seq.push_back({{"type", "ByteLevel"},
                 {"add_prefix_space", false},
                 {"trim_offsets", true},
                 {"use_regex", false}});
  return {{"type", "Sequence"}, {"pretokenizers", seq}};
}

// Fills the vocabulary up to `vocab_size` with ordinary word tokens (" xbaku", " xbake", ...)
// that no merge produces, as a real vocabulary is full of words: a random-weight model then
// writes visible text instead of invisible padding. They start with "x" and are built of
// consonant-vowel syllables, so they spell no marker and no common English word.
void add_filler_words(int64_t vocab_size, std::vector<std::string>& tokens,
                      std::vector<int32_t>& types) {
  static constexpr char kConsonants[] = "bdfgklmnprstvz";
  static constexpr char kVowels[] = "aeiou";
  constexpr int kC = sizeof(kConsonants) - 1, kV = sizeof(kVowels) - 1;
  const std::set<std::string> known(tokens.begin(), tokens.end());
  for (int64_t i = 0; static_cast<int64_t>(tokens.size()) < vocab_size; ++i) {
    std::string word = "\xC4\xA0x";  // byte-level "Ġ" (a space), then "x"
    int64_t n = i;
    for (int syllables = 0; syllables < 2 || n > 0; ++syllables, n /= kC * kV) {
      word += kConsonants[(n % (kC * kV)) / kV];
      word += kVowels[n % kV];
    }
    if (known.count(word) != 0) continue;
    tokens.push_back(std::move(word));
    types.push_back(1);
  }
}

}  // namespace

int64_t test_vocab_min_size(Arch arch) {
  return 256 + static_cast<int64_t>(specials_of(arch).size());
}

TestVocab make_test_vocab(Arch arch, int64_t vocab_size) {
  const auto specials = specials_of(arch);
  if (vocab_size < test_vocab_min_size(arch))
    throw Error("vocab_size " + std::to_string(vocab_size) +
                " is too small for a test vocabulary (need " +
                std::to_string(test_vocab_min_size(arch)) + ")");
  TestVocab v;
  const auto bytes = byte_tokens();
  v.tokens = bytes;
  const int64_t room = vocab_size - static_cast<int64_t>(specials.size()) - 256;
  learn_merges(std::min<int64_t>(room, 2000), bytes, v.tokens, v.merges);
  v.types.assign(v.tokens.size(), 1);
  for (const Special& s : specials) {
    v.tokens.push_back(s.text);
    v.types.push_back(s.type);
  }
  const int64_t first_special = static_cast<int64_t>(v.tokens.size() - specials.size());
  add_filler_words(vocab_size, v.tokens, v.types);
  v.n_tokenizer = static_cast<int64_t>(v.tokens.size());
  v.bos = first_special;
  v.eos = first_special + 1;
  v.pad = first_special + 2;
  v.pre = pre_of(arch);
  v.chat_template = template_of(arch);
  return v;
}

std::vector<std::pair<std::string, gguf::Value>> test_vocab_gguf_kvs(const TestVocab& v) {
  using V = gguf::Value;
  std::vector<std::pair<std::string, V>> kv;
  kv.emplace_back("tokenizer.ggml.model", V::str("gpt2"));
  kv.emplace_back("tokenizer.ggml.pre", V::str(v.pre));
  kv.emplace_back("tokenizer.ggml.tokens", V::str_array(v.tokens));
  kv.emplace_back("tokenizer.ggml.token_type", V::i32_array(v.types));
  kv.emplace_back("tokenizer.ggml.merges", V::str_array(v.merges));
  kv.emplace_back("tokenizer.ggml.bos_token_id", V::u32(static_cast<uint32_t>(v.bos)));
  kv.emplace_back("tokenizer.ggml.eos_token_id", V::u32(static_cast<uint32_t>(v.eos)));
  kv.emplace_back("tokenizer.ggml.padding_token_id", V::u32(static_cast<uint32_t>(v.pad)));
  kv.emplace_back("tokenizer.ggml.add_bos_token", V::boolean(true));
  kv.emplace_back("tokenizer.ggml.add_eos_token", V::boolean(false));
  kv.emplace_back("tokenizer.chat_template", V::str(v.chat_template));
  return kv;
}

nlohmann::json test_vocab_tokenizer_json(const TestVocab& v) {
  nlohmann::json vocab = nlohmann::json::object();
  nlohmann::json added = nlohmann::json::array();
  for (int64_t id = 0; id < v.n_tokenizer; ++id) {
    if (v.types[id] == 1) {
      vocab[v.tokens[id]] = id;
    } else {
      added.push_back({{"id", id},
                       {"content", v.tokens[id]},
                       {"single_word", false},
                       {"lstrip", false},
                       {"rstrip", false},
                       {"normalized", false},
                       {"special", v.types[id] == 3}});
    }
  }
  nlohmann::json j;
  j["version"] = "1.0";
  j["truncation"] = nullptr;
  j["padding"] = nullptr;
  j["added_tokens"] = added;
  const tok::KnownPreTokenizer* known = tok::find_known_pre_tokenizer(v.pre);
  j["normalizer"] = known && known->nfc ? nlohmann::json{{"type", "NFC"}} : nlohmann::json(nullptr);
  j["pre_tokenizer"] = pre_tokenizer_of(v.pre);
  j["post_processor"] = nullptr;
  j["decoder"] = {{"type", "ByteLevel"},
                  {"add_prefix_space", true},
                  {"trim_offsets", true},
                  {"use_regex", true}};
  j["model"] = {{"type", "BPE"},
                {"dropout", nullptr},
                {"unk_token", nullptr},
                {"continuing_subword_prefix", nullptr},
                {"end_of_word_suffix", nullptr},
                {"fuse_unk", false},
                {"byte_fallback", false},
                {"ignore_merges", known && known->ignore_merges},
                {"vocab", vocab},
                {"merges", v.merges}};
  return j;
}

nlohmann::json test_vocab_tokenizer_config(const TestVocab& v) {
  return {{"add_bos_token", true},
          {"add_eos_token", false},
          {"bos_token", v.tokens[v.bos]},
          {"eos_token", v.tokens[v.eos]},
          {"pad_token", v.tokens[v.pad]},
          {"clean_up_tokenization_spaces", false},
          {"legacy", true},
          {"model_max_length", 16384},
          {"tokenizer_class", "LlamaTokenizerFast"},
          {"chat_template", v.chat_template}};
}

}  // namespace r1
