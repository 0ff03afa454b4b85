#include "tokenizer/tokenizer.h"

#include <algorithm>
#include <atomic>
#include <climits>
#include <cstring>
#include <filesystem>
#include <queue>

#include "core/error.h"
#include "formats/gguf.h"
#include "tokenizer/tokenizer_impl.h"
#include "tokenizer/unicode.h"

namespace r1 {
namespace tok {

uint64_t hash_bytes(std::string_view s) {
  // FNV-1a over 8-byte words, then a final mix.
  uint64_t h = 0xcbf29ce484222325ull ^ s.size();
  size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    uint64_t w;
    std::memcpy(&w, s.data() + i, 8);
    h = (h ^ w) * 0x100000001b3ull;
    h ^= h >> 29;
  }
  for (; i < s.size(); ++i) h = (h ^ static_cast<uint8_t>(s[i])) * 0x100000001b3ull;
  h ^= h >> 32;
  h *= 0xd6e8feb86659fd93ull;
  h ^= h >> 32;
  return h;
}

void StringIdMap::grow(const std::vector<std::string>& keys) {
  std::vector<Slot> old;
  old.swap(slots_);
  size_t cap = 64;
  while (cap < (used_ + 1) * 2) cap *= 2;
  slots_.assign(cap, Slot{});
  size_t mask = cap - 1;
  used_ = 0;
  for (const Slot& s : old) {
    if (s.id < 0) continue;
    size_t i = s.hash & mask;
    while (slots_[i].id != -1) i = (i + 1) & mask;
    slots_[i] = s;
    ++used_;
  }
  (void)keys;
}

void StringIdMap::build(const std::vector<std::string>& keys, const std::vector<bool>& include) {
  slots_.clear();
  used_ = 0;
  size_t n = 0;
  for (size_t i = 0; i < keys.size(); ++i) n += include[i] ? 1 : 0;
  size_t cap = 64;
  while (cap < n * 2 + 2) cap *= 2;
  slots_.assign(cap, Slot{});
  for (size_t i = 0; i < keys.size(); ++i)
    if (include[i]) insert(keys, static_cast<int32_t>(i));
}

void StringIdMap::insert(const std::vector<std::string>& keys, int32_t id) {
  if (slots_.empty() || (used_ + 1) * 2 > slots_.size()) grow(keys);
  const std::string& key = keys[static_cast<size_t>(id)];
  if (key.empty()) return;
  auto h = static_cast<uint32_t>(hash_bytes(key));
  size_t mask = slots_.size() - 1;
  for (size_t i = h & mask;; i = (i + 1) & mask) {
    Slot& s = slots_[i];
    if (s.id == -1 || s.id == -2) {
      s = {h, id};
      ++used_;
      return;
    }
    if (s.hash == h && keys[static_cast<size_t>(s.id)] == key) return;  // first id wins
  }
}

int32_t StringIdMap::find(const std::vector<std::string>& keys, std::string_view key) const {
  if (slots_.empty() || key.empty()) return -1;
  auto h = static_cast<uint32_t>(hash_bytes(key));
  size_t mask = slots_.size() - 1;
  for (size_t i = h & mask;; i = (i + 1) & mask) {
    const Slot& s = slots_[i];
    if (s.id == -1) return -1;
    if (s.id >= 0 && s.hash == h && keys[static_cast<size_t>(s.id)] == key) return s.id;
  }
}

void StringIdMap::erase(const std::vector<std::string>& keys, std::string_view key) {
  if (slots_.empty() || key.empty()) return;
  auto h = static_cast<uint32_t>(hash_bytes(key));
  size_t mask = slots_.size() - 1;
  for (size_t i = h & mask;; i = (i + 1) & mask) {
    Slot& s = slots_[i];
    if (s.id == -1) return;
    if (s.id >= 0 && s.hash == h && keys[static_cast<size_t>(s.id)] == key) {
      s.id = -2;  // tombstone (still counted in used_)
      return;
    }
  }
}

void MergeMap::reserve(size_t n) {
  size_t cap = 64;
  while (cap < n * 2 + 2) cap *= 2;
  slots_.assign(cap, Entry{});
  used_ = 0;
}

void MergeMap::insert(int32_t left, int32_t right, int32_t rank, int32_t merged) {
  if ((used_ + 1) * 2 > slots_.size()) {
    std::vector<Entry> old;
    old.swap(slots_);
    reserve(std::max<size_t>(old.size(), 32));
    for (const Entry& e : old)
      if (e.key != ~0ull) insert(int32_t(e.key >> 32), int32_t(uint32_t(e.key)), e.rank, e.merged);
  }
  uint64_t key = (uint64_t(uint32_t(left)) << 32) | uint32_t(right);
  size_t mask = slots_.size() - 1;
  for (size_t i = mix(key) & mask;; i = (i + 1) & mask) {
    Entry& e = slots_[i];
    if (e.key == key) return;  // duplicate pair: the first (lowest) rank stays
    if (e.key == ~0ull) {
      e = {key, rank, merged};
      ++used_;
      return;
    }
  }
}

void AddedMatcher::build(const std::vector<AddedToken>& added) {
  nodes_.assign(1, Node{});
  first_.fill(false);
  for (size_t t = 0; t < added.size(); ++t) {
    const std::string& s = added[t].content;
    if (s.empty()) continue;
    first_[static_cast<uint8_t>(s[0])] = true;
    uint32_t node = 0;
    for (char ch : s) {
      auto b = static_cast<uint8_t>(ch);
      auto& next = nodes_[node].next;
      auto it = std::lower_bound(next.begin(), next.end(), b,
                                 [](const auto& p, uint8_t v) { return p.first < v; });
      if (it != next.end() && it->first == b) {
        node = it->second;
      } else {
        auto child = static_cast<uint32_t>(nodes_.size());
        next.insert(it, {b, child});
        nodes_.push_back(Node{});
        node = child;
      }
    }
    if (nodes_[node].token < 0) nodes_[node].token = static_cast<int32_t>(t);
  }
}

int32_t AddedMatcher::match(std::string_view text, size_t pos, size_t* len) const {
  int32_t best = -1;
  uint32_t node = 0;
  for (size_t j = pos; j < text.size(); ++j) {
    auto b = static_cast<uint8_t>(text[j]);
    const auto& next = nodes_[node].next;
    auto it = std::lower_bound(next.begin(), next.end(), b,
                               [](const auto& p, uint8_t v) { return p.first < v; });
    if (it == next.end() || it->first != b) break;
    node = it->second;
    if (nodes_[node].token >= 0) {
      best = nodes_[node].token;
      *len = j + 1 - pos;
    }
  }
  return best;
}

namespace {

bool is_js_space(uint32_t cp) {
  switch (cp) {
    case 0x09:
    case 0x0A:
    case 0x0B:
    case 0x0C:
    case 0x0D:
    case 0x20:
    case 0xA0:
    case 0x1680:
    case 0x2028:
    case 0x2029:
    case 0x202F:
    case 0x205F:
    case 0x3000:
    case 0xFEFF:
      return true;
    default:
      return cp >= 0x2000 && cp <= 0x200A;
  }
}

// Strips JavaScript white space from the end (trimEnd) or the start (trimStart) of text[span).
tok::Span trim_span(std::string_view text, tok::Span sp, bool at_end) {
  const auto* s = reinterpret_cast<const uint8_t*>(text.data());
  if (!at_end) {
    while (sp.begin < sp.end) {
      Utf8Step st = tok::utf8_decode(s + sp.begin, sp.end - sp.begin);
      if (!is_js_space(st.cp)) break;
      sp.begin += st.len;
    }
  } else {
    while (sp.end > sp.begin) {
      uint32_t b = sp.end - 1;
      while (b > sp.begin && (s[b] & 0xC0) == 0x80) --b;
      Utf8Step st = tok::utf8_decode(s + b, sp.end - b);
      if (!is_js_space(st.cp)) break;
      sp.end = b;
    }
  }
  return sp;
}

// Text ready for the pre-tokenizer: valid UTF-8, with invalid bytes replaced by U+FFFD and lone
// surrogates by a noncharacter absent from the text (which the byte-level step writes as U+FFFD).
struct Prepared {
  std::string_view text;
  std::string storage;
  std::string placeholder;  // UTF-8 of the stand-in for lone surrogates, empty if none
};

void prepare(std::string_view in, Prepared& p) {
  size_t valid = tok::utf8_valid_prefix(in);
  if (valid == in.size()) {
    p.text = in;
    return;
  }
  bool has_surrogate = false;
  const auto* s = reinterpret_cast<const uint8_t*>(in.data());
  for (size_t i = valid; i < in.size();) {
    Utf8Step st = tok::utf8_decode(s + i, in.size() - i, true);
    has_surrogate |= st.surrogate;
    i += st.len;
  }
  if (has_surrogate) {
    // Noncharacters: U+FDD0..U+FDEF and the last two code points of each plane.
    std::vector<uint32_t> candidates;
    for (uint32_t plane = 0; plane <= 0x10; ++plane) {
      candidates.push_back(plane * 0x10000 + 0xFFFF);
      candidates.push_back(plane * 0x10000 + 0xFFFE);
    }
    for (uint32_t c = 0xFDD0; c <= 0xFDEF; ++c) candidates.push_back(c);
    for (uint32_t c : candidates) {
      std::string enc;
      tok::utf8_append(enc, c);
      if (in.find(enc) == std::string_view::npos) {
        p.placeholder = enc;
        break;
      }
    }
    if (p.placeholder.empty()) throw Error("tokenizer: input holds every Unicode noncharacter");
  }
  p.storage.reserve(in.size() + 16);
  p.storage.append(in.substr(0, valid));
  for (size_t i = valid; i < in.size();) {
    Utf8Step st = tok::utf8_decode(s + i, in.size() - i, true);
    if (st.valid) {
      p.storage.append(in.substr(i, st.len));
    } else if (st.surrogate) {
      Utf8Step lo{};
      if (st.cp <= 0xDBFF && i + 3 < in.size())
        lo = tok::utf8_decode(s + i + 3, in.size() - i - 3, true);
      if (lo.surrogate && lo.cp >= 0xDC00) {
        // A high and a low surrogate written separately (CESU-8) form one character, as the
        // two code units would in a JavaScript string.
        tok::utf8_append(p.storage, 0x10000 + ((st.cp - 0xD800) << 10) + (lo.cp - 0xDC00));
        i += 6;
        continue;
      }
      p.storage += p.placeholder;
    } else {
      tok::utf8_append(p.storage, kReplacementChar);
    }
    i += st.len;
  }
  p.text = p.storage;
}

struct BpeScratch {
  std::vector<int32_t> ids;
  std::vector<int32_t> ranks;
  std::vector<int32_t> merged;
  std::string buf;
  std::vector<tok::Span> spans;
  struct Sym {
    int32_t id, prev, next;
  };
  std::vector<Sym> syms;
  struct Cand {
    int32_t rank, left, right, left_id, right_id, merged;
    bool operator<(const Cand& o) const {  // "less" = lower priority for std::priority_queue
      return rank != o.rank ? rank > o.rank : left > o.left;
    }
  };
  std::vector<Cand> heap;
};

// Per-thread direct-mapped cache of BPE results of short pieces (words recur in text).
struct BpeCache {
  static constexpr size_t kSlots = 8192;
  static constexpr size_t kMaxBytes = 48;
  static constexpr size_t kMaxIds = 16;
  struct Entry {
    uint64_t hash = 0;
    uint8_t len = 0;  // 0: empty
    uint8_t nids = 0;
    char text[kMaxBytes];
    int32_t ids[kMaxIds];
  };
  uint64_t owner = 0;  // Impl::instance the entries belong to
  std::vector<Entry> slots;
};

BpeCache& bpe_cache(uint64_t owner) {
  thread_local BpeCache c;
  if (c.owner != owner) {
    c.slots.assign(BpeCache::kSlots, BpeCache::Entry{});
    c.owner = owner;
  }
  return c;
}

std::atomic<uint64_t> g_instances{0};

BpeScratch& bpe_scratch() {
  thread_local BpeScratch s;
  return s;
}

constexpr size_t kNaiveLimit = 96;

}  // namespace
}  // namespace tok

