#include "tokenizer/pretokenize.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "core/error.h"

namespace r1::tok {
namespace {

// JavaScript's `\s` (the set the reference implementation uses), as the inside of a class.
constexpr const char* kJsWhiteSpace =
    "\\t\\n\\x{0B}\\f\\r \\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}"
    "\\x{205F}\\x{3000}\\x{FEFF}";

constexpr const char* kContractionsCaseless = "(?i:'s|'t|'re|'ve|'m|'ll|'d)";
constexpr const char* kContractionsAscii =
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])";

std::string pcre2_message(int code) {
  PCRE2_UCHAR buf[256];
  pcre2_get_error_message(code, buf, sizeof buf);
  return reinterpret_cast<const char*>(buf);
}

// Per-thread match scratch (match data for group 0, a JIT stack that may grow).
struct Scratch {
  pcre2_match_data* md = nullptr;
  pcre2_match_context* mctx = nullptr;
  pcre2_jit_stack* jit_stack = nullptr;
  Scratch() {
    md = pcre2_match_data_create(1, nullptr);
    mctx = pcre2_match_context_create(nullptr);
    jit_stack = pcre2_jit_stack_create(64 * 1024, 16 * 1024 * 1024, nullptr);
    if (md == nullptr || mctx == nullptr || jit_stack == nullptr) throw std::bad_alloc();
    pcre2_jit_stack_assign(mctx, nullptr, jit_stack);
  }
  ~Scratch() {
    pcre2_jit_stack_free(jit_stack);
    pcre2_match_context_free(mctx);
    pcre2_match_data_free(md);
  }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
};

Scratch& scratch() {
  thread_local Scratch s;
  return s;
}

uint32_t utf8_len_at(const char* p) {
  auto b = static_cast<uint8_t>(*p);
  if (b < 0xC0) return 1;
  if (b < 0xE0) return 2;
  if (b < 0xF0) return 3;
  return 4;
}

const std::string kDeepSeekV3Main =
    "[!\"#$%&'()*+,\\-./"
    ":;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+|"
    " ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+";
const std::string kQwen2 =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| "
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const std::string kLlama3 =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const std::string kGpt2 =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

// DeepSeek-LLM (V2 / V2-Lite): cased letters, ASCII and full-width punctuation, trailing
// white space, CJK / Hangul and many other scripts, digit runs.
const std::string kDeepSeekLlmLetters =
    "\\s?[A-Za-z\\x{B5}\\x{C0}-\\x{D6}\\x{D8}-\\x{F6}\\x{F8}-\\x{1BA}\\x{1BC}-\\x{1BF}\\x{1C4}-\\x{"
    "293}"
    "\\x{295}-\\x{2AF}\\x{370}-\\x{373}\\x{376}\\x{377}\\x{37B}-\\x{37D}\\x{37F}\\x{386}\\x{388}-"
    "\\x{38A}\\x{38C}\\x{38E}-\\x{3A1}\\x{3A3}-\\x{3F5}\\x{3F7}-\\x{481}\\x{48A}-\\x{52F}\\x{531}-"
    "\\x{556}\\x{10A0}-\\x{10C5}\\x{13A0}-\\x{13F5}\\x{13F8}-\\x{13FD}\\x{1C90}-\\x{1CBA}\\x{1CBD}-"
    "\\x{1CBF}\\x{1D00}-\\x{1D2B}\\x{1D6B}-\\x{1D77}\\x{1D79}-\\x{1D9A}\\x{1E00}-\\x{1F15}\\x{1F18}"
    "-"
    "\\x{1F1D}\\x{1F20}-\\x{1F45}\\x{1F48}-\\x{1F4D}\\x{1F50}-\\x{1F57}\\x{1F59}\\x{1F5B}\\x{1F5D}"
    "\\x{1F5F}-\\x{1F7D}\\x{1F80}-\\x{1FB4}\\x{1FB6}-\\x{1FBC}\\x{1FBE}\\x{1FC2}-\\x{1FC4}\\x{1FC6}"
    "-"
    "\\x{1FCC}\\x{1FD0}-\\x{1FD3}\\x{1FD6}-\\x{1FDB}\\x{1FE0}-\\x{1FEC}\\x{1FF2}-\\x{1FF4}\\x{1FF6}"
    "-"
    "\\x{1FFC}\\x{2102}\\x{2107}\\x{210A}-\\x{2113}\\x{2115}\\x{2119}-\\x{211D}\\x{2124}\\x{2126}"
    "\\x{2128}\\x{212A}-\\x{212D}\\x{212F}-\\x{2134}\\x{2139}\\x{213C}-\\x{213F}\\x{2145}-\\x{2149}"
    "\\x{214E}\\x{2183}\\x{2184}\\x{2C00}-\\x{2C7B}\\x{2C7E}-\\x{2CE4}\\x{2CEB}-\\x{2CEE}\\x{2CF2}"
    "\\x{2CF3}\\x{A640}-\\x{A66D}\\x{A680}-\\x{A69B}\\x{A722}-\\x{A76F}\\x{A771}-\\x{A787}\\x{A78B}"
    "-"
    "\\x{A78E}\\x{AB70}-\\x{ABBF}\\x{FB00}-\\x{FB06}\\x{FB13}-\\x{FB17}\\x{FF21}-\\x{FF3A}\\x{FF41}"
    "-"
    "\\x{FF5A}\\x{10400}-\\x{1044F}\\x{104B0}-\\x{104D3}\\x{104D8}-\\x{104FB}\\x{10C80}-\\x{10CB2}"
    "\\x{10CC0}-\\x{10CF2}\\x{118A0}-\\x{118DF}\\x{1E900}-\\x{1E943}]+";

