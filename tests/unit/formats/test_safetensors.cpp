// safetensors reader/writer: round trips, byte identity, sharded checkpoints, zero-copy views.
#include "formats/safetensors.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "core/error.h"
#include "core/half.h"
#include "test_util.h"

namespace st = r1::safetensors;
using r1::DType;
using r1::test::read_file;
using r1::test::TempDir;

namespace {

// Deterministic bytes for tensor `seed`.
std::string pattern(uint64_t n, uint32_t seed) {
  std::string s(n, '\0');
  uint32_t x = seed * 2654435761u + 1;
  for (uint64_t i = 0; i < n; ++i) {
    x = x * 1664525u + 1013904223u;
    s[i] = static_cast<char>(x >> 24);
  }
  return s;
}

struct Spec {
  std::string name;
  DType dtype;
  std::vector<uint64_t> shape;
};

uint64_t spec_bytes(const Spec& s) {
  uint64_t n = 1;
  for (uint64_t d : s.shape) n *= d;
  return *r1::dtype_bytes(s.dtype, n);
}

// One tensor of every dtype safetensors can hold, plus a scalar and a zero-size tensor.
std::vector<Spec> every_dtype() {
  return {
      {"model.embed_tokens.weight", DType::BF16, {3, 5}},
      {"f16", DType::F16, {7}},
      {"f32", DType::F32, {2, 3, 4}},
      {"f64.scalar", DType::F64, {}},
      {"model.layers.0.mlp.gate_proj.weight", DType::F8_E4M3, {130, 3}},
      {"i8", DType::I8, {5}},
      {"empty", DType::F32, {0, 4}},
      {"i16", DType::I16, {2, 2}},
      {"i32", DType::I32, {3}},
      {"i64", DType::I64, {1, 1}},
      {"u8", DType::U8, {9}},
  };
}

// Writes `specs` with pattern data; returns the data of each tensor.
std::vector<std::string> write_specs(const std::string& path, const std::vector<Spec>& specs,
                                     const std::map<std::string, std::string>& metadata,
                                     uint32_t seed = 0) {
  st::Writer w(path);
  for (const auto& [k, v] : metadata) w.add_metadata(k, v);
  std::vector<std::string> datas;
  for (size_t i = 0; i < specs.size(); ++i) {
    w.add_tensor(specs[i].name, specs[i].dtype, specs[i].shape);
    datas.push_back(pattern(spec_bytes(specs[i]), seed + static_cast<uint32_t>(i)));
  }
  w.write_header();
  for (const std::string& d : datas) {
    // Uneven chunks: the writer streams bytes, tensor boundaries do not matter.
    size_t pos = 0;
    while (pos < d.size()) {
      size_t n = std::min<size_t>(d.size() - pos, 7);
      w.write_data(d.data() + pos, n);
      pos += n;
    }
  }
  const uint64_t expected = w.total_bytes();
  w.finish();
  EXPECT_EQ(std::filesystem::file_size(path), expected);
  return datas;
}

std::vector<uint8_t> to_bytes(const std::string& s) {
  return {s.begin(), s.end()};
}

}  // namespace

TEST(Safetensors, RoundTripEveryDtypeWithMetadata) {
  // Every dtype with a safetensors name is covered.
  std::set<DType> covered;
  for (const Spec& s : every_dtype()) covered.insert(s.dtype);
  for (int i = 0; i < static_cast<int>(DType::kCount); ++i) {
    const DType t = static_cast<DType>(i);
    if (r1::dtype_traits(t).st_name != nullptr) {
      EXPECT_TRUE(covered.count(t)) << r1::dtype_name(t);
    }
  }

  TempDir tmp;
  const std::string path = tmp.file("rt.safetensors");
  const std::map<std::string, std::string> meta = {
      {"format", "pt"},
      {"note", "h\xc3\xa9llo \xe2\x9c\x93 \"quoted\"\n"},
      {"empty", ""},
      {"nul", std::string("a\0b", 3)}};
  auto specs = every_dtype();
  auto datas = write_specs(path, specs, meta);
  EXPECT_FALSE(std::filesystem::exists(path + ".partial"));

  st::File f = st::File::open(path);
  EXPECT_EQ(f.path(), path);
  EXPECT_EQ(f.metadata(), meta);
  ASSERT_EQ(f.tensors().size(), specs.size());
  EXPECT_EQ(f.file_bytes(), std::filesystem::file_size(path));
  for (size_t i = 0; i < specs.size(); ++i) {
    SCOPED_TRACE(specs[i].name);
    const st::TensorInfo* t = f.find(specs[i].name);
    ASSERT_NE(t, nullptr);
    EXPECT_EQ(t->name, specs[i].name);
    EXPECT_EQ(t->dtype, specs[i].dtype);
    EXPECT_EQ(t->shape, specs[i].shape);
    EXPECT_EQ(t->nbytes(), datas[i].size());
    EXPECT_EQ(t->shard, 0u);
    ASSERT_NE(t->data, nullptr);
    EXPECT_EQ(std::memcmp(t->data, datas[i].data(), datas[i].size()), 0);
  }
  EXPECT_EQ(f.find("f64.scalar")->n_elements(), 1u);
  EXPECT_EQ(f.find("empty")->n_elements(), 0u);
  EXPECT_EQ(f.find("model.embed_tokens.weight")->n_elements(), 15u);
  EXPECT_EQ(f.find("nope"), nullptr);

  // Sorted by data offset, tiling the data section.
  uint64_t cursor = 0;
  for (const st::TensorInfo& t : f.tensors()) {
    EXPECT_EQ(t.begin, cursor) << t.name;
    cursor = t.end;
  }
  EXPECT_EQ(f.data_offset() + cursor, f.file_bytes());
}