using tok::kReplacementChar;
using tok::Span;
using tok::Utf8Step;

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::~Tokenizer() = default;

Tokenizer::Impl::Impl() : instance(++tok::g_instances) {}

void Tokenizer::Impl::check_id(int32_t id) const {
  if (id < 0 || static_cast<size_t>(id) >= text.size())
    throw Error("token id " + std::to_string(id) + " is out of range (vocabulary of " +
                std::to_string(text.size()) + " tokens)");
}

void Tokenizer::Impl::finish() {
  const size_t n = text.size();
  bytes.assign(n, std::string());
  for (size_t id = 0; id < n; ++id) {
    const std::string& t = text[id];
    switch (kind[id]) {
      case TokenKind::Normal:
      case TokenKind::Unknown: {
        std::string& b = bytes[id];
        b.reserve(t.size());
        const auto* s = reinterpret_cast<const uint8_t*>(t.data());
        for (size_t i = 0; i < t.size();) {
          Utf8Step st = tok::utf8_decode(s + i, t.size() - i);
          int byte = st.valid ? tok::cp_to_byte(st.cp) : -1;
          if (byte >= 0)
            b.push_back(static_cast<char>(byte));
          else
            b.append(t, i, st.len);  // not in the byte alphabet: kept as written
          i += st.len;
        }
        break;
      }
      case TokenKind::Byte: {
        auto hex = [](char c) -> int {
          if (c >= '0' && c <= '9') return c - '0';
          if (c >= 'A' && c <= 'F') return c - 'A' + 10;
          if (c >= 'a' && c <= 'f') return c - 'a' + 10;
          return -1;
        };
        if (t.size() != 6 || t.compare(0, 3, "<0x") != 0 || t[5] != '>' || hex(t[3]) < 0 ||
            hex(t[4]) < 0)
          throw Error(name + ": token " + std::to_string(id) +
                      " has type BYTE but its text is not <0xHH>");
        bytes[id] = std::string(1, static_cast<char>(hex(t[3]) * 16 + hex(t[4])));
        break;
      }
      case TokenKind::Control:
      case TokenKind::UserDefined:
        bytes[id] = t;
        break;
      case TokenKind::Unused:
        break;
    }
  }
  for (int b = 0; b < 256; ++b) {
    std::string key;
    tok::utf8_append(key, tok::byte_to_cp(static_cast<uint8_t>(b)));
    byte_id[static_cast<size_t>(b)] = vocab_map.find(text, key);
  }
  rebuild_added();
}

