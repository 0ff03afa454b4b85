#include "sampling/json_schema.h"

#include <map>

#include "core/error.h"

namespace r1::json_grammar {
namespace {

using json = nlohmann::json;
using Seq = GrammarBuilder::Seq;
using B = GrammarBuilder;

constexpr int64_t kMaxWhitespace = 16;
constexpr int64_t kMaxBoundedRepeat = 256;  // longer minLength/maxLength/maxItems: unbounded
constexpr int kMaxSchemaDepth = 64;

// A shared rule, written once per builder.
template <typename F>
uint32_t memo(GrammarBuilder& b, const std::string& name, F make) {
  const int64_t r = b.find(name);
  if (r >= 0) return static_cast<uint32_t>(r);
  return make();
}

uint32_t hex_digit(GrammarBuilder& b) {
  return memo(b, "json-hex", [&] {
    return b.rule("json-hex",
                  {B::set(ByteSet::range('0', '9').add_range('a', 'f').add_range('A', 'F'))});
  });
}

// One character of a JSON string: printable ASCII but `"`, `\` and `<`, an escape (surrogates
// only in pairs), or a well-formed UTF-8 sequence (no surrogates, no overlong forms).
uint32_t string_char(GrammarBuilder& b) {
  return memo(b, "json-char", [&] {
    const ByteSet cont = ByteSet::range(0x80, 0xBF);
    // `<` only as \u003c: then no special-token text (`<｜tool▁call▁end｜>`, `</think>`) can
    // appear in a string, where the output parser would take it for a marker.
    const ByteSet ascii = ByteSet::range(0x20, 0x7F).remove('"').remove('\\').remove('<');
    const uint32_t hex = hex_digit(b);
    return b.rule(
        "json-char",
        {B::set(ascii), B::cat({B::lit("\\"), B::set(ByteSet::of("\"\\/bfnrt"))}),
         // \uXXXX outside the surrogates, or a high surrogate escape then a low one.
         B::cat({B::lit("\\u"),
                 B::set(ByteSet::range('0', '9').add_range('a', 'c').add_range('A', 'C')),
                 B::ref(hex), B::ref(hex), B::ref(hex)}),
         B::cat({B::lit("\\u"), B::set(ByteSet::of("dD")), B::set(ByteSet::range('0', '7')),
                 B::ref(hex), B::ref(hex)}),
         B::cat(
             {B::lit("\\u"), B::set(ByteSet::of("eEfF")), B::ref(hex), B::ref(hex), B::ref(hex)}),
         B::cat({B::lit("\\u"), B::set(ByteSet::of("dD")), B::set(ByteSet::of("89abAB")),
                 B::ref(hex), B::ref(hex), B::lit("\\u"), B::set(ByteSet::of("dD")),
                 B::set(ByteSet::range('c', 'f').add_range('C', 'F')), B::ref(hex), B::ref(hex)}),
         B::cat({B::set(ByteSet::range(0xC2, 0xDF)), B::set(cont)}),
         B::cat({B::lit("\xE0"), B::set(ByteSet::range(0xA0, 0xBF)), B::set(cont)}),
         B::cat({B::set(ByteSet::range(0xE1, 0xEC).add_range(0xEE, 0xEF)), B::set(cont),
                 B::set(cont)}),
         B::cat({B::lit("\xED"), B::set(ByteSet::range(0x80, 0x9F)), B::set(cont)}),
         B::cat({B::lit("\xF0"), B::set(ByteSet::range(0x90, 0xBF)), B::set(cont), B::set(cont)}),
         B::cat({B::set(ByteSet::range(0xF1, 0xF3)), B::set(cont), B::set(cont), B::set(cont)}),
         B::cat({B::lit("\xF4"), B::set(ByteSet::range(0x80, 0x8F)), B::set(cont), B::set(cont)})});
  });
}

uint32_t any_string(GrammarBuilder& b) {
  return memo(b, "json-string", [&] {
    const uint32_t chars = b.star(B::ref(string_char(b)), "json-chars");
    return b.rule("json-string", {B::cat({B::lit("\""), B::ref(chars), B::lit("\"")})});
  });
}

uint32_t integer(GrammarBuilder& b) {
  return memo(b, "json-integer", [&] {
    const uint32_t digits = b.rep(B::set(ByteSet::range('0', '9')), 0, 19, "json-int-digits");
    const uint32_t sign = b.opt(B::lit("-"), "json-minus");
    return b.rule("json-integer",
                  {B::cat({B::ref(sign), B::lit("0")}),
                   B::cat({B::ref(sign), B::set(ByteSet::range('1', '9')), B::ref(digits)})});
  });
}

uint32_t number(GrammarBuilder& b) {
  return memo(b, "json-number", [&] {
    const ByteSet digit = ByteSet::range('0', '9');
    const uint32_t frac =
        b.opt(B::cat({B::lit("."), B::ref(b.rep(B::set(digit), 1, 20, "json-frac-digits"))}),
              "json-frac");
    const uint32_t exp = b.opt(B::cat({B::set(ByteSet::of("eE")),
                                       B::ref(b.opt(B::set(ByteSet::of("+-")), "json-exp-sign")),
                                       B::ref(b.rep(B::set(digit), 1, 2, "json-exp-digits"))}),
                               "json-exp");
    return b.rule("json-number", {B::cat({B::ref(integer(b)), B::ref(frac), B::ref(exp)})});
  });
}

uint32_t boolean(GrammarBuilder& b) {
  return memo(b, "json-boolean", [&] {
    return b.rule("json-boolean", {B::lit("true"), B::lit("false")});
  });
}

uint32_t null(GrammarBuilder& b) {
  return memo(b, "json-null", [&] { return b.rule("json-null", {B::lit("null")}); });
}

// "[" items "]" with `item` values, min..max of them (max < 0: any number).
uint32_t array_of(GrammarBuilder& b, uint32_t item, int64_t min, int64_t max,
                  const std::string& name) {
  const uint32_t ws = whitespace(b);
  const Seq next = B::cat({B::ref(ws), B::lit(","), B::ref(ws), B::ref(item)});
  std::vector<Seq> alts;
  if (min == 0) alts.push_back(B::cat({B::lit("["), B::ref(ws), B::lit("]")}));
  if (max != 0) {
    const int64_t more_min = std::max<int64_t>(min - 1, 0);
    const int64_t more_max = max < 0 ? -1 : max - 1;
    const uint32_t more = b.rep(next, more_min, more_max, name + "-more");
    alts.push_back(
        B::cat({B::lit("["), B::ref(ws), B::ref(item), B::ref(more), B::ref(ws), B::lit("]")}));
  }
  if (alts.empty()) throw Error(name + ": no array length satisfies minItems and maxItems");
  return b.rule(name, alts);
}

// "{" members "}" with any keys and `value` values.
uint32_t map_of(GrammarBuilder& b, uint32_t value, const std::string& name) {
  const uint32_t ws = whitespace(b);
  const uint32_t member =
      b.rule(name + "-member",
             {B::cat({B::ref(any_string(b)), B::ref(ws), B::lit(":"), B::ref(ws), B::ref(value)})});
  const uint32_t more =
      b.star(B::cat({B::ref(ws), B::lit(","), B::ref(ws), B::ref(member)}), name + "-more");
  return b.rule(
      name,
      {B::cat({B::lit("{"), B::ref(ws), B::lit("}")}),
       B::cat({B::lit("{"), B::ref(ws), B::ref(member), B::ref(more), B::ref(ws), B::lit("}")})});
}

class SchemaCompiler {
 public:
  SchemaCompiler(GrammarBuilder& b, const json& root) : b_(b), root_(root) {}