TEST(Safetensors, FileLayoutHeaderPaddedAndDataInDeclarationOrder) {
  TempDir tmp;
  const std::string path = tmp.file("layout.safetensors");
  auto specs = every_dtype();
  auto datas = write_specs(path, specs, {{"format", "pt"}});
  const std::string raw = read_file(path);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<uint8_t>(raw[i]);
  EXPECT_EQ(n % 8, 0u);
  const std::string header = raw.substr(8, n);
  EXPECT_EQ(header.front(), '{');
  const size_t close = header.find_last_not_of(' ');
  EXPECT_EQ(header[close], '}');
  EXPECT_LT(header.size() - close - 1, 8u);  // at most 7 padding spaces
  auto j = nlohmann::json::parse(header);
  EXPECT_EQ(j["__metadata__"]["format"], "pt");
  EXPECT_EQ(j["f32"]["dtype"], "F32");
  EXPECT_EQ(j["f64.scalar"]["shape"], nlohmann::json::array());
  std::string all;
  for (const auto& d : datas) all += d;
  EXPECT_EQ(raw.substr(8 + n), all);
}

TEST(Safetensors, RewriteIsByteIdentical) {
  TempDir tmp;
  const std::string a = tmp.file("a.safetensors"), b = tmp.file("b.safetensors");
  write_specs(a, every_dtype(), {{"a", "1"}, {"b", "2"}});
  st::File f = st::File::open(a);
  {
    st::Writer w(b);
    for (const auto& [k, v] : f.metadata()) w.add_metadata(k, v);
    for (const auto& t : f.tensors()) w.add_tensor(t.name, t.dtype, t.shape);
    w.write_header();
    for (const auto& t : f.tensors()) w.write_data(t.data, t.nbytes());
    w.finish();
  }
  EXPECT_EQ(read_file(a), read_file(b));
}

TEST(Safetensors, ReadsHandWrittenFile) {
  // As written by the Python library: compact JSON, padded with spaces, no particular order.
  std::string header =
      R"({"__metadata__":{"format":"pt"},"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
      R"("b":{"dtype":"BF16","shape":[1,2],"data_offsets":[8,12]}, "z":{"dtype":"I64","shape":[0],"data_offsets":[12,12]}})";
  header.append((8 - header.size() % 8) % 8, ' ');
  std::string file(8, '\0');
  for (int i = 0; i < 8; ++i) file[i] = static_cast<char>(header.size() >> (8 * i));
  file += header;
  auto put32 = [&](uint32_t v) {
    for (int i = 0; i < 4; ++i) file += static_cast<char>(v >> (8 * i));
  };
  auto put16 = [&](uint16_t v) {
    file += static_cast<char>(v & 0xff);
    file += static_cast<char>(v >> 8);
  };
  put32(r1::bits_from_f32(1.0f));
  put32(r1::bits_from_f32(-2.5f));
  put16(r1::f32_to_bf16(0.5f));
  put16(r1::f32_to_bf16(3.0f));

  auto mf = r1::MappedFile::from_bytes("hand.safetensors", to_bytes(file));
  st::File f = st::File::parse(mf);
  EXPECT_EQ(f.metadata().at("format"), "pt");
  ASSERT_EQ(f.tensors().size(), 3u);
  EXPECT_EQ(f.tensors()[0].name, "w");
  EXPECT_EQ(f.tensors()[1].name, "b");
  EXPECT_EQ(f.tensors()[2].name, "z");
  const auto* w = f.find("w");
  float w0, w1;
  std::memcpy(&w0, w->data, 4);
  std::memcpy(&w1, w->data + 4, 4);
  EXPECT_EQ(w0, 1.0f);
  EXPECT_EQ(w1, -2.5f);
  const auto* b = f.find("b");
  EXPECT_EQ(b->shape, (std::vector<uint64_t>{1, 2}));
  uint16_t b1;
  std::memcpy(&b1, b->data + 2, 2);
  EXPECT_EQ(r1::bf16_to_f32(b1), 3.0f);
  EXPECT_EQ(f.find("z")->nbytes(), 0u);
}

