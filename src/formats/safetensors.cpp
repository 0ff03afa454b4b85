// safetensors single-file reader: memory-mapped, zero-copy, every header field checked before use.
#include "formats/safetensors.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <limits>

#include "core/check.h"
#include "core/checked_math.h"
#include "core/error.h"
#include "formats/safetensors_internal.h"

namespace r1::safetensors {

using detail::quote;
using nlohmann::json;

uint64_t TensorInfo::n_elements() const {
  uint64_t n = 1;
  for (uint64_t d : shape) {
    auto m = checked_mul(n, d);
    R1_CHECK_MSG(m.has_value(), "element count of tensor '%s' overflows", name.c_str());
    n = *m;
  }
  return n;
}

const TensorInfo* File::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

const std::string& File::path() const {
  static const std::string kEmpty;
  return file_ ? file_->path() : kEmpty;
}

File File::open(const std::string& path, bool map) {
  return parse(map ? MappedFile::open(path) : MappedFile::open_unmapped(path));
}

void File::read(const TensorInfo& t, uint64_t offset, void* dst, uint64_t n) const {
  R1_CHECK(file_ != nullptr);
  if (offset > t.nbytes() || n > t.nbytes() - offset)
    throw Error(path() + ": read of " + std::to_string(n) + " bytes at offset " +
                std::to_string(offset) + " of tensor " + quote(t.name) + " (" +
                std::to_string(t.nbytes()) + " bytes) runs past its end");
  file_->read(data_offset_ + t.begin + offset, dst, n);  // begin + nbytes <= data size: checked
}

namespace {

uint64_t read_le64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

bool is_identifier(const std::string& s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_')) return false;
  return true;
}

// "tensor 'x'" + ".dtype" (or "['odd key']" for keys that are not plain identifiers).
std::string sub_field(const std::string& field, const std::string& key) {
  return is_identifier(key) ? field + "." + key : field + "[" + quote(key) + "]";
}

std::string tensor_field(const std::string& name) {
  return "tensor " + quote(name);
}

constexpr const char* kMetadataKey = "__metadata__";

}  // namespace

// Turns a mapped file into a File, throwing FormatError at the first violation.
class FileParser {
 public:
  explicit FileParser(std::shared_ptr<MappedFile> mf) : mf_(std::move(mf)), path_(mf_->path()) {}

  File run() {
    read_header_length();
    detail::JsonDoc doc = detail::parse_json(header_, path_, 8, "header");
    if (!doc.value.is_object())  // unreachable after the '{' check, kept for safety
      fail("header.json", 8, "header must be a JSON object");
    if (doc.has_duplicate) report_duplicate(doc.duplicate);

    const bool have_offsets = doc.top_keys.size() == doc.top_key_offsets.size();
    std::vector<uint64_t> entry_offsets;  // parallel to out_.tensors_
    for (size_t i = 0; i < doc.top_keys.size(); ++i) {
      const std::string& key = doc.top_keys[i];
      const uint64_t at = have_offsets ? doc.top_key_offsets[i] : 8;
      const json& value = doc.value.at(key);
      if (key == kMetadataKey) {
        read_metadata(value, at);
      } else {
        out_.tensors_.push_back(read_tensor(key, value, at));
        entry_offsets.push_back(at);
      }
    }
    check_tiling(entry_offsets);
    for (size_t i = 0; i < out_.tensors_.size(); ++i) out_.index_[out_.tensors_[i].name] = i;
    out_.file_ = std::move(mf_);
    return std::move(out_);
  }

 private:
  [[noreturn]] void fail(const std::string& field, uint64_t offset, const std::string& what) {
    throw FormatError(path_, field, offset, what);
  }