  uint32_t compile(const json& s, const std::string& at, int depth) {
    if (depth > kMaxSchemaDepth) throw Error(at + ": the schema is nested too deeply");
    if (s.is_boolean()) {
      if (!s.get<bool>()) throw Error(at + ": the schema 'false' accepts nothing");
      return any_value(b_);
    }
    if (!s.is_object()) throw Error(at + ": a schema must be an object or a boolean");
    if (auto it = s.find("$ref"); it != s.end()) return reference(*it, at, depth);
    if (auto it = s.find("const"); it != s.end()) return literal_rule({*it}, at);
    if (auto it = s.find("enum"); it != s.end()) {
      if (!it->is_array() || it->empty()) throw Error(at + ".enum: must be a non-empty array");
      return literal_rule(std::vector<json>(it->begin(), it->end()), at);
    }
    for (const char* key : {"anyOf", "oneOf"}) {
      if (auto it = s.find(key); it != s.end()) {
        if (!it->is_array() || it->empty())
          throw Error(at + "." + key + ": must be a non-empty array of schemas");
        std::vector<Seq> alts;
        for (size_t i = 0; i < it->size(); ++i)
          alts.push_back(
              B::ref(compile((*it)[i], at + "." + key + "[" + std::to_string(i) + "]", depth + 1)));
        return b_.rule(at, alts);
      }
    }
    if (auto it = s.find("allOf"); it != s.end()) {
      if (!it->is_array() || it->size() != 1)
        throw Error(at + ".allOf: only an allOf of one schema is supported");
      return compile((*it)[0], at + ".allOf[0]", depth + 1);
    }
    auto t = s.find("type");
    if (t == s.end()) {
      // No type: infer it from the keywords, else any value.
      if (s.contains("properties") || s.contains("additionalProperties") || s.contains("required"))
        return typed(s, "object", at, depth);
      if (s.contains("items")) return typed(s, "array", at, depth);
      return any_value(b_);
    }
    if (t->is_string()) return typed(s, t->get<std::string>(), at, depth);
    if (t->is_array() && !t->empty()) {
      std::vector<Seq> alts;
      for (const json& one : *t) {
        if (!one.is_string()) throw Error(at + ".type: must be a string or an array of strings");
        alts.push_back(B::ref(typed(s, one.get<std::string>(), at, depth)));
      }
      return b_.rule(at, alts);
    }
    throw Error(at + ".type: must be a string or a non-empty array of strings");
  }

