// Malformed safetensors corpus, generated here: every file must be rejected with r1::FormatError
// naming the field (or r1::Error for folder-level problems), never crash or read out of bounds.
// With R1_CORPUS_DIR set, the single-file cases are also written there (fuzzer seeds).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "core/error.h"
#include "formats/safetensors.h"
#include "test_util.h"

namespace st = r1::safetensors;
using r1::test::TempDir;
using r1::test::write_file;

namespace {

std::string le64(uint64_t n) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = static_cast<char>(n >> (8 * i));
  return s;
}

// A file with header `h` (length taken from it) followed by `data`.
std::string file_of(const std::string& h, const std::string& data = "") {
  return le64(h.size()) + h + data;
}

// One tensor entry.
std::string entry(const std::string& dtype, const std::string& shape, const std::string& offsets) {
  return R"({"dtype":)" + dtype + R"(,"shape":)" + shape + R"(,"data_offsets":)" + offsets + "}";
}
std::string f32(const std::string& shape, uint64_t b, uint64_t e) {
  return entry("\"F32\"", shape, "[" + std::to_string(b) + "," + std::to_string(e) + "]");
}

struct Case {
  std::string name;
  std::string bytes;
  std::string field;    // substring of FormatError::field()
  std::string message;  // substring of what(), may be empty
};

