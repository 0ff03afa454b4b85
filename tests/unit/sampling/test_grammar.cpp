// Byte grammars and the JSON / JSON-schema grammars built on them: what they accept and refuse,
// checked against nlohmann's JSON parser (every sentence a random walk through a JSON grammar
// produces parses as JSON, and the dump of random JSON values is always accepted).
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <random>
#include <string>

#include "core/error.h"
#include "sampling/grammar.h"
#include "sampling/json_schema.h"

namespace r1 {
namespace {

using json = nlohmann::json;
using B = GrammarBuilder;

// A random sentence of `g`: at each step one of the bytes some parse accepts; stops when the
// sentence is whole and a coin says so (or nothing can follow). Empty optional when the walk
// runs past `max_len` without finishing.
std::optional<std::string> random_sentence(const Grammar& g, std::mt19937& rng,
                                           size_t max_len = 400) {
  GrammarState s = g.start(), next;
  std::string out;
  while (out.size() < max_len) {
    const bool can_stop = Grammar::complete(s);
    if (can_stop && (!Grammar::can_continue(s) || rng() % 4 == 0)) return out;
    std::vector<uint8_t> ok;
    for (int b = 0; b < 256; ++b)
      if (g.advance(s, static_cast<uint8_t>(b), next)) ok.push_back(static_cast<uint8_t>(b));
    if (ok.empty()) {
      ADD_FAILURE() << "a live state accepts no byte after '" << out << "'";
      return std::nullopt;
    }
    // Prefer closing bytes so walks finish: weight ASCII punctuation a little higher.
    const uint8_t b = ok[rng() % ok.size()];
    EXPECT_TRUE(g.advance(s, b, next));
    std::swap(s, next);
    out.push_back(static_cast<char>(b));
  }
  return std::nullopt;
}

TEST(Grammar, LiteralsRepetitionAndOptions) {
  GrammarBuilder b;
  const uint32_t digits = b.rep(B::set(ByteSet::range('0', '9')), 1, 3, "digits");
  const uint32_t sign = b.opt(B::lit("-"), "sign");
  const uint32_t words = b.star(B::lit("ab"), "words");
  const uint32_t root =
      b.rule("root", {B::cat({B::ref(sign), B::ref(digits), B::lit(":"), B::ref(words)})});
  const auto g = b.build(root);
  for (const char* ok : {"1:", "-12:", "999:abab", "0:ab"}) EXPECT_TRUE(g->matches(ok)) << ok;
  for (const char* bad : {"", ":", "1234:", "--1:", "1:a", "1:aba", "1:ba", "x"})
    EXPECT_FALSE(g->matches(bad)) << bad;
  // A prefix is live but not whole.
  GrammarState s = g->start();
  ASSERT_TRUE(g->advance(s, "-1"));
  EXPECT_FALSE(Grammar::complete(s));
  EXPECT_TRUE(Grammar::can_continue(s));
  ASSERT_TRUE(g->advance(s, ":ab"));
  EXPECT_TRUE(Grammar::complete(s));
  EXPECT_TRUE(Grammar::can_continue(s));  // more "ab" may follow
  EXPECT_FALSE(g->advance(s, "x"));
  EXPECT_TRUE(s.empty());
}

TEST(Grammar, RightRecursionKeepsTheStackFlat) {
  GrammarBuilder b;
  const uint32_t as = b.star(B::lit("a"), "as");
  const auto g = b.build(b.rule("root", {B::cat({B::ref(as), B::lit("!")})}));
  GrammarState s = g->start();
  ASSERT_TRUE(g->advance(s, std::string(100000, 'a')));  // far beyond kMaxDepth
  EXPECT_LE(s.data.size(), 8u);
  ASSERT_TRUE(g->advance(s, "!"));
  EXPECT_TRUE(Grammar::complete(s));
  EXPECT_FALSE(Grammar::can_continue(s));
}

TEST(Grammar, MalformedGrammarsAreRefused) {
  {
    GrammarBuilder b;
    const uint32_t x = b.declare("x");
    EXPECT_THROW(b.build(b.rule("root", {B::ref(x)})), Error);  // never defined
  }
  {
    GrammarBuilder b;
    const uint32_t e = b.opt(B::lit("a"), "maybe-a");
    b.star(B::ref(e), "loop");  // repeats something that can be empty
    EXPECT_THROW(b.build(e), Error);
  }
  {
    GrammarBuilder b;
    const uint32_t l = b.declare("left");
    b.define(l, {B::cat({B::ref(l), B::lit("a")}), B::lit("b")});  // left recursion
    EXPECT_THROW(b.build(l), Error);
  }
  {
    GrammarBuilder b;  // through a nullable prefix and another rule
    const uint32_t x = b.declare("x");
    const uint32_t y = b.rule("y", {B::cat({B::ref(b.opt(B::lit("a"), "maybe")), B::ref(x)})});
    b.define(x, {B::cat({B::ref(y), B::lit("b")}), B::lit("c")});
    EXPECT_THROW(b.build(x), Error);
  }
  {
    // Ambiguity that would double the parses at every level is refused, not followed.
    GrammarBuilder b;
    uint32_t r = b.rule("leaf", {B::lit("a")});
    for (int i = 0; i < 20; ++i)
      r = b.rule("twice", {B::cat({B::ref(r), B::lit("z")}), B::cat({B::ref(r), B::lit("z")})});
    const auto g = b.build(r);
    EXPECT_THROW(g->start(), Error);
  }
}

std::shared_ptr<const Grammar> any_json() {
  GrammarBuilder b;
  const uint32_t v = json_grammar::any_value(b);
  const uint32_t ws = json_grammar::whitespace(b);
  return b.build(b.rule("root", {B::cat({B::ref(ws), B::ref(v), B::ref(ws)})}));
}

TEST(JsonGrammar, AcceptsJsonAndRefusesWhatIsNot) {
  const auto g = any_json();
  for (const char* ok :
       {"{}", "[]", "0", "-0", "12.5e-3", "true", "null", "\"\"", R"("a\"b\\c\u00e9\n")",
        R"("\uD83D\ude00")", "\"\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\"",
        R"({"a": [1, 2, {"b": null}], "c": "d"})", "  {\n  \"k\" : false\n}\n", "[[[[]]]]", "1E+10",
        "-1.5e-99", "\"\x7F\"", R"("\u003c/think>")"})
    EXPECT_TRUE(g->matches(ok)) << ok;
  for (const char* bad : {"",
                          "{",
                          "[1,]",
                          "{\"a\":1,}",
                          "{a:1}",
                          "'x'",
                          "01",
                          "1.",
                          ".5",
                          "+1",
                          "tru",
                          "nul",
                          "\"\x01\"",
                          "\"\\x\"",
                          "\"\\u12\"",
                          "\"\xC0\xAF\"",
                          "\"\xED\xA0\x80\"",
                          "\"\xF5\x80\x80\x80\"",
                          "\"\xE2\x82\"",
                          "1 2",
                          "{\"a\" 1}",
                          "[1 2]",
                          "NaN",
                          "Infinity",
                          "1e100",
                          R"("\ud800")",
                          R"("</think>")",
                          "\"\xEF\xBD\x9C<\"",
                          R"("\udc00\ud800")"})
    EXPECT_FALSE(g->matches(bad)) << bad;
  // Whitespace runs are bounded.
  EXPECT_TRUE(g->matches("[" + std::string(16, ' ') + "1]"));
  EXPECT_FALSE(g->matches("[" + std::string(17, ' ') + "1]"));
}

json random_value(std::mt19937& rng, int depth) {
  switch (rng() % (depth > 3 ? 5 : 7)) {
    case 0:
      return nullptr;
    case 1:
      return rng() % 2 == 0;
    case 2:
      return static_cast<int64_t>(rng()) - (int64_t{1} << 31);
    case 3:
      return std::ldexp(static_cast<double>(rng()) / 4294967296.0 - 0.5,
                        static_cast<int>(rng() % 200) - 100);
    case 4: {
      std::string s;
      const char* pieces[] = {"a",  "Z",    " ",        "\"",           "\\",
                              "\n", "\x01", "\xC3\xA9", "\xE2\x82\xAC", "\xF0\x9F\x98\x80",
                              "/",  ">"};
      for (int i = static_cast<int>(rng() % 6); i > 0; --i) s += pieces[rng() % 12];
      return s;
    }
    case 5: {
      json a = json::array();
      for (int i = static_cast<int>(rng() % 4); i > 0; --i)
        a.push_back(random_value(rng, depth + 1));
      return a;
    }
    default: {
      json o = json::object();
      for (int i = static_cast<int>(rng() % 4); i > 0; --i)
        o["k" + std::to_string(rng() % 10)] = random_value(rng, depth + 1);
      return o;
    }
  }
}

TEST(JsonGrammar, AgreesWithAJsonParser) {
  const auto g = any_json();
  std::mt19937 rng(11);
  for (int i = 0; i < 300; ++i) {
    const json v = random_value(rng, 0);
    EXPECT_TRUE(g->matches(v.dump())) << v.dump();
    EXPECT_TRUE(g->matches(v.dump(2))) << v.dump(2);
  }
  int finished = 0;
  for (int i = 0; i < 300; ++i) {
    const auto s = random_sentence(*g, rng);
    if (!s) continue;
    ++finished;
    EXPECT_FALSE(json::parse(*s, nullptr, false).is_discarded()) << *s;
  }
  EXPECT_GT(finished, 30);
}

std::shared_ptr<const Grammar> schema_grammar(const json& schema) {
  return json_grammar::document_grammar(&schema);
}

TEST(JsonSchemaGrammar, EnumsConstsAndTypes) {
  const auto g =
      schema_grammar(json::parse(R"({"type":"object","properties":{"city":{"enum":["Paris","Rome"]},
                     "n":{"type":"integer"},"ok":{"type":["boolean","null"]},
                     "c":{"const":{"x":1}}},"required":["city","c"]})"));
  for (const char* ok :
       {R"({"c":{"x":1},"city":"Paris"})", R"({"c": {"x":1}, "city": "Rome", "n": -3})",
        R"({"c":{"x":1},"city":"Paris","n":0,"ok":null})",
        R"({"c":{"x":1},"city":"Rome","ok":true})"})
    EXPECT_TRUE(g->matches(ok)) << ok;
  for (const char* bad :
       {R"({})", R"({"city":"Paris"})", R"({"c":{"x":1},"city":"London"})",
        R"({"c":{"x":2},"city":"Paris"})", R"({"c":{"x":1},"city":"Paris","n":1.5})",
        R"({"c":{"x":1},"city":"Paris","ok":"yes"})", R"({"c":{"x":1},"city":"Paris","zz":1})",
        R"({"city":"Paris","c":{"x":1}})"})  // properties come in the object's (sorted) order
    EXPECT_FALSE(g->matches(bad)) << bad;
}