TEST(Safetensors, ZeroSizeTensorMaySharePositionWithRealTensor) {
  std::string header =
      R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"z":{"dtype":"F32","shape":[3,0],"data_offsets":[0,0]},"y":{"dtype":"U8","shape":[0],"data_offsets":[8,8]}})";
  std::string file(8, '\0');
  for (int i = 0; i < 8; ++i) file[i] = static_cast<char>(header.size() >> (8 * i));
  file += header + std::string(8, 'x');
  st::File f = st::File::parse(r1::MappedFile::from_bytes("z", to_bytes(file)));
  ASSERT_EQ(f.tensors().size(), 3u);
  EXPECT_EQ(f.tensors()[0].name, "z");
  EXPECT_EQ(f.tensors()[1].name, "w");
  EXPECT_EQ(f.tensors()[2].name, "y");
}

TEST(Safetensors, EmptyFileWithNoTensors) {
  TempDir tmp;
  const std::string path = tmp.file("empty.safetensors");
  {
    st::Writer w(path);
    w.write_header();
    w.finish();
  }
  EXPECT_EQ(std::filesystem::file_size(path), 16u);  // 8 + "{}" padded to 8
  st::File f = st::File::open(path);
  EXPECT_TRUE(f.tensors().empty());
  EXPECT_TRUE(f.metadata().empty());
}

TEST(Safetensors, ZeroCopyViewsPointIntoTheMapping) {
  TempDir tmp;
  const std::string path = tmp.file("zc.safetensors");
  write_specs(path, every_dtype(), {});
  std::string raw = read_file(path);
  auto mf = r1::MappedFile::from_bytes("zc", to_bytes(raw));
  st::File f = st::File::parse(mf);
  for (const auto& t : f.tensors()) {
    EXPECT_EQ(t.data, mf->data() + f.data_offset() + t.begin) << t.name;
  }
  // From a real mapping: every view is at its offset from one base (no per-tensor copies).
  st::File g = st::File::open(path);
  const uint8_t* base = g.tensors().front().data - g.tensors().front().begin;
  for (const auto& t : g.tensors()) EXPECT_EQ(t.data, base + t.begin) << t.name;
  // Views stay valid as long as a File (or a copy of it) lives.
  st::File copy = g;
  g = st::File();
  EXPECT_EQ(std::memcmp(copy.find("u8")->data,
                        raw.data() + copy.data_offset() + copy.find("u8")->begin, 9),
            0);
}

TEST(Safetensors, ShardedCheckpointViaFolderAndIndex) {
  TempDir tmp;
  const std::string s1 = "model-00001-of-00002.safetensors",
                    s2 = "model-00002-of-00002.safetensors";
  std::vector<Spec> a = {{"model.embed_tokens.weight", DType::BF16, {4, 8}},
                         {"model.layers.0.mlp.gate.weight", DType::BF16, {2, 8}}};
  std::vector<Spec> b = {{"model.norm.weight", DType::F32, {8}},
                         {"lm_head.weight", DType::F8_E4M3, {4, 8}},
                         {"lm_head.weight_scale_inv", DType::F32, {1, 1}}};
  auto da = write_specs(tmp.file(s1), a, {{"format", "pt"}}, 10);
  auto db = write_specs(tmp.file(s2), b, {{"format", "other"}}, 20);
  std::map<std::string, std::string> wm;
  uint64_t total = 0;
  for (const auto& s : a) wm[s.name] = s1, total += spec_bytes(s);
  for (const auto& s : b) wm[s.name] = s2, total += spec_bytes(s);
  st::write_index(tmp.path(), wm, total);
  EXPECT_FALSE(std::filesystem::exists(tmp.file(std::string(st::kIndexFileName) + ".partial")));
  auto idx = nlohmann::json::parse(read_file(tmp.file(st::kIndexFileName)));
  EXPECT_EQ(idx["metadata"]["total_size"], total);
  EXPECT_EQ(idx["weight_map"]["lm_head.weight"], s2);

  for (const std::string& open_path :
       {tmp.path(), tmp.path() + "/", tmp.file(st::kIndexFileName)}) {
    SCOPED_TRACE(open_path);
    st::Checkpoint cp = st::Checkpoint::open(open_path);
    EXPECT_EQ(cp.dir(), tmp.path());
    ASSERT_EQ(cp.paths().size(), 2u);
    EXPECT_EQ(cp.paths()[0], tmp.file(s1));
    EXPECT_EQ(cp.paths()[1], tmp.file(s2));
    ASSERT_EQ(cp.tensors().size(), 5u);
    EXPECT_EQ(cp.metadata().at("format"), "pt");
    EXPECT_EQ(cp.file_bytes(),
              std::filesystem::file_size(tmp.file(s1)) + std::filesystem::file_size(tmp.file(s2)));
    for (size_t i = 0; i < a.size(); ++i) {
      const auto* t = cp.find(a[i].name);
      ASSERT_NE(t, nullptr);
      EXPECT_EQ(t->shard, 0u);
      EXPECT_EQ(std::memcmp(t->data, da[i].data(), da[i].size()), 0);
    }
    for (size_t i = 0; i < b.size(); ++i) {
      const auto* t = cp.find(b[i].name);
      ASSERT_NE(t, nullptr);
      EXPECT_EQ(t->shard, 1u);
      EXPECT_EQ(t->dtype, b[i].dtype);
      EXPECT_EQ(std::memcmp(t->data, db[i].data(), db[i].size()), 0);
    }
    EXPECT_EQ(cp.find("missing"), nullptr);
  }
}