std::vector<Case> corpus() {
  const std::string d8(8, '\x11');
  std::vector<Case> c;
  // --- header length ---
  c.push_back({"file_too_short", std::string("\x05\x00\x00", 3), "header.length", "fewer than"});
  c.push_back({"empty_file", "", "header.length", "fewer than"});
  c.push_back({"header_length_zero", le64(0) + "{}", "header.length", "is 0"});
  c.push_back(
      {"header_length_over_cap", le64(st::kMaxHeaderBytes + 1) + "{}", "header.length", "limit"});
  c.push_back({"header_length_u64_max", le64(~0ull) + "{}", "header.length", "limit"});
  c.push_back({"header_length_past_eof", le64(100) + "{}", "header.length", "past the end"});
  // --- header text ---
  c.push_back({"header_not_brace", file_of("[]      "), "header.start", "'{'"});
  c.push_back({"header_leading_space", file_of(" {}"), "header.start", "'{'"});
  c.push_back({"invalid_utf8_byte", file_of("{\"a\xff\":1}"), "header.utf8", "UTF-8"});
  c.push_back({"overlong_utf8", file_of("{\"\xc0\xaf\":1}"), "header.utf8", "UTF-8"});
  c.push_back({"utf8_surrogate", file_of("{\"\xed\xa0\x80\":1}"), "header.utf8", "UTF-8"});
  c.push_back({"utf8_truncated_sequence", file_of("{\"a\":\"\xe2\x9c"), "header.utf8", "UTF-8"});
  c.push_back({"invalid_json_truncated", file_of(R"({"a":{"dtype":"F32")"), "header.json", ""});
  c.push_back({"invalid_json_trailing_garbage", file_of("{} x"), "header.json", ""});
  c.push_back(
      {"invalid_json_nul_padding", file_of(std::string("{}\0\0\0\0\0\0", 8)), "header.json", ""});
  c.push_back(
      {"invalid_json_lone_surrogate_escape", file_of(R"({"\ud800":1})"), "header.json", ""});
  c.push_back({"nesting_100000_arrays",
               file_of("{\"a\":" + std::string(100000, '[') + std::string(100000, ']') + "}"),
               "header.depth", "deeper"});
  c.push_back({"nesting_100000_unclosed", file_of("{" + std::string(100000, '{')), "header.depth",
               "deeper"});
  {
    std::string h = "{";
    for (int i = 0; i < 12; ++i) h += "\"k\":{";
    h += std::string(12, '}') + "}";
    c.push_back({"nesting_objects", file_of(h), "header.depth", "deeper"});
  }
  // --- entry types ---
  c.push_back({"entry_not_object", file_of(R"({"a":5})"), "tensor 'a'", "must be an object"});
  c.push_back(
      {"empty_tensor_name", file_of(R"({"":)" + f32("[2]", 0, 8) + "}", d8), "tensor ''", "empty"});
  c.push_back({"nul_in_tensor_name", file_of(R"({"a\u0000b":)" + f32("[2]", 0, 8) + "}", d8),
               "tensor 'a\\x00b'", "NUL"});
  c.push_back({"unknown_entry_field",
               file_of(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"extra":1}})", d8),
               "tensor 'a'.extra", "unknown"});
  c.push_back(
      {"duplicate_tensor_name",
       file_of(R"({"a":)" + f32("[2]", 0, 8) + R"(,"a":)" + f32("[2]", 8, 16) + "}", d8 + d8),
       "tensor 'a'", "duplicate tensor name"});
  c.push_back(
      {"duplicate_entry_field",
       file_of(R"({"a":{"dtype":"F32","dtype":"F16","shape":[2],"data_offsets":[0,8]}})", d8),
       "tensor 'a'.dtype", "duplicate"});
  // --- dtype ---
  c.push_back({"dtype_missing", file_of(R"({"a":{"shape":[2],"data_offsets":[0,8]}})", d8),
               "tensor 'a'.dtype", "missing"});
  c.push_back({"dtype_not_string", file_of(R"({"a":)" + entry("5", "[2]", "[0,8]") + "}", d8),
               "tensor 'a'.dtype", "string"});
  c.push_back(
      {"dtype_f8_e5m2",
       file_of(R"({"model.layers.0.mlp.gate.weight":)" + entry("\"F8_E5M2\"", "[8]", "[0,8]") + "}",
               d8),
       "tensor 'model.layers.0.mlp.gate.weight'.dtype", "F8_E5M2"});
  c.push_back({"dtype_bool", file_of(R"({"a":)" + entry("\"BOOL\"", "[8]", "[0,8]") + "}", d8),
               "tensor 'a'.dtype", "BOOL"});
  c.push_back({"dtype_lowercase", file_of(R"({"a":)" + entry("\"f32\"", "[2]", "[0,8]") + "}", d8),
               "tensor 'a'.dtype", "unsupported"});
  // --- shape ---
  c.push_back({"shape_missing", file_of(R"({"a":{"dtype":"F32","data_offsets":[0,8]}})", d8),
               "tensor 'a'.shape", "missing"});
  c.push_back({"shape_not_array", file_of(R"({"a":)" + f32("2", 0, 8) + "}", d8),
               "tensor 'a'.shape", "array"});
  c.push_back({"shape_negative", file_of(R"({"a":)" + f32("[-2]", 0, 8) + "}", d8),
               "tensor 'a'.shape", "negative"});
  c.push_back({"shape_float", file_of(R"({"a":)" + f32("[2.5]", 0, 8) + "}", d8),
               "tensor 'a'.shape", "integer"});
  c.push_back({"shape_exponent", file_of(R"({"a":)" + f32("[2e0]", 0, 8) + "}", d8),
               "tensor 'a'.shape", "integer"});
  c.push_back({"shape_string_entry", file_of(R"({"a":)" + f32(R"(["2"])", 0, 8) + "}", d8),
               "tensor 'a'.shape", "integer"});
  c.push_back({"shape_beyond_u64",
               file_of(R"({"a":)" + f32("[18446744073709551616]", 0, 8) + "}", d8),
               "tensor 'a'.shape", "integer"});
  c.push_back({"shape_beyond_i64",
               file_of(R"({"a":)" + f32("[9223372036854775808]", 0, 8) + "}", d8),
               "tensor 'a'.shape", "2^63"});
  c.push_back({"shape_product_overflow",
               file_of(R"({"a":)" + f32("[4294967296,4294967296,2]", 0, 8) + "}", d8),
               "tensor 'a'.shape", "overflow"});
  c.push_back({"shape_bytes_overflow",
               file_of(R"({"a":)" + entry("\"F64\"", "[4611686018427387904]", "[0,8]") + "}", d8),
               "tensor 'a'.shape", "overflow"});
  c.push_back({"shape_rank_too_high",
               file_of(R"({"a":)" + f32("[1,1,1,1,1,1,1,1,2]", 0, 8) + "}", d8), "tensor 'a'.shape",
               "dimensions"});
  // --- data_offsets ---
  c.push_back({"offsets_missing", file_of(R"({"a":{"dtype":"F32","shape":[2]}})", d8),
               "tensor 'a'.data_offsets", "missing"});
  c.push_back({"offsets_one_value", file_of(R"({"a":)" + entry("\"F32\"", "[2]", "[8]") + "}", d8),
               "tensor 'a'.data_offsets", "two"});
  c.push_back({"offsets_three_values",
               file_of(R"({"a":)" + entry("\"F32\"", "[2]", "[0,8,8]") + "}", d8),
               "tensor 'a'.data_offsets", "two"});
  c.push_back({"offsets_negative",
               file_of(R"({"a":)" + entry("\"F32\"", "[2]", "[-8,0]") + "}", d8),
               "tensor 'a'.data_offsets", "non-negative"});
  c.push_back({"offsets_object",
               file_of(R"({"a":)" + entry("\"F32\"", "[2]", R"({"b":0,"e":8})") + "}", d8),
               "tensor 'a'.data_offsets", "two"});
  c.push_back({"begin_after_end", file_of(R"({"a":)" + entry("\"F32\"", "[2]", "[8,0]") + "}", d8),
               "tensor 'a'.data_offsets", "begin is after end"});
  c.push_back({"end_past_data", file_of(R"({"a":)" + f32("[4]", 0, 16) + "}", d8),
               "tensor 'a'.data_offsets", "past the end"});
  c.push_back({"offsets_wrap_around",
               file_of(R"({"a":)" + entry("\"F32\"", "[2]", "[18446744073709551615,7]") + "}", d8),
               "tensor 'a'.data_offsets", "begin is after end"});
  c.push_back(
      {"offsets_near_u64_max",
       file_of(R"({"a":)" + entry("\"F32\"", "[2]", "[18446744073709551607,18446744073709551615]") +
                   "}",
               d8),
       "tensor 'a'.data_offsets", "past the end"});
  c.push_back({"bytes_mismatch_shape", file_of(R"({"a":)" + f32("[2]", 0, 4) + "}", "abcd"),
               "tensor 'a'.data_offsets", "need 8"});
  c.push_back({"bytes_mismatch_dtype",
               file_of(R"({"a":)" + entry("\"BF16\"", "[2]", "[0,8]") + "}", d8),
               "tensor 'a'.data_offsets", "need 4"});
  c.push_back({"gap_between_tensors",
               file_of(R"({"a":)" + f32("[1]", 0, 4) + R"(,"b":)" + f32("[1]", 8, 12) + "}",
                       std::string(12, 'x')),
               "tensor 'b'.data_offsets", "gap"});
  c.push_back({"gap_at_start", file_of(R"({"a":)" + f32("[1]", 4, 8) + "}", d8),
               "tensor 'a'.data_offsets", "gap"});
  c.push_back({"overlap",
               file_of(R"({"a":)" + f32("[2]", 0, 8) + R"(,"b":)" + f32("[2]", 4, 12) + "}",
                       std::string(12, 'x')),
               "tensor 'b'.data_offsets", "overlaps tensor 'a'"});
  c.push_back({"same_range_twice",
               file_of(R"({"a":)" + f32("[2]", 0, 8) + R"(,"b":)" + f32("[2]", 0, 8) + "}", d8),
               "tensor 'b'.data_offsets", "overlaps"});
  c.push_back({"zero_size_inside_other_tensor",
               file_of(R"({"a":)" + f32("[2]", 0, 8) + R"(,"z":)" + f32("[0]", 4, 4) + "}", d8),
               "tensor 'z'.data_offsets", "overlaps"});
  c.push_back(
      {"trailing_data", file_of(R"({"a":)" + f32("[1]", 0, 4) + "}", d8), "data", "trailing"});
  c.push_back({"no_tensors_but_data", file_of("{}", d8), "data", "trailing"});
  // --- __metadata__ ---
  c.push_back({"metadata_not_object", file_of(R"({"__metadata__":5})"), "__metadata__", "object"});
  c.push_back({"metadata_value_not_string", file_of(R"({"__metadata__":{"format":1}})"),
               "__metadata__.format", "strings"});
  c.push_back({"metadata_twice", file_of(R"({"__metadata__":{},"__metadata__":{}})"),
               "__metadata__", "twice"});
  c.push_back({"metadata_duplicate_key", file_of(R"({"__metadata__":{"k":"a","k":"b"}})"),
               "__metadata__.k", "duplicate"});
  return c;
}