 private:
  uint32_t literal_rule(const std::vector<json>& values, const std::string& at) {
    std::vector<Seq> alts;
    for (const json& v : values) alts.push_back(B::lit(v.dump()));
    return b_.rule(at, alts);
  }

  uint32_t reference(const json& ref, const std::string& at, int depth) {
    if (!ref.is_string()) throw Error(at + ".$ref: must be a string");
    const std::string r = ref.get<std::string>();
    if (auto it = refs_.find(r); it != refs_.end()) return it->second;
    if (r.empty() || r[0] != '#')
      throw Error(at + ".$ref: only references inside the schema (\"#...\") are supported, not '" +
                  r + "'");
    const json* target = nullptr;
    try {
      target = &root_.at(json::json_pointer(r.substr(1)));
    } catch (const json::exception&) {
      throw Error(at + ".$ref: '" + r + "' does not resolve inside the schema");
    }
    // Declared before compiling, so a recursive schema refers to itself.
    const uint32_t rule = b_.declare(r);
    refs_[r] = rule;
    b_.define(rule, {B::ref(compile(*target, r, depth + 1))});
    return rule;
  }

  static int64_t count(const json& s, const char* key, int64_t dflt, const std::string& at) {
    auto it = s.find(key);
    if (it == s.end()) return dflt;
    if (!it->is_number_integer() || it->get<int64_t>() < 0)
      throw Error(at + "." + key + ": must be a non-negative integer");
    return it->get<int64_t>();
  }

  uint32_t typed(const json& s, const std::string& type, const std::string& at, int depth) {
    if (type == "string") return string_rule(s, at);
    if (type == "number") return number(b_);
    if (type == "integer") return integer(b_);
    if (type == "boolean") return boolean(b_);
    if (type == "null") return null(b_);
    if (type == "array") return array_rule(s, at, depth);
    if (type == "object") return object_rule(s, at, depth);
    throw Error(at + ".type: unknown type '" + type + "'");
  }

  uint32_t string_rule(const json& s, const std::string& at) {
    const int64_t min = count(s, "minLength", 0, at);
    int64_t max = count(s, "maxLength", -1, at);
    if (max >= 0 && max < min) throw Error(at + ": maxLength is below minLength");
    if (min == 0 && max < 0) return any_string(b_);
    if (min > kMaxBoundedRepeat) throw Error(at + ".minLength: at most 256 is supported");
    if (max > kMaxBoundedRepeat) max = -1;
    const uint32_t chars = b_.rep(B::ref(string_char(b_)), min, max, at + "-chars");
    return b_.rule(at, {B::cat({B::lit("\""), B::ref(chars), B::lit("\"")})});
  }

  uint32_t array_rule(const json& s, const std::string& at, int depth) {
    const int64_t min = count(s, "minItems", 0, at);
    int64_t max = count(s, "maxItems", -1, at);
    if (max >= 0 && max < min) throw Error(at + ": maxItems is below minItems");
    if (min > kMaxBoundedRepeat) throw Error(at + ".minItems: at most 256 is supported");
    if (max > kMaxBoundedRepeat) max = -1;
    auto items = s.find("items");
    const uint32_t item =
        items == s.end() ? any_value(b_) : compile(*items, at + ".items", depth + 1);
    return array_of(b_, item, min, max, at);
  }

