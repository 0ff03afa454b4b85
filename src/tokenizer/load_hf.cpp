// Loading from a Hugging Face tokenizer.json (+ tokenizer_config.json).
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>

#include "core/error.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_impl.h"

namespace r1 {
namespace {

using json = nlohmann::json;

std::string read_text_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error(path + ": cannot open");
  std::stringstream ss;
  ss << f.rdbuf();
  if (f.bad()) throw Error(path + ": read error");
  return ss.str();
}

json parse_json(std::string_view text, const std::string& name) {
  json j = json::parse(text.begin(), text.end(), nullptr, false);
  if (j.is_discarded()) throw Error(name + ": not valid JSON");
  return j;
}

[[noreturn]] void fail(const std::string& name, const std::string& what) {
  throw Error(name + ": " + what);
}

bool truthy(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_boolean() && it->get<bool>();
}

// A token named in tokenizer_config.json: a string or {"content": ...} (AddedToken).
std::optional<std::string> config_token(const json& cfg, const char* key) {
  auto it = cfg.find(key);
  if (it == cfg.end() || it->is_null()) return std::nullopt;
  if (it->is_string()) return it->get<std::string>();
  if (it->is_object()) {
    auto c = it->find("content");
    if (c != it->end() && c->is_string()) return c->get<std::string>();
  }
  return std::nullopt;
}

// Collects the regex stages of the pre_tokenizer; throws for what is not supported.
void read_pre_tokenizer(const json& pt, const std::string& name, std::vector<std::string>& out,
                        bool& byte_level) {
  if (pt.is_null()) return;
  std::string type = pt.value("type", "");
  if (type == "Sequence") {
    auto it = pt.find("pretokenizers");
    if (it == pt.end() || !it->is_array()) fail(name, "pre_tokenizer Sequence without a list");
    for (const auto& p : *it) read_pre_tokenizer(p, name, out, byte_level);
  } else if (type == "Split") {
    const json& pat = pt.value("pattern", json::object());
    if (!pat.contains("Regex") || !pat["Regex"].is_string())
      fail(name, "pre_tokenizer Split without a Regex pattern is not supported");
    if (pt.value("behavior", "") != "Isolated")
      fail(name, "pre_tokenizer Split behavior '" + pt.value("behavior", "") +
                     "' is not supported (only Isolated)");
    if (pt.value("invert", false)) fail(name, "pre_tokenizer Split with invert is not supported");
    out.push_back(pat["Regex"].get<std::string>());
  } else if (type == "ByteLevel") {
    if (pt.value("add_prefix_space", false))
      fail(name, "pre_tokenizer ByteLevel with add_prefix_space is not supported");
    if (pt.value("use_regex", true))
      out.push_back(tok::find_known_pre_tokenizer("gpt2")->patterns[0]);
    byte_level = true;
  } else {
    fail(name, "pre_tokenizer type '" + type + "' is not supported");
  }
}

void read_normalizer(const json& n, const std::string& name, bool& nfc) {
  if (n.is_null()) return;
  std::string type = n.value("type", "");
  if (type == "Sequence") {
    auto it = n.find("normalizers");
    if (it == n.end() || !it->is_array()) fail(name, "normalizer Sequence without a list");
    for (const auto& x : *it) read_normalizer(x, name, nfc);
  } else if (type == "NFC") {
    nfc = true;
  } else {
    fail(name, "normalizer type '" + type + "' is not supported");
  }
}

constexpr int64_t kMaxVocab = 1 << 24;

// tokenizer.json parsed in one pass: model.vocab and model.merges (the bulk of the file) go
// straight into vectors; everything else becomes a small JSON document.
struct TokenizerJson {
  json rest;
  bool has_vocab = false;
  std::vector<std::pair<std::string, int64_t>> vocab;
  std::vector<std::pair<std::string, std::string>> merges;
};

class TokenizerJsonSax : public nlohmann::json_sax<json> {
 public:
  explicit TokenizerJsonSax(TokenizerJson& out) : out_(out) {}
  std::string error;

