#include "core/mmap_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/check.h"
#include "core/error.h"

namespace r1 {

namespace {

// Opens a regular file read-only; returns the descriptor and its size.
int open_regular(const std::string& path, uint64_t& size) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error(path + ": cannot open: " + std::strerror(errno));
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    int e = errno;
    ::close(fd);
    throw Error(path + ": cannot stat: " + std::strerror(e));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    throw Error(path + ": not a regular file");
  }
  size = static_cast<uint64_t>(st.st_size);
  return fd;
}

}  // namespace

std::shared_ptr<MappedFile> MappedFile::open(const std::string& path) {
  uint64_t size = 0;
  const int fd = open_regular(path, size);
  std::shared_ptr<MappedFile> f(new MappedFile());
  f->path_ = path;
  f->size_ = size;
  if (f->size_ > 0) {
    void* p = mmap(nullptr, f->size_, PROT_READ, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
      int e = errno;
      ::close(fd);
      throw Error(path + ": cannot mmap: " + std::strerror(e));
    }
    f->data_ = static_cast<const uint8_t*>(p);
  }
  f->mapped_bytes_ = f->size_;
  ::close(fd);
  return f;
}

std::shared_ptr<MappedFile> MappedFile::open_unmapped(const std::string& path) {
  uint64_t size = 0;
  const int fd = open_regular(path, size);
  std::shared_ptr<MappedFile> f(new MappedFile());
  f->path_ = path;
  f->size_ = size;
  f->fd_ = fd;
  return f;
}

std::shared_ptr<MappedFile> MappedFile::open_prefix(const std::string& path, uint64_t prefix) {
  uint64_t size = 0;
  const int fd = open_regular(path, size);
  std::shared_ptr<MappedFile> f(new MappedFile());
  f->path_ = path;
  f->size_ = size;
  f->fd_ = fd;
  const uint64_t len = std::min(prefix, size);
  if (len > 0) {
    void* p = mmap(nullptr, len, PROT_READ, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED)
      throw Error(path + ": cannot mmap the first " + std::to_string(len) +
                  " bytes: " + std::strerror(errno));  // f closes fd
    f->data_ = static_cast<const uint8_t*>(p);
    f->mapped_bytes_ = len;
  }
  return f;
}

void MappedFile::read(uint64_t offset, void* dst, uint64_t n) const {
  if (offset > size_ || n > size_ - offset)
    throw Error(path_ + ": read of " + std::to_string(n) + " bytes at offset " +
                std::to_string(offset) + " runs past the end of the file (" +
                std::to_string(size_) + " bytes)");
  if (n == 0) return;
  if (n <= mapped_bytes_ && offset <= mapped_bytes_ - n) {
    std::memcpy(dst, data_ + offset, n);
    return;
  }
  R1_CHECK(fd_ >= 0);
  auto* out = static_cast<uint8_t*>(dst);
  while (n > 0) {
    const size_t want = static_cast<size_t>(std::min<uint64_t>(n, 1ull << 30));
    const ssize_t got = ::pread(fd_, out, want, static_cast<off_t>(offset));
    if (got < 0) {
      if (errno == EINTR) continue;
      throw Error(path_ + ": cannot read " + std::to_string(n) + " bytes at offset " +
                  std::to_string(offset) + ": " + std::strerror(errno));
    }
    if (got == 0)
      throw Error(path_ + ": the file ended at offset " + std::to_string(offset) +
                  " while reading (was it truncated?)");
    out += got;
    offset += static_cast<uint64_t>(got);
    n -= static_cast<uint64_t>(got);
  }
}

std::shared_ptr<MappedFile> MappedFile::from_bytes(std::string name, std::vector<uint8_t> bytes) {
  std::shared_ptr<MappedFile> f(new MappedFile());
  f->path_ = std::move(name);
  f->owned_ = std::move(bytes);
  f->data_ = f->owned_.empty() ? nullptr : f->owned_.data();
  f->size_ = f->owned_.size();
  f->mapped_bytes_ = f->size_;
  return f;
}

MappedFile::~MappedFile() {
  if (fd_ >= 0) ::close(fd_);
  if (data_ != nullptr && owned_.empty()) munmap(const_cast<uint8_t*>(data_), mapped_bytes_);
}

}  // namespace r1