void Tokenizer::Impl::rebuild_added() {
  // Longest match wins in the trie; among equal contents the first listed stays.
  added_matcher.build(added);
}

namespace {

using Impl = Tokenizer::Impl;

void bpe_merge(const Impl& im, std::string_view piece, std::vector<int32_t>& out);

void bpe_piece(const Impl& im, std::string_view piece, const std::string& placeholder,
               std::vector<int32_t>& out) {
  auto& sc = tok::bpe_scratch();
  if (!placeholder.empty() && piece.find(placeholder) != std::string_view::npos) {
    std::string& b = sc.buf;
    b.clear();
    for (size_t i = 0; i < piece.size();) {
      if (piece.compare(i, placeholder.size(), placeholder) == 0) {
        b += "\xEF\xBF\xBD";
        i += placeholder.size();
      } else {
        b += piece[i++];
      }
    }
    std::string tmp = b;  // bpe_piece below reuses sc.buf
    bpe_piece(im, tmp, std::string(), out);
    return;
  }
  const size_t n = piece.size();
  tok::BpeCache::Entry* slot = nullptr;
  uint64_t h = 0;
  if (n > 1 && n <= tok::BpeCache::kMaxBytes) {
    tok::BpeCache& cache = tok::bpe_cache(im.instance);
    h = tok::hash_bytes(piece);
    slot = &cache.slots[h & (tok::BpeCache::kSlots - 1)];
    if (slot->len == n && slot->hash == h && std::memcmp(slot->text, piece.data(), n) == 0) {
      out.insert(out.end(), slot->ids, slot->ids + slot->nids);
      return;
    }
  }
  const size_t first = out.size();
  bpe_merge(im, piece, out);
  if (slot != nullptr && out.size() - first <= tok::BpeCache::kMaxIds) {
    slot->hash = h;
    slot->len = static_cast<uint8_t>(n);
    slot->nids = static_cast<uint8_t>(out.size() - first);
    std::memcpy(slot->text, piece.data(), n);
    std::copy(out.begin() + static_cast<long>(first), out.end(), slot->ids);
  }
}

void bpe_merge(const Impl& im, std::string_view piece, std::vector<int32_t>& out) {
  auto& sc = tok::bpe_scratch();
  const size_t n = piece.size();
  if (im.ignore_merges) {
    std::string& key = sc.buf;
    key.clear();
    for (char c : piece) tok::utf8_append(key, tok::byte_to_cp(static_cast<uint8_t>(c)));
    int32_t id = im.vocab_map.find(im.text, key);
    if (id >= 0) {
      out.push_back(id);
      return;
    }
  }
  auto byte_token = [&](char c) {
    int32_t id = im.byte_id[static_cast<uint8_t>(c)];
    if (id < 0) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "0x%02X", static_cast<unsigned>(static_cast<uint8_t>(c)));
      throw Error(im.name + ": the vocabulary has no token for byte " + hex);
    }
    return id;
  };
  if (n == 1) {
    out.push_back(byte_token(piece[0]));
    return;
  }
  if (n <= tok::kNaiveLimit) {
    // Small pieces: arrays of symbols and of the rank of each adjacent pair.
    auto& ids = sc.ids;
    auto& ranks = sc.ranks;
    auto& merged = sc.merged;
    ids.resize(n);
    ranks.resize(n);
    merged.resize(n);
    for (size_t i = 0; i < n; ++i) ids[i] = byte_token(piece[i]);
    size_t m = n;
    auto rank_at = [&](size_t i) {
      const tok::MergeMap::Entry* e = im.merges.find(ids[i], ids[i + 1]);
      if (e == nullptr) {
        ranks[i] = INT_MAX;
      } else {
        ranks[i] = e->rank;
        merged[i] = e->merged;
      }
    };
    for (size_t i = 0; i + 1 < m; ++i) rank_at(i);
    while (m > 1) {
      size_t best = 0;
      int32_t best_rank = ranks[0];
      for (size_t i = 1; i + 1 < m; ++i)
        if (ranks[i] < best_rank) {
          best_rank = ranks[i];
          best = i;
        }
      if (best_rank == INT_MAX) break;
      ids[best] = merged[best];
      for (size_t i = best + 1; i + 1 < m; ++i) {
        ids[i] = ids[i + 1];
        ranks[i] = ranks[i + 1];
        merged[i] = merged[i + 1];
      }
      --m;
      if (best > 0) rank_at(best - 1);
      if (best + 1 < m) rank_at(best);
    }
    out.insert(out.end(), ids.begin(), ids.begin() + static_cast<long>(m));
    return;
  }
  // Long pieces: linked list of symbols and a heap of candidate merges (lowest rank, then
  // leftmost), with stale candidates skipped when popped.
  auto& syms = sc.syms;
  auto& heap = sc.heap;
  syms.resize(n);
  heap.clear();
  for (size_t i = 0; i < n; ++i)
    syms[i] = {byte_token(piece[i]), static_cast<int32_t>(i) - 1,
               i + 1 < n ? static_cast<int32_t>(i + 1) : -1};
  auto push = [&](int32_t left) {
    if (left < 0) return;
    int32_t right = syms[static_cast<size_t>(left)].next;
    if (right < 0) return;
    int32_t a = syms[static_cast<size_t>(left)].id, b = syms[static_cast<size_t>(right)].id;
    const tok::MergeMap::Entry* e = im.merges.find(a, b);
    if (e == nullptr) return;
    heap.push_back({e->rank, left, right, a, b, e->merged});
    std::push_heap(heap.begin(), heap.end());
  };
  for (size_t i = 0; i + 1 < n; ++i) push(static_cast<int32_t>(i));
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end());
    auto c = heap.back();
    heap.pop_back();
    auto& l = syms[static_cast<size_t>(c.left)];
    if (l.id != c.left_id || l.next != c.right) continue;
    auto& r = syms[static_cast<size_t>(c.right)];
    if (r.id != c.right_id) continue;
    l.id = c.merged;
    l.next = r.next;
    if (r.next >= 0) syms[static_cast<size_t>(r.next)].prev = c.left;
    r.id = -1;
    push(l.prev);
    push(c.left);
  }
  for (int32_t i = 0; i >= 0; i = syms[static_cast<size_t>(i)].next)
    out.push_back(syms[static_cast<size_t>(i)].id);
}

