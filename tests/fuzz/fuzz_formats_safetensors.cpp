// libFuzzer target: any byte string must either parse as a safetensors file whose every tensor
// view lies inside the image, or be rejected with r1::Error. ASan catches out-of-bounds reads.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/error.h"
#include "formats/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto file =
      r1::MappedFile::from_bytes("fuzz.safetensors", std::vector<uint8_t>(data, data + size));
  try {
    r1::safetensors::File f = r1::safetensors::File::parse(file);
    uint64_t sum = 0;
    for (const auto& [k, v] : f.metadata()) sum += k.size() + v.size();
    for (const auto& t : f.tensors()) {
      for (uint64_t i = 0; i < t.nbytes(); ++i) sum += t.data[i];
      sum += t.n_elements() + t.shape.size();
      if (f.find(t.name) != &t) __builtin_trap();
    }
    volatile uint64_t sink = sum;
    (void)sink;
  } catch (const r1::Error&) {
    // rejected: fine
  }
  return 0;
}