const std::vector<KnownPreTokenizer>& known() {
  static const std::vector<KnownPreTokenizer> k = {
      {"deepseek-v3",
       {"\\p{N}{1,3}", "[\u4E00-\u9FA5\u3040-\u309F\u30A0-\u30FF]+", kDeepSeekV3Main},
       false,
       false},
      {"deepseek-llm",
       {"[\r\n]", kDeepSeekLlmLetters,
        "\\s?[!-/:-~\\x{FF01}-\\x{FF0F}\\x{FF1A}-\\x{FF5E}\\x{2018}-\\x{201F}\\x{3000}-\\x{3002}]+",
        "\\s+$", "[\\x{4E00}-\\x{9FA5}\\x{800}-\\x{4E00}\\x{AC00}-\\x{D7FF}]+", "\\p{N}+"},
       false,
       false},
      {"qwen2", {kQwen2}, false, true},
      {"llama3", {kLlama3}, true, false},
      {"gpt2", {kGpt2}, false, false},
  };
  return k;
}

}  // namespace

std::string translate_hf_regex(std::string_view pattern) {
  std::string p(pattern);
  for (size_t at; (at = p.find(kContractionsCaseless)) != std::string::npos;)
    p.replace(at, std::char_traits<char>::length(kContractionsCaseless), kContractionsAscii);
  std::string out;
  out.reserve(p.size() + 64);
  bool in_class = false;
  for (size_t i = 0; i < p.size();) {
    char c = p[i];
    if (c == '\\' && i + 1 < p.size()) {
      char d = p[i + 1];
      if (d == 's') {
        if (in_class) {
          out += kJsWhiteSpace;
        } else {
          out += '[';
          out += kJsWhiteSpace;
          out += ']';
        }
      } else if (d == 'S') {
        if (in_class)
          throw Error("pre-tokenizer regex: \\S inside a character class is not supported");
        out += "[^";
        out += kJsWhiteSpace;
        out += ']';
      } else {
        out += c;
        out += d;
      }
      i += 2;
      continue;
    }
    if (!in_class && c == '[') {
      in_class = true;
      out += c;
      ++i;
      if (i < p.size() && p[i] == '^') out += p[i++];
      if (i < p.size() && p[i] == ']') out += p[i++];
      continue;
    }
    if (in_class && c == ']') in_class = false;
    out += c;
    ++i;
  }
  return out;
}

Regex::Regex(const std::string& pattern) : pattern_(pattern) {
  int err = 0;
  PCRE2_SIZE off = 0;
  pcre2_code* code =
      pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                    PCRE2_UTF | PCRE2_UCP | PCRE2_DOLLAR_ENDONLY, &err, &off, nullptr);
  if (code == nullptr)
    throw Error("pre-tokenizer regex does not compile at offset " + std::to_string(off) + ": " +
                pcre2_message(err) + ": " + pattern);
  // Without JIT support the interpreter runs the same pattern.
  jit_ = pcre2_jit_compile(code, PCRE2_JIT_COMPLETE) == 0;
  code_ = code;
}

