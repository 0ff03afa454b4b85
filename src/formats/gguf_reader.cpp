// GGUF v3 reader. Every count, length, offset and size read from the file is bounded by the bytes
// that remain (with overflow-checked arithmetic) before it is used or allocated from; any
// violation throws r1::FormatError naming the field and the byte offset where it sits.
#include <sys/stat.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <limits>
#include <memory>
#include <numeric>
#include <string_view>

#include "core/check.h"
#include "core/checked_math.h"
#include "core/error.h"
#include "formats/gguf.h"
#include "formats/gguf_internal.h"

static_assert(std::endian::native == std::endian::little, "the GGUF reader assumes a LE host");

namespace r1::gguf {

using detail::kHeaderBytes;
using detail::kMinKvBytes;
using detail::kMinTensorInfoBytes;

class FileParser {
 public:
  explicit FileParser(std::shared_ptr<MappedFile> mf)
      : mf_(std::move(mf)), p_(mf_->data()), size_(mf_->mapped_bytes()), path_(mf_->path()) {}

  File run();
  static File open(const std::string& path, bool map);

  // Where each KV's value and each tensor's name start (for checks made after parsing).
  std::vector<uint64_t> kv_value_at;
  std::vector<uint64_t> tensor_name_at;

 private:
  [[noreturn]] void fail(const std::string& field, uint64_t at, const std::string& msg) const {
    throw FormatError(path_, field, at, msg);
  }
  uint64_t remaining() const { return size_ - pos_; }

  template <class F>
  void need(uint64_t n, F&& field) const {
    if (n > remaining())
      fail(field(), pos_,
           "truncated: needs " + std::to_string(n) + " bytes, the file has " +
               std::to_string(remaining()) + " left");
  }
  template <class T, class F>
  T read(F&& field) {
    need(sizeof(T), field);
    T v;
    std::memcpy(&v, p_ + pos_, sizeof v);
    pos_ += sizeof v;
    return v;
  }
  // A GGUF string (u64 length + bytes), bounded by the file and by `max_len`.
  template <class F>
  std::string_view read_str(F&& field, uint64_t max_len) {
    uint64_t at = pos_;
    uint64_t len = read<uint64_t>(field);
    if (len > remaining())
      fail(field(), at,
           "string length " + std::to_string(len) + " exceeds the " + std::to_string(remaining()) +
               " bytes left in the file");
    if (len > max_len)
      fail(field(), at,
           "string length " + std::to_string(len) + " exceeds the limit of " +
               std::to_string(max_len) + " bytes");
    std::string_view s(reinterpret_cast<const char*>(p_ + pos_), len);
    pos_ += len;
    return s;
  }

  void read_header();
  void read_kvs();
  void read_tensor_infos();
  void place_tensors();

  // Name of the field being read inside KV `kv_i_`: "kv[3] 'key'.value[2][0]" + suffix.
  std::string value_field(const char* suffix = "") const {
    std::string f = "kv[" + std::to_string(kv_i_) + "] '" + std::string(kv_key_) + "'.value";
    for (uint64_t i : idx_) f += "[" + std::to_string(i) + "]";
    return f + suffix;
  }
  std::string tensor_field(size_t i, const char* suffix) const {
    return "tensor[" + std::to_string(i) + "] '" + file_.tensors_[i].name + "'" + suffix;
  }
  template <class F>
  void count_strings(uint64_t n, uint64_t at, F&& field) {
    if (n > kMaxMetadataStringBytes - string_bytes_)
      fail(field(), at,
           "metadata strings exceed the limit of " + std::to_string(kMaxMetadataStringBytes) +
               " bytes in all");
    string_bytes_ += n;
  }
  Value read_value(ValueType t, uint32_t level);
  Value read_array(uint32_t level);

  std::shared_ptr<MappedFile> mf_;
  const uint8_t* p_;
  uint64_t size_;
  const std::string& path_;
  uint64_t pos_ = 0;