class Malformed : public ::testing::TestWithParam<Case> {};

void expect_rejected(const Case& c, const std::function<void()>& parse) {
  try {
    parse();
    ADD_FAILURE() << c.name << ": accepted";
  } catch (const r1::FormatError& e) {
    EXPECT_NE(e.field().find(c.field), std::string::npos)
        << c.name << ": field '" << e.field() << "', want '" << c.field << "' (" << e.what() << ")";
    EXPECT_NE(std::string(e.what()).find(c.message), std::string::npos)
        << c.name << ": message '" << e.what() << "', want '" << c.message << "'";
    EXPECT_LE(e.offset(), std::max<uint64_t>(c.bytes.size(), 8)) << c.name;
  } catch (const std::exception& e) {
    ADD_FAILURE() << c.name << ": not a FormatError: " << e.what();
  }
}

TEST_P(Malformed, RejectedWithField) {
  const Case& c = GetParam();
  TempDir tmp;
  const std::string path = tmp.file(c.name + ".safetensors");
  write_file(path, c.bytes);
  if (const char* dir = std::getenv("R1_CORPUS_DIR")) {
    std::filesystem::create_directories(dir);
    write_file(std::string(dir) + "/" + c.name + ".safetensors", c.bytes);
  }
  expect_rejected(c, [&] { st::File::open(path); });
  expect_rejected(c, [&] {
    st::File::parse(r1::MappedFile::from_bytes(c.name, {c.bytes.begin(), c.bytes.end()}));
  });
  expect_rejected(c, [&] { st::Checkpoint::open(path); });
}

