// Constrained decoding: which tokens may come next so that the output stays a sentence of a
// grammar. The grammar applies to the bytes of the generated tokens, optionally only after a
// gate text (a reasoning model's `</think>`: the reasoning is free, the answer is constrained).
// Before the gate every token but the end-of-sequence one is allowed; after it, a token is
// allowed when the grammar accepts all its bytes, and end-of-sequence when the grammar has
// matched a whole sentence.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "sampling/grammar.h"

namespace r1 {

// The vocabulary as bytes, sorted, so that all tokens can be checked against a grammar state in
// one walk that shares the work of common prefixes (tokens are checked like a trie).
class VocabIndex {
 public:
  // bytes[id]: what token id decodes to (empty: never allowed under a grammar); eos: the
  // end-of-sequence id, -1 for none.
  VocabIndex(std::vector<std::string> bytes, int32_t eos);
  size_t size() const { return bytes_.size(); }
  const std::string& bytes(int32_t id) const { return bytes_[static_cast<size_t>(id)]; }
  int32_t eos() const { return eos_; }

 private:
  friend class TokenConstraint;
  std::vector<std::string> bytes_;
  std::vector<int32_t> order_;  // ids with bytes (not eos), sorted by bytes
  std::vector<uint32_t> lcp_;   // bytes order_[i] shares with order_[i - 1]
  size_t max_len_ = 0;
  int32_t eos_ = -1;
};

class TokenConstraint {
 public:
  TokenConstraint(std::shared_ptr<const Grammar> grammar, std::shared_ptr<const VocabIndex> vocab,
                  std::string gate = {});

  bool allows(int32_t id) const;
  // Sets the logits of the tokens not allowed (among the first n) to -infinity.
  void mask(float* logits, int64_t n) const;
  // Takes a token into the output (sampled or inserted). Throws r1::Error when the grammar
  // refuses it.
  void advance(int32_t id);
  bool active() const { return active_; }  // the gate has passed
  // A whole sentence has been generated and nothing more can follow: the output is over.
  bool done() const {
    return active_ && Grammar::complete(state_) && !Grammar::can_continue(state_);
  }
  bool complete() const { return active_ && Grammar::complete(state_); }

 private:
  // What the gate search and the grammar make of `bytes` after the current state: false when
  // the grammar refuses a byte. `state`/`active`/`tail` receive the result when non-null.
  bool step(std::string_view bytes, GrammarState* state, bool* active, std::string* tail) const;

  std::shared_ptr<const Grammar> g_;
  std::shared_ptr<const VocabIndex> v_;
  std::string gate_;
  std::string tail_;  // the last bytes before the gate passed (a gate split across tokens)
  bool active_ = false;
  GrammarState state_;
};

}  // namespace r1