TEST(Safetensors, CheckpointFromSingleFileOrLoneFileInFolder) {
  TempDir tmp;
  std::filesystem::create_directory(tmp.file("m"));
  const std::string path = tmp.file("m/model.safetensors");
  auto d = write_specs(path, {{"x", DType::F16, {3}}}, {{"k", "v"}});
  r1::test::write_file(tmp.file("m/config.json"), "{}");
  for (const std::string& p : {path, tmp.file("m")}) {
    st::Checkpoint cp = st::Checkpoint::open(p);
    EXPECT_EQ(cp.dir(), tmp.file("m"));
    ASSERT_EQ(cp.paths().size(), 1u);
    EXPECT_EQ(cp.paths()[0], path);
    ASSERT_EQ(cp.tensors().size(), 1u);
    EXPECT_EQ(cp.metadata().at("k"), "v");
    EXPECT_EQ(std::memcmp(cp.find("x")->data, d[0].data(), 6), 0);
  }
}

TEST(SafetensorsWriter, DestructorRemovesPartialFile) {
  TempDir tmp;
  const std::string path = tmp.file("p.safetensors");
  {
    st::Writer w(path);
    w.add_tensor("a", DType::F32, {4});
    w.write_header();
    EXPECT_TRUE(std::filesystem::exists(path + ".partial"));
    EXPECT_FALSE(std::filesystem::exists(path));
    float x[2] = {1, 2};
    w.write_data(x, sizeof x);
    EXPECT_THROW(w.finish(), r1::Error);  // 8 of 16 bytes
  }
  EXPECT_FALSE(std::filesystem::exists(path + ".partial"));
  EXPECT_FALSE(std::filesystem::exists(path));
}

TEST(SafetensorsWriter, ChecksSizesAndOrder) {
  TempDir tmp;
  const std::string path = tmp.file("w.safetensors");
  st::Writer w(path);
  w.add_metadata("format", "pt");
  EXPECT_THROW(w.add_metadata("format", "again"), r1::Error);
  w.add_tensor("a", DType::BF16, {2, 2});
  EXPECT_THROW(w.add_tensor("a", DType::F32, {1}), r1::Error);             // duplicate
  EXPECT_THROW(w.add_tensor("", DType::F32, {1}), r1::Error);              // empty name
  EXPECT_THROW(w.add_tensor("__metadata__", DType::F32, {1}), r1::Error);  // reserved
  EXPECT_THROW(w.add_tensor("q", DType::Q4_K, {256}), r1::Error);     // not a safetensors dtype
  EXPECT_THROW(w.add_tensor("bad\xff", DType::F32, {1}), r1::Error);  // not UTF-8
  EXPECT_THROW(w.add_tensor("huge", DType::F64, {1ull << 62, 4}), r1::Error);
  EXPECT_THROW(w.write_data("x", 1), r1::Error);  // before write_header
  const uint64_t before = w.total_bytes();
  w.write_header();
  EXPECT_EQ(w.total_bytes(), before);
  EXPECT_THROW(w.add_tensor("b", DType::F32, {1}), r1::Error);  // after write_header
  EXPECT_THROW(w.write_header(), r1::Error);
  uint8_t buf[16] = {};
  EXPECT_THROW(w.write_data(buf, 9), r1::Error);  // more than declared
  w.write_data(buf, 8);
  w.finish();
  EXPECT_THROW(w.write_data(buf, 1), r1::Error);
  EXPECT_EQ(std::filesystem::file_size(path), before);
  EXPECT_EQ(st::File::open(path).find("a")->nbytes(), 8u);
}

TEST(SafetensorsWriter, UnwritableFolderIsAnError) {
  st::Writer w("/nonexistent-folder-r1/x.safetensors");
  w.add_tensor("a", DType::U8, {1});
  EXPECT_THROW(w.write_header(), r1::Error);
}
