// GGUF reader and writers: round trips of every value type and dtype, byte-identical rewrites,
// alignment variants, zero-copy views, split sets and the partial-file behaviour.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <limits>
#include <string>
#include <vector>

#include "core/error.h"
#include "formats/gguf.h"
#include "test_util.h"

namespace r1::gguf {
namespace {

using test::TempDir;

bool exists(const std::string& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0;
}

// Deterministic tensor bytes.
std::vector<uint8_t> pattern(uint64_t n, uint32_t seed) {
  std::vector<uint8_t> v(n);
  uint32_t x = seed * 2654435761u + 1;
  for (auto& b : v) {
    x = x * 1664525u + 1013904223u;
    b = static_cast<uint8_t>(x >> 24);
  }
  return v;
}

struct TensorSpec {
  std::string name;
  std::vector<uint64_t> ne;
  DType dtype;
};

uint64_t spec_bytes(const TensorSpec& t) {
  uint64_t rows = 1;
  for (size_t i = 1; i < t.ne.size(); ++i) rows *= t.ne[i];
  return *dtype_row_bytes(t.dtype, t.ne[0]) * rows;
}

// A metadata set with every value type, nested and empty arrays, empty strings, extremes.
std::vector<std::pair<std::string, Value>> every_value_type() {
  std::vector<std::pair<std::string, Value>> kv;
  kv.emplace_back("general.architecture", Value::str("deepseek2"));
  kv.emplace_back("t.u8", Value::u8(255));
  kv.emplace_back("t.i8", Value::i8(-128));
  kv.emplace_back("t.u16", Value::u16(65535));
  kv.emplace_back("t.i16", Value::i16(-32768));
  kv.emplace_back("t.u32", Value::u32(0xffffffffu));
  kv.emplace_back("t.i32", Value::i32(std::numeric_limits<int32_t>::min()));
  kv.emplace_back("t.u64", Value::u64(std::numeric_limits<uint64_t>::max()));
  kv.emplace_back("t.i64", Value::i64(std::numeric_limits<int64_t>::min()));
  kv.emplace_back("t.f32", Value::f32(0.1f));
  kv.emplace_back("t.f32.neg0", Value::f32(-0.0f));
  kv.emplace_back("t.f32.inf", Value::f32(std::numeric_limits<float>::infinity()));
  kv.emplace_back("t.f32.nan", Value::f32(std::numeric_limits<float>::quiet_NaN()));
  kv.emplace_back("t.f32.denorm", Value::f32(std::numeric_limits<float>::denorm_min()));
  kv.emplace_back("t.f64", Value::f64(3.141592653589793));
  kv.emplace_back("t.f64.tiny", Value::f64(std::numeric_limits<double>::denorm_min()));
  kv.emplace_back("t.bool.true", Value::boolean(true));
  kv.emplace_back("t.bool.false", Value::boolean(false));
  kv.emplace_back("t.str.empty", Value::str(""));
  kv.emplace_back("t.str.utf8",
                  Value::str("h\xc3\xa9llo \xe4\xb8\x96\xe7\x95\x8c \xf0\x9f\x98\x80"));
  kv.emplace_back("t.str.nul", Value::str(std::string("a\0b", 3)));
  kv.emplace_back("t.str.bytes", Value::str("\xff\xfe raw bytes are allowed in values"));
  kv.emplace_back("t.arr.empty.u8", Value::array(ValueType::U8, {}));
  kv.emplace_back("t.arr.empty.str", Value::array(ValueType::STRING, {}));
  kv.emplace_back("t.arr.empty.arr", Value::array(ValueType::ARRAY, {}));
  kv.emplace_back("t.arr.str", Value::str_array({"a", "", "\xe2\x82\xac", "long string"}));
  kv.emplace_back("t.arr.i32", Value::i32_array({1, -2, 3, std::numeric_limits<int32_t>::max()}));
  kv.emplace_back("t.arr.f32", Value::f32_array({0.5f, -1.25f, 1e-30f}));
  kv.emplace_back("t.arr.bool",
                  Value::array(ValueType::BOOL, {Value::boolean(true), Value::boolean(false)}));
  kv.emplace_back("t.arr.u64", Value::array(ValueType::U64, {Value::u64(0), Value::u64(~0ull)}));
  kv.emplace_back("t.arr.i64", Value::array(ValueType::I64, {Value::i64(-1)}));
  kv.emplace_back("t.arr.f64", Value::array(ValueType::F64, {Value::f64(-2.5)}));
  kv.emplace_back("t.arr.u8", Value::array(ValueType::U8, {Value::u8(0), Value::u8(200)}));
  kv.emplace_back("t.arr.i8", Value::array(ValueType::I8, {Value::i8(-7)}));
  kv.emplace_back("t.arr.u16", Value::array(ValueType::U16, {Value::u16(7)}));
  kv.emplace_back("t.arr.i16", Value::array(ValueType::I16, {Value::i16(-7)}));
  kv.emplace_back("t.arr.u32", Value::array(ValueType::U32, {Value::u32(7)}));
  // Arrays of arrays, with differing element types and an empty inner array.
  kv.emplace_back(
      "t.arr.nested",
      Value::array(ValueType::ARRAY, {Value::i32_array({1, 2}), Value::str_array({"x", ""}),
                                      Value::array(ValueType::F64, {}),
                                      Value::array(ValueType::ARRAY, {Value::f32_array({1.f})})}));
  // The deepest nesting allowed: kMaxArrayDepth arrays.
  Value deep = Value::array(ValueType::U8, {Value::u8(42)});
  for (uint32_t i = 1; i < kMaxArrayDepth; ++i) deep = Value::array(ValueType::ARRAY, {deep});
  kv.emplace_back("t.arr.deepest", deep);
  return kv;
}

std::vector<TensorSpec> every_dtype() {
  std::vector<TensorSpec> ts;
  for (size_t i = 0; i < static_cast<size_t>(DType::kCount); ++i) {
    auto d = static_cast<DType>(i);
    if (dtype_traits(d).ggml_id < 0) continue;
    uint64_t row = dtype_traits(d).block_elems * 2;
    ts.push_back({std::string("t.") + dtype_name(d), {row, 3}, d});
  }
  ts.push_back({"blk.0.ffn_gate_exps.weight", {32, 2, 3}, DType::Q8_0});
  ts.push_back({"four.dims", {1, 2, 3, 4}, DType::F32});
  ts.push_back({"scalar.like", {1}, DType::F16});
  return ts;
}

// Writes a file with the given metadata and tensors (data = pattern(i)); returns its bytes.
void write_model(const std::string& path, const std::vector<std::pair<std::string, Value>>& kv,
                 const std::vector<TensorSpec>& ts, uint32_t alignment = kDefaultAlignment,
                 uint64_t chunk = 0) {
  Writer w(path, alignment);
  for (const auto& [k, v] : kv) w.add_kv(k, v);
  for (const auto& t : ts) w.add_tensor(t.name, t.ne, t.dtype);
  for (size_t i = 0; i < ts.size(); ++i) {
    auto data = pattern(spec_bytes(ts[i]), static_cast<uint32_t>(i));
    if (chunk == 0) {
      w.write_data(data.data(), data.size());
    } else {
      for (uint64_t off = 0; off < data.size(); off += chunk)
        w.write_data(data.data() + off, std::min<uint64_t>(chunk, data.size() - off));
    }
  }
  uint64_t expect = w.total_bytes();
  w.finish();
  EXPECT_EQ(w.bytes_written(), expect);
  EXPECT_EQ(std::filesystem::file_size(path), expect);
}

void expect_tensors(const File& f, const std::vector<TensorSpec>& ts) {
  ASSERT_EQ(f.tensors().size(), ts.size());
  for (size_t i = 0; i < ts.size(); ++i) {
    const TensorInfo& t = f.tensors()[i];
    SCOPED_TRACE(t.name);
    EXPECT_EQ(t.name, ts[i].name);
    EXPECT_EQ(t.ne, ts[i].ne);
    EXPECT_EQ(t.dtype, ts[i].dtype);
    EXPECT_EQ(t.ggml_type, static_cast<uint32_t>(dtype_traits(ts[i].dtype).ggml_id));
    EXPECT_EQ(t.nbytes, spec_bytes(ts[i]));
    uint64_t n = 1;
    for (uint64_t e : ts[i].ne) n *= e;
    EXPECT_EQ(t.n_elements(), n);
    EXPECT_EQ(t.offset % f.alignment(), 0u);
    auto want = pattern(t.nbytes, static_cast<uint32_t>(i));
    ASSERT_NE(t.data, nullptr);
    EXPECT_EQ(std::memcmp(t.data, want.data(), want.size()), 0);
    EXPECT_EQ(f.find_tensor(t.name), &t);
  }
}

TEST(GgufValue, Accessors) {
  EXPECT_EQ(Value::u8(5).as_uint(), 5u);
  EXPECT_EQ(Value::u8(5).as_int(), 5);
  EXPECT_EQ(Value::i32(-5).as_uint(), std::nullopt);
  EXPECT_EQ(Value::i32(-5).as_int(), -5);
  EXPECT_EQ(Value::u64(~0ull).as_int(), std::nullopt);
  EXPECT_EQ(Value::u64(~0ull).as_uint(), ~0ull);
  EXPECT_EQ(Value::u32(3).as_float(), 3.0);
  EXPECT_EQ(Value::f32(0.5f).as_float(), 0.5);
  EXPECT_EQ(Value::f32(0.5f).as_int(), std::nullopt);
  EXPECT_EQ(Value::boolean(true).as_bool(), true);
  EXPECT_EQ(Value::u8(1).as_bool(), std::nullopt);
  EXPECT_EQ(Value::boolean(true).as_uint(), std::nullopt);
  ASSERT_NE(Value::str("x").as_string(), nullptr);
  EXPECT_EQ(*Value::str("x").as_string(), "x");
  EXPECT_EQ(Value::u8(1).as_string(), nullptr);
  auto a = Value::str_array({"a", "b"});
  ASSERT_NE(a.as_array(), nullptr);
  EXPECT_EQ(a.as_array()->elem_type, ValueType::STRING);
  EXPECT_EQ(a.as_array()->items.size(), 2u);
  EXPECT_EQ(Value::str("x").as_array(), nullptr);
  EXPECT_STREQ(value_type_name(ValueType::ARRAY), "array");
  EXPECT_STREQ(value_type_name(ValueType::F64), "f64");
}

TEST(GgufValue, Equality) {
  EXPECT_EQ(Value::u8(1), Value::u8(1));
  EXPECT_FALSE(Value::u8(1) == Value::u16(1));  // the declared width is part of the value
  EXPECT_FALSE(Value::u8(1) == Value::u8(2));
  float nan = std::numeric_limits<float>::quiet_NaN();
  EXPECT_EQ(Value::f32(nan), Value::f32(nan));
  EXPECT_FALSE(Value::f32(0.0f) == Value::f32(-0.0f));
  EXPECT_EQ(Value::str_array({"a"}), Value::str_array({"a"}));
  EXPECT_FALSE(Value::str_array({"a"}) == Value::str_array({"a", "b"}));
  EXPECT_FALSE(Value::array(ValueType::U8, {}) == Value::array(ValueType::I8, {}));
}

TEST(GgufRoundTrip, EveryValueType) {
  TempDir dir;
  std::string path = dir.file("values.gguf");
  auto kv = every_value_type();
  write_model(path, kv, {});
  File f = File::open(path);
  EXPECT_EQ(f.version(), 3u);
  EXPECT_EQ(f.alignment(), kDefaultAlignment);
  ASSERT_EQ(f.metadata().size(), kv.size());
  for (size_t i = 0; i < kv.size(); ++i) {
    SCOPED_TRACE(kv[i].first);
    EXPECT_EQ(f.metadata()[i].first, kv[i].first);
    EXPECT_TRUE(f.metadata()[i].second == kv[i].second);
    const Value* v = f.find(kv[i].first);
    ASSERT_NE(v, nullptr);
    EXPECT_TRUE(*v == kv[i].second);
  }
  EXPECT_EQ(f.find("missing"), nullptr);
  EXPECT_TRUE(f.tensors().empty());
  EXPECT_EQ(f.file_bytes(), std::filesystem::file_size(path));
  // Spot checks through the accessors.
  EXPECT_EQ(f.find("t.u64")->as_uint(), std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(f.find("t.i64")->as_int(), std::numeric_limits<int64_t>::min());
  EXPECT_TRUE(std::isnan(*f.find("t.f32.nan")->as_float()));
  EXPECT_EQ(f.find("t.str.nul")->as_string()->size(), 3u);
  const Array* deep = f.find("t.arr.deepest")->as_array();
  for (uint32_t i = 1; i < kMaxArrayDepth; ++i) {
    ASSERT_NE(deep, nullptr);
    ASSERT_EQ(deep->items.size(), 1u);
    deep = deep->items[0].as_array();
  }
  ASSERT_NE(deep, nullptr);
  EXPECT_EQ(deep->items[0].as_uint(), 42u);
}

TEST(GgufRoundTrip, TensorsOfEveryDType) {
  TempDir dir;
  std::string path = dir.file("dtypes.gguf");
  auto ts = every_dtype();
  write_model(path, {{"general.name", Value::str("dtypes")}}, ts);
  File f = File::open(path);
  expect_tensors(f, ts);
  ASSERT_EQ(f.paths().size(), 1u);
  EXPECT_EQ(f.paths()[0], path);
}

// Read a file, write everything back through the Writer: the two files are byte-identical.
TEST(GgufRoundTrip, RewriteIsByteIdentical) {
  for (uint32_t align : {32u, 64u, 4096u}) {
    SCOPED_TRACE(align);
    TempDir dir;
    std::string a = dir.file("a.gguf"), b = dir.file("b.gguf");
    write_model(a, every_value_type(), every_dtype(), align);
    File f = File::open(a);
    {
      Writer w(b, f.alignment());
      for (const auto& [k, v] : f.metadata()) w.add_kv(k, v);
      for (const auto& t : f.tensors()) w.add_tensor(t.name, t.ne, t.dtype);
      for (const auto& t : f.tensors()) w.write_data(t.data, t.nbytes);
      w.finish();
    }
    std::string ba = test::read_file(a), bb = test::read_file(b);
    EXPECT_EQ(ba.size(), bb.size());
    EXPECT_TRUE(ba == bb);
    // And the second file reads back to the same keys and tensor bytes.
    File g = File::open(b);
    ASSERT_EQ(g.metadata().size(), f.metadata().size());
    for (size_t i = 0; i < f.metadata().size(); ++i) {
      EXPECT_EQ(g.metadata()[i].first, f.metadata()[i].first);
      EXPECT_TRUE(g.metadata()[i].second == f.metadata()[i].second);
    }
    expect_tensors(g, every_dtype());
  }
}

class GgufAlignment : public ::testing::TestWithParam<uint32_t> {};

TEST_P(GgufAlignment, OffsetsAndDataAreAligned) {
  const uint32_t align = GetParam();
  TempDir dir;
  std::string path = dir.file("aligned.gguf");
  std::vector<TensorSpec> ts = {{"a", {3}, DType::F32},
                                {"b", {5, 7}, DType::F16},
                                {"c", {32}, DType::Q8_0},
                                {"d", {1}, DType::I8}};
  write_model(path, {{"general.name", Value::str("x")}}, ts, align);
  auto mf = MappedFile::open(path);
  File f = File::parse(mf);
  EXPECT_EQ(f.alignment(), align);
  const Value* ga = f.find("general.alignment");
  if (align == kDefaultAlignment) {
    EXPECT_EQ(ga, nullptr);
  } else {
    ASSERT_NE(ga, nullptr);
    EXPECT_EQ(ga->type, ValueType::U32);
    EXPECT_EQ(ga->as_uint(), align);
  }
  expect_tensors(f, ts);
  for (const auto& t : f.tensors()) {
    uint64_t file_off = static_cast<uint64_t>(t.data - mf->data());
    EXPECT_EQ(file_off % align, 0u) << t.name;
  }
  EXPECT_EQ(mf->size() % align, 0u);  // every tensor, the last too, is padded
}

INSTANTIATE_TEST_SUITE_P(Variants, GgufAlignment, ::testing::Values(1u, 8u, 32u, 64u, 4096u));

TEST(GgufZeroCopy, DataPointsIntoTheMapping) {
  TempDir dir;
  std::string path = dir.file("zc.gguf");
  auto ts = every_dtype();
  write_model(path, {}, ts);
  auto mf = MappedFile::open(path);
  File f = File::parse(mf);
  for (const auto& t : f.tensors()) {
    EXPECT_GE(t.data, mf->data());
    EXPECT_LE(t.data + t.nbytes, mf->data() + mf->size());
  }
  // From an in-memory image too.
  std::string bytes = test::read_file(path);
  auto img = MappedFile::from_bytes("img", std::vector<uint8_t>(bytes.begin(), bytes.end()));
  File g = File::parse(img);
  for (const auto& t : g.tensors()) {
    EXPECT_GE(t.data, img->data());
    EXPECT_LE(t.data + t.nbytes, img->data() + img->size());
  }
  // The File keeps the mapping alive on its own.
  const uint8_t* p = nullptr;
  {
    File h = File::open(path);
    File moved = std::move(h);
    p = moved.tensors()[0].data;
    EXPECT_EQ(std::memcmp(p, pattern(moved.tensors()[0].nbytes, 0).data(), 16), 0);
  }
}

TEST(GgufReader, NoTensorsAndNoPaddingIsFine) {
  // A file with metadata only and no padding at the end (other writers do not pad it).
  std::string b;
  auto put = [&](auto v) { b.append(reinterpret_cast<const char*>(&v), sizeof v); };
  put(uint32_t{kMagic});
  put(uint32_t{3});
  put(uint64_t{0});
  put(uint64_t{1});
  put(uint64_t{1});
  b += "k";
  put(uint32_t{4});
  put(uint32_t{9});
  ASSERT_NE(b.size() % 32, 0u);
  File f = File::parse(MappedFile::from_bytes("m", std::vector<uint8_t>(b.begin(), b.end())));
  EXPECT_EQ(f.find("k")->as_uint(), 9u);
}

TEST(GgufReader, TensorsMayBeStoredOutOfOrder) {
  TempDir dir;
  std::string path = dir.file("o.gguf");
  write_model(path, {}, {{"x", {8}, DType::F32}, {"y", {8}, DType::F32}});
  // Swap the two offsets in the tensor infos: each tensor now points at the other's data.
  std::string b = test::read_file(path);
  File f = File::open(path);
  uint64_t o0 = f.tensors()[0].offset, o1 = f.tensors()[1].offset;
  size_t p0 = b.find(std::string("\x01\x00\x00\x00\x00\x00\x00\x00x", 9));
  ASSERT_NE(p0, std::string::npos);
  size_t off0 = p0 + 9 + 4 + 8 + 4, off1 = off0 + 8 + 9 + 4 + 8 + 4;
  std::memcpy(&b[off0], &o1, 8);
  std::memcpy(&b[off1], &o0, 8);
  File g = File::parse(MappedFile::from_bytes("swapped", std::vector<uint8_t>(b.begin(), b.end())));
  EXPECT_EQ(g.tensors()[0].offset, o1);
  EXPECT_EQ(g.tensors()[1].offset, o0);
  EXPECT_EQ(std::memcmp(g.tensors()[0].data, pattern(32, 1).data(), 32), 0);
}

TEST(GgufWriter, PartialFileUntilFinish) {
  TempDir dir;
  std::string path = dir.file("p.gguf");
  auto data = pattern(64, 0);
  {
    Writer w(path);
    w.add_kv("general.name", Value::str("p"));
    w.add_tensor("t", {16}, DType::F32);
    EXPECT_FALSE(exists(path + ".partial"));  // nothing is created before the header
    w.write_header();
    EXPECT_TRUE(exists(path + ".partial"));
    EXPECT_FALSE(exists(path));
    w.write_data(data.data(), 10);
    w.write_data(data.data() + 10, 54);
    EXPECT_FALSE(exists(path));
    w.finish();
    EXPECT_TRUE(exists(path));
    EXPECT_FALSE(exists(path + ".partial"));
  }
  EXPECT_TRUE(exists(path));  // the destructor leaves a finished file alone
  EXPECT_EQ(std::memcmp(File::open(path).tensors()[0].data, data.data(), 64), 0);
}

TEST(GgufWriter, DestructorRemovesPartialFile) {
  TempDir dir;
  std::string path = dir.file("p.gguf");
  {
    Writer w(path);
    w.add_tensor("t", {16}, DType::F32);
    auto data = pattern(32, 0);
    w.write_data(data.data(), data.size());  // half of the tensor
    EXPECT_TRUE(exists(path + ".partial"));
  }
  EXPECT_FALSE(exists(path + ".partial"));
  EXPECT_FALSE(exists(path));
}

TEST(GgufWriter, ChecksSizesWritten) {
  TempDir dir;
  std::string path = dir.file("s.gguf");
  {
    Writer w(path);
    w.add_tensor("a", {4}, DType::F32);
    w.add_tensor("b", {4}, DType::F32);
    auto data = pattern(32, 0);
    EXPECT_THROW(w.write_data(data.data(), 17), Error);  // more than a holds
    w.write_data(data.data(), 16);
    w.write_data(data.data(), 8);
    EXPECT_THROW(w.finish(), Error);  // b is half written
    EXPECT_FALSE(exists(path));
    w.write_data(data.data(), 8);
    EXPECT_THROW(w.write_data(data.data(), 1), Error);  // nothing left
    w.finish();
    EXPECT_THROW(w.finish(), Error);
    EXPECT_THROW(w.write_data(data.data(), 1), Error);
  }
  EXPECT_TRUE(exists(path));
  EXPECT_FALSE(exists(path + ".partial"));
}

TEST(GgufWriter, StreamsChunksAndKnowsItsSize) {
  TempDir dir;
  std::string path = dir.file("c.gguf");
  std::vector<TensorSpec> ts = {{"big", {4096, 64}, DType::F32}, {"q", {256, 8}, DType::Q4_K}};
  write_model(path, {{"general.name", Value::str("c")}}, ts, 64, /*chunk=*/1000);
  expect_tensors(File::open(path), ts);
}

TEST(GgufWriter, RejectsWhatTheReaderWouldReject) {
  TempDir dir;
  EXPECT_THROW(Writer(dir.file("x"), 0), Error);
  EXPECT_THROW(Writer(dir.file("x"), 48), Error);
  Writer w(dir.file("x.gguf"));
  w.add_kv("ok", Value::u8(1));
  EXPECT_THROW(w.add_kv("ok", Value::u8(1)), Error);                    // duplicate
  EXPECT_THROW(w.add_kv("", Value::u8(1)), Error);                      // empty key
  EXPECT_THROW(w.add_kv("bad\xff", Value::u8(1)), Error);               // invalid UTF-8
  EXPECT_THROW(w.add_kv(std::string("a\0b", 3), Value::u8(1)), Error);  // NUL
  EXPECT_THROW(w.add_kv(std::string(65536, 'k'), Value::u8(1)), Error);
  EXPECT_THROW(w.add_kv("general.alignment", Value::u32(64)), Error);        // != writer's 32
  EXPECT_THROW(w.add_kv("x1", Value{ValueType::U8, uint64_t{256}}), Error);  // out of range
  w.add_kv("x1", Value::u8(255));  // a rejected add_kv leaves no trace
  EXPECT_THROW(w.add_kv("x2", Value{ValueType::I8, int64_t{-129}}), Error);
  EXPECT_THROW(w.add_kv("x3", Value{ValueType::F32, 1e300}), Error);  // not an f32
  EXPECT_THROW(w.add_kv("x4", Value{ValueType::STRING, uint64_t{1}}), Error);
  EXPECT_THROW(w.add_kv("x5", Value::array(ValueType::U8, {Value::u16(1)})), Error);
  EXPECT_THROW(w.add_kv("x6", Value{static_cast<ValueType>(13), uint64_t{1}}), Error);
  Value deep = Value::array(ValueType::U8, {});
  for (uint32_t i = 0; i < kMaxArrayDepth; ++i) deep = Value::array(ValueType::ARRAY, {deep});
  EXPECT_THROW(w.add_kv("x7", deep), Error);  // kMaxArrayDepth + 1 arrays
  EXPECT_THROW(w.add_tensor("", {4}, DType::F32), Error);
  EXPECT_THROW(w.add_tensor(std::string(65, 'n'), {4}, DType::F32), Error);
  w.add_tensor(std::string(64, 'n'), {4}, DType::F32);  // 64 bytes is the limit
  EXPECT_THROW(w.add_tensor("t", {}, DType::F32), Error);
  EXPECT_THROW(w.add_tensor("t", {1, 1, 1, 1, 1}, DType::F32), Error);
  EXPECT_THROW(w.add_tensor("t", {4, 0}, DType::F32), Error);
  EXPECT_THROW(w.add_tensor("t", {100}, DType::Q4_K), Error);  // not a multiple of 256
  EXPECT_THROW(w.add_tensor("t", {4}, DType::U8), Error);      // no ggml type
  EXPECT_THROW(w.add_tensor("t", {4}, DType::F8_E4M3), Error);
  EXPECT_THROW(w.add_tensor("t", {1ull << 32, 1ull << 32}, DType::F32), Error);
  w.add_tensor("t", {4}, DType::F32);
  EXPECT_THROW(w.add_tensor("t", {4}, DType::F32), Error);  // duplicate
  w.write_header();
  EXPECT_THROW(w.add_kv("late", Value::u8(1)), Error);
  EXPECT_THROW(w.add_tensor("late", {4}, DType::F32), Error);
  EXPECT_THROW(w.write_header(), Error);
}

TEST(GgufWriter, ExplicitAlignmentKeyIsKept) {
  TempDir dir;
  std::string path = dir.file("a.gguf");
  {
    Writer w(path, 64);
    w.add_kv("general.alignment", Value::u32(64));
    w.add_kv("after", Value::u8(1));
    w.finish();
  }
  File f = File::open(path);
  ASSERT_EQ(f.metadata().size(), 2u);
  EXPECT_EQ(f.metadata()[0].first, "general.alignment");
  EXPECT_EQ(f.alignment(), 64u);
}

TEST(GgufSplit, PathNames) {
  EXPECT_EQ(split_path("/m/model", 1, 3), "/m/model-00001-of-00003.gguf");
  EXPECT_EQ(split_path("x", 12, 65535), "x-00012-of-65535.gguf");
  EXPECT_THROW(split_path("x", 0, 3), Error);
  EXPECT_THROW(split_path("x", 4, 3), Error);
  EXPECT_THROW(split_path("x", 1, 65536), Error);
  auto n = parse_split_path("/a/b-c-00002-of-00009.gguf");
  ASSERT_TRUE(n.has_value());
  EXPECT_EQ(n->stem, "/a/b-c");
  EXPECT_EQ(n->index, 2u);
  EXPECT_EQ(n->count, 9u);
  EXPECT_EQ(parse_split_path("-00001-of-00001.gguf")->stem, "");
  EXPECT_FALSE(parse_split_path("model.gguf"));
  EXPECT_FALSE(parse_split_path("m-00000-of-00003.gguf"));
  EXPECT_FALSE(parse_split_path("m-00004-of-00003.gguf"));
  EXPECT_FALSE(parse_split_path("m-0001a-of-00003.gguf"));
  EXPECT_FALSE(parse_split_path("m-00001-of-00003.gguf.part"));
  EXPECT_FALSE(parse_split_path("m-00001_of-00003.gguf"));
}

std::vector<TensorSpec> split_tensors() {
  return {{"token_embd.weight", {64, 10}, DType::F16},
          {"blk.0.attn_q.weight", {32, 4}, DType::Q8_0},
          {"blk.0.ffn.weight", {256, 2}, DType::Q4_K},
          {"blk.1.attn_q.weight", {32, 4}, DType::Q8_0},
          {"output.weight", {64, 10}, DType::F32}};
}

std::vector<std::string> write_split(const std::string& stem, SplitOptions opt,
                                     const std::vector<TensorSpec>& ts) {
  SplitWriter w(stem, opt);
  w.add_kv("general.architecture", Value::str("deepseek2"));
  w.add_kv("tokenizer.ggml.tokens", Value::str_array({"a", "b", "c"}));
  for (const auto& t : ts) w.add_tensor(t.name, t.ne, t.dtype);
  w.write_header();
  auto paths = w.paths();
  EXPECT_EQ(paths.size(), w.split_count());
  for (size_t i = 0; i < ts.size(); ++i) {
    auto data = pattern(spec_bytes(ts[i]), static_cast<uint32_t>(i));
    w.write_data(data.data(), 7);
    w.write_data(data.data() + 7, data.size() - 7);
  }
  for (const auto& p : paths) EXPECT_FALSE(exists(p)) << p;  // all wait for finish()
  w.finish();
  uint64_t total = 0;
  for (const auto& p : paths) {
    EXPECT_TRUE(exists(p)) << p;
    EXPECT_FALSE(exists(p + ".partial")) << p;
    total += std::filesystem::file_size(p);
  }
  EXPECT_EQ(w.bytes_written(), total);
  return paths;
}

TEST(GgufSplit, WrittenThenOpenedAsOne) {
  TempDir dir;
  auto ts = split_tensors();
  auto paths = write_split(dir.file("model"), {.max_tensors = 2}, ts);
  ASSERT_EQ(paths.size(), 3u);
  EXPECT_EQ(paths[0], dir.file("model-00001-of-00003.gguf"));
  EXPECT_EQ(paths[2], dir.file("model-00003-of-00003.gguf"));
  for (const std::string& which : paths) {  // any member of the set opens the whole set
    SCOPED_TRACE(which);
    File f = File::open(which);
    expect_tensors(f, ts);
    std::vector<uint32_t> splits;
    for (const auto& t : f.tensors()) splits.push_back(t.split);
    EXPECT_EQ(splits, (std::vector<uint32_t>{0, 0, 1, 1, 2}));
    EXPECT_EQ(f.paths(), paths);
    uint64_t total = 0;
    for (const auto& p : paths) total += std::filesystem::file_size(p);
    EXPECT_EQ(f.file_bytes(), total);
    // Metadata comes from split 1: the split keys first, then the model's.
    ASSERT_EQ(f.metadata().size(), 5u);
    EXPECT_EQ(f.metadata()[0].first, "split.no");
    EXPECT_TRUE(f.metadata()[0].second == Value::u16(0));
    EXPECT_TRUE(*f.find("split.count") == Value::u16(3));
    EXPECT_TRUE(*f.find("split.tensors.count") == Value::i32(5));
    EXPECT_EQ(*f.find("general.architecture")->as_string(), "deepseek2");
  }
  // The later splits carry only the split keys.
  File s2 = File::parse(MappedFile::open(paths[1]));
  ASSERT_EQ(s2.metadata().size(), 3u);
  EXPECT_TRUE(*s2.find("split.no") == Value::u16(1));
  EXPECT_EQ(s2.tensors().size(), 2u);
}

TEST(GgufSplit, ByBytesAndWithAlignment) {
  TempDir dir;
  auto ts = split_tensors();
  // Data sizes at alignment 64: 1280, 136 -> 192, 288 -> 320, 192, 2560.
  auto paths = write_split(dir.file("m"), {.max_bytes = 1500, .alignment = 64}, ts);
  ASSERT_EQ(paths.size(), 3u);  // {embd, attn_q}, {ffn, attn_q.1}, {output}
  File f = File::open(paths[0]);
  EXPECT_EQ(f.alignment(), 64u);
  expect_tensors(f, ts);
  std::vector<uint32_t> splits;
  for (const auto& t : f.tensors()) splits.push_back(t.split);
  EXPECT_EQ(splits, (std::vector<uint32_t>{0, 0, 1, 1, 2}));
  File s3 = File::parse(MappedFile::open(paths[2]));
  EXPECT_EQ(s3.alignment(), 64u);  // every split says its alignment
}

TEST(GgufSplit, OneSplitAndNoTensors) {
  TempDir dir;
  auto paths = write_split(dir.file("one"), {}, {});
  ASSERT_EQ(paths.size(), 1u);
  EXPECT_EQ(paths[0], dir.file("one-00001-of-00001.gguf"));
  File f = File::open(paths[0]);
  EXPECT_TRUE(f.tensors().empty());
  EXPECT_TRUE(*f.find("split.count") == Value::u16(1));
}

TEST(GgufSplit, PlainFileNamedLikeASplit) {
  TempDir dir;
  std::string path = dir.file("plain-00001-of-00001.gguf");
  write_model(path, {{"k", Value::u8(1)}}, {{"t", {4}, DType::F32}});
  File f = File::open(path);
  EXPECT_EQ(f.tensors().size(), 1u);
}

TEST(GgufSplit, DestructorRemovesAllPartialFiles) {
  TempDir dir;
  auto ts = split_tensors();
  {
    SplitWriter w(dir.file("m"), {.max_tensors = 1});
    for (const auto& t : ts) w.add_tensor(t.name, t.ne, t.dtype);
    for (size_t i = 0; i < 3; ++i) {
      auto data = pattern(spec_bytes(ts[i]), 0);
      w.write_data(data.data(), data.size());
    }
    EXPECT_THROW(w.finish(), Error);  // splits 4 and 5 lack data
    EXPECT_THROW(w.add_kv("split.no", Value::u16(0)), Error);
  }
  EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
  SplitWriter w2(dir.file("n"));
  EXPECT_THROW(w2.add_kv("split.count", Value::u16(1)), Error);  // the writer owns split.*
}

TEST(GgufSplit, OpeningOneSplitByAPlainNameIsRejected) {
  TempDir dir;
  auto paths = write_split(dir.file("m"), {.max_tensors = 3}, split_tensors());
  std::string plain = dir.file("renamed.gguf");
  std::filesystem::copy_file(paths[0], plain);
  try {
    File::open(plain);
    FAIL() << "expected FormatError";
  } catch (const FormatError& e) {
    EXPECT_NE(e.field().find("split.count"), std::string::npos) << e.what();
    EXPECT_GT(e.offset(), 24u);
  }
}

// Writes small valid files for the fuzzer's seed corpus when R1_FUZZ_SEED_DIR is set:
//   R1_FUZZ_SEED_DIR=tests/fuzz/seeds/fuzz_formats_gguf build/tests/test_gguf
TEST(GgufSeeds, WriteFuzzSeedsWhenAsked) {
  const char* out = std::getenv("R1_FUZZ_SEED_DIR");
  if (out == nullptr) GTEST_SKIP() << "R1_FUZZ_SEED_DIR not set";
  std::filesystem::create_directories(out);
  std::string d(out);
  write_model(d + "/empty.seed", {}, {});
  write_model(d + "/kv_scalars.seed",
              {{"general.architecture", Value::str("deepseek2")},
               {"deepseek2.block_count", Value::u32(2)},
               {"f", Value::f32(0.5f)},
               {"b", Value::boolean(true)},
               {"i", Value::i64(-3)}},
              {});
  write_model(d + "/arrays.seed",
              {{"tokenizer.ggml.tokens", Value::str_array({"<s>", "a", "\xc4\xa0"})},
               {"tokenizer.ggml.scores", Value::f32_array({0.f, -1.f, -2.f})},
               {"nested", Value::array(ValueType::ARRAY, {Value::i32_array({1, 2}),
                                                          Value::array(ValueType::U8, {})})}},
              {});
  write_model(d + "/tensors.seed", {{"general.name", Value::str("t")}},
              {{"a", {4}, DType::F32}, {"b", {8, 2}, DType::F16}, {"c", {32}, DType::Q8_0}});
  write_model(d + "/aligned64.seed", {{"x", Value::u8(1)}},
              {{"k", {256}, DType::Q4_K}, {"i", {3}, DType::I32}}, 64);
  write_model(d + "/dims4.seed", {}, {{"d", {1, 2, 1, 3}, DType::BF16}}, 8);
}

}  // namespace
}  // namespace r1::gguf
