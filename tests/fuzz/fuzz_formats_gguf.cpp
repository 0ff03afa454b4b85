// libFuzzer target: gguf::File::parse on arbitrary bytes. Any input must either parse or throw
// r1::Error; a parsed file's every value and every tensor byte must be readable.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/error.h"
#include "formats/gguf.h"

namespace {

uint64_t touch(const r1::gguf::Value& v) {
  uint64_t h = static_cast<uint64_t>(v.type);
  if (auto u = v.as_uint()) h += *u;
  if (auto i = v.as_int()) h += static_cast<uint64_t>(*i);
  if (auto f = v.as_float()) h += static_cast<uint64_t>(*f == *f);
  if (auto b = v.as_bool()) h += *b;
  if (const auto* s = v.as_string())
    for (char c : *s) h = h * 31 + static_cast<uint8_t>(c);
  if (const auto* a = v.as_array()) {
    h += static_cast<uint64_t>(a->elem_type);
    for (const auto& item : a->items) h += touch(item);
  }
  return h;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto mf = r1::MappedFile::from_bytes("fuzz.gguf", std::vector<uint8_t>(data, data + size));
  try {
    r1::gguf::File f = r1::gguf::File::parse(mf);
    volatile uint64_t sink = f.alignment() + f.file_bytes();
    for (const auto& [key, value] : f.metadata()) {
      sink = sink + key.size() + touch(value);
      if (f.find(key) == nullptr) __builtin_trap();
    }
    for (const auto& t : f.tensors()) {
      if (f.find_tensor(t.name) != &t) __builtin_trap();
      if (t.nbytes == 0 || t.n_elements() == 0) __builtin_trap();
      const uint8_t* end = mf->data() + mf->size();
      if (t.data < mf->data() || t.data + t.nbytes > end) __builtin_trap();
      uint64_t h = 0;
      for (uint64_t i = 0; i < t.nbytes; ++i) h += t.data[i];
      sink = sink + h;
    }
    (void)sink;
  } catch (const r1::Error&) {
    // rejected: fine
  }
  return 0;
}