  File file_;
  uint64_t n_tensors_ = 0, n_kv_ = 0;
  uint64_t n_values_ = 0;      // KVs + array elements so far (kMaxMetadataValues)
  uint64_t string_bytes_ = 0;  // key and string bytes so far (kMaxMetadataStringBytes)
  uint64_t kv_i_ = 0;          // the KV being read, for value_field()
  std::string_view kv_key_;
  std::vector<uint64_t> idx_;        // array indices of the value being read
  std::vector<uint64_t> offset_at_;  // where each tensor's offset field sits
};

void FileParser::read_header() {
  auto magic = read<uint32_t>([] { return std::string("header.magic"); });
  if (magic != kMagic) {
    char shown[5] = {};
    std::memcpy(shown, &magic, 4);
    for (char& c : shown)
      if (c != 0 && (c < 0x20 || c > 0x7e)) c = '?';
    fail("header.magic", 0, "not a GGUF file (magic '" + std::string(shown, 4) + "', want 'GGUF')");
  }
  auto version = read<uint32_t>([] { return std::string("header.version"); });
  if (version != kVersion) {
    std::string why;
    if (version == 1 || version == 2)
      why = "GGUF version " + std::to_string(version) +
            " is not supported (only version 3); re-convert the model with a current llama.cpp";
    else if ((version & 0xffffu) == 0 && (version >> 24) >= 1 && (version >> 24) <= 3)
      why = "big-endian GGUF files are not supported";
    else
      why = "unsupported GGUF version " + std::to_string(version) + " (only version 3)";
    fail("header.version", 4, why);
  }
  n_tensors_ = read<uint64_t>([] { return std::string("header.tensor_count"); });
  n_kv_ = read<uint64_t>([] { return std::string("header.kv_count"); });

  auto t_min = checked_mul(n_tensors_, kMinTensorInfoBytes);
  if (n_tensors_ > kMaxTensors || !t_min || *t_min > remaining())
    fail("header.tensor_count", 8,
         "tensor count " + std::to_string(n_tensors_) + " cannot fit: the file has " +
             std::to_string(remaining()) + " bytes after the header (limit " +
             std::to_string(kMaxTensors) + " tensors)");
  auto kv_min = checked_mul(n_kv_, kMinKvBytes);
  if (n_kv_ > kMaxMetadataValues || !kv_min || *kv_min > remaining() - *t_min)
    fail("header.kv_count", 16,
         "metadata count " + std::to_string(n_kv_) + " cannot fit: the file has " +
             std::to_string(remaining()) + " bytes after the header (limit " +
             std::to_string(kMaxMetadataValues) + " values)");
}

Value FileParser::read_value(ValueType t, uint32_t level) {
  auto field = [this] { return value_field(); };
  switch (t) {
    case ValueType::U8:
      return Value::u8(read<uint8_t>(field));
    case ValueType::I8:
      return Value::i8(read<int8_t>(field));
    case ValueType::U16:
      return Value::u16(read<uint16_t>(field));
    case ValueType::I16:
      return Value::i16(read<int16_t>(field));
    case ValueType::U32:
      return Value::u32(read<uint32_t>(field));
    case ValueType::I32:
      return Value::i32(read<int32_t>(field));
    case ValueType::U64:
      return Value::u64(read<uint64_t>(field));
    case ValueType::I64:
      return Value::i64(read<int64_t>(field));
    case ValueType::F32:
      return Value::f32(read<float>(field));
    case ValueType::F64:
      return Value::f64(read<double>(field));
    case ValueType::BOOL: {
      uint64_t at = pos_;
      auto b = read<uint8_t>(field);
      if (b > 1) fail(field(), at, "bool byte is " + std::to_string(b) + " (must be 0 or 1)");
      return Value::boolean(b == 1);
    }
    case ValueType::STRING: {
      uint64_t at = pos_;
      std::string_view s = read_str(field, kMaxStringBytes);
      count_strings(s.size(), at, field);
      return Value::str(std::string(s));
    }
    case ValueType::ARRAY:
      return read_array(level + 1);
  }
  fail(field(), pos_, "unknown value type");  // types are checked before the call
}

Value FileParser::read_array(uint32_t level) {
  uint64_t type_at = pos_;
  auto et = read<uint32_t>([this] { return value_field(".elem_type"); });
  if (!detail::is_known_value_type(et))
    fail(value_field(".elem_type"), type_at, "unknown array element type " + std::to_string(et));
  auto elem = static_cast<ValueType>(et);
  if (elem == ValueType::ARRAY && level >= kMaxArrayDepth)
    fail(value_field(".elem_type"), type_at,
         "arrays nested more than " + std::to_string(kMaxArrayDepth) + " deep");
  uint64_t count_at = pos_;
  auto count = read<uint64_t>([this] { return value_field(".count"); });
  auto min_bytes = checked_mul(count, detail::min_value_bytes(elem));
  if (!min_bytes || *min_bytes > remaining())
    fail(value_field(".count"), count_at,
         "array of " + std::to_string(count) + " " + value_type_name(elem) +
             " values cannot fit in the " + std::to_string(remaining()) +
             " bytes left in the file");
  if (count > kMaxMetadataValues - n_values_)
    fail(value_field(".count"), count_at,
         "more than " + std::to_string(kMaxMetadataValues) + " metadata values in all");
  n_values_ += count;
  Array a;
  a.elem_type = elem;
  a.items.reserve(count);
  idx_.push_back(0);
  for (uint64_t i = 0; i < count; ++i) {
    idx_.back() = i;
    a.items.push_back(read_value(elem, level));
  }
  idx_.pop_back();
  return Value{ValueType::ARRAY, std::move(a)};
}

void FileParser::read_kvs() {
  file_.kv_.reserve(n_kv_);
  kv_value_at.reserve(n_kv_);
  n_values_ = n_kv_;
  for (uint64_t i = 0; i < n_kv_; ++i) {
    kv_i_ = i;
    uint64_t key_at = pos_;
    auto key_field = [i] { return "kv[" + std::to_string(i) + "].key"; };
    std::string_view key = read_str(key_field, std::numeric_limits<uint64_t>::max());
    size_t bad = 0;
    if (auto why = detail::key_problem(key, &bad))
      fail(key_field(), bad == std::string_view::npos ? key_at : key_at + 8 + bad, *why);
    if (auto it = file_.kv_index_.find(std::string(key)); it != file_.kv_index_.end())
      fail(key_field(), key_at,
           "duplicate key '" + std::string(key) + "' (first at kv[" + std::to_string(it->second) +
               "])");
    count_strings(key.size(), key_at, key_field);
    kv_key_ = key;

    uint64_t type_at = pos_;
    auto type_field = [this] {
      return "kv[" + std::to_string(kv_i_) + "] '" + std::string(kv_key_) + "'.type";
    };
    auto t = read<uint32_t>(type_field);
    if (!detail::is_known_value_type(t))
      fail(type_field(), type_at, "unknown value type " + std::to_string(t));
    uint64_t value_at = pos_;
    Value v = read_value(static_cast<ValueType>(t), 0);

    if (key == kKeyAlignment) {
      if (v.type != ValueType::U32)
        fail(type_field(), type_at,
             std::string("general.alignment must be u32, not ") + value_type_name(v.type));
      uint64_t a = *v.as_uint();
      if (a == 0 || (a & (a - 1)) != 0)
        fail(value_field(), value_at,
             "general.alignment " + std::to_string(a) + " is not a non-zero power of two");
      file_.alignment_ = static_cast<uint32_t>(a);
    }
    file_.kv_index_.emplace(std::string(key), file_.kv_.size());
    file_.kv_.emplace_back(std::string(key), std::move(v));
    kv_value_at.push_back(value_at);
  }
}

void FileParser::read_tensor_infos() {
  auto& tensors = file_.tensors_;
  tensors.reserve(n_tensors_);
  tensor_name_at.reserve(n_tensors_);
  offset_at_.reserve(n_tensors_);
  const uint32_t align = file_.alignment_;
  for (uint64_t i = 0; i < n_tensors_; ++i) {
    uint64_t name_at = pos_;
    auto name_field = [i] { return "tensor[" + std::to_string(i) + "].name"; };
    std::string_view name = read_str(name_field, std::numeric_limits<uint64_t>::max());
    size_t bad = 0;
    if (auto why = detail::tensor_name_problem(name, &bad))
      fail(name_field(), bad == std::string_view::npos ? name_at : name_at + 8 + bad, *why);
    if (auto it = file_.tensor_index_.find(std::string(name)); it != file_.tensor_index_.end())
      fail(name_field(), name_at,
           "duplicate tensor name '" + std::string(name) + "' (first at tensor[" +
               std::to_string(it->second) + "])");
    TensorInfo& t = tensors.emplace_back();
    t.name = std::string(name);
    file_.tensor_index_.emplace(t.name, i);
    tensor_name_at.push_back(name_at);

    uint64_t dims_at = pos_;
    auto n_dims = read<uint32_t>([&] { return tensor_field(i, ".n_dims"); });
    if (n_dims == 0 || n_dims > kMaxDims)
      fail(tensor_field(i, ".n_dims"), dims_at,
           "n_dims " + std::to_string(n_dims) + " is not in 1.." + std::to_string(kMaxDims));
    uint64_t ne0_at = pos_;
    uint64_t n = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      std::string suffix = ".ne[" + std::to_string(d) + "]";
      uint64_t at = pos_;
      auto e = read<uint64_t>([&] { return tensor_field(i, suffix.c_str()); });
      if (e == 0)
        fail(tensor_field(i, suffix.c_str()), at,
             "dimension is 0 (empty tensors are not supported)");
      auto m = checked_mul(n, e);
      if (!m || *m > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
        fail(tensor_field(i, suffix.c_str()), at,
             "element count overflows int64 (ne[" + std::to_string(d) + "] = " + std::to_string(e) +
                 ")");
      n = *m;
      t.ne.push_back(e);
    }

    uint64_t type_at = pos_;
    auto gt = read<uint32_t>([&] { return tensor_field(i, ".ggml_type"); });
    auto dt = dtype_from_ggml(gt);
    if (!dt) {
      const char* known = detail::ggml_type_name(gt);
      fail(tensor_field(i, ".ggml_type"), type_at,
           known ? "ggml type " + std::to_string(gt) + " (" + known + ") is not supported by r1"
                 : "unknown ggml type " + std::to_string(gt));
    }
    t.ggml_type = gt;
    t.dtype = *dt;
    auto row = dtype_row_bytes(*dt, t.ne[0]);
    if (!row && t.ne[0] % dtype_traits(*dt).block_elems == 0)
      fail(tensor_field(i, ".ne"), ne0_at, "byte size overflows 64 bits");
    if (!row)
      fail(tensor_field(i, ".ne[0]"), ne0_at,
           "row length " + std::to_string(t.ne[0]) + " is not a multiple of the " +
               dtype_name(*dt) + " block size " + std::to_string(dtype_traits(*dt).block_elems));
    auto bytes = checked_mul(*row, n / t.ne[0]);
    if (!bytes) fail(tensor_field(i, ".ne"), ne0_at, "byte size overflows 64 bits");
    t.nbytes = *bytes;

    uint64_t off_at = pos_;
    t.offset = read<uint64_t>([&] { return tensor_field(i, ".offset"); });
    if (t.offset % align != 0)
      fail(tensor_field(i, ".offset"), off_at,
           "offset " + std::to_string(t.offset) + " is not a multiple of the alignment " +
               std::to_string(align));
    offset_at_.push_back(off_at);
  }
}

void FileParser::place_tensors() {
  auto& tensors = file_.tensors_;
  auto start = checked_align_up(pos_, file_.alignment_);
  if (!start) fail("data", pos_, "data section start overflows");
  const uint64_t data_start = *start;
  // The whole file, also when only its header is mapped (parsing stayed within the mapping).
  const uint64_t file_size = mf_->size();
  const uint64_t data_size = file_size > data_start ? file_size - data_start : 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    TensorInfo& t = tensors[i];
    auto end = checked_add(t.offset, t.nbytes);
    if (!end || *end > data_size)
      fail(tensor_field(i, ".offset"), offset_at_[i],
           "data [" + std::to_string(t.offset) + ", +" + std::to_string(t.nbytes) +
               ") lies outside the data section (" + std::to_string(data_size) +
               " bytes from file offset " + std::to_string(data_start) + "); truncated file?");
    t.file_offset = data_start + t.offset;
    t.data = mf_->mapped() ? p_ + t.file_offset : nullptr;
  }
  std::vector<size_t> order(tensors.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return tensors[a].offset != tensors[b].offset ? tensors[a].offset < tensors[b].offset : a < b;
  });
  for (size_t k = 1; k < order.size(); ++k) {
    const TensorInfo& prev = tensors[order[k - 1]];
    size_t j = order[k];
    // Both ranges lie inside the file, so the sum cannot overflow.
    if (prev.offset + prev.nbytes > tensors[j].offset)
      fail(tensor_field(j, ".offset"), offset_at_[j],
           "data [" + std::to_string(tensors[j].offset) + ", +" +
               std::to_string(tensors[j].nbytes) + ") overlaps tensor[" +
               std::to_string(order[k - 1]) + "] '" + prev.name + "' [" +
               std::to_string(prev.offset) + ", +" + std::to_string(prev.nbytes) + ")");
  }
}