void encode_section(const Impl& im, std::string_view text, const std::string& placeholder,
                    std::vector<int32_t>& out) {
  if (text.empty()) return;
  std::string normalized;
  if (im.nfc && tok::nfc_if_needed(text, normalized)) text = normalized;
  std::vector<Span> spans;
  im.pre.split(text, spans);
  for (Span sp : spans) bpe_piece(im, text.substr(sp.begin, sp.end - sp.begin), placeholder, out);
}

}  // namespace

std::vector<int32_t> Tokenizer::encode(std::string_view input, bool add_bos,
                                       bool parse_special) const {
  const Impl& im = *impl_;
  std::vector<int32_t> out;
  // Offsets are 32-bit; replacement characters can triple the size of invalid input.
  if (input.size() > (uint64_t{1} << 30))
    throw Error("tokenizer: text of " + std::to_string(input.size()) +
                " bytes is too long (at most 1 GiB per call)");
  out.reserve(input.size() / 3 + 4);
  if (add_bos && im.bos >= 0) out.push_back(im.bos);
  tok::Prepared p;
  tok::prepare(input, p);
  std::string_view text = p.text;
  if (!parse_special || im.added_matcher.empty()) {
    encode_section(im, text, p.placeholder, out);
    return out;
  }
  // Sections: text spans and added tokens (index into im.added, as -1 - index).
  struct Section {
    Span span;
    int32_t added;  // -1: text
  };
  std::vector<Section> sections;
  size_t start = 0;
  for (size_t pos = 0; pos < text.size();) {
    if (!im.added_matcher.may_start(static_cast<uint8_t>(text[pos]))) {
      ++pos;
      continue;
    }
    size_t len = 0;
    int32_t t = im.added_matcher.match(text, pos, &len);
    if (t < 0) {
      ++pos;
      continue;
    }
    if (pos > start)
      sections.push_back({{static_cast<uint32_t>(start), static_cast<uint32_t>(pos)}, -1});
    sections.push_back({{static_cast<uint32_t>(pos), static_cast<uint32_t>(pos + len)}, t});
    pos += len;
    start = pos;
  }
  if (start < text.size())
    sections.push_back({{static_cast<uint32_t>(start), static_cast<uint32_t>(text.size())}, -1});
  for (size_t i = 0; i < sections.size(); ++i) {
    if (sections[i].added < 0) continue;
    const tok::AddedToken& a = im.added[static_cast<size_t>(sections[i].added)];
    if (a.lstrip && i > 0 && sections[i - 1].added < 0)
      sections[i - 1].span = tok::trim_span(text, sections[i - 1].span, true);
    if (a.rstrip && i + 1 < sections.size() && sections[i + 1].added < 0)
      sections[i + 1].span = tok::trim_span(text, sections[i + 1].span, false);
  }
  for (const Section& s : sections) {
    if (s.added >= 0) {
      out.push_back(im.added[static_cast<size_t>(s.added)].id);
    } else {
      encode_section(im, text.substr(s.span.begin, s.span.end - s.span.begin), p.placeholder, out);
    }
  }
  return out;
}