TEST(JsonSchemaGrammar, ArraysStringsMapsAndReferences) {
  const auto arr = schema_grammar(json::parse(
      R"({"type":"array","items":{"type":"string","minLength":1,"maxLength":3},"minItems":1,"maxItems":2})"));
  for (const char* ok : {R"(["a"])", R"(["abc", "\u00e9"])", "[\"\xC3\xA9\xC3\xA9\"]"})
    EXPECT_TRUE(arr->matches(ok)) << ok;
  for (const char* bad : {"[]", R"([""])", R"(["abcd"])", R"(["a","b","c"])", "[1]"})
    EXPECT_FALSE(arr->matches(bad)) << bad;

  const auto map =
      schema_grammar(json::parse(R"({"type":"object","additionalProperties":{"type":"number"}})"));
  EXPECT_TRUE(map->matches(R"({"x": 1, "y": 2.5})"));
  EXPECT_TRUE(map->matches("{}"));
  EXPECT_FALSE(map->matches(R"({"x": "1"})"));

  // A recursive tree through $defs.
  const auto tree = schema_grammar(json::parse(R"({"$ref":"#/$defs/node","$defs":{"node":{
      "type":"object","properties":{"v":{"type":"integer"},"kids":{"type":"array","items":{"$ref":"#/$defs/node"}}},
      "required":["v"]}}})"));
  EXPECT_TRUE(tree->matches(R"({"kids":[{"v":2},{"kids":[],"v":3}],"v":1})"));
  EXPECT_FALSE(tree->matches(R"({"kids":[{"w":2}],"v":1})"));

  const auto any_of = schema_grammar(
      json::parse(R"({"anyOf":[{"type":"string"},{"type":"array","items":{"type":"null"}}]})"));
  EXPECT_TRUE(any_of->matches(R"("s")"));
  EXPECT_TRUE(any_of->matches(R"([null,null])"));
  EXPECT_FALSE(any_of->matches(R"([1])"));
}