Regex::~Regex() {
  pcre2_code_free(static_cast<pcre2_code*>(code_));
}
Regex::Regex(Regex&& o) noexcept : pattern_(std::move(o.pattern_)), code_(o.code_), jit_(o.jit_) {
  o.code_ = nullptr;
}
Regex& Regex::operator=(Regex&& o) noexcept {
  if (this != &o) {
    pcre2_code_free(static_cast<pcre2_code*>(code_));
    pattern_ = std::move(o.pattern_);
    code_ = o.code_;
    jit_ = o.jit_;
    o.code_ = nullptr;
  }
  return *this;
}

void Regex::split(std::string_view text, Span span, std::vector<Span>& out) const {
  Scratch& s = scratch();
  auto* code = static_cast<pcre2_code*>(code_);
  const char* subject = text.data() + span.begin;
  const uint32_t len = span.end - span.begin;
  uint32_t prev = 0, pos = 0;
  while (pos < len) {
    int rc = jit_ ? pcre2_jit_match(code, reinterpret_cast<PCRE2_SPTR>(subject), len, pos, 0, s.md,
                                    s.mctx)
                  : pcre2_match(code, reinterpret_cast<PCRE2_SPTR>(subject), len, pos,
                                PCRE2_NO_UTF_CHECK, s.md, s.mctx);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) throw Error("pre-tokenizer regex failed: " + pcre2_message(rc));
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(s.md);
    auto ms = static_cast<uint32_t>(ov[0]), me = static_cast<uint32_t>(ov[1]);
    if (ms > prev) out.push_back({span.begin + prev, span.begin + ms});
    if (me > ms) {
      out.push_back({span.begin + ms, span.begin + me});
      pos = me;
    } else {
      pos = me < len ? me + utf8_len_at(subject + me) : len;  // empty match: step one code point
    }
    prev = me;
  }
  if (prev < len) out.push_back({span.begin + prev, span.end});
}

PreTokenizer PreTokenizer::from_hf_patterns(const std::vector<std::string>& patterns) {
  PreTokenizer p;
  for (const auto& hf : patterns)
    p.stages_.push_back(std::make_unique<Regex>(translate_hf_regex(hf)));
  return p;
}

void PreTokenizer::split(std::string_view text, std::vector<Span>& out) const {
  out.clear();
  if (text.empty()) return;
  out.push_back({0, static_cast<uint32_t>(text.size())});
  std::vector<Span> next;
  for (const auto& stage : stages_) {
    next.clear();
    for (Span sp : out) stage->split(text, sp, next);
    out.swap(next);
  }
}

std::vector<std::string> PreTokenizer::patterns() const {
  std::vector<std::string> r;
  for (const auto& s : stages_) r.push_back(s->pattern());
  return r;
}

const KnownPreTokenizer* find_known_pre_tokenizer(std::string_view pre) {
  std::string_view family;
  if (pre.empty() || pre == "default" || pre == "gpt2" || pre == "gpt-2")
    family = "gpt2";
  else if (pre == "deepseek-v3")
    family = "deepseek-v3";
  else if (pre == "deepseek-llm")
    family = "deepseek-llm";
  else if (pre == "qwen2" || pre == "deepseek-r1-qwen")
    family = "qwen2";
  else if (pre == "llama-bpe" || pre == "llama3" || pre == "llama-v3")
    family = "llama3";
  else
    return nullptr;
  for (const auto& k : known())
    if (family == k.family) return &k;
  return nullptr;
}

std::string identify_pre_tokenizer(const std::vector<std::string>& patterns) {
  for (const auto& k : known())
    if (k.patterns == patterns) return k.family;
  return "custom";
}

std::string known_pre_tokenizer_names() {
  return "deepseek-v3, deepseek-llm, deepseek-r1-qwen, qwen2, llama-bpe, llama3, llama-v3, gpt2, "
         "default";
}

}  // namespace r1::tok
