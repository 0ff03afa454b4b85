// Read-only memory-mapped file. Zero-copy views of tensor data point into the mapping. A file
// opened unmapped (open_unmapped) has no data() and is read with read(): bounded-memory tools
// (convert) use it so that a model larger than the address space they may use can be read.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace r1 {

class MappedFile {
 public:
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
  // Copies bytes [offset, offset + n) into dst (from the mapping, or with pread). Throws r1::Error
  // naming the path for a range past the end or a failed read.
  void read(uint64_t offset, void* dst, uint64_t n) const;

 private:
  MappedFile() = default;
  std::string path_;
  const uint8_t* data_ = nullptr;
  uint64_t size_ = 0;
  uint64_t mapped_bytes_ = 0;   // bytes readable at data()
  int fd_ = -1;                 // open_unmapped: the file, read with pread
  std::vector<uint8_t> owned_;  // backing store of from_bytes images
};

}  // namespace r1
