#include "core/mmap_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>

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

std::atomic<Residency> g_residency{Residency::kMapped};

constexpr uint64_t kHugePage = 2ull << 20;
// Smaller files gain nothing worth the copy. (Small models are copied too: a private copy lets
// the loader store weights in the layout decode reads fastest, see rewrite_once.)
constexpr uint64_t kHugeMinBytes = 256ull << 10;

// The live private copies, for rewrite_once.
std::mutex g_copies_mutex;
std::vector<MappedFile*> g_copies;

// MemAvailable from /proc/meminfo, in bytes (0 when unknown).
uint64_t memory_available() {
  std::ifstream f("/proc/meminfo");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("MemAvailable:", 0) != 0) continue;
    std::istringstream in(line.substr(13));
    uint64_t kb = 0;
    in >> kb;
    return kb * 1024;
  }
  return 0;
}

// A private copy of the file on transparent huge pages, or null (then the caller maps the
// file): when it would not fit in the available memory with a 10 % margin, or any step fails.
void* copy_to_huge_pages(int fd, uint64_t size, uint64_t& region) {
  const uint64_t avail = memory_available();
  if (size < kHugeMinBytes || avail == 0 || size > avail / 10 * 9) return nullptr;
  region = (size + kHugePage - 1) / kHugePage * kHugePage;
  // Over-allocate by one huge page so the copy can start on a 2 MiB boundary.
  const uint64_t reserve = region + kHugePage;
  void* raw = mmap(nullptr, reserve, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) return nullptr;
  const uintptr_t base = reinterpret_cast<uintptr_t>(raw);
  const uintptr_t aligned = (base + kHugePage - 1) / kHugePage * kHugePage;
  if (aligned > base) munmap(raw, aligned - base);
  const uintptr_t end = aligned + region;
  if (base + reserve > end) munmap(reinterpret_cast<void*>(end), base + reserve - end);
  auto* p = reinterpret_cast<uint8_t*>(aligned);
  madvise(p, region, MADV_HUGEPAGE);
  uint64_t off = 0;
  while (off < size) {
    const size_t want = static_cast<size_t>(std::min<uint64_t>(size - off, 64ull << 20));
    const ssize_t got = ::pread(fd, p + off, want, static_cast<off_t>(off));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) {
      munmap(p, region);
      return nullptr;
    }
    off += static_cast<uint64_t>(got);
  }
  if (mprotect(p, region, PROT_READ) != 0) {
    munmap(p, region);
    return nullptr;
  }
  return p;
}

}  // namespace

void MappedFile::set_default_residency(Residency r) {
  g_residency.store(r);
}
Residency MappedFile::default_residency() {
  return g_residency.load();
}

std::shared_ptr<MappedFile> MappedFile::open(const std::string& path) {
  uint64_t size = 0;
  const int fd = open_regular(path, size);
  std::shared_ptr<MappedFile> f(new MappedFile());
  f->path_ = path;
  f->size_ = size;
  if (f->size_ > 0 && default_residency() == Residency::kHugePages) {
    uint64_t region = 0;
    if (void* p = copy_to_huge_pages(fd, f->size_, region)) {
      f->data_ = static_cast<const uint8_t*>(p);
      f->region_bytes_ = region;
      std::lock_guard<std::mutex> lock(g_copies_mutex);
      g_copies.push_back(f.get());
    }
  }
  if (f->size_ > 0 && f->data_ == nullptr) {
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

MappedFile::Rewrite MappedFile::rewrite_once(const uint8_t* p, uint64_t n,
                                             const std::function<void(uint8_t*)>& fn) {
  std::lock_guard<std::mutex> lock(g_copies_mutex);
  const auto at = reinterpret_cast<uintptr_t>(p);
  for (MappedFile* f : g_copies) {
    const auto base = reinterpret_cast<uintptr_t>(f->data_);
    if (at < base || at - base > f->size_ || n > f->size_ - (at - base)) continue;
    if (f->rewritten_.count(p) != 0) return Rewrite::kDoneBefore;
    const uintptr_t page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
    const uintptr_t lo = at / page * page, hi = (at + n + page - 1) / page * page;
    void* pages = reinterpret_cast<void*>(lo);
    R1_CHECK(mprotect(pages, hi - lo, PROT_READ | PROT_WRITE) == 0);
    fn(const_cast<uint8_t*>(p));
    R1_CHECK(mprotect(pages, hi - lo, PROT_READ) == 0);
    f->rewritten_.insert(p);
    return Rewrite::kRewritten;
  }
  return Rewrite::kNotPrivate;
}

MappedFile::~MappedFile() {
  if (region_bytes_ > 0) {
    std::lock_guard<std::mutex> lock(g_copies_mutex);
    g_copies.erase(std::remove(g_copies.begin(), g_copies.end(), this), g_copies.end());
  }
  if (fd_ >= 0) ::close(fd_);
  if (data_ != nullptr && owned_.empty())
    munmap(const_cast<uint8_t*>(data_), region_bytes_ > 0 ? region_bytes_ : mapped_bytes_);
}

}  // namespace r1
