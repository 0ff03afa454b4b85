// MappedFile residency: a file opened with Residency::kHugePages is a private copy whose bytes
// equal the file's (data() and read()), and kMapped keeps the plain mapping.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <vector>

#include "core/error.h"
#include "core/mmap_file.h"
#include "test_util.h"

namespace r1 {
namespace {

struct ResidencyGuard {
  Residency saved = MappedFile::default_residency();
  ~ResidencyGuard() { MappedFile::set_default_residency(saved); }
};

TEST(MappedFile, HugePageCopyHoldsTheFilesBytes) {
  ResidencyGuard guard;
  test::TempDir dir;
  const std::string path = dir.file("w.bin");
  // 64 MiB + 3 bytes: past the copy's minimum, and not a whole number of huge pages.
  std::vector<uint8_t> bytes((64u << 20) + 3);
  uint32_t v = 12345;
  for (auto& b : bytes) b = static_cast<uint8_t>((v = v * 1664525u + 1013904223u) >> 24);
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes.data()),
             static_cast<std::streamsize>(bytes.size()));

  MappedFile::set_default_residency(Residency::kMapped);
  const auto mapped = MappedFile::open(path);
  EXPECT_FALSE(mapped->on_huge_pages());

  MappedFile::set_default_residency(Residency::kHugePages);
  const auto copy = MappedFile::open(path);
  ASSERT_EQ(copy->size(), bytes.size());
  ASSERT_TRUE(copy->mapped());
  // (Taken unless the machine lacks the memory; then it falls back to the mapping.)
  if (!copy->on_huge_pages()) GTEST_SKIP() << "not enough memory available for the copy";
  EXPECT_EQ(std::memcmp(copy->data(), bytes.data(), bytes.size()), 0);
  uint8_t tail[3];
  copy->read(bytes.size() - 3, tail, 3);
  EXPECT_EQ(std::memcmp(tail, bytes.data() + bytes.size() - 3, 3), 0);
  EXPECT_THROW(copy->read(bytes.size() - 2, tail, 3), Error);

  // Small files are not worth a copy: they stay mapped.
  const std::string small = dir.file("s.bin");
  std::ofstream(small, std::ios::binary).write("abc", 3);
  EXPECT_FALSE(MappedFile::open(small)->on_huge_pages());
}

// A private copy may be rewritten in place once per range (the loader's decode layouts); a
// shared mapping and memory of no file are left alone, and the file itself never changes.
TEST(MappedFile, RewriteOnceChangesOnlyAPrivateCopyAndOnlyOnce) {
  ResidencyGuard guard;
  test::TempDir dir;
  const std::string path = dir.file("r.bin");
  std::vector<uint8_t> bytes(3u << 20, 7);
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes.data()),
             static_cast<std::streamsize>(bytes.size()));
  const auto bump = [](uint8_t* p) {
    for (int i = 0; i < 100; ++i) p[i] = static_cast<uint8_t>(p[i] + 1);
  };
  using R = MappedFile::Rewrite;
  MappedFile::set_default_residency(Residency::kMapped);
  const auto mapped = MappedFile::open(path);
  EXPECT_EQ(MappedFile::rewrite_once(mapped->data() + 10, 100, bump), R::kNotPrivate);
  EXPECT_EQ(mapped->data()[10], 7);
  EXPECT_EQ(MappedFile::rewrite_once(bytes.data(), 100, bump), R::kNotPrivate);
  EXPECT_EQ(bytes[0], 7);

  MappedFile::set_default_residency(Residency::kHugePages);
  const auto copy = MappedFile::open(path);
  if (!copy->on_huge_pages()) GTEST_SKIP() << "not enough memory available for the copy";
  const uint8_t* at = copy->data() + (2u << 20) - 50;  // across a page boundary
  EXPECT_EQ(MappedFile::rewrite_once(at, 100, bump), R::kRewritten);
  EXPECT_EQ(at[0], 8);
  EXPECT_EQ(at[99], 8);
  EXPECT_EQ(at[100], 7);
  EXPECT_EQ(MappedFile::rewrite_once(at, 100, bump), R::kDoneBefore);
  EXPECT_EQ(at[0], 8);
  // A range past the end of the copy is not its own.
  EXPECT_EQ(MappedFile::rewrite_once(copy->data() + bytes.size() - 10, 100, bump), R::kNotPrivate);
  // The file and its other mappings are unchanged.
  EXPECT_EQ(mapped->data()[(2u << 20) - 50], 7);
  EXPECT_EQ(MappedFile::open(path)->data()[(2u << 20) - 50], 7);
}

}  // namespace
}  // namespace r1