TEST(JsonSchemaGrammar, RandomSentencesMeetTheSchema) {
  const auto g = schema_grammar(json::parse(
      R"({"type":"object","properties":{"unit":{"enum":["c","f"]},"days":{"type":"array","items":{"type":"integer"},"maxItems":3},
          "city":{"type":"string","maxLength":8}},"required":["city","unit"]})"));
  std::mt19937 rng(5);
  int finished = 0;
  for (int i = 0; i < 200; ++i) {
    const auto s = random_sentence(*g, rng, 2000);
    if (!s) continue;
    ++finished;
    const json v = json::parse(*s, nullptr, false);
    ASSERT_FALSE(v.is_discarded()) << *s;
    ASSERT_TRUE(v.is_object()) << *s;
    EXPECT_TRUE(v.at("unit") == "c" || v.at("unit") == "f") << *s;
    EXPECT_TRUE(v.at("city").is_string()) << *s;
    if (v.contains("days")) {
      EXPECT_LE(v["days"].size(), 3u) << *s;
      // Integers (beyond 64 bits a parser reads them as floating point).
      for (const json& d : v["days"])
        EXPECT_TRUE(d.is_number() && std::floor(d.get<double>()) == d.get<double>()) << *s;
    }
    for (const auto& [k, x] : v.items())
      EXPECT_TRUE(k == "unit" || k == "days" || k == "city") << *s;
  }
  EXPECT_GT(finished, 50);
}