std::string Tokenizer::decode_bytes(std::span<const int32_t> ids, bool skip_special) const {
  const Impl& im = *impl_;
  std::string out;
  for (int32_t id : ids) {
    im.check_id(id);
    if (skip_special && im.kind[static_cast<size_t>(id)] == TokenKind::Control) continue;
    out += im.bytes[static_cast<size_t>(id)];
  }
  return out;
}

std::string Tokenizer::decode(std::span<const int32_t> ids, bool skip_special) const {
  std::string raw = decode_bytes(ids, skip_special);
  if (tok::utf8_is_valid(raw)) return raw;
  std::string out;
  utf8_sanitize_append(out, raw);
  return out;
}

const std::string& Tokenizer::token_text(int32_t id) const {
  impl_->check_id(id);
  return impl_->text[static_cast<size_t>(id)];
}
const std::string& Tokenizer::token_bytes(int32_t id) const {
  impl_->check_id(id);
  return impl_->bytes[static_cast<size_t>(id)];
}
TokenKind Tokenizer::token_kind(int32_t id) const {
  impl_->check_id(id);
  return impl_->kind[static_cast<size_t>(id)];
}

std::optional<int32_t> Tokenizer::find(std::string_view token) const {
  for (const auto& a : impl_->added)
    if (a.content == token) return a.id;
  int32_t id = impl_->vocab_map.find(impl_->text, token);
  if (id >= 0) return id;
  return std::nullopt;
}