File FileParser::run() {
  read_header();
  read_kvs();
  read_tensor_infos();
  place_tensors();
  file_.version_ = kVersion;
  file_.files_.push_back(mf_);
  file_.paths_.push_back(path_);
  return std::move(file_);
}

namespace {

// A split.* key of a parsed split: its value (checked type, range) and where it sits.
struct SplitKey {
  bool present = false;
  int64_t value = 0;
  uint64_t at = 0;
  std::string field;
};

SplitKey split_key(const File& f, const FileParser& fp, const std::string& path, const char* key,
                   ValueType want, bool required) {
  SplitKey k;
  const auto& kv = f.metadata();
  size_t i = 0;
  while (i < kv.size() && kv[i].first != key) ++i;
  if (i == kv.size()) {
    if (required)
      throw FormatError(
          path, key, 0,
          std::string("split file lacks the ") + key + " key (" + value_type_name(want) + ")");
    return k;
  }
  k.present = true;
  k.at = fp.kv_value_at[i];
  k.field = "kv[" + std::to_string(i) + "] '" + key + "'";
  if (kv[i].second.type != want)
    throw FormatError(path, k.field, k.at,
                      std::string(key) + " must be " + value_type_name(want) + ", not " +
                          value_type_name(kv[i].second.type));
  k.value = *kv[i].second.as_int();
  return k;
}

bool file_exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

}  // namespace