INSTANTIATE_TEST_SUITE_P(Corpus, Malformed, ::testing::ValuesIn(corpus()),
                         [](const ::testing::TestParamInfo<Case>& i) { return i.param.name; });

TEST(MalformedCorpus, NamesAreDistinctAndPlentiful) {
  std::set<std::string> names, files;
  for (const Case& c : corpus()) {
    EXPECT_TRUE(names.insert(c.name).second) << c.name;
    EXPECT_TRUE(files.insert(c.bytes).second) << c.name;
  }
  EXPECT_GE(names.size(), 20u);
}

TEST(MalformedCorpus, OffsetPointsAtTheBadEntry) {
  const std::string h =
      R"({"a":)" + f32("[1]", 0, 4) + R"(,  "b":)" + entry("\"BOOL\"", "[4]", "[4,8]") + "}";
  const std::string bytes = file_of(h, "12345678");
  try {
    st::File::parse(r1::MappedFile::from_bytes("off", {bytes.begin(), bytes.end()}));
    FAIL() << "accepted";
  } catch (const r1::FormatError& e) {
    EXPECT_EQ(e.field(), "tensor 'b'.dtype");
    EXPECT_EQ(e.offset(), 8 + h.find("\"b\""));
    EXPECT_EQ(e.file(), "off");
  }
  // JSON syntax errors point at the offending byte.
  const std::string bad = file_of(R"({"a": nope})");
  try {
    st::File::parse(r1::MappedFile::from_bytes("bad", {bad.begin(), bad.end()}));
    FAIL() << "accepted";
  } catch (const r1::FormatError& e) {
    EXPECT_EQ(e.field(), "header.json");
    EXPECT_GE(e.offset(), 8u + 6u);
    EXPECT_LE(e.offset(), 8u + 10u);
  }
}

// ---------------------------------------------------------------- folder-level problems

class Folder : public ::testing::Test {
 protected:
  // A valid shard holding tensors `names` (one F32 each).
  void shard(const std::string& file, const std::vector<std::string>& names) {
    std::string h = "{";
    uint64_t off = 0;
    for (const auto& n : names) {
      if (h.size() > 1) h += ",";
      h += "\"" + n + "\":" + f32("[1]", off, off + 4);
      off += 4;
    }
    h += "}";
    write_file(tmp.file(file), file_of(h, std::string(off, 'x')));
  }
  void index(const std::string& json) { write_file(tmp.file(st::kIndexFileName), json); }

  // Opening via the folder and via the index must both fail with `what` in the message.
  template <class E = r1::Error>
  void expect_error(const std::string& what) {
    for (const std::string& p : {tmp.path(), tmp.file(st::kIndexFileName)}) {
      if (p != tmp.path() && !std::filesystem::exists(p)) continue;
      try {
        st::Checkpoint::open(p);
        ADD_FAILURE() << p << ": accepted";
      } catch (const E& e) {
        EXPECT_NE(std::string(e.what()).find(what), std::string::npos)
            << "message '" << e.what() << "', want '" << what << "'";
      }
    }
  }
  TempDir tmp;
};