int32_t Tokenizer::bos() const {
  return impl_->bos;
}
int32_t Tokenizer::eos() const {
  return impl_->eos;
}
bool Tokenizer::add_bos() const {
  return impl_->add_bos && impl_->bos >= 0;
}
std::string Tokenizer::bos_text() const {
  return impl_->bos >= 0 ? token_text(impl_->bos) : "";
}
std::string Tokenizer::eos_text() const {
  return impl_->eos >= 0 ? token_text(impl_->eos) : "";
}
size_t Tokenizer::vocab_size() const {
  return impl_->text.size();
}
size_t Tokenizer::merges_count() const {
  return impl_->merges.size();
}
std::vector<std::string> Tokenizer::merges() const {
  std::vector<std::pair<int32_t, uint64_t>> by_rank;
  by_rank.reserve(impl_->merges.size());
  impl_->merges.for_each(
      [&](const tok::MergeMap::Entry& e) { by_rank.emplace_back(e.rank, e.key); });
  std::sort(by_rank.begin(), by_rank.end());
  std::vector<std::string> out;
  out.reserve(by_rank.size());
  for (const auto& [rank, key] : by_rank)
    out.push_back(impl_->text[key >> 32] + " " + impl_->text[key & 0xffffffffu]);
  return out;
}
const std::string& Tokenizer::chat_template() const {
  return impl_->chat_template;
}
const std::string& Tokenizer::pre_tokenizer() const {
  return impl_->pre_name;
}