  uint32_t object_rule(const json& s, const std::string& at, int depth) {
    auto props = s.find("properties");
    auto extra = s.find("additionalProperties");
    if (props == s.end()) {
      if (extra == s.end() || (extra->is_boolean() && extra->get<bool>())) return any_object(b_);
      if (extra->is_boolean())
        return b_.rule(at, {B::cat({B::lit("{"), B::ref(whitespace(b_)), B::lit("}")})});
      return map_of(b_, compile(*extra, at + ".additionalProperties", depth + 1), at);
    }
    if (!props->is_object()) throw Error(at + ".properties: must be an object");
    std::vector<std::string> required;
    if (auto req = s.find("required"); req != s.end()) {
      if (!req->is_array()) throw Error(at + ".required: must be an array of property names");
      for (const json& r : *req) {
        if (!r.is_string()) throw Error(at + ".required: must be an array of property names");
        if (!props->contains(r.get<std::string>()))
          throw Error(at + ".required: '" + r.get<std::string>() +
                      "' is not one of the properties");
        required.push_back(r.get<std::string>());
      }
    }
    // Properties in the order the JSON object keeps them (sorted by name); each optional one
    // may be left out. first[i]: at property i, none written yet; rest[i]: some written.
    const uint32_t ws = whitespace(b_);
    std::vector<std::pair<std::string, uint32_t>> kv;
    for (const auto& [name, sub] : props->items()) {
      const uint32_t v = compile(sub, at + ".properties." + name, depth + 1);
      kv.emplace_back(name,
                      b_.rule(at + "." + name, {B::cat({B::lit(json(name).dump()), B::ref(ws),
                                                        B::lit(":"), B::ref(ws), B::ref(v)})}));
    }
    const size_t n = kv.size();
    std::vector<uint32_t> first(n + 1), rest(n + 1);
    first[n] = b_.rule(at + "-end", {Seq{}});
    rest[n] = first[n];
    for (size_t i = n; i-- > 0;) {
      const bool req = std::find(required.begin(), required.end(), kv[i].first) != required.end();
      std::vector<Seq> f = {B::cat({B::ref(kv[i].second), B::ref(rest[i + 1])})};
      std::vector<Seq> r = {
          B::cat({B::ref(ws), B::lit(","), B::ref(ws), B::ref(kv[i].second), B::ref(rest[i + 1])})};
      if (!req) {
        f.push_back(B::ref(first[i + 1]));
        r.push_back(B::ref(rest[i + 1]));
      }
      first[i] = b_.rule(at + "-first", f);
      rest[i] = b_.rule(at + "-rest", r);
    }
    return b_.rule(at,
                   {B::cat({B::lit("{"), B::ref(ws), B::ref(first[0]), B::ref(ws), B::lit("}")})});
  }

  GrammarBuilder& b_;
  const json& root_;
  std::map<std::string, uint32_t> refs_;
};

}  // namespace

uint32_t whitespace(GrammarBuilder& b) {
  return memo(b, "json-ws",
              [&] { return b.rep(B::set(ByteSet::of(" \t\n\r")), 0, kMaxWhitespace, "json-ws"); });
}

uint32_t any_value(GrammarBuilder& b) {
  return memo(b, "json-value", [&] {
    const uint32_t value = b.declare("json-value");
    const uint32_t object = map_of(b, value, "json-object");
    const uint32_t array = array_of(b, value, 0, -1, "json-array");
    b.define(value, {B::ref(object), B::ref(array), B::ref(any_string(b)), B::ref(number(b)),
                     B::ref(boolean(b)), B::ref(null(b))});
    return value;
  });
}

uint32_t any_object(GrammarBuilder& b) {
  any_value(b);
  return static_cast<uint32_t>(b.find("json-object"));
}

uint32_t schema_value(GrammarBuilder& b, const json& schema, const std::string& where) {
  SchemaCompiler c(b, schema);
  return c.compile(schema, where, 0);
}

std::shared_ptr<const Grammar> document_grammar(const json* schema) {
  GrammarBuilder b;
  const uint32_t value = schema != nullptr ? schema_value(b, *schema) : any_object(b);
  const uint32_t ws = whitespace(b);
  return b.build(b.rule("root", {B::cat({B::ref(ws), B::ref(value), B::ref(ws)})}));
}

}  // namespace r1::json_grammar
