// Bounded-memory conversion: a safetensors checkpoint opened unmapped reads the same bytes as the
// mapped one (a GGUF opened unmapped too, its header only mapped), and `r1 convert` and
// `r1 quantize` process a model larger than the address space they are allowed (`ulimit -v`
// below the model's size, where merely mapping the model fails) into a GGUF that loads. The
// real-shape figure (R1-Distill-Qwen-1.5B) is in docs/PERFORMANCE.md.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <thread>

#include "core/error.h"
#include "formats/gguf.h"
#include "formats/safetensors.h"
#include "model/source.h"
#include "test_util.h"
#include "tools/test_model.h"

namespace r1 {
namespace {

namespace fs = std::filesystem;

std::string write_model(const test::TempDir& dir, const std::string& type, int64_t layers,
                        FileKind format = FileKind::kSafetensors, uint32_t split = 1) {
  TestModelOptions o;
  o.config = test_model_config("tiny", Arch::kQwen2);
  if (layers > 0) o.config.n_layers = layers;
  o.seed = 21;
  o.progress = false;
  o.weights = parse_weight_type(type);
  o.format = format;
  o.split_count = split;
  const std::string out = dir.file(format == FileKind::kGguf ? "m.gguf" : "hf");
  write_test_model(o, out);
  return out;
}

TEST(UnmappedCheckpoint, ReadsTheSameBytesAsTheMapping) {
  test::TempDir dir;
  const std::string hf = write_model(dir, "FP8", 0);
  const safetensors::Checkpoint mapped = safetensors::Checkpoint::open(hf);
  const safetensors::Checkpoint unmapped = safetensors::Checkpoint::open(hf, /*map=*/false);
  EXPECT_TRUE(mapped.mapped());
  EXPECT_FALSE(unmapped.mapped());
  ASSERT_EQ(mapped.tensors().size(), unmapped.tensors().size());
  for (size_t i = 0; i < mapped.tensors().size(); ++i) {
    const safetensors::TensorInfo& a = mapped.tensors()[i];
    const safetensors::TensorInfo& b = unmapped.tensors()[i];
    EXPECT_EQ(a.name, b.name);
    EXPECT_EQ(a.shape, b.shape);
    EXPECT_EQ(b.data, nullptr) << b.name;
    std::vector<uint8_t> whole(b.nbytes());
    unmapped.read(b, 0, whole.data(), whole.size());
    EXPECT_EQ(std::memcmp(whole.data(), a.data, whole.size()), 0) << b.name;
    if (b.nbytes() >= 8) {  // a piece from the middle, and the same through the mapped reader
      std::vector<uint8_t> part(5), part2(5);
      unmapped.read(b, 3, part.data(), 5);
      mapped.read(a, 3, part2.data(), 5);
      EXPECT_EQ(std::memcmp(part.data(), a.data + 3, 5), 0) << b.name;
      EXPECT_EQ(part, part2);
    }
    std::vector<uint8_t> one(1);
    EXPECT_THROW(unmapped.read(b, b.nbytes(), one.data(), 1), Error) << b.name;
  }
  // A model source opened unmapped validates as the mapped one, with null views.
  ModelSource src = ModelSource::open(hf, /*map=*/false);
  EXPECT_NO_THROW(src.validate_tensors());
  for (const SourceTensor& t : src.tensors()) EXPECT_EQ(t.data, nullptr) << t.name;
  ASSERT_NE(src.checkpoint(), nullptr);
}

TEST(UnmappedCheckpoint, ChecksTheHeaderAsTheMappedReader) {
  test::TempDir dir;
  const std::string hf = write_model(dir, "BF16", 0);
  const std::string file = hf + "/model.safetensors";
  // Truncated: the data section no longer holds the last tensor.
  const std::string cut = dir.file("cut.safetensors");
  fs::copy_file(file, cut);
  fs::resize_file(cut, fs::file_size(file) - 1);
  std::string mapped_err, unmapped_err;
  try {
    safetensors::File::open(cut);
  } catch (const FormatError& e) {
    mapped_err = e.what();
  }
  try {
    safetensors::File::open(cut, /*map=*/false);
  } catch (const FormatError& e) {
    unmapped_err = e.what();
  }
  EXPECT_FALSE(mapped_err.empty());
  EXPECT_EQ(mapped_err, unmapped_err);
  // Shorter than the header length field.
  const std::string tiny = dir.file("tiny.safetensors");
  test::write_file(tiny, "abc");
  EXPECT_THROW(safetensors::File::open(tiny, false), FormatError);
}

TEST(UnmappedGguf, ReadsTheSameBytesAsTheMapping) {
  for (uint32_t split : {1u, 2u}) {
    test::TempDir dir;
    write_model(dir, "Q8_0", 0, FileKind::kGguf, split);
    std::string path = dir.file("m.gguf");
    if (split > 1) path = dir.file("m-00001-of-00002.gguf");
    const gguf::File mapped = gguf::File::open(path);
    const gguf::File unmapped = gguf::File::open(path, /*map=*/false);
    EXPECT_EQ(mapped.metadata().size(), unmapped.metadata().size());
    for (size_t i = 0; i < mapped.metadata().size(); ++i)
      EXPECT_TRUE(mapped.metadata()[i] == unmapped.metadata()[i]) << mapped.metadata()[i].first;
    ASSERT_EQ(mapped.tensors().size(), unmapped.tensors().size());
    for (size_t i = 0; i < mapped.tensors().size(); ++i) {
      const gguf::TensorInfo& a = mapped.tensors()[i];
      const gguf::TensorInfo& b = unmapped.tensors()[i];
      EXPECT_EQ(a.name, b.name);
      EXPECT_EQ(a.split, b.split);
      std::vector<uint8_t> whole(b.nbytes), via_mapped(a.nbytes);
      unmapped.read(b, 0, whole.data(), whole.size());
      mapped.read(a, 0, via_mapped.data(), via_mapped.size());
      EXPECT_EQ(std::memcmp(whole.data(), a.data, whole.size()), 0) << b.name;
      EXPECT_EQ(whole, via_mapped) << b.name;
      std::vector<uint8_t> one(1);
      EXPECT_THROW(unmapped.read(b, b.nbytes, one.data(), 1), Error) << b.name;
    }
  }
}

TEST(UnmappedGguf, MalformedFilesGetTheMappedError) {
  // A header longer than the first prefix (16 MiB), then a file cut inside its metadata: the
  // unmapped open retries with longer prefixes and ends with the error of a mapped open.
  test::TempDir dir;
  gguf::Writer w(dir.file("big.gguf"));
  w.add_kv("general.architecture", gguf::Value::str("llama"));
  w.add_kv("big", gguf::Value::str(std::string(20u << 20, 'x')));
  w.add_tensor("t", {32}, DType::F32);
  w.write_header();
  std::vector<float> data(32, 1.5f);
  w.write_data(data.data(), data.size() * sizeof(float));
  w.finish();
  const gguf::File ok = gguf::File::open(dir.file("big.gguf"), false);
  ASSERT_EQ(ok.tensors().size(), 1u);
  std::vector<float> back(32);
  ok.read(ok.tensors()[0], 0, back.data(), 128);
  EXPECT_EQ(back, data);

  const std::string cut = dir.file("cut.gguf");
  fs::copy_file(dir.file("big.gguf"), cut);
  fs::resize_file(cut, 18u << 20);
  std::string mapped_err, unmapped_err;
  try {
    gguf::File::open(cut);
  } catch (const FormatError& e) {
    mapped_err = e.what();
  }
  try {
    gguf::File::open(cut, false);
  } catch (const FormatError& e) {
    unmapped_err = e.what();
  }
  EXPECT_FALSE(mapped_err.empty());
  EXPECT_EQ(mapped_err, unmapped_err);
}

#if defined(__SANITIZE_ADDRESS__)
#define R1_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define R1_ASAN 1
#endif
#endif

TEST(ConvertMemory, ModelLargerThanTheAddressSpaceLimit) {
#ifdef R1_ASAN
  GTEST_SKIP() << "AddressSanitizer reserves terabytes of address space: no ulimit -v run";
#endif
  // The limit: 160 MiB of address space (r1 needs about 60 MiB to convert, whatever the model
  // size), plus 1 MiB per encoding thread beyond 32 (thread stacks are limited to 1 MiB).
  const uint64_t threads = std::max(1u, std::thread::hardware_concurrency());
  const uint64_t limit = (160ull << 20) + (threads > 32 ? (threads - 32) << 20 : 0);
  // A tiny-width Qwen2 with enough layers (about 1.13 MiB each in BF16) to exceed the limit.
  test::TempDir dir;
  const int64_t layers = static_cast<int64_t>((limit + (48ull << 20)) / (1130ull << 10));
  const std::string hf = write_model(dir, "BF16", layers);
  const uint64_t model_bytes = fs::file_size(hf + "/model.safetensors");
  ASSERT_GT(model_bytes, limit + (32ull << 20));

  const std::string r1 = test::r1_binary();
  const std::string ulimit =
      "ulimit -s 1024 && ulimit -v " + std::to_string(limit >> 10) + " && MALLOC_ARENA_MAX=2 exec ";
  // Under the limit, mapping the model (as inspect does) fails: the limit really is below it.
  test::CommandResult r = test::run_command("sh -c '" + ulimit + r1 + " inspect " + hf + "'");
  EXPECT_NE(r.exit_code, 0) << r.out;
  EXPECT_NE(r.err.find("cannot mmap"), std::string::npos) << r.err;

  const std::string out = dir.file("out.gguf");
  r = test::run_command("sh -c '" + ulimit + r1 + " convert " + hf + " " + out +
                        " --type BF16 -q'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(fs::exists(out));
  EXPECT_FALSE(fs::exists(out + ".partial"));

  // The output loads and validates (outside the limit: inspect maps it).
  r = test::run_command(r1 + " inspect " + out);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find(std::to_string(layers) + " × d_model 256"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("BF16"), std::string::npos) << r.out;

  // Quantizing that GGUF (larger than the limit too) under the same limit.
  ASSERT_GT(fs::file_size(out), limit);
  const std::string q8 = dir.file("q8.gguf");
  r = test::run_command("sh -c '" + ulimit + r1 + " inspect " + out + "'");
  EXPECT_NE(r.exit_code, 0) << r.out;
  r = test::run_command("sh -c '" + ulimit + r1 + " quantize " + out + " " + q8 + " Q8_0 -q'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = test::run_command(r1 + " inspect " + q8);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("Q8_0"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace r1