TEST_F(Folder, IndexNamesMissingShard) {
  shard("s1.safetensors", {"a"});
  index(R"({"weight_map":{"a":"s1.safetensors","b":"s2.safetensors"}})");
  expect_error("'s2.safetensors' named in weight_map is missing");
}

TEST_F(Folder, IndexListsTensorTheShardLacks) {
  shard("s1.safetensors", {"a"});
  index(R"({"weight_map":{"a":"s1.safetensors","b":"s1.safetensors"}})");
  expect_error("weight_map['b']: shard 's1.safetensors' does not hold this tensor");
}

TEST_F(Folder, ShardHoldsTensorNotInIndex) {
  shard("s1.safetensors", {"a", "extra"});
  index(R"({"weight_map":{"a":"s1.safetensors"}})");
  expect_error("tensor 'extra' is in shard 's1.safetensors' but not in the index");
}

TEST_F(Folder, IndexPutsTensorInWrongShard) {
  shard("s1.safetensors", {"a"});
  shard("s2.safetensors", {"b"});
  index(R"({"weight_map":{"a":"s2.safetensors","b":"s1.safetensors"}})");
  expect_error("index names shard 's2.safetensors' but the tensor is in shard 's1.safetensors'");
}

TEST_F(Folder, TensorInTwoShards) {
  shard("s1.safetensors", {"a", "b"});
  shard("s2.safetensors", {"b", "c"});
  index(R"({"weight_map":{"a":"s1.safetensors","b":"s1.safetensors","c":"s2.safetensors"}})");
  expect_error("tensor 'b' is also in shard");
}

TEST_F(Folder, SeveralShardsWithoutIndex) {
  shard("s1.safetensors", {"a"});
  shard("s2.safetensors", {"b"});
  expect_error("index is missing");
}

TEST_F(Folder, NoSafetensorsAtAll) {
  write_file(tmp.file("config.json"), "{}");
  expect_error("no .safetensors file");
}

TEST_F(Folder, MissingPath) {
  EXPECT_THROW(st::Checkpoint::open(tmp.file("nothing-here")), r1::Error);
}

TEST_F(Folder, ShardNameEscapesTheFolder) {
  shard("s1.safetensors", {"a"});
  index(R"({"weight_map":{"a":"../s1.safetensors"}})");
  expect_error<r1::FormatError>("not a plain file name");
  index(R"({"weight_map":{"a":"/etc/passwd"}})");
  expect_error<r1::FormatError>("weight_map['a']");
}

TEST_F(Folder, IndexNotJson) {
  shard("s1.safetensors", {"a"});
  index(R"({"weight_map":{"a":"s1.safetensors")");
  expect_error<r1::FormatError>("index.json");
}

TEST_F(Folder, IndexNestedTooDeep) {
  shard("s1.safetensors", {"a"});
  index("{\"x\":" + std::string(100000, '[') + std::string(100000, ']') + "}");
  expect_error<r1::FormatError>("index.depth");
}

TEST_F(Folder, IndexWithoutWeightMap) {
  shard("s1.safetensors", {"a"});
  index(R"({"metadata":{"total_size":4}})");
  expect_error<r1::FormatError>("weight_map");
  index(R"({"weight_map":[]})");
  expect_error<r1::FormatError>("weight_map");
  index(R"({"weight_map":{}})");
  expect_error<r1::FormatError>("lists no tensors");
  index(R"([1,2])");
  expect_error<r1::FormatError>("JSON object");
}

TEST_F(Folder, IndexShardNotString) {
  shard("s1.safetensors", {"a"});
  index(R"({"weight_map":{"a":1}})");
  expect_error<r1::FormatError>("weight_map['a']");
}

TEST_F(Folder, IndexListsTensorTwice) {
  shard("s1.safetensors", {"a"});
  index(R"({"weight_map":{"a":"s1.safetensors","a":"s1.safetensors"}})");
  expect_error<r1::FormatError>("tensor listed twice");
}

TEST_F(Folder, BadShardFailsTheCheckpoint) {
  write_file(tmp.file("s1.safetensors"), file_of(R"({"a":)" + f32("[2]", 0, 4) + "}", "1234"));
  index(R"({"weight_map":{"a":"s1.safetensors"}})");
  expect_error<r1::FormatError>("tensor 'a'.data_offsets");
}

}  // namespace