  void read_header_length() {
    const uint64_t size = mf_->size();
    if (size < 8)
      fail("header.length", 0,
           "file has " + std::to_string(size) + " bytes, fewer than the 8-byte header length");
    uint8_t len[8];
    mf_->read(0, len, 8);
    header_len_ = read_le64(len);
    if (header_len_ == 0) fail("header.length", 0, "header length is 0");
    if (header_len_ > kMaxHeaderBytes)
      fail("header.length", 0,
           "header length " + std::to_string(header_len_) + " exceeds the limit of " +
               std::to_string(kMaxHeaderBytes) + " bytes");
    if (header_len_ > size - 8)
      fail("header.length", 0,
           "header length " + std::to_string(header_len_) + " runs past the end of the file (" +
               std::to_string(size) + " bytes)");
    if (mf_->data() != nullptr) {
      header_ = std::string_view(reinterpret_cast<const char*>(mf_->data()) + 8, header_len_);
    } else {  // unmapped: the header alone is read into memory
      header_buf_.resize(header_len_);
      mf_->read(8, header_buf_.data(), header_len_);
      header_ = header_buf_;
    }
    if (header_[0] != '{') fail("header.start", 8, "header does not start with '{'");
    out_.data_offset_ = 8 + header_len_;  // <= size, no overflow: header_len_ <= size - 8
    data_size_ = size - out_.data_offset_;
  }

  void report_duplicate(const detail::DuplicateKey& d) {
    if (d.depth == 1) {
      if (d.key == kMetadataKey) fail(kMetadataKey, d.top_offset, "__metadata__ appears twice");
      fail(tensor_field(d.key), d.top_offset, "duplicate tensor name");
    }
    const std::string parent =
        d.top_key == kMetadataKey ? std::string(kMetadataKey) : tensor_field(d.top_key);
    fail(sub_field(parent, d.key), d.top_offset, "duplicate key " + quote(d.key));
  }

  void read_metadata(const json& v, uint64_t at) {
    if (!v.is_object())
      fail(kMetadataKey, at, std::string("must be an object, not ") + v.type_name());
    for (const auto& [k, val] : v.items()) {
      if (!val.is_string())
        fail(sub_field(kMetadataKey, k), at,
             std::string("metadata values must be strings, not ") + val.type_name());
      out_.metadata_[k] = val.get<std::string>();
    }
  }

