#include "model/warmup.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>

#include "core/progress.h"

namespace r1 {

uint64_t warm_up(const ModelSource& src, bool progress) {
  uint64_t total = 0;
  for (const SourceTensor& t : src.tensors())
    if (t.data != nullptr) total += t.nbytes;
  Progress bar("loading", total, progress);
  const uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  uint64_t done = 0;
  volatile uint8_t sink = 0;
  for (const SourceTensor& t : src.tensors()) {
    if (t.data == nullptr) continue;
    // Ask the kernel to read ahead, then touch one byte per page, in slices for the bar.
    const auto base = reinterpret_cast<uintptr_t>(t.data);
    const uintptr_t aligned = base & ~static_cast<uintptr_t>(page - 1);
    madvise(reinterpret_cast<void*>(aligned), t.nbytes + (base - aligned), MADV_WILLNEED);
    constexpr uint64_t kSlice = 64ull << 20;
    for (uint64_t off = 0; off < t.nbytes; off += kSlice) {
      const uint64_t end = std::min(t.nbytes, off + kSlice);
      uint8_t acc = 0;
      for (uint64_t i = off; i < end; i += page) acc ^= t.data[i];
      sink = sink ^ acc;
      bar.update(done + end);
    }
    done += t.nbytes;
  }
  bar.finish();
  return done;
}

}  // namespace r1