  bool null() override { return value(json()); }
  bool boolean(bool v) override { return value(v); }
  bool number_integer(number_integer_t v) override {
    if (mode_ == Mode::Vocab) return vocab_id(v);
    return value(v);
  }
  bool number_unsigned(number_unsigned_t v) override {
    if (mode_ == Mode::Vocab)
      return vocab_id(v > static_cast<uint64_t>(kMaxVocab) ? int64_t{-1} : static_cast<int64_t>(v));
    return value(v);
  }
  bool number_float(number_float_t v, const string_t&) override { return value(v); }
  bool string(string_t& s) override {
    if (mode_ == Mode::Merges) {
      size_t sp = s.find(' ');
      if (sp == std::string::npos)
        return bad("merge " + std::to_string(out_.merges.size()) + " ('" + s +
                   "') is not two tokens");
      size_t sp2 = s.find(' ', sp + 1);  // like the reference, text after a second space is dropped
      out_.merges.emplace_back(s.substr(0, sp),
                               s.substr(sp + 1, sp2 == std::string::npos ? sp2 : sp2 - sp - 1));
      return true;
    }
    if (mode_ == Mode::MergePair) {
      if (pair_.size() >= 2)
        return bad("merge " + std::to_string(out_.merges.size()) + " is not a pair");
      pair_.push_back(std::move(s));
      return true;
    }
    return value(std::move(s));
  }
  bool binary(binary_t&) override { return bad("binary values are not JSON"); }
  bool start_object(std::size_t) override {
    if (mode_ != Mode::Dom) return bad(where() + " holds an unexpected object");
    if (at_model_key("vocab")) {
      mode_ = Mode::Vocab;
      out_.has_vocab = true;
      return true;
    }
    return open(json::object());
  }
  bool key(string_t& k) override {
    if (mode_ == Mode::Vocab) {
      vocab_key_ = std::move(k);
      return true;
    }
    keys_.back() = std::move(k);
    return true;
  }
  bool end_object() override {
    if (mode_ == Mode::Vocab) {
      mode_ = Mode::Dom;
      return true;
    }
    stack_.pop_back();
    keys_.pop_back();
    return true;
  }
  bool start_array(std::size_t) override {
    if (mode_ == Mode::Merges) {
      mode_ = Mode::MergePair;
      pair_.clear();
      return true;
    }
    if (mode_ != Mode::Dom) return bad(where() + " holds an unexpected list");
    if (at_model_key("merges")) {
      mode_ = Mode::Merges;
      return true;
    }
    return open(json::array());
  }
  bool end_array() override {
    if (mode_ == Mode::MergePair) {
      if (pair_.size() != 2)
        return bad("merge " + std::to_string(out_.merges.size()) +
                   " is neither \"a b\" nor [a, b]");
      out_.merges.emplace_back(std::move(pair_[0]), std::move(pair_[1]));
      mode_ = Mode::Merges;
      return true;
    }
    if (mode_ == Mode::Merges) {
      mode_ = Mode::Dom;
      return true;
    }
    stack_.pop_back();
    keys_.pop_back();
    return true;
  }
  bool parse_error(std::size_t pos, const std::string&,
                   const nlohmann::detail::exception& e) override {
    if (error.empty()) error = "not valid JSON (byte " + std::to_string(pos) + "): " + e.what();
    return false;
  }

 private:
  enum class Mode { Dom, Vocab, Merges, MergePair };

  bool bad(const std::string& what) {
    if (error.empty()) error = what;
    return false;
  }
  std::string where() const { return mode_ == Mode::Vocab ? "model.vocab" : "model.merges"; }
  bool vocab_id(int64_t id) {
    if (id < 0 || id >= kMaxVocab)
      return bad("model.vocab id of '" + vocab_key_ + "' is not a valid token id");
    out_.vocab.emplace_back(std::move(vocab_key_), id);
    return true;
  }
  bool value(json v) {
    if (mode_ == Mode::Vocab)
      return bad("model.vocab id of '" + vocab_key_ + "' is not a valid token id");
    if (mode_ != Mode::Dom)
      return bad("merge " + std::to_string(out_.merges.size()) + " is neither \"a b\" nor [a, b]");
    place(std::move(v));
    return true;
  }
  json* place(json v) {
    if (stack_.empty()) {
      out_.rest = std::move(v);
      return &out_.rest;
    }
    json& top = *stack_.back();
    if (top.is_array()) {
      top.push_back(std::move(v));
      return &top.back();
    }
    json& slot = top[keys_.back()];
    slot = std::move(v);
    return &slot;
  }
  bool open(json v) {
    json* p = place(std::move(v));
    stack_.push_back(p);
    keys_.emplace_back();
    return true;
  }
  // True when the next value is the given key of the root's "model" object.
  bool at_model_key(const char* k) const {
    return stack_.size() == 2 && stack_[0]->is_object() && keys_[0] == "model" &&
           stack_[1]->is_object() && keys_[1] == k;
  }