void Tokenizer::set_added_token(int32_t id, std::string content, bool special) {
  Impl& im = *impl_;
  im.check_id(id);
  if (content.empty()) throw Error("an added token needs a non-empty content");
  auto idx = static_cast<size_t>(id);
  if (im.kind[idx] == TokenKind::Normal) im.vocab_map.erase(im.text, im.text[idx]);
  std::erase_if(im.added, [&](const tok::AddedToken& a) { return a.id == id; });
  im.text[idx] = content;
  im.bytes[idx] = content;
  im.kind[idx] = special ? TokenKind::Control : TokenKind::UserDefined;
  tok::AddedToken a;
  a.content = std::move(content);
  a.id = id;
  a.special = special;
  im.added.push_back(std::move(a));
  im.rebuild_added();
}

bool Tokenizer::apply_r1_think_tokens() {
  constexpr int32_t kThink = 128798, kEndThink = 128799;
  if (find("<think>").has_value() || vocab_size() <= static_cast<size_t>(kEndThink)) return false;
  const std::string p798 = "<\uFF5Cplace\u2581holder\u2581no\u2581798\uFF5C>";
  const std::string p799 = "<\uFF5Cplace\u2581holder\u2581no\u2581799\uFF5C>";
  if (token_text(kThink) != p798 || token_text(kEndThink) != p799) return false;
  set_added_token(kThink, "<think>", false);
  set_added_token(kEndThink, "</think>", false);
  return true;
}

