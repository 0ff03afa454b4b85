// Loading from GGUF tokenizer.ggml.* metadata (as written by llama.cpp's converter).
#include "core/error.h"
#include "formats/gguf.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_impl.h"

namespace r1 {
namespace {

// llama.cpp token types.
enum GgufTokenType : int64_t {
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,
  kUserDefined = 4,
  kUnused = 5,
  kByte = 6,
};

}  // namespace

Tokenizer Tokenizer::from_gguf(const gguf::File& file) {
  const std::string name = file.paths().empty() ? std::string("gguf") : file.paths().front();
  auto fail = [&](const std::string& key, const std::string& what) -> void {
    throw Error(name + ": " + key + ": " + what);
  };
  auto get = [&](const char* key) -> const gguf::Value* { return file.find(key); };

  const gguf::Value* model = get("tokenizer.ggml.model");
  if (model == nullptr) fail("tokenizer.ggml.model", "missing (the file has no tokenizer)");
  if (model->as_string() == nullptr) fail("tokenizer.ggml.model", "not a string");
  if (*model->as_string() != "gpt2")
    fail("tokenizer.ggml.model",
         "'" + *model->as_string() + "' is not supported (only byte-level BPE, 'gpt2')");

  std::string pre_name;
  if (const gguf::Value* pre = get("tokenizer.ggml.pre")) {
    if (pre->as_string() == nullptr) fail("tokenizer.ggml.pre", "not a string");
    pre_name = *pre->as_string();
  }
  const tok::KnownPreTokenizer* known = tok::find_known_pre_tokenizer(pre_name);
  if (known == nullptr)
    fail("tokenizer.ggml.pre", "unknown pre-tokenizer '" + pre_name +
                                   "' (supported: " + tok::known_pre_tokenizer_names() + ")");

  const gguf::Value* tokens_v = get("tokenizer.ggml.tokens");
  if (tokens_v == nullptr) fail("tokenizer.ggml.tokens", "missing");
  const gguf::Array* tokens = tokens_v->as_array();
  if (tokens == nullptr || (tokens->elem_type != gguf::ValueType::STRING && !tokens->items.empty()))
    fail("tokenizer.ggml.tokens", "not an array of strings");
  if (tokens->items.empty()) fail("tokenizer.ggml.tokens", "empty");
  if (tokens->items.size() >= (size_t{1} << 31)) fail("tokenizer.ggml.tokens", "too many tokens");
  const size_t n = tokens->items.size();

  const gguf::Array* types = nullptr;
  if (const gguf::Value* tv = get("tokenizer.ggml.token_type")) {
    types = tv->as_array();
    if (types == nullptr) fail("tokenizer.ggml.token_type", "not an array");
    if (types->items.size() != n)
      fail("tokenizer.ggml.token_type", "has " + std::to_string(types->items.size()) +
                                            " entries for " + std::to_string(n) + " tokens");
  }

  auto im = std::make_unique<Impl>();
  im->name = name;
  im->text.resize(n);
  im->kind.assign(n, TokenKind::Normal);
  std::vector<bool> in_vocab(n, false);
  for (size_t i = 0; i < n; ++i) {
    const std::string* s = tokens->items[i].as_string();
    if (s == nullptr)
      fail("tokenizer.ggml.tokens", "entry " + std::to_string(i) + " is not a string");
    im->text[i] = *s;
    int64_t type = kNormal;
    if (types != nullptr) {
      auto t = types->items[i].as_int();
      if (!t || *t < kNormal || *t > kByte)
        fail("tokenizer.ggml.token_type",
             "entry " + std::to_string(i) + " is not a token type (1..6)");
      type = *t;
    }
    switch (type) {
      case kNormal:
        im->kind[i] = TokenKind::Normal;
        in_vocab[i] = true;
        break;
      case kUnknown:
        im->kind[i] = TokenKind::Unknown;
        break;
      case kControl:
      case kUserDefined: {
        im->kind[i] = type == kControl ? TokenKind::Control : TokenKind::UserDefined;
        if (s->empty()) break;  // an empty added token can never match
        tok::AddedToken a;
        a.content = *s;
        a.id = static_cast<int32_t>(i);
        a.special = type == kControl;
        im->added.push_back(std::move(a));
        break;
      }
      case kUnused:
        im->kind[i] = TokenKind::Unused;
        break;
      case kByte:
        im->kind[i] = TokenKind::Byte;
        break;
    }
  }
  im->vocab_map.build(im->text, in_vocab);

  if (const gguf::Value* mv = get("tokenizer.ggml.merges")) {
    const gguf::Array* merges = mv->as_array();
    if (merges == nullptr ||
        (merges->elem_type != gguf::ValueType::STRING && !merges->items.empty()))
      fail("tokenizer.ggml.merges", "not an array of strings");
    im->merges.reserve(merges->items.size());
    std::string ab;
    for (size_t r = 0; r < merges->items.size(); ++r) {
      const std::string* s = merges->items[r].as_string();
      if (s == nullptr)
        fail("tokenizer.ggml.merges", "entry " + std::to_string(r) + " is not a string");
      size_t sp = s->find(' ');
      if (sp == std::string::npos || sp == 0 || sp + 1 == s->size())
        fail("tokenizer.ggml.merges", "entry " + std::to_string(r) + " ('" + *s +
                                          "') is not two tokens separated by a space");
      std::string_view a = std::string_view(*s).substr(0, sp),
                       b = std::string_view(*s).substr(sp + 1);
      ab.assign(a);
      ab.append(b);
      int32_t ia = im->vocab_map.find(im->text, a), ib = im->vocab_map.find(im->text, b),
              iab = im->vocab_map.find(im->text, ab);
      if (ia < 0 || ib < 0 || iab < 0)
        fail("tokenizer.ggml.merges", "entry " + std::to_string(r) + " ('" + *s +
                                          "') names a token that is not in the vocabulary");
      im->merges.insert(ia, ib, static_cast<int32_t>(r), iab);
    }
  }

  auto id_key = [&](const char* key) -> int32_t {
    const gguf::Value* v = get(key);
    if (v == nullptr) return -1;
    auto id = v->as_int();
    if (!id) fail(key, "not an integer");
    if (*id < 0 || static_cast<uint64_t>(*id) >= n)
      fail(key, "token id " + std::to_string(*id) + " is out of range (vocabulary of " +
                    std::to_string(n) + " tokens)");
    return static_cast<int32_t>(*id);
  };
  im->bos = id_key("tokenizer.ggml.bos_token_id");
  im->eos = id_key("tokenizer.ggml.eos_token_id");
  id_key("tokenizer.ggml.padding_token_id");
  id_key("tokenizer.ggml.unknown_token_id");
  if (const gguf::Value* v = get("tokenizer.ggml.add_bos_token")) {
    auto b = v->as_bool();
    if (!b) fail("tokenizer.ggml.add_bos_token", "not a boolean");
    im->add_bos = *b;
  } else {
    im->add_bos = im->bos >= 0;  // llama.cpp's default for BPE vocabularies
  }
  if (const gguf::Value* v = get("tokenizer.chat_template")) {
    if (v->as_string() == nullptr) fail("tokenizer.chat_template", "not a string");
    im->chat_template = *v->as_string();
  }

  im->pre = tok::PreTokenizer::from_hf_patterns(known->patterns);
  im->pre_name = known->family;
  im->ignore_merges = known->ignore_merges;
  im->nfc = known->nfc;
  try {
    im->finish();
  } catch (const Error& e) {
    throw Error(std::string(e.what()) + " (tokenizer.ggml.tokens)");
  }
  return Tokenizer(std::move(im));
}

}  // namespace r1
