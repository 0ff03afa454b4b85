#include "sampling/constraint.h"

#include <algorithm>
#include <limits>
#include <numeric>

#include "core/check.h"
#include "core/error.h"

namespace r1 {

VocabIndex::VocabIndex(std::vector<std::string> bytes, int32_t eos)
    : bytes_(std::move(bytes)), eos_(eos) {
  for (size_t i = 0; i < bytes_.size(); ++i)
    if (!bytes_[i].empty() && static_cast<int32_t>(i) != eos_)
      order_.push_back(static_cast<int32_t>(i));
  std::sort(order_.begin(), order_.end(), [&](int32_t a, int32_t b) {
    return bytes_[static_cast<size_t>(a)] < bytes_[static_cast<size_t>(b)];
  });
  lcp_.resize(order_.size(), 0);
  for (size_t i = 0; i < order_.size(); ++i) {
    const std::string& t = bytes_[static_cast<size_t>(order_[i])];
    max_len_ = std::max(max_len_, t.size());
    if (i == 0) continue;
    const std::string& p = bytes_[static_cast<size_t>(order_[i - 1])];
    const size_t n = std::min(p.size(), t.size());
    size_t k = 0;
    while (k < n && p[k] == t[k]) ++k;
    lcp_[i] = static_cast<uint32_t>(k);
  }
}

TokenConstraint::TokenConstraint(std::shared_ptr<const Grammar> grammar,
                                 std::shared_ptr<const VocabIndex> vocab, std::string gate)
    : g_(std::move(grammar)), v_(std::move(vocab)), gate_(std::move(gate)) {
  R1_CHECK(g_ != nullptr && v_ != nullptr);
  state_ = g_->start();
  active_ = gate_.empty();
}

bool TokenConstraint::step(std::string_view bytes, GrammarState* state, bool* active,
                           std::string* tail) const {
  GrammarState s = state_;
  bool on = active_;
  std::string_view rest = bytes;
  std::string joined;
  if (!on) {
    joined = tail_;
    joined.append(bytes);
    const size_t at = joined.find(gate_);
    if (at == std::string::npos) {
      if (tail != nullptr) {
        const size_t keep = std::min(joined.size(), gate_.size() - 1);
        *tail = joined.substr(joined.size() - keep);
      }
      if (active != nullptr) *active = false;
      if (state != nullptr) *state = std::move(s);
      return true;
    }
    on = true;
    rest = std::string_view(joined).substr(at + gate_.size());
  }
  if (!g_->advance(s, rest)) return false;
  if (active != nullptr) *active = on;
  if (tail != nullptr) tail->clear();
  if (state != nullptr) *state = std::move(s);
  return true;
}

bool TokenConstraint::allows(int32_t id) const {
  if (id < 0 || static_cast<size_t>(id) >= v_->size()) return false;
  if (id == v_->eos()) return complete();
  const std::string& t = v_->bytes(id);
  if (t.empty()) return false;
  if (!active_ && t.find(gate_.back()) == std::string::npos) return true;  // cannot pass the gate
  return step(t, nullptr, nullptr, nullptr);
}

void TokenConstraint::mask(float* logits, int64_t n) const {
  constexpr float kForbidden = -std::numeric_limits<float>::infinity();
  std::vector<uint8_t> ok(static_cast<size_t>(n), 0);
  if (!active_) {
    for (int64_t id = 0; id < n; ++id)
      ok[static_cast<size_t>(id)] = allows(static_cast<int32_t>(id));
  } else {
    // Walk the tokens in byte order: levels[d] is the grammar state after the first d bytes of
    // the current token, reused by the next token for the prefix they share. A prefix the
    // grammar refuses rules out every token after it that shares it.
    thread_local std::vector<GrammarState> levels;
    levels.resize(v_->max_len_ + 1);
    levels[0] = state_;
    size_t valid = 0;                                  // levels[0..valid] hold the current prefix
    size_t dead = std::numeric_limits<size_t>::max();  // refused prefix length of the last walk
    for (size_t k = 0; k < v_->order_.size(); ++k) {
      const int32_t id = v_->order_[k];
      const std::string& t = v_->bytes_[static_cast<size_t>(id)];
      const size_t shared = v_->lcp_[k];
      if (dead <= shared) continue;  // starts with a refused prefix
      size_t d = std::min(valid, shared);
      dead = std::numeric_limits<size_t>::max();
      for (; d < t.size(); ++d) {
        if (!g_->advance(levels[d], static_cast<uint8_t>(t[d]), levels[d + 1])) {
          dead = d + 1;
          break;
        }
      }
      valid = dead == std::numeric_limits<size_t>::max() ? t.size() : dead - 1;
      if (dead == std::numeric_limits<size_t>::max() && id < n) ok[static_cast<size_t>(id)] = 1;
    }
    const int32_t eos = v_->eos();
    if (eos >= 0 && eos < n) ok[static_cast<size_t>(eos)] = Grammar::complete(state_);
  }
  for (int64_t id = 0; id < n; ++id)
    if (!ok[static_cast<size_t>(id)]) logits[id] = kForbidden;
}

void TokenConstraint::advance(int32_t id) {
  if (id < 0 || static_cast<size_t>(id) >= v_->size())
    throw Error("token " + std::to_string(id) + " is outside the vocabulary of the constraint");
  if (id == v_->eos()) {
    if (!complete()) throw Error("the output ended before it matched the required format");
    return;
  }
  GrammarState s;
  bool on = false;
  std::string tail;
  if (!step(v_->bytes(id), &s, &on, &tail))
    throw Error("token " + std::to_string(id) + " does not fit the required output format");
  state_ = std::move(s);
  active_ = on;
  tail_ = std::move(tail);
}

}  // namespace r1
