// Read-only memory-mapped file. Zero-copy views of tensor data point into the mapping. A file
// opened unmapped (open_unmapped) has no data() and is read with read(): bounded-memory tools
// (convert) use it so that a model larger than the address space they may use can be read.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

namespace r1 {

// Where open() keeps a file's bytes. kMapped: the page-cache mapping (4 KiB pages). kHugePages:
// a private copy in anonymous memory on transparent huge pages, for model weights that are
// streamed once per token (a 4 KiB-page mapping costs a TLB miss per page: about a third of
// decode speed on a 1.9 GB model), taken only when the file fits in the memory available, else
// the mapping as before. Tools with bounded memory (convert, quantize) keep kMapped.
enum class Residency { kMapped, kHugePages };

class MappedFile {
 public:
  // The residency later open() calls use (process-wide; kMapped unless set).
  static void set_default_residency(Residency r);
  static Residency default_residency();
  // Throws r1::Error naming the path when the file cannot be opened or mapped.
  static std::shared_ptr<MappedFile> open(const std::string& path);
  // An in-memory image (fuzzers, tests); `name` stands in for the path in messages.
  static std::shared_ptr<MappedFile> from_bytes(std::string name, std::vector<uint8_t> bytes);
  // Opens without mapping: data() is null, size() is the file size, read() uses pread.
  static std::shared_ptr<MappedFile> open_unmapped(const std::string& path);
  // Maps only the first min(prefix, size) bytes (a header): data() holds mapped_bytes() bytes,
  // size() is the file size, read() beyond the prefix uses pread.
  static std::shared_ptr<MappedFile> open_prefix(const std::string& path, uint64_t prefix);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  uint64_t size() const { return size_; }
  const std::string& path() const { return path_; }
  bool mapped() const { return mapped_bytes_ == size_; }  // the whole file is in data()
  uint64_t mapped_bytes() const { return mapped_bytes_; }
  // True when data() is a private copy on huge pages (Residency::kHugePages was taken).
  bool on_huge_pages() const { return region_bytes_ > 0; }
  // Copies bytes [offset, offset + n) into dst (from the mapping, or with pread). Throws r1::Error
  // naming the path for a range past the end or a failed read.
  void read(uint64_t offset, void* dst, uint64_t n) const;

  // Rewrites bytes [p, p + n) of a live private copy (on_huge_pages) in place, once: calls
  // fn(writable p) with the pages briefly writable, and records p so that later calls for the
  // same bytes (a second model bound from the same file) know it was done. Loaders use it for
  // faster layouts of the same size. Bytes of a shared mapping (or not of any MappedFile) are
  // left alone: the file on disk is never written.
  enum class Rewrite { kRewritten, kDoneBefore, kNotPrivate };
  static Rewrite rewrite_once(const uint8_t* p, uint64_t n,
                              const std::function<void(uint8_t*)>& fn);

 private:
  MappedFile() = default;
  std::string path_;
  const uint8_t* data_ = nullptr;
  uint64_t size_ = 0;
  uint64_t mapped_bytes_ = 0;           // bytes readable at data()
  uint64_t region_bytes_ = 0;           // the anonymous copy's length (kHugePages), else 0
  int fd_ = -1;                         // open_unmapped: the file, read with pread
  std::vector<uint8_t> owned_;          // backing store of from_bytes images
  std::set<const uint8_t*> rewritten_;  // starts of the ranges rewrite_once rewrote
};

}  // namespace r1
