// Streaming safetensors writer and index writer. Memory use is the header only: tensor data goes
// straight from the caller's buffers to the file.
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <set>

#include "core/checked_math.h"
#include "core/error.h"
#include "formats/safetensors.h"
#include "formats/safetensors_internal.h"

namespace r1::safetensors {

using detail::quote;

namespace {

void check_utf8(const std::string& what, const std::string& s) {
  if (detail::find_invalid_utf8(s) != detail::kNoError)
    throw Error(what + " " + quote(s) + " is not valid UTF-8");
}

// Tensor and shard names: UTF-8 without NUL (the reader rejects NUL in tensor names).
void check_utf8_name(const std::string& what, const std::string& s) {
  check_utf8(what, s);
  if (s.find('\0') != std::string::npos) throw Error(what + " " + quote(s) + " contains a NUL");
}

// Writes all of [p, p + n) or throws.
void write_all(std::FILE* f, const void* p, uint64_t n, const std::string& path) {
  const auto* c = static_cast<const uint8_t*>(p);
  while (n > 0) {
    const size_t chunk = static_cast<size_t>(std::min<uint64_t>(n, 1ull << 30));
    const size_t w = std::fwrite(c, 1, chunk, f);
    if (w != chunk) throw Error(path + ": write failed: " + std::strerror(errno));
    c += w;
    n -= w;
  }
}

// Writes `text` to `path` through `path.partial` and a rename.
void write_text_atomically(const std::string& path, const std::string& text) {
  const std::string partial = path + ".partial";
  std::FILE* f = std::fopen(partial.c_str(), "wb");
  if (f == nullptr) throw Error(partial + ": cannot create: " + std::strerror(errno));
  bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size();
  ok = (std::fclose(f) == 0) && ok;
  if (!ok || std::rename(partial.c_str(), path.c_str()) != 0) {
    const int e = errno;
    std::remove(partial.c_str());
    throw Error(path + ": cannot write: " + std::strerror(e));
  }
}

}  // namespace

struct Writer::Pending {
  struct Entry {
    std::string name;
    DType dtype;
    std::vector<uint64_t> shape;
    uint64_t begin, end;
  };
  std::string path;
  std::string partial;
  std::vector<std::pair<std::string, std::string>> metadata;  // in insertion order
  std::set<std::string> meta_keys;
  std::vector<Entry> tensors;
  std::set<std::string> names;
  uint64_t data_bytes = 0;  // sum of declared tensor sizes
  uint64_t written = 0;     // data bytes written so far
  std::string header;       // set by write_header()
  std::FILE* f = nullptr;
  bool finished = false;

  // JSON header, right-padded with spaces so that the data section starts at a multiple of 8.
  std::string build_header() const {
    nlohmann::ordered_json h = nlohmann::ordered_json::object();
    if (!metadata.empty()) {
      nlohmann::ordered_json m = nlohmann::ordered_json::object();
      for (const auto& [k, v] : metadata) m[k] = v;
      h["__metadata__"] = std::move(m);
    }
    for (const Entry& e : tensors) {
      nlohmann::ordered_json t = nlohmann::ordered_json::object();
      t["dtype"] = dtype_traits(e.dtype).st_name;
      t["shape"] = e.shape;
      t["data_offsets"] = {e.begin, e.end};
      h[e.name] = std::move(t);
    }
    std::string s = h.dump();
    s.resize(s.size() + (8 - s.size() % 8) % 8, ' ');
    return s;
  }

