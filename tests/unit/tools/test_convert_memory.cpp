// Bounded-memory conversion: a safetensors checkpoint opened unmapped reads the same bytes as the
// mapped one, and `r1 convert` converts a model larger than the address space it is allowed
// (`ulimit -v` below the model's size, where merely mapping the model fails) into a GGUF that
// loads. The real-shape figure (R1-Distill-Qwen-1.5B) is in docs/PERFORMANCE.md.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <thread>

#include "core/error.h"
#include "formats/safetensors.h"
#include "model/source.h"
#include "test_util.h"
#include "tools/test_model.h"

namespace r1 {
namespace {

namespace fs = std::filesystem;

std::string write_model(const test::TempDir& dir, const std::string& type, int64_t layers) {
  TestModelOptions o;
  o.config = test_model_config("tiny", Arch::kQwen2);
  if (layers > 0) o.config.n_layers = layers;
  o.seed = 21;
  o.progress = false;
  o.weights = parse_weight_type(type);
  o.format = FileKind::kSafetensors;
  const std::string out = dir.file("hf");
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
                        " --type Q8_0 -q'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(fs::exists(out));
  EXPECT_FALSE(fs::exists(out + ".partial"));

  // The output loads and validates (outside the limit: inspect maps it).
  r = test::run_command(r1 + " inspect " + out);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find(std::to_string(layers) + " × d_model 256"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Q8_0"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace r1
