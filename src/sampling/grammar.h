// Byte-level context-free grammars for constrained decoding, and the matcher that follows one as
// text is generated. A grammar is a set of rules; each rule is a list of alternatives; each
// alternative a sequence of byte sets and references to rules. Repetition is right recursion
// (the builder's star/opt/rep helpers write it), so matching needs no backtracking: the matcher
// keeps every live parse as a stack of positions (an Earley-like set without completion items)
// and advances all of them by one byte at a time. Grammars work on bytes, not characters, so a
// token that ends inside a UTF-8 character is checked exactly as far as it goes; the JSON
// grammars spell UTF-8 out byte by byte (json_schema.h).
//
// Rules must not be left-recursive and a repeated item must not match the empty string: build()
// refuses both (r1::Error), and an expansion deeper than kMaxDepth is refused as well.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace r1 {

// A set of bytes (256 bits).
struct ByteSet {
  std::array<uint64_t, 4> bits{};
  bool has(uint8_t b) const { return (bits[b >> 6] >> (b & 63)) & 1; }
  ByteSet& add(uint8_t b) {
    bits[b >> 6] |= uint64_t{1} << (b & 63);
    return *this;
  }
  ByteSet& add_range(uint8_t lo, uint8_t hi) {
    for (int b = lo; b <= hi; ++b) add(static_cast<uint8_t>(b));
    return *this;
  }
  ByteSet& remove(uint8_t b) {
    bits[b >> 6] &= ~(uint64_t{1} << (b & 63));
    return *this;
  }
  static ByteSet of(std::string_view bytes);
  static ByteSet range(uint8_t lo, uint8_t hi) { return ByteSet{}.add_range(lo, hi); }
};

class Grammar;

// The live parses after some bytes: each a stack of positions into the grammar, the top (last)
// one at a byte set. An empty stack means the whole root rule has matched.
struct GrammarState {
  std::vector<uint32_t> data;  // the stacks, one after another
  std::vector<uint32_t> ends;  // end offset of each stack in data

  size_t size() const { return ends.size(); }
  bool empty() const { return ends.empty(); }
  void clear() {
    data.clear();
    ends.clear();
  }
};

class Grammar {
 public:
  static constexpr int kMaxDepth = 2048;
  // Live parses of one text beyond this are refused (r1::Error): an ambiguous grammar (nested
  // alternatives that match the same text) would otherwise grow them exponentially.
  static constexpr int kMaxParses = 1024;

  // The parses before any byte (the root rule's alternatives, expanded).
  GrammarState start() const;
  // The parses after `b`; false (and `out` empty) when no parse accepts it.
  bool advance(const GrammarState& in, uint8_t b, GrammarState& out) const;
  // Feeds `bytes` into `state` in place; false (state left dead) at the first refused byte.
  bool advance(GrammarState& state, std::string_view bytes) const;
  // The root rule has matched all the bytes fed (more may follow).
  static bool complete(const GrammarState& s);
  // Some parse can take another byte.
  static bool can_continue(const GrammarState& s);
  // Whether the whole of `text` is a sentence of the grammar (for tests and checks).
  bool matches(std::string_view text) const;

  size_t rule_count() const { return rule_alts_.size(); }

 private:
  friend class GrammarBuilder;
  enum class Kind : uint8_t { kEnd, kRef, kBytes };
  struct Elem {
    Kind kind = Kind::kEnd;
    uint32_t arg = 0;  // rule index (kRef) or byte-set index (kBytes)
  };
  void expand(std::vector<uint32_t>& stack, GrammarState& out, int depth) const;

  std::vector<Elem> elems_;                       // all alternatives, each ending with kEnd
  std::vector<ByteSet> sets_;                     // byte sets of kBytes elements
  std::vector<std::vector<uint32_t>> rule_alts_;  // rule -> start positions of its alternatives
  uint32_t root_ = 0;
};

// Writes a grammar. A Seq is a sequence of items; rules are referenced by index.
class GrammarBuilder {
 public:
  struct Item {
    bool is_rule = false;
    uint32_t rule = 0;
    ByteSet set;
  };
  using Seq = std::vector<Item>;

  // A new rule with no alternatives yet (for recursion: declare, then define).
  uint32_t declare(std::string name);
  void define(uint32_t rule, std::vector<Seq> alternatives);
  uint32_t rule(std::string name, std::vector<Seq> alternatives);

  static Seq lit(std::string_view bytes);  // the bytes in order
  static Seq set(const ByteSet& s);        // one byte of the set
  static Seq ref(uint32_t rule);
  static Seq cat(std::initializer_list<Seq> parts);

  // Rules for repetition of `item` (which must not match the empty string).
  uint32_t star(const Seq& item, const std::string& name);  // zero or more
  uint32_t opt(const Seq& item, const std::string& name);   // zero or one
  // min..max copies; max < 0: unbounded.
  uint32_t rep(const Seq& item, int64_t min, int64_t max, const std::string& name);

  // Rules already written under `name` (for memoising generated rules); -1 when none.
  int64_t find(const std::string& name) const;

  // Checks that every declared rule is defined, that no repeated item is nullable and that no
  // rule is left-recursive.
  std::shared_ptr<const Grammar> build(uint32_t root) const;

 private:
  std::vector<std::string> names_;
  std::vector<std::vector<Seq>> alts_;
  std::vector<bool> defined_;
  std::vector<std::pair<uint32_t, std::string>> repeated_;  // rules that repeat an item
};

}  // namespace r1