// Parses one file. Unmapped: maps a prefix of the file and parses within it; when that fails and
// the file is longer, retries with a prefix four times longer (the last try maps the whole file,
// so a malformed file gets the error a mapped parse gives).
std::unique_ptr<FileParser> parse_file(const std::string& path, bool map, File& out) {
  if (map) {
    auto fp = std::make_unique<FileParser>(MappedFile::open(path));
    out = fp->run();
    return fp;
  }
  for (uint64_t prefix = 16ull << 20;; prefix = prefix > (1ull << 60) ? prefix : prefix * 4) {
    auto mf = MappedFile::open_prefix(path, prefix);
    const bool whole = mf->mapped();
    auto fp = std::make_unique<FileParser>(std::move(mf));
    try {
      out = fp->run();
      return fp;
    } catch (const FormatError&) {
      if (whole) throw;
    }
  }
}

File FileParser::open(const std::string& path, bool map) {
  auto name = parse_split_path(path);
  if (!name) {
    File f;
    auto parser = parse_file(path, map, f);
    FileParser& fp = *parser;
    SplitKey count = split_key(f, fp, path, kKeySplitCount, ValueType::U16, false);
    if (count.present && count.value > 1)
      throw FormatError(path, count.field, count.at,
                        "the file is one of " + std::to_string(count.value) +
                            " splits; open the set by the name of its first file, " +
                            split_path("<stem>", 1, static_cast<uint32_t>(count.value)));
    return f;
  }

  const uint32_t m = name->count;
  std::vector<std::string> paths;
  for (uint32_t i = 1; i <= m; ++i) paths.push_back(split_path(name->stem, i, m));
  for (uint32_t i = 0; i < m; ++i)
    if (!file_exists(paths[i]))
      throw FormatError(path, "split.files", 0,
                        "split file " + std::to_string(i + 1) + " of " + std::to_string(m) +
                            " is missing: " + paths[i]);

  File merged;
  int64_t declared_tensors = 0;
  SplitKey first_tensors;
  for (uint32_t i = 0; i < m; ++i) {
    File f;
    auto parser = parse_file(paths[i], map, f);
    FileParser& fp = *parser;
    const std::string& p = paths[i];
    if (m == 1 && f.find(kKeySplitCount) == nullptr && f.find(kKeySplitNo) == nullptr)
      return f;  // a plain file that happens to be named like a split
    SplitKey no = split_key(f, fp, p, kKeySplitNo, ValueType::U16, true);
    SplitKey count = split_key(f, fp, p, kKeySplitCount, ValueType::U16, true);
    SplitKey tcount = split_key(f, fp, p, kKeySplitTensorsCount, ValueType::I32, i == 0);
    if (count.value != m)
      throw FormatError(p, count.field, count.at,
                        "split.count is " + std::to_string(count.value) +
                            " but the file names say " + std::to_string(m));
    if (no.value != i)
      throw FormatError(p, no.field, no.at,
                        "split.no is " + std::to_string(no.value) + " but the file is split " +
                            std::to_string(i + 1) + " of " + std::to_string(m) + " (split.no " +
                            std::to_string(i) + ")");
    if (i == 0) {
      if (tcount.value < 0)
        throw FormatError(p, tcount.field, tcount.at,
                          "split.tensors.count is negative (" + std::to_string(tcount.value) + ")");
      declared_tensors = tcount.value;
      first_tensors = tcount;
      merged = std::move(f);
      continue;
    }
    if (tcount.present && tcount.value != declared_tensors)
      throw FormatError(p, tcount.field, tcount.at,
                        "split.tensors.count is " + std::to_string(tcount.value) +
                            " but split 1 says " + std::to_string(declared_tensors));
    for (size_t j = 0; j < f.tensors_.size(); ++j) {
      TensorInfo t = f.tensors_[j];
      if (auto it = merged.tensor_index_.find(t.name); it != merged.tensor_index_.end())
        throw FormatError(p, "tensor[" + std::to_string(j) + "].name", fp.tensor_name_at[j],
                          "duplicate tensor name '" + t.name + "' (also in split " +
                              std::to_string(merged.tensors_[it->second].split + 1) + ", " +
                              merged.paths_[merged.tensors_[it->second].split] + ")");
      t.split = i;
      merged.tensor_index_.emplace(t.name, merged.tensors_.size());
      merged.tensors_.push_back(std::move(t));
    }
    merged.files_.push_back(f.files_[0]);
    merged.paths_.push_back(p);
  }
  if (static_cast<uint64_t>(declared_tensors) != merged.tensors_.size())
    throw FormatError(paths[0], first_tensors.field, first_tensors.at,
                      "split.tensors.count is " + std::to_string(declared_tensors) + " but the " +
                          std::to_string(m) + " splits hold " +
                          std::to_string(merged.tensors_.size()) + " tensors");
  return merged;
}

File File::open(const std::string& path, bool map) {
  return FileParser::open(path, map);
}

void File::read(const TensorInfo& t, uint64_t offset, void* dst, uint64_t n) const {
  R1_CHECK(t.split < files_.size());
  if (offset > t.nbytes || n > t.nbytes - offset)
    throw Error(paths_[t.split] + ": read of " + std::to_string(n) + " bytes at offset " +
                std::to_string(offset) + " of tensor '" + t.name + "' (" +
                std::to_string(t.nbytes) + " bytes) runs past its end");
  files_[t.split]->read(t.file_offset + offset, dst, n);
}

File File::parse(std::shared_ptr<MappedFile> file) {
  if (!file) throw Error("gguf::File::parse: no file");
  return FileParser(std::move(file)).run();
}

uint64_t File::file_bytes() const {
  uint64_t n = 0;
  for (const auto& f : files_) n += f->size();
  return n;
}

const Value* File::find(const std::string& key) const {
  auto it = kv_index_.find(key);
  return it == kv_index_.end() ? nullptr : &kv_[it->second].second;
}

const TensorInfo* File::find_tensor(const std::string& name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

}  // namespace r1::gguf
