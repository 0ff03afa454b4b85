// Internal state of r1::Tokenizer, shared by the loaders and the encoder.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/pretokenize.h"
#include "tokenizer/tokenizer.h"

namespace r1::tok {

uint64_t hash_bytes(std::string_view s);

// Open-addressing map from strings to token ids; the strings live in the caller's vector.
class StringIdMap {
 public:
  void build(const std::vector<std::string>& keys, const std::vector<bool>& include);
  // Adds key -> id unless the key is present. keys[id] must be the key.
  void insert(const std::vector<std::string>& keys, int32_t id);
  void erase(const std::vector<std::string>& keys, std::string_view key);
  int32_t find(const std::vector<std::string>& keys, std::string_view key) const;

 private:
  struct Slot {
    uint32_t hash = 0;
    int32_t id = -1;  // -1 empty, -2 erased
  };
  void grow(const std::vector<std::string>& keys);
  std::vector<Slot> slots_;
  size_t used_ = 0;
};

// BPE merge table: (left id, right id) -> (rank, merged id).
class MergeMap {
 public:
  void reserve(size_t n);
  // Keeps the first (lowest) rank of a duplicated pair.
  void insert(int32_t left, int32_t right, int32_t rank, int32_t merged);
  struct Entry {
    uint64_t key = ~0ull;
    int32_t rank = 0;
    int32_t merged = 0;
  };
  const Entry* find(int32_t left, int32_t right) const {
    if (slots_.empty()) return nullptr;
    uint64_t key = (uint64_t(uint32_t(left)) << 32) | uint32_t(right);
    size_t mask = slots_.size() - 1;
    for (size_t i = mix(key) & mask;; i = (i + 1) & mask) {
      const Entry& e = slots_[i];
      if (e.key == key) return &e;
      if (e.key == ~0ull) return nullptr;
    }
  }
  size_t size() const { return used_; }
  template <typename F>
  void for_each(F&& f) const {  // f(const Entry&) for every pair, in no particular order
    for (const Entry& e : slots_)
      if (e.key != ~0ull) f(e);
  }

 private:
  static uint64_t mix(uint64_t k) {
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    return k;
  }
  std::vector<Entry> slots_;
  size_t used_ = 0;
};

struct AddedToken {
  std::string content;
  int32_t id = -1;
  bool special = false;
  bool lstrip = false;
  bool rstrip = false;
};

// Byte trie over the added tokens' contents, for leftmost-longest matching.
class AddedMatcher {
 public:
  void build(const std::vector<AddedToken>& added);
  // Longest added token starting at text[pos], as an index into `added`, or -1.
  int32_t match(std::string_view text, size_t pos, size_t* len) const;
  bool may_start(uint8_t b) const { return first_[b]; }
  bool empty() const { return nodes_.size() <= 1; }

 private:
  struct Node {
    std::vector<std::pair<uint8_t, uint32_t>> next;  // sorted by byte
    int32_t token = -1;
  };
  std::vector<Node> nodes_;
  std::array<bool, 256> first_{};
};

}  // namespace r1::tok

namespace r1 {

struct Tokenizer::Impl {
  Impl();
  const uint64_t instance;         // unique per loaded tokenizer (keys the per-thread BPE cache)
  std::string name;                // file name, for messages
  std::vector<std::string> text;   // per id: as written in the vocabulary
  std::vector<std::string> bytes;  // per id: what it decodes to
  std::vector<TokenKind> kind;     // per id
  tok::StringIdMap vocab_map;      // BPE vocabulary text -> id (not the added tokens)
  tok::MergeMap merges;
  std::array<int32_t, 256> byte_id{};  // the token of each single byte (-1 if none)
  bool ignore_merges = false;
  bool nfc = false;

  std::vector<tok::AddedToken> added;
  tok::AddedMatcher added_matcher;

  tok::PreTokenizer pre;
  std::string pre_name;

  int32_t bos = -1, eos = -1;
  bool add_bos = false;
  std::string chat_template;

  // Called by the loaders once text/kind/added are filled: derives bytes, byte ids, matcher.
  void finish();
  void rebuild_added();
  void check_id(int32_t id) const;
};

}  // namespace r1
