// A corpus of malformed GGUF files, generated here byte by byte. Each must be rejected with
// r1::FormatError naming the broken field and the byte offset where it sits. With R1_CORPUS_DIR
// set, every file is also written there (to seed the fuzzer).
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/error.h"
#include "formats/gguf.h"
#include "test_util.h"

namespace r1::gguf {
namespace {

constexpr uint64_t kMax64 = ~0ull;

// Builds GGUF bytes field by field; mark() remembers where a field starts.
class G {
 public:
  std::string b;
  std::map<std::string, uint64_t> at;

  G& mark(const std::string& m) {
    at[m] = b.size();
    return *this;
  }
  template <class T>
  G& put(T v) {
    b.append(reinterpret_cast<const char*>(&v), sizeof v);
    return *this;
  }
  G& u8(uint8_t v) { return put(v); }
  G& u32(uint32_t v) { return put(v); }
  G& u64(uint64_t v) { return put(v); }
  G& str(const std::string& s) {
    u64(s.size());
    b += s;
    return *this;
  }
  G& header(uint64_t n_tensors, uint64_t n_kv, uint32_t version = 3) {
    mark("magic").u32(kMagic).mark("version").u32(version);
    return mark("tensor_count").u64(n_tensors).mark("kv_count").u64(n_kv);
  }
  // A KV: marks "<key>" (key), "<key>.type" and "<key>.value"; the value is raw bytes.
  G& kv(const std::string& key, uint32_t type, const std::string& value) {
    mark(key).str(key).mark(key + ".type").u32(type).mark(key + ".value");
    b += value;
    return *this;
  }
  G& kv_u32(const std::string& key, uint32_t v) { return kv(key, 4, raw(v)); }
  G& kv_str(const std::string& key, const std::string& s) { return kv(key, 8, raw_str(s)); }
  // A tensor info: marks "<name>", "<name>.n_dims", "<name>.ne[i]", ".ggml_type", ".offset".
  G& tensor(const std::string& name, const std::vector<uint64_t>& ne, uint32_t type,
            uint64_t offset) {
    mark(name).str(name).mark(name + ".n_dims").u32(static_cast<uint32_t>(ne.size()));
    for (size_t i = 0; i < ne.size(); ++i) mark(name + ".ne[" + std::to_string(i) + "]").u64(ne[i]);
    return mark(name + ".ggml_type").u32(type).mark(name + ".offset").u64(offset);
  }
  G& pad(uint64_t align = 32) {
    while (b.size() % align) b += '\0';
    return mark("data");
  }
  G& data(uint64_t n) {
    b.append(n, '\x5a');
    return *this;
  }
  uint64_t operator[](const std::string& m) const {
    auto it = at.find(m);
    if (it == at.end()) throw std::runtime_error("no mark " + m);
    return it->second;
  }