TEST(JsonSchemaGrammar, SchemasThatCannotCompileNameTheirPath) {
  const std::vector<std::pair<const char*, const char*>> cases = {
      {"false", "schema"},
      {R"({"type":"object","properties":{"a":false}})", "schema.properties.a"},
      {R"({"$ref":"#/nowhere"})", "schema.$ref"},
      {R"({"$ref":"http://example.com/s.json"})", "schema.$ref"},
      {R"({"type":"wizard"})", "schema.type"},
      {R"({"type":"string","minLength":-1})", "schema.minLength"},
      {R"({"type":"array","minItems":3,"maxItems":2})", "schema"},
      {R"({"allOf":[{},{}]})", "schema.allOf"},
      {R"({"enum":[]})", "schema.enum"},
      {R"({"type":"object","properties":{"a":{}},"required":["b"]})", "schema.required"},
      {"5", "schema"},
      {R"({"$ref":"#"})", "grammar rule '#' refers to itself"},
  };
  for (const auto& [text, path] : cases) {
    const json s = json::parse(text);
    try {
      schema_grammar(s);
      ADD_FAILURE() << text << " compiled";
    } catch (const Error& e) {
      EXPECT_EQ(std::string(e.what()).rfind(path, 0), 0u) << text << ": " << e.what();
    }
  }
}

}  // namespace
}  // namespace r1