  void check_open(const char* what) const {
    if (finished) throw Error(path + ": " + what + " after finish()");
  }
};

Writer::Writer(std::string path) : p_(std::make_unique<Pending>()) {
  p_->path = std::move(path);
  p_->partial = p_->path + ".partial";
}

Writer::~Writer() {
  if (!p_) return;
  if (p_->f != nullptr) {
    std::fclose(p_->f);
    p_->f = nullptr;
  }
  if (!p_->finished && !p_->header.empty()) std::remove(p_->partial.c_str());
}

void Writer::add_metadata(const std::string& key, const std::string& value) {
  p_->check_open("add_metadata");
  if (!p_->header.empty()) throw Error(p_->path + ": add_metadata after write_header()");
  check_utf8("metadata key", key);
  check_utf8("metadata value of " + quote(key) + ":", value);
  if (!p_->meta_keys.insert(key).second)
    throw Error(p_->path + ": metadata key " + quote(key) + " added twice");
  p_->metadata.emplace_back(key, value);
}

void Writer::add_tensor(const std::string& name, DType dtype, const std::vector<uint64_t>& shape) {
  p_->check_open("add_tensor");
  if (!p_->header.empty()) throw Error(p_->path + ": add_tensor after write_header()");
  if (name.empty()) throw Error(p_->path + ": empty tensor name");
  if (name == "__metadata__") throw Error(p_->path + ": tensor name '__metadata__' is reserved");
  check_utf8_name("tensor name", name);
  if (dtype_traits(dtype).st_name == nullptr)
    throw Error(p_->path + ": tensor " + quote(name) + ": dtype " + dtype_name(dtype) +
                " cannot be stored in safetensors");
  if (shape.size() > kMaxRank)
    throw Error(p_->path + ": tensor " + quote(name) + " has more than " +
                std::to_string(kMaxRank) + " dimensions");
  uint64_t n = 1;
  for (uint64_t d : shape) {
    if (d > static_cast<uint64_t>(INT64_MAX))
      throw Error(p_->path + ": tensor " + quote(name) + ": dimension too large");
    auto m = checked_mul(n, d);
    if (!m) throw Error(p_->path + ": tensor " + quote(name) + ": element count overflows");
    n = *m;
  }
  auto bytes = dtype_bytes(dtype, n);
  auto end = bytes ? checked_add(p_->data_bytes, *bytes) : std::nullopt;
  if (!end) throw Error(p_->path + ": tensor " + quote(name) + ": byte size overflows");
  if (!p_->names.insert(name).second)
    throw Error(p_->path + ": tensor " + quote(name) + " added twice");
  p_->tensors.push_back({name, dtype, shape, p_->data_bytes, *end});
  p_->data_bytes = *end;
}

void Writer::write_header() {
  p_->check_open("write_header");
  if (!p_->header.empty()) throw Error(p_->path + ": write_header called twice");
  std::string header = p_->build_header();
  if (header.size() > kMaxHeaderBytes)
    throw Error(p_->path + ": header of " + std::to_string(header.size()) +
                " bytes exceeds the safetensors limit");
  p_->f = std::fopen(p_->partial.c_str(), "wb");
  if (p_->f == nullptr) throw Error(p_->partial + ": cannot create: " + std::strerror(errno));
  p_->header = std::move(header);  // from here on the destructor removes the partial file
  uint8_t len[8];
  uint64_t n = p_->header.size();
  for (int i = 0; i < 8; ++i) len[i] = static_cast<uint8_t>(n >> (8 * i));
  write_all(p_->f, len, 8, p_->partial);
  write_all(p_->f, p_->header.data(), p_->header.size(), p_->partial);
}

void Writer::write_data(const void* data, uint64_t nbytes) {
  p_->check_open("write_data");
  if (p_->f == nullptr) throw Error(p_->path + ": write_data before write_header()");
  if (nbytes > p_->data_bytes - p_->written)
    throw Error(p_->path + ": write_data of " + std::to_string(nbytes) + " bytes exceeds the " +
                std::to_string(p_->data_bytes - p_->written) +
                " bytes left of the declared tensors");
  write_all(p_->f, data, nbytes, p_->partial);
  p_->written += nbytes;
}

void Writer::finish() {
  p_->check_open("finish");
  if (p_->f == nullptr) throw Error(p_->path + ": finish before write_header()");
  if (p_->written != p_->data_bytes)
    throw Error(p_->path + ": only " + std::to_string(p_->written) + " of " +
                std::to_string(p_->data_bytes) + " data bytes were written");
  bool ok = std::fflush(p_->f) == 0;
  ok = ok && ::fsync(fileno(p_->f)) == 0;
  const int e = errno;
  ok = (std::fclose(p_->f) == 0) && ok;
  p_->f = nullptr;
  if (!ok) throw Error(p_->partial + ": cannot write: " + std::strerror(e));
  if (std::rename(p_->partial.c_str(), p_->path.c_str()) != 0)
    throw Error(p_->partial + ": cannot rename to " + p_->path + ": " + std::strerror(errno));
  p_->finished = true;
}

uint64_t Writer::total_bytes() const {
  const uint64_t header = p_->header.empty() ? p_->build_header().size() : p_->header.size();
  return 8 + header + p_->data_bytes;
}

void write_index(const std::string& dir, const std::map<std::string, std::string>& weight_map,
                 uint64_t total_size) {
  nlohmann::ordered_json wm = nlohmann::ordered_json::object();
  for (const auto& [name, file] : weight_map) {
    check_utf8_name("tensor name", name);
    check_utf8_name("shard name", file);
    if (file.empty() || file == "." || file == ".." || file.find('/') != std::string::npos)
      throw Error("write_index: shard " + quote(file) + " is not a plain file name");
    wm[name] = file;
  }
  nlohmann::ordered_json j = nlohmann::ordered_json::object();
  j["metadata"] = {{"total_size", total_size}};
  j["weight_map"] = std::move(wm);
  write_text_atomically(dir + "/" + kIndexFileName, j.dump(2) + "\n");
}

}  // namespace r1::safetensors