Tokenizer Tokenizer::from_path(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    fs::path dir(path);
    if (fs::exists(dir / "tokenizer.json", ec)) return from_hf((dir / "tokenizer.json").string());
    std::vector<std::string> ggufs;
    for (const auto& e : fs::directory_iterator(dir, ec))
      if (e.path().extension() == ".gguf") ggufs.push_back(e.path().string());
    std::sort(ggufs.begin(), ggufs.end());
    if (ggufs.empty())
      throw Error(path + ": the folder holds neither tokenizer.json nor a .gguf file");
    return from_gguf(gguf::File::open(ggufs.front()));
  }
  if (!fs::exists(path, ec)) throw Error(path + ": no such file or folder");
  if (fs::path(path).extension() == ".gguf") return from_gguf(gguf::File::open(path));
  return from_hf(path);
}

std::string StreamingDecoder::push(int32_t id) {
  if (skip_special_ && tok_->is_special(id)) return {};
  return push_bytes(tok_->token_bytes(id));
}

std::string StreamingDecoder::push_bytes(std::string_view bytes) {
  pending_.append(bytes);
  std::string out;
  const auto* s = reinterpret_cast<const uint8_t*>(pending_.data());
  const size_t n = pending_.size();
  size_t i = 0;
  while (i < n) {
    if (s[i] < 0x80) {
      out.push_back(static_cast<char>(s[i++]));
      continue;
    }
    Utf8Step st = tok::utf8_decode(s + i, n - i);
    if (st.valid) {
      out.append(pending_, i, st.len);
    } else if (st.truncated) {
      break;  // wait for the rest of the character
    } else {
      out += "\xEF\xBF\xBD";
    }
    i += st.len;
  }
  pending_.erase(0, i);
  return out;
}

std::string StreamingDecoder::flush() {
  std::string out;
  if (!pending_.empty()) out = "\xEF\xBF\xBD";  // one truncated sequence is one maximal subpart
  pending_.clear();
  return out;
}

void utf8_sanitize_append(std::string& out, std::string_view bytes) {
  const auto* s = reinterpret_cast<const uint8_t*>(bytes.data());
  const size_t n = bytes.size();
  for (size_t i = 0; i < n;) {
    if (s[i] < 0x80) {
      out.push_back(static_cast<char>(s[i++]));
      continue;
    }
    Utf8Step st = tok::utf8_decode(s + i, n - i);
    if (st.valid)
      out.append(bytes.substr(i, st.len));
    else
      out += "\xEF\xBF\xBD";
    i += st.len;
  }
}

}  // namespace r1
