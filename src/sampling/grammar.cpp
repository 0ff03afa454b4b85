#include "sampling/grammar.h"

#include <algorithm>
#include <cstring>

#include "core/check.h"
#include "core/error.h"

namespace r1 {

ByteSet ByteSet::of(std::string_view bytes) {
  ByteSet s;
  for (char c : bytes) s.add(static_cast<uint8_t>(c));
  return s;
}

// ---- Grammar

namespace {

// Appends `stack` to `out` unless an equal stack is already there.
void add_stack(GrammarState& out, const std::vector<uint32_t>& stack) {
  uint32_t begin = 0;
  for (uint32_t end : out.ends) {
    if (end - begin == stack.size() &&
        std::equal(stack.begin(), stack.end(), out.data.begin() + begin))
      return;
    begin = end;
  }
  if (out.ends.size() >= static_cast<size_t>(Grammar::kMaxParses))
    throw Error("the grammar is too ambiguous: more than " + std::to_string(Grammar::kMaxParses) +
                " parses of the same text");
  out.data.insert(out.data.end(), stack.begin(), stack.end());
  out.ends.push_back(static_cast<uint32_t>(out.data.size()));
}

}  // namespace

void Grammar::expand(std::vector<uint32_t>& stack, GrammarState& out, int depth) const {
  if (depth > kMaxDepth || stack.size() > static_cast<size_t>(kMaxDepth))
    throw Error("the grammar recurses without consuming input (left recursion?)");
  if (stack.empty()) {
    add_stack(out, stack);
    return;
  }
  const uint32_t p = stack.back();
  const Elem& e = elems_[p];
  switch (e.kind) {
    case Kind::kBytes:
      add_stack(out, stack);
      return;
    case Kind::kEnd:
      stack.pop_back();
      expand(stack, out, depth + 1);
      stack.push_back(p);
      return;
    case Kind::kRef: {
      // Continue after the reference once the rule ends; a reference in tail position leaves
      // no frame behind, so right recursion keeps the stack flat.
      const bool tail = elems_[p + 1].kind == Kind::kEnd;
      if (tail)
        stack.pop_back();
      else
        stack.back() = p + 1;
      for (uint32_t a : rule_alts_[e.arg]) {
        stack.push_back(a);
        expand(stack, out, depth + 1);
        stack.pop_back();
      }
      if (tail)
        stack.push_back(p);
      else
        stack.back() = p;
      return;
    }
  }
}

GrammarState Grammar::start() const {
  GrammarState s;
  std::vector<uint32_t> stack;
  for (uint32_t a : rule_alts_[root_]) {
    stack.assign(1, a);
    expand(stack, s, 0);
  }
  return s;
}

bool Grammar::advance(const GrammarState& in, uint8_t b, GrammarState& out) const {
  out.clear();
  thread_local std::vector<uint32_t> stack;
  uint32_t begin = 0;
  for (uint32_t end : in.ends) {
    if (end > begin) {
      const uint32_t top = in.data[end - 1];
      const Elem& e = elems_[top];
      if (e.kind == Kind::kBytes && sets_[e.arg].has(b)) {
        stack.assign(in.data.begin() + begin, in.data.begin() + end);
        stack.back() = top + 1;
        expand(stack, out, 0);
      }
    }
    begin = end;
  }
  return !out.empty();
}

bool Grammar::advance(GrammarState& state, std::string_view bytes) const {
  GrammarState next;
  for (char c : bytes) {
    if (!advance(state, static_cast<uint8_t>(c), next)) {
      state.clear();
      return false;
    }
    std::swap(state, next);
  }
  return true;
}

bool Grammar::complete(const GrammarState& s) {
  uint32_t begin = 0;
  for (uint32_t end : s.ends) {
    if (end == begin) return true;
    begin = end;
  }
  return false;
}

bool Grammar::can_continue(const GrammarState& s) {
  uint32_t begin = 0;
  for (uint32_t end : s.ends) {
    if (end > begin) return true;
    begin = end;
  }
  return false;
}

bool Grammar::matches(std::string_view text) const {
  GrammarState s = start();
  return advance(s, text) && complete(s);
}

// ---- GrammarBuilder

uint32_t GrammarBuilder::declare(std::string name) {
  names_.push_back(std::move(name));
  alts_.emplace_back();
  defined_.push_back(false);
  return static_cast<uint32_t>(names_.size() - 1);
}

void GrammarBuilder::define(uint32_t rule, std::vector<Seq> alternatives) {
  R1_CHECK(rule < alts_.size() && !defined_[rule]);
  alts_[rule] = std::move(alternatives);
  defined_[rule] = true;
}

uint32_t GrammarBuilder::rule(std::string name, std::vector<Seq> alternatives) {
  const uint32_t r = declare(std::move(name));
  define(r, std::move(alternatives));
  return r;
}

GrammarBuilder::Seq GrammarBuilder::lit(std::string_view bytes) {
  Seq s;
  for (char c : bytes) s.push_back(Item{false, 0, ByteSet{}.add(static_cast<uint8_t>(c))});
  return s;
}

GrammarBuilder::Seq GrammarBuilder::set(const ByteSet& b) {
  return Seq{Item{false, 0, b}};
}

GrammarBuilder::Seq GrammarBuilder::ref(uint32_t rule) {
  return Seq{Item{true, rule, {}}};
}

GrammarBuilder::Seq GrammarBuilder::cat(std::initializer_list<Seq> parts) {
  Seq s;
  for (const Seq& p : parts) s.insert(s.end(), p.begin(), p.end());
  return s;
}

uint32_t GrammarBuilder::star(const Seq& item, const std::string& name) {
  const uint32_t r = declare(name);
  define(r, {cat({item, ref(r)}), Seq{}});
  repeated_.emplace_back(rule(name + "-item", {item}), name);
  return r;
}

uint32_t GrammarBuilder::opt(const Seq& item, const std::string& name) {
  return rule(name, {item, Seq{}});
}

uint32_t GrammarBuilder::rep(const Seq& item, int64_t min, int64_t max, const std::string& name) {
  R1_CHECK(min >= 0 && (max < 0 || max >= min));
  // The optional tail first: up to max - min more copies (nested options), or any number.
  uint32_t tail;
  if (max < 0) {
    tail = star(item, name + "-more");
  } else {
    tail = rule(name + "-none", {Seq{}});
    for (int64_t i = 0; i < max - min; ++i)
      tail = rule(name + "-upto", {cat({item, ref(tail)}), Seq{}});
    if (max > min) repeated_.emplace_back(rule(name + "-item", {item}), name);
  }
  Seq s;
  for (int64_t i = 0; i < min; ++i) s.insert(s.end(), item.begin(), item.end());
  s.push_back(Item{true, tail, {}});
  return rule(name, {s});
}

int64_t GrammarBuilder::find(const std::string& name) const {
  for (size_t i = 0; i < names_.size(); ++i)
    if (names_[i] == name) return static_cast<int64_t>(i);
  return -1;
}

std::shared_ptr<const Grammar> GrammarBuilder::build(uint32_t root) const {
  R1_CHECK(root < alts_.size());
  for (size_t r = 0; r < alts_.size(); ++r)
    if (!defined_[r]) throw Error("grammar rule '" + names_[r] + "' is used but never defined");
  // Nullable rules (can match the empty string), by fixpoint.
  std::vector<bool> nullable(alts_.size(), false);
  for (bool changed = true; changed;) {
    changed = false;
    for (size_t r = 0; r < alts_.size(); ++r) {
      if (nullable[r]) continue;
      for (const Seq& alt : alts_[r]) {
        const bool all = std::all_of(alt.begin(), alt.end(), [&](const Item& it) {
          return it.is_rule && nullable[it.rule];
        });
        if (all) {
          nullable[r] = changed = true;
          break;
        }
      }
    }
  }
  for (const auto& [item, name] : repeated_)
    if (nullable[item])
      throw Error("grammar rule '" + name + "' repeats something that can be empty");
  // Left recursion: a rule that can reach itself before consuming a byte.
  std::vector<std::vector<uint32_t>> left(alts_.size());  // rules each can start with
  for (size_t r = 0; r < alts_.size(); ++r)
    for (const Seq& alt : alts_[r])
      for (const Item& it : alt) {
        if (!it.is_rule) break;
        left[r].push_back(it.rule);
        if (!nullable[it.rule]) break;
      }
  std::vector<uint8_t> mark(alts_.size(), 0);  // 0 new, 1 on the path, 2 done
  std::vector<std::pair<uint32_t, size_t>> path;
  for (size_t r0 = 0; r0 < alts_.size(); ++r0) {
    if (mark[r0]) continue;
    path.assign(1, {static_cast<uint32_t>(r0), 0});
    mark[r0] = 1;
    while (!path.empty()) {
      auto& [r, next] = path.back();
      if (next == left[r].size()) {
        mark[r] = 2;
        path.pop_back();
        continue;
      }
      const uint32_t s = left[r][next++];
      if (mark[s] == 1)
        throw Error("grammar rule '" + names_[s] + "' refers to itself before any input");
      if (mark[s] == 0) {
        mark[s] = 1;
        path.emplace_back(s, 0);
      }
    }
  }

  auto g = std::make_shared<Grammar>();
  g->root_ = root;
  g->rule_alts_.resize(alts_.size());
  for (size_t r = 0; r < alts_.size(); ++r) {
    for (const Seq& alt : alts_[r]) {
      g->rule_alts_[r].push_back(static_cast<uint32_t>(g->elems_.size()));
      for (const Item& it : alt) {
        if (it.is_rule) {
          g->elems_.push_back({Grammar::Kind::kRef, it.rule});
        } else {
          g->elems_.push_back({Grammar::Kind::kBytes, static_cast<uint32_t>(g->sets_.size())});
          g->sets_.push_back(it.set);
        }
      }
      g->elems_.push_back({Grammar::Kind::kEnd, 0});
    }
  }
  return g;
}

}  // namespace r1