  template <class T>
  static std::string raw(T v) {
    return std::string(reinterpret_cast<const char*>(&v), sizeof v);
  }
  static std::string raw_str(const std::string& s) { return raw<uint64_t>(s.size()) + s; }
};

// The valid file the mutations start from: two KVs and one 8-float tensor.
G base(uint64_t n_tensors = 1, uint64_t n_kv = 2, uint32_t version = 3) {
  G g;
  g.header(n_tensors, n_kv, version).kv_str("general.name", "tiny").kv_u32("a.u32", 7);
  g.tensor("t0", {8}, 0, 0).pad().data(32);
  return g;
}

struct Case {
  std::string name;
  std::string bytes;
  std::string field;    // substring of FormatError::field()
  uint64_t offset;      // expected FormatError::offset()
  std::string message;  // optional substring of what()
};

std::vector<Case> cases() {
  std::vector<Case> cs;
  auto add = [&](std::string name, const G& g, std::string field, uint64_t off,
                 std::string msg = "") {
    cs.push_back({std::move(name), g.b, std::move(field), off, std::move(msg)});
  };
  auto patch = [](G g, uint64_t at, auto v) {
    std::memcpy(&g.b[at], &v, sizeof v);
    return g;
  };
  auto cut = [](G g, uint64_t n) {
    g.b.resize(n);
    return g;
  };
  const G ok = base();

  // --- header
  add("empty_file", G{}, "header.magic", 0, "truncated");
  add("short_magic", cut(ok, 3), "header.magic", 0);
  add("bad_magic", patch(ok, 0, uint32_t{0x58554747}), "header.magic", 0, "not a GGUF");
  add("version_1", base(1, 2, 1), "header.version", 4, "version 1");
  add("version_2", base(1, 2, 2), "header.version", 4, "version 2");
  add("version_4", base(1, 2, 4), "header.version", 4, "version 4");
  add("version_big_endian", base(1, 2, 0x03000000), "header.version", 4, "big-endian");
  add("truncated_header", cut(ok, 20), "header.kv_count", 16, "truncated");
  add("tensor_count_past_file", base(1000, 2), "header.tensor_count", 8);
  add("tensor_count_2p63", base(1ull << 63, 2), "header.tensor_count", 8);
  add("tensor_count_max", base(kMax64, 2), "header.tensor_count", 8);
  add("kv_count_past_file", base(1, 1000), "header.kv_count", 16);
  add("kv_count_max", base(1, kMax64), "header.kv_count", 16);
  add("kv_count_2p60", base(0, 1ull << 60), "header.kv_count", 16);

  // --- keys
  add("key_length_past_file", patch(ok, ok["general.name"], uint64_t{100000}), "kv[0].key", 24,
      "bytes left");
  add("key_length_max", patch(ok, ok["general.name"], kMax64), "kv[0].key", 24);
  add("key_length_wraps", patch(ok, ok["general.name"], kMax64 - 7), "kv[0].key", 24);
  {
    G g;  // the key's length says 20, the file ends after 10 of them
    g.header(0, 1).u64(20);
    g.b += "0123456789";
    add("key_truncated", g, "kv[0].key", 24, "bytes left");
  }
  {
    G g;
    g.header(0, 1).kv_u32("", 1);
    add("key_empty", g, "kv[0].key", 24, "empty key");
  }
  {
    G g;
    g.header(0, 1).kv_u32(std::string(65536, 'k'), 1);
    add("key_too_long", g, "kv[0].key", 24, "65535");
  }
  {
    G g;
    g.header(0, 1).kv_u32("ab\xff", 1);
    add("key_invalid_utf8", g, "kv[0].key", 24 + 8 + 2, "UTF-8");
  }
  {
    G g;
    g.header(0, 1).kv_u32("\xc0\xaf", 1);
    add("key_overlong_utf8", g, "kv[0].key", 32, "UTF-8");
  }
  {
    G g;
    g.header(0, 1).kv_u32("x\xed\xa0\x80", 1);
    add("key_surrogate_utf8", g, "kv[0].key", 33, "UTF-8");
  }
  {
    G g;
    g.header(0, 1).kv_u32("abc\xe2\x82", 1);  // cut multi-byte sequence
    add("key_truncated_utf8", g, "kv[0].key", 35, "UTF-8");
  }
  {
    G g;
    g.header(0, 1).kv_u32(std::string("a\0b", 3), 1);
    add("key_nul", g, "kv[0].key", 33, "NUL");
  }
  {
    G g;
    g.header(0, 2).kv_u32("dup", 1).mark("second").kv_u32("dup", 2);
    add("key_duplicate", g, "kv[1].key", g["second"], "duplicate key");
  }

  // --- value types and values
  add("value_type_13", patch(ok, ok["a.u32.type"], uint32_t{13}), "kv[1] 'a.u32'.type",
      ok["a.u32.type"], "unknown value type");
  add("value_type_max", patch(ok, ok["a.u32.type"], uint32_t{0xffffffff}), "kv[1] 'a.u32'.type",
      ok["a.u32.type"]);
  add("string_length_past_file", patch(ok, ok["general.name.value"], uint64_t{5000}),
      "kv[0] 'general.name'.value", ok["general.name.value"]);
  add("string_length_max", patch(ok, ok["general.name.value"], kMax64),
      "kv[0] 'general.name'.value", ok["general.name.value"]);
  add("string_length_wraps", patch(ok, ok["general.name.value"], kMax64 - 15),
      "kv[0] 'general.name'.value", ok["general.name.value"]);
  {
    G g;
    g.header(0, 1).kv("b", 7, "\x02");
    add("bool_not_0_or_1", g, "kv[0] 'b'.value", g["b.value"], "bool");
  }
  {
    G g;
    g.header(0, 1).kv("u", 10, "\x01\x02\x03");
    add("value_truncated_u64", g, "kv[0] 'u'.value", g["u.value"], "truncated");
  }
  {
    G g;
    g.header(0, 1).kv("a", 9, G::raw<uint32_t>(13) + G::raw<uint64_t>(0));
    add("array_unknown_elem_type", g, "kv[0] 'a'.value.elem_type", g["a.value"]);
  }
  {
    G g;
    g.header(0, 1).kv("a", 9, G::raw<uint32_t>(4) + G::raw<uint64_t>(1000) + "abcd");
    add("array_count_past_file", g, "kv[0] 'a'.value.count", g["a.value"] + 4, "cannot fit");
  }
  {
    G g;  // 2^61 + 1 u64 elements: count * 8 wraps to 8
    g.header(0, 1).kv(
        "a", 9, G::raw<uint32_t>(10) + G::raw<uint64_t>((1ull << 61) + 1) + G::raw<uint64_t>(0));
    add("array_count_times_size_overflows", g, "kv[0] 'a'.value.count", g["a.value"] + 4);
  }
  {
    G g;
    g.header(0, 1).kv("a", 9, G::raw<uint32_t>(0) + G::raw<uint64_t>(kMax64));
    add("array_count_max", g, "kv[0] 'a'.value.count", g["a.value"] + 4);
  }
  {
    G g;  // 2^62 strings: each needs at least its 8-byte length
    g.header(0, 1).kv("a", 9, G::raw<uint32_t>(8) + G::raw<uint64_t>(1ull << 62) + "xxxxxxxx");
    add("array_of_strings_count_huge", g, "kv[0] 'a'.value.count", g["a.value"] + 4);
  }
  {
    G g;  // an element string whose length runs past the file
    g.header(0, 1).kv("a", 9,
                      G::raw<uint32_t>(8) + G::raw<uint64_t>(2) + G::raw_str("ok") +
                          G::raw<uint64_t>(1ull << 40));
    add("array_string_past_file", g, "kv[0] 'a'.value[1]", g["a.value"] + 12 + 10);
  }
  {
    G g;  // kMaxArrayDepth + 1 arrays nested
    std::string v;
    for (uint32_t i = 0; i <= kMaxArrayDepth; ++i) v += G::raw<uint32_t>(9) + G::raw<uint64_t>(1);
    v += G::raw<uint32_t>(0) + G::raw<uint64_t>(0);
    g.header(0, 1).kv("deep", 9, v);
    std::string idx;
    for (uint32_t i = 1; i < kMaxArrayDepth; ++i) idx += "[0]";
    add("array_nested_too_deep", g, "kv[0] 'deep'.value" + idx + ".elem_type",
        g["deep.value"] + 12 * (kMaxArrayDepth - 1), "nested");
  }
  {
    G g;  // an inner array's count past the file
    g.header(0, 1).kv("n", 9,
                      G::raw<uint32_t>(9) + G::raw<uint64_t>(1) + G::raw<uint32_t>(5) +
                          G::raw<uint64_t>(1u << 20));
    add("array_inner_count_past_file", g, "kv[0] 'n'.value[0].count", g["n.value"] + 12 + 4);
  }

  // --- general.alignment
  {
    G g;
    g.header(0, 1).kv_u32("general.alignment", 0);
    add("alignment_0", g, "kv[0] 'general.alignment'.value", g["general.alignment.value"],
        "power of two");
  }
  {
    G g;
    g.header(0, 1).kv_u32("general.alignment", 3);
    add("alignment_3", g, "kv[0] 'general.alignment'.value", g["general.alignment.value"]);
  }
  {
    G g;
    g.header(0, 1).kv("general.alignment", 5, G::raw<int32_t>(32));
    add("alignment_i32", g, "kv[0] 'general.alignment'.type", g["general.alignment.type"],
        "must be u32");
  }
  {
    G g;
    g.header(0, 1).kv("general.alignment", 10, G::raw<uint64_t>(32));
    add("alignment_u64", g, "kv[0] 'general.alignment'.type", g["general.alignment.type"]);
  }
  {
    G g;
    g.header(0, 1).kv_str("general.alignment", "32");
    add("alignment_string", g, "kv[0] 'general.alignment'.type", g["general.alignment.type"]);
  }

  // --- tensor infos
  {
    G g;
    g.header(1, 0).tensor("", {8}, 0, 0).pad().data(32);
    add("tensor_name_empty", g, "tensor[0].name", 24, "empty");
  }
  {
    G g;
    std::string n(65, 'n');
    g.header(1, 0).tensor(n, {8}, 0, 0).pad().data(32);
    add("tensor_name_65_bytes", g, "tensor[0].name", 24, "64");
  }
  {
    G g;
    g.header(1, 0).tensor("bad\x80name", {8}, 0, 0).pad().data(32);
    add("tensor_name_invalid_utf8", g, "tensor[0].name", 24 + 8 + 3, "UTF-8");
  }
  add("tensor_name_length_max", patch(ok, ok["t0"], kMax64), "tensor[0].name", ok["t0"]);
  {
    G g;
    g.header(2, 0).tensor("t", {8}, 0, 0).mark("second").tensor("t", {8}, 0, 32).pad().data(64);
    add("tensor_name_duplicate", g, "tensor[1].name", g["second"], "duplicate tensor name");
  }
  {
    G g;
    g.header(1, 0).tensor("t", {}, 0, 0).pad().data(32);
    add("n_dims_0", g, "tensor[0] 't'.n_dims", g["t.n_dims"]);
  }
  {
    G g;
    g.header(1, 0).tensor("t", {1, 1, 1, 1, 8}, 0, 0).pad().data(32);
    add("n_dims_5", g, "tensor[0] 't'.n_dims", g["t.n_dims"]);
  }
  add("n_dims_max", patch(ok, ok["t0.n_dims"], uint32_t{0xffffffff}), "tensor[0] 't0'.n_dims",
      ok["t0.n_dims"]);
  {
    G g;
    g.header(1, 0).tensor("t", {8, 0}, 0, 0).pad().data(32);
    add("ne_zero", g, "tensor[0] 't'.ne[1]", g["t.ne[1]"], "empty tensors");
  }
  {
    G g;
    g.header(1, 0).tensor("t", {1ull << 32, 1ull << 32}, 0, 0).pad().data(32);
    add("element_count_overflow", g, "tensor[0] 't'.ne[1]", g["t.ne[1]"], "overflow");
  }
  {
    G g;  // llama.cpp's case: ne0 = 0x7FFFFFFFFFFFFFC0 twice
    g.header(1, 0).tensor("t", {0x7FFFFFFFFFFFFFC0ull, 0x7FFFFFFFFFFFFFC0ull}, 0, 0).pad().data(32);
    add("element_count_int64_overflow", g, "tensor[0] 't'.ne[1]", g["t.ne[1]"]);
  }
  {
    G g;  // 2^62 f64 elements: the count fits int64, the byte size does not fit 64 bits
    g.header(1, 0).tensor("t", {1ull << 62}, 28, 0).pad().data(32);
    add("byte_size_overflow", g, "tensor[0] 't'.ne", g["t.ne[0]"], "overflows");
  }
  add("ggml_type_unknown", patch(ok, ok["t0.ggml_type"], uint32_t{99}), "tensor[0] 't0'.ggml_type",
      ok["t0.ggml_type"], "unknown ggml type");
  add("ggml_type_negative", patch(ok, ok["t0.ggml_type"], uint32_t{0xffffffff}),
      "tensor[0] 't0'.ggml_type", ok["t0.ggml_type"]);
  add("ggml_type_unsupported", patch(ok, ok["t0.ggml_type"], uint32_t{3}),
      "tensor[0] 't0'.ggml_type", ok["t0.ggml_type"], "Q4_1");
  {
    G g;  // Q4_K rows must be multiples of 256
    g.header(1, 0).tensor("q", {100, 2}, 12, 0).pad().data(288);
    add("row_not_multiple_of_block", g, "tensor[0] 'q'.ne[0]", g["q.ne[0]"], "block size");
  }
  add("tensor_info_truncated", cut(ok, ok["t0.ggml_type"] + 2), "tensor[0] 't0'.ggml_type",
      ok["t0.ggml_type"], "truncated");

  // --- tensor data placement
  add("offset_misaligned", patch(ok, ok["t0.offset"], uint64_t{8}), "tensor[0] 't0'.offset",
      ok["t0.offset"], "alignment");
  add("offset_past_file", patch(ok, ok["t0.offset"], uint64_t{1 << 20}), "tensor[0] 't0'.offset",
      ok["t0.offset"], "outside the data section");
  add("offset_plus_size_overflows", patch(ok, ok["t0.offset"], kMax64 - 31),
      "tensor[0] 't0'.offset", ok["t0.offset"]);
  add("data_truncated", cut(ok, ok["data"] + 20), "tensor[0] 't0'.offset", ok["t0.offset"],
      "truncated file");
  add("data_section_missing", cut(ok, ok["data"]), "tensor[0] 't0'.offset", ok["t0.offset"]);
  {
    G g;
    g.header(2, 0).tensor("a", {8}, 0, 0).tensor("b", {8}, 0, 0).pad().data(64);
    add("tensors_overlap_same_offset", g, "tensor[1] 'b'.offset", g["b.offset"], "overlaps");
  }
  {
    G g;  // a is 64 bytes at 0, b starts inside it at 32
    g.header(2, 0).tensor("a", {16}, 0, 0).tensor("b", {8}, 0, 32).pad().data(96);
    add("tensors_overlap_partly", g, "tensor[1] 'b'.offset", g["b.offset"], "overlaps tensor[0]");
  }
  {
    G g;  // declared in the other order: the later offset is reported
    g.header(2, 0).tensor("b", {8}, 0, 32).tensor("a", {16}, 0, 0).pad().data(96);
    add("tensors_overlap_reversed", g, "tensor[0] 'b'.offset", g["b.offset"], "overlaps");
  }
  {
    G g;  // the alignment is 64 (from the KV), so offset 32 is misaligned
    g.header(1, 1).kv_u32("general.alignment", 64).tensor("t", {8}, 0, 32).pad(64).data(128);
    add("offset_misaligned_for_custom_alignment", g, "tensor[0] 't'.offset", g["t.offset"], "64");
  }
  return cs;
}

void PrintTo(const Case& c, std::ostream* os) {
  *os << c.name << " (" << c.bytes.size() << " bytes)";
}

class GgufMalformed : public ::testing::TestWithParam<Case> {};

TEST_P(GgufMalformed, IsRejectedWithFieldAndOffset) {
  const Case& c = GetParam();
  if (const char* dir = std::getenv("R1_CORPUS_DIR")) {
    std::filesystem::create_directories(dir);
    test::write_file(std::string(dir) + "/gguf_" + c.name + ".gguf", c.bytes);
  }
  auto mf = MappedFile::from_bytes(c.name, std::vector<uint8_t>(c.bytes.begin(), c.bytes.end()));
  try {
    File f = File::parse(mf);
    FAIL() << c.name << ": accepted (" << f.tensors().size() << " tensors)";
  } catch (const FormatError& e) {
    EXPECT_NE(e.field().find(c.field), std::string::npos)
        << "field '" << e.field() << "' lacks '" << c.field << "': " << e.what();
    EXPECT_EQ(e.offset(), c.offset) << e.what();
    EXPECT_LE(e.offset(), c.bytes.size()) << e.what();
    EXPECT_EQ(e.file(), c.name);
    if (!c.message.empty())
      EXPECT_NE(std::string(e.what()).find(c.message), std::string::npos) << e.what();
  } catch (const std::exception& e) {
    FAIL() << c.name << ": not a FormatError: " << e.what();
  }
}

INSTANTIATE_TEST_SUITE_P(Corpus, GgufMalformed, ::testing::ValuesIn(cases()),
                         [](const ::testing::TestParamInfo<Case>& i) { return i.param.name; });

TEST(GgufMalformedCorpus, HasManyDistinctCases) {
  auto cs = cases();
  EXPECT_GE(cs.size(), 30u);
  std::map<std::string, int> names, bytes;
  for (const auto& c : cs) {
    EXPECT_EQ(++names[c.name], 1) << c.name;
    EXPECT_EQ(++bytes[c.bytes], 1) << c.name << " duplicates another case";
  }
}

TEST(GgufMalformedCorpus, BaseFileIsValid) {
  G g = base();
  File f =
      File::parse(MappedFile::from_bytes("base", std::vector<uint8_t>(g.b.begin(), g.b.end())));
  EXPECT_EQ(f.tensors().size(), 1u);
  EXPECT_EQ(f.metadata().size(), 2u);
  // And the deepest nesting allowed is accepted.
  G d;
  std::string v;
  for (uint32_t i = 1; i < kMaxArrayDepth; ++i) v += G::raw<uint32_t>(9) + G::raw<uint64_t>(1);
  v += G::raw<uint32_t>(0) + G::raw<uint64_t>(1) + "x";
  d.header(0, 1).kv("deep", 9, v);
  File fd = File::parse(MappedFile::from_bytes("d", std::vector<uint8_t>(d.b.begin(), d.b.end())));
  EXPECT_EQ(fd.metadata().size(), 1u);
}

// ---- split sets (files on disk)

class GgufMalformedSplit : public ::testing::Test {
 protected:
  // Writes a valid 3-way split set of 3 tensors and returns the paths.
  std::vector<std::string> write_set() {
    SplitWriter w(dir_.file("m"), {.max_tensors = 1});
    w.add_kv("general.name", Value::str("s"));
    std::vector<uint8_t> data(32, 1);
    for (const char* n : {"a", "b", "c"}) w.add_tensor(n, {8}, DType::F32);
    for (int i = 0; i < 3; ++i) w.write_data(data.data(), data.size());
    w.finish();
    return w.paths();
  }
  // Replaces split `i` of the set with a file of the given keys and tensors.
  void write_split(const std::string& path, std::vector<std::pair<std::string, Value>> kv,
                   std::vector<std::string> tensors) {
    std::filesystem::remove(path);
    Writer w(path);
    for (auto& [k, v] : kv) w.add_kv(k, v);
    for (const auto& t : tensors) w.add_tensor(t, {8}, DType::F32);
    std::vector<uint8_t> data(32, 2);
    for (size_t i = 0; i < tensors.size(); ++i) w.write_data(data.data(), data.size());
    w.finish();
  }
  void expect_reject(const std::string& path, const std::string& field, const std::string& msg) {
    try {
      File::open(path);
      ADD_FAILURE() << "accepted";
    } catch (const FormatError& e) {
      EXPECT_NE(e.field().find(field), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(msg), std::string::npos) << e.what();
      EXPECT_LT(e.offset(), 4096u) << e.what();
    }
  }
  test::TempDir dir_;
};

TEST_F(GgufMalformedSplit, ValidSetOpens) {
  auto p = write_set();
  EXPECT_EQ(File::open(p[0]).tensors().size(), 3u);
}

TEST_F(GgufMalformedSplit, MissingFile) {
  auto p = write_set();
  std::filesystem::remove(p[1]);
  expect_reject(p[0], "split.files", "split file 2 of 3 is missing");
  expect_reject(p[2], "split.files", "missing");
}

TEST_F(GgufMalformedSplit, WrongSplitNo) {
  auto p = write_set();
  write_split(p[1],
              {{"split.no", Value::u16(2)},
               {"split.count", Value::u16(3)},
               {"split.tensors.count", Value::i32(3)}},
              {"b"});
  expect_reject(p[0], "'split.no'", "split.no is 2");
}

TEST_F(GgufMalformedSplit, CountDisagreesWithName) {
  auto p = write_set();
  write_split(p[2],
              {{"split.no", Value::u16(2)},
               {"split.count", Value::u16(4)},
               {"split.tensors.count", Value::i32(3)}},
              {"c"});
  expect_reject(p[0], "'split.count'", "file names say 3");
}

TEST_F(GgufMalformedSplit, SplitKeyOfWrongType) {
  auto p = write_set();
  write_split(p[1], {{"split.no", Value::u32(1)}, {"split.count", Value::u16(3)}}, {"b"});
  expect_reject(p[0], "'split.no'", "must be u16");
}

TEST_F(GgufMalformedSplit, SplitKeysMissing) {
  auto p = write_set();
  write_split(p[1], {{"x", Value::u8(1)}}, {"b"});
  expect_reject(p[0], "split.no", "lacks");
}

TEST_F(GgufMalformedSplit, DuplicateTensorAcrossSplits) {
  auto p = write_set();
  write_split(p[2],
              {{"split.no", Value::u16(2)},
               {"split.count", Value::u16(3)},
               {"split.tensors.count", Value::i32(3)}},
              {"a"});
  expect_reject(p[0], "tensor[0].name", "duplicate tensor name 'a'");
}

TEST_F(GgufMalformedSplit, TensorCountMismatch) {
  auto p = write_set();
  write_split(p[2], {{"split.no", Value::u16(2)}, {"split.count", Value::u16(3)}}, {"c", "d"});
  expect_reject(p[0], "'split.tensors.count'", "hold 4 tensors");
}

TEST_F(GgufMalformedSplit, NegativeTensorCount) {
  auto p = write_set();
  write_split(p[0],
              {{"split.no", Value::u16(0)},
               {"split.count", Value::u16(3)},
               {"split.tensors.count", Value::i32(-1)}},
              {"a"});
  expect_reject(p[0], "'split.tensors.count'", "negative");
}

TEST_F(GgufMalformedSplit, BrokenLaterSplitNamesThatFile) {
  auto p = write_set();
  std::string b = test::read_file(p[2]);
  b[4] = 2;  // version 2
  test::write_file(p[2], b);
  try {
    File::open(p[0]);
    ADD_FAILURE() << "accepted";
  } catch (const FormatError& e) {
    EXPECT_EQ(e.file(), p[2]);
    EXPECT_EQ(e.field(), "header.version");
    EXPECT_EQ(e.offset(), 4u);
  }
}

}  // namespace
}  // namespace r1::gguf