  TokenizerJson& out_;
  Mode mode_ = Mode::Dom;
  std::vector<json*> stack_;
  std::vector<std::string> keys_;
  std::string vocab_key_;
  std::vector<std::string> pair_;
};

TokenizerJson parse_tokenizer_json(std::string_view text, const std::string& name) {
  TokenizerJson out;
  TokenizerJsonSax sax(out);
  bool ok =
      json::sax_parse(text.begin(), text.end(), &sax, nlohmann::json::input_format_t::json, true);
  if (!ok) fail(name, sax.error.empty() ? std::string("not valid JSON") : sax.error);
  if (!out.rest.is_object()) fail(name, "not a JSON object");
  return out;
}

}  // namespace

Tokenizer Tokenizer::from_hf(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path file(path);
  if (fs::is_directory(file, ec)) file /= "tokenizer.json";
  std::string tj = read_text_file(file.string());
  fs::path cfg_path = file.parent_path() / "tokenizer_config.json";
  std::string cfg;
  if (fs::exists(cfg_path, ec)) cfg = read_text_file(cfg_path.string());
  return from_hf_json(tj, cfg, file.string());
}

Tokenizer Tokenizer::from_hf_json(std::string_view tokenizer_json, std::string_view config_json,
                                  const std::string& name) {
  TokenizerJson parsed = parse_tokenizer_json(tokenizer_json, name);
  json& tj = parsed.rest;
  json cfg =
      config_json.empty() ? json::object() : parse_json(config_json, "tokenizer_config.json");
  if (!cfg.is_object()) fail(name, "tokenizer_config.json is not a JSON object");

  auto im = std::make_unique<Impl>();
  im->name = name;

  const json& model = tj.value("model", json::object());
  std::string mtype = model.value("type", "BPE");
  if (mtype != "BPE") fail(name, "model type '" + mtype + "' is not supported (only BPE)");
  if (truthy(model, "byte_fallback")) fail(name, "BPE byte_fallback is not supported");
  for (const char* k : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    auto it = model.find(k);
    if (it != model.end() && it->is_string() && !it->get<std::string>().empty())
      fail(name, std::string("BPE ") + k + " is not supported");
  }
  im->ignore_merges = truthy(model, "ignore_merges");

  // Vocabulary: model.vocab plus added_tokens, ids possibly with holes.
  if (!parsed.has_vocab) fail(name, "model.vocab is missing");
  const json& added = tj.value("added_tokens", json::array());
  if (!added.is_array()) fail(name, "added_tokens is not a list");
  int64_t max_id = -1;
  for (const auto& [tok_text, id] : parsed.vocab) max_id = std::max(max_id, id);
  for (const auto& a : added) {
    if (!a.is_object() || !a.contains("id") || !a["id"].is_number_integer() ||
        !a.contains("content") || !a["content"].is_string())
      fail(name, "an added_tokens entry lacks id or content");
    int64_t id = a["id"].get<int64_t>();
    if (id < 0 || id >= kMaxVocab)
      fail(name, "added token id " + std::to_string(id) + " is out of range");
    max_id = std::max(max_id, id);
  }
  const auto n = static_cast<size_t>(max_id + 1);
  im->text.assign(n, std::string());
  im->kind.assign(n, TokenKind::Unused);
  std::vector<bool> in_vocab(n, false);
  for (auto& [tok_text, id64] : parsed.vocab) {
    auto id = static_cast<size_t>(id64);
    if (in_vocab[id]) fail(name, "model.vocab gives id " + std::to_string(id) + " to two tokens");
    in_vocab[id] = true;
    im->text[id] = std::move(tok_text);
    im->kind[id] = TokenKind::Normal;
  }
  for (const auto& a : added) {
    tok::AddedToken t;
    t.id = static_cast<int32_t>(a["id"].get<int64_t>());
    t.content = a["content"].get<std::string>();
    if (t.content.empty()) fail(name, "added token " + std::to_string(t.id) + " is empty");
    t.special = truthy(a, "special");
    t.lstrip = truthy(a, "lstrip");
    t.rstrip = truthy(a, "rstrip");
    auto id = static_cast<size_t>(t.id);
    in_vocab[id] = false;  // matched whole, never produced by merges
    im->text[id] = t.content;
    im->kind[id] = t.special ? TokenKind::Control : TokenKind::UserDefined;
    im->added.push_back(std::move(t));
  }
  im->vocab_map.build(im->text, in_vocab);

  // Merges: "a b" strings (older files) or [a, b] pairs.
  im->merges.reserve(parsed.merges.size());
  std::string ab;
  for (size_t r = 0; r < parsed.merges.size(); ++r) {
    const auto& [a, b] = parsed.merges[r];
    ab.assign(a);
    ab.append(b);
    int32_t ia = im->vocab_map.find(im->text, a), ib = im->vocab_map.find(im->text, b),
            iab = im->vocab_map.find(im->text, ab);
    if (ia < 0 || ib < 0 || iab < 0)
      fail(name, "merge " + std::to_string(r) + " ('" + a + "' + '" + b +
                     "') names a token that is not in the vocabulary");
    im->merges.insert(ia, ib, static_cast<int32_t>(r), iab);
  }

  bool nfc = false;
  read_normalizer(tj.value("normalizer", json()), name, nfc);
  im->nfc = nfc;
  std::vector<std::string> patterns;
  bool byte_level = false;
  read_pre_tokenizer(tj.value("pre_tokenizer", json()), name, patterns, byte_level);
  im->pre = tok::PreTokenizer::from_hf_patterns(patterns);
  if (!byte_level)
    fail(name, "only byte-level BPE tokenizers (a ByteLevel pre_tokenizer) are supported");
  im->pre_name = tok::identify_pre_tokenizer(patterns);

  // BOS / EOS: tokenizer_config.json, else the post_processor's template.
  std::optional<std::string> template_bos;
  std::function<void(const json&)> scan_post = [&](const json& pp) {
    if (!pp.is_object()) return;
    std::string type = pp.value("type", "");
    if (type == "Sequence" && pp.contains("processors") && pp["processors"].is_array()) {
      for (const auto& p : pp["processors"]) scan_post(p);
    } else if (type == "TemplateProcessing" && pp.contains("single") && pp["single"].is_array() &&
               !pp["single"].empty()) {
      const json& first = pp["single"][0];
      if (first.is_object() && first.contains("SpecialToken") &&
          first["SpecialToken"].is_object() &&
          first["SpecialToken"].value("id", json()).is_string())
        template_bos = first["SpecialToken"]["id"].get<std::string>();
    }
  };
  scan_post(tj.value("post_processor", json()));

  Tokenizer t(std::move(im));
  Impl& m = *t.impl_;
  auto lookup = [&](const std::string& s, const char* what) -> int32_t {
    auto id = t.find(s);
    if (!id) fail(name, std::string(what) + " '" + s + "' is not in the vocabulary");
    return *id;
  };
  if (auto b = config_token(cfg, "bos_token"))
    m.bos = lookup(*b, "bos_token");
  else if (template_bos)
    m.bos = lookup(*template_bos, "the post_processor's BOS");
  if (auto e = config_token(cfg, "eos_token")) m.eos = lookup(*e, "eos_token");
  if (cfg.contains("add_bos_token") && cfg["add_bos_token"].is_boolean())
    m.add_bos = cfg["add_bos_token"].get<bool>();
  else
    m.add_bos = template_bos.has_value();
  if (auto it = cfg.find("chat_template"); it != cfg.end()) {
    if (it->is_string()) {
      m.chat_template = it->get<std::string>();
    } else if (it->is_array()) {  // [{name, template}, ...]: the "default" one, else the first
      for (const auto& e : *it)
        if (e.is_object() && e.value("name", "") == "default" &&
            e.value("template", json()).is_string())
          m.chat_template = e["template"].get<std::string>();
      if (m.chat_template.empty() && !it->empty() && (*it)[0].is_object() &&
          (*it)[0].value("template", json()).is_string())
        m.chat_template = (*it)[0]["template"].get<std::string>();
    }
  }
  m.finish();
  return t;
}

}  // namespace r1