  TensorInfo read_tensor(const std::string& name, const json& v, uint64_t at) {
    const std::string field = tensor_field(name);
    if (name.empty()) fail(field, at, "empty tensor name");
    if (name.find('\0') != std::string::npos) fail(field, at, "tensor name contains a NUL");
    if (!v.is_object())
      fail(field, at, std::string("entry must be an object, not ") + v.type_name());
    for (const auto& [k, val] : v.items())
      if (k != "dtype" && k != "shape" && k != "data_offsets")
        fail(sub_field(field, k), at, "unknown field " + quote(k));

    TensorInfo t;
    t.name = name;

    // dtype
    const std::string f_dtype = field + ".dtype";
    auto it = v.find("dtype");
    if (it == v.end()) fail(f_dtype, at, "missing");
    if (!it->is_string())
      fail(f_dtype, at, std::string("must be a string, not ") + it->type_name());
    const std::string& dname = it->get_ref<const std::string&>();
    auto dt = dtype_from_safetensors(dname);
    if (!dt)
      fail(f_dtype, at,
           "unsupported dtype " + quote(dname) + " for tensor " + quote(name) +
               " (supported: BF16, F16, F32, F64, F8_E4M3, I8, I16, I32, I64, U8)");
    t.dtype = *dt;

    // shape
    const std::string f_shape = field + ".shape";
    it = v.find("shape");
    if (it == v.end()) fail(f_shape, at, "missing");
    if (!it->is_array()) fail(f_shape, at, std::string("must be an array, not ") + it->type_name());
    if (it->size() > kMaxRank)
      fail(f_shape, at,
           std::to_string(it->size()) + " dimensions, more than the limit of " +
               std::to_string(kMaxRank));
    uint64_t n_elements = 1;
    for (const json& d : *it) {
      if (d.is_number_integer() && !d.is_number_unsigned())
        fail(f_shape, at, "negative dimension " + d.dump());
      if (!d.is_number_unsigned())
        fail(f_shape, at, "dimension " + d.dump() + " is not a non-negative integer");
      const uint64_t dim = d.get<uint64_t>();
      if (dim > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
        fail(f_shape, at, "dimension " + std::to_string(dim) + " exceeds 2^63-1");
      t.shape.push_back(dim);
      auto m = checked_mul(n_elements, dim);
      if (!m) fail(f_shape, at, "element count overflows 64 bits");
      n_elements = *m;
    }
    auto nbytes = dtype_bytes(t.dtype, n_elements);
    if (!nbytes) fail(f_shape, at, "byte size overflows 64 bits");

    // data_offsets
    const std::string f_off = field + ".data_offsets";
    it = v.find("data_offsets");
    if (it == v.end()) fail(f_off, at, "missing");
    if (!it->is_array() || it->size() != 2)
      fail(f_off, at, "must be an array of two integers [begin, end]");
    for (const json& o : *it)
      if (!o.is_number_unsigned())
        fail(f_off, at, "offset " + o.dump() + " is not a non-negative integer");
    t.begin = (*it)[0].get<uint64_t>();
    t.end = (*it)[1].get<uint64_t>();
    const std::string span = "[" + std::to_string(t.begin) + ", " + std::to_string(t.end) + "]";
    if (t.begin > t.end) fail(f_off, at, span + ": begin is after end");
    if (t.end > data_size_)
      fail(f_off, at,
           span + " runs past the end of the data section (" + std::to_string(data_size_) +
               " bytes)");
    if (t.end - t.begin != *nbytes)
      fail(f_off, at,
           span + " spans " + std::to_string(t.end - t.begin) + " bytes but shape and dtype " +
               dname + " need " + std::to_string(*nbytes));
    // end <= data size: in the mapping
    t.data = mf_->data() != nullptr ? mf_->data() + out_.data_offset_ + t.begin : nullptr;
    return t;
  }

  // Tensors sorted by (begin, end) must tile [0, data size): each begins where the previous one
  // ended. Zero-size tensors are allowed wherever that holds (including at a shared offset).
  void check_tiling(const std::vector<uint64_t>& entry_offsets) {
    auto& ts = out_.tensors_;
    std::vector<size_t> order(ts.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
      if (ts[a].begin != ts[b].begin) return ts[a].begin < ts[b].begin;
      if (ts[a].end != ts[b].end) return ts[a].end < ts[b].end;
      return ts[a].name < ts[b].name;
    });
    uint64_t cursor = 0;
    const TensorInfo* prev = nullptr;
    for (size_t i : order) {
      const TensorInfo& t = ts[i];
      if (t.begin > cursor)
        fail(tensor_field(t.name) + ".data_offsets", entry_offsets[i],
             "gap in the data section: bytes [" + std::to_string(cursor) + ", " +
                 std::to_string(t.begin) + ") belong to no tensor");
      if (t.begin < cursor)
        fail(tensor_field(t.name) + ".data_offsets", entry_offsets[i],
             "overlaps tensor " + quote(prev ? prev->name : "") + ", which ends at " +
                 std::to_string(cursor));
      cursor = t.end;
      prev = &t;
    }
    if (cursor != data_size_)
      fail("data", out_.data_offset_ + cursor,
           "data section has " + std::to_string(data_size_) + " bytes but the tensors cover " +
               std::to_string(cursor) + " (trailing bytes belong to no tensor)");
    std::vector<TensorInfo> sorted;
    sorted.reserve(ts.size());
    for (size_t i : order) sorted.push_back(std::move(ts[i]));
    ts = std::move(sorted);
  }

  std::shared_ptr<MappedFile> mf_;
  std::string path_;
  uint64_t header_len_ = 0;
  std::string header_buf_;  // the header of an unmapped file
  std::string_view header_;
  uint64_t data_size_ = 0;
  File out_;
};

File File::parse(std::shared_ptr<MappedFile> file) {
  R1_CHECK(file != nullptr);
  return FileParser(std::move(file)).run();
}

}  // namespace r1::safetensors
