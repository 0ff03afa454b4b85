// GGUF v3 writers: Writer (one file) and SplitWriter (a `-0000i-of-0000N.gguf` set). Both
// stream tensor data straight to `<path>.partial` (memory use does not depend on tensor sizes)
// and rename into place on finish(). They refuse anything the reader would reject.
#include <unistd.h>

#include <bit>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <set>

#include "core/check.h"
#include "core/checked_math.h"
#include "core/error.h"
#include "formats/gguf.h"
#include "formats/gguf_internal.h"

static_assert(std::endian::native == std::endian::little, "the GGUF writer assumes a LE host");

namespace r1::gguf {
namespace {

bool is_pow2(uint64_t a) {
  return a != 0 && (a & (a - 1)) == 0;
}

void check_alignment(uint64_t a) {
  if (!is_pow2(a) || a > (1u << 31))
    throw Error("gguf: alignment " + std::to_string(a) + " is not a non-zero power of two");
}

// Metadata and tensor declarations of one file, checked as they are added.
class Plan {
 public:
  struct Tensor {
    std::string name;
    std::vector<uint64_t> ne;
    DType dtype;
    uint64_t nbytes;
    uint64_t offset;  // within the data section
  };

  explicit Plan(uint32_t alignment) : alignment_(alignment) { check_alignment(alignment); }

  void add_kv(const std::string& key, Value v) {
    size_t bad;
    if (auto why = detail::key_problem(key, &bad)) throw Error("gguf: bad key: " + *why);
    if (keys_.count(key)) throw Error("gguf: duplicate key '" + key + "'");
    if (key == kKeyAlignment && (v.type != ValueType::U32 || v.as_uint() != alignment_))
      throw Error("gguf: general.alignment must be a u32 equal to the writer's alignment " +
                  std::to_string(alignment_));
    // Check the value; on failure leave the counters as they were.
    const uint64_t values_before = n_values_, strings_before = string_bytes_;
    try {
      ++n_values_;
      if (n_values_ > kMaxMetadataValues)
        throw Error("gguf: more than " + std::to_string(kMaxMetadataValues) + " metadata values");
      count_strings(key.size(), key);
      check_value(key, v, 0);
    } catch (...) {
      n_values_ = values_before;
      string_bytes_ = strings_before;
      throw;
    }
    keys_.insert(key);
    if (key == kKeyAlignment) has_alignment_kv_ = true;
    kv_bytes_ += 8 + key.size() + 4 + value_bytes(v);
    kvs_.emplace_back(key, std::move(v));
  }

  void add_tensor(const std::string& name, const std::vector<uint64_t>& ne, DType dtype) {
    uint64_t nbytes = detail::checked_tensor_bytes(name, ne, dtype);
    if (names_.count(name)) throw Error("gguf: duplicate tensor name '" + name + "'");
    if (tensors_.size() >= kMaxTensors)
      throw Error("gguf: more than " + std::to_string(kMaxTensors) + " tensors");
    auto padded = checked_align_up(nbytes, alignment_);
    auto end = padded ? checked_add(data_bytes_, *padded) : std::nullopt;
    if (!end) throw Error("gguf: tensor '" + name + "': data section size overflows");
    names_.insert(name);
    tensors_.push_back({name, ne, dtype, nbytes, data_bytes_});
    data_bytes_ = *end;
    info_bytes_ += 8 + name.size() + 4 + 8 * ne.size() + 4 + 8;
  }

  bool implicit_alignment() const { return alignment_ != kDefaultAlignment && !has_alignment_kv_; }
  uint64_t header_bytes() const {
    uint64_t n = detail::kHeaderBytes + kv_bytes_ + info_bytes_;
    if (implicit_alignment()) n += 8 + std::strlen(kKeyAlignment) + 4 + 4;
    return n;
  }
  uint64_t data_start() const { return *checked_align_up(header_bytes(), alignment_); }
  uint64_t total_bytes() const { return data_start() + data_bytes_; }
  uint64_t data_bytes() const { return data_bytes_; }
  uint32_t alignment() const { return alignment_; }
  const std::vector<Tensor>& tensors() const { return tensors_; }
  std::vector<std::pair<std::string, Value>>& kvs() { return kvs_; }

  // Header, metadata, tensor infos and the padding up to the data section.
  std::string serialize_header() const {
    std::string out;
    out.reserve(data_start());
    put<uint32_t>(out, kMagic);
    put<uint32_t>(out, kVersion);
    put<uint64_t>(out, tensors_.size());
    put<uint64_t>(out, kvs_.size() + (implicit_alignment() ? 1 : 0));
    for (const auto& [k, v] : kvs_) {
      put_str(out, k);
      put<uint32_t>(out, static_cast<uint32_t>(v.type));
      put_value(out, v);
    }
    if (implicit_alignment()) {
      put_str(out, kKeyAlignment);
      put<uint32_t>(out, static_cast<uint32_t>(ValueType::U32));
      put<uint32_t>(out, alignment_);
    }
    for (const auto& t : tensors_) {
      put_str(out, t.name);
      put<uint32_t>(out, static_cast<uint32_t>(t.ne.size()));
      for (uint64_t e : t.ne) put<uint64_t>(out, e);
      put<uint32_t>(out, static_cast<uint32_t>(dtype_traits(t.dtype).ggml_id));
      put<uint64_t>(out, t.offset);
    }
    R1_CHECK(out.size() == header_bytes());
    out.resize(data_start(), '\0');
    return out;
  }

 private:
  template <class T>
  static void put(std::string& out, T v) {
    char b[sizeof(T)];
    std::memcpy(b, &v, sizeof v);
    out.append(b, sizeof b);
  }
  static void put_str(std::string& out, std::string_view s) {
    put<uint64_t>(out, s.size());
    out.append(s);
  }

  // Integer payload of a value whose type is an integer type, or nullopt.
  static std::optional<uint64_t> int_bits(const Value& v, uint64_t max_u, int64_t min_i,
                                          int64_t max_i, bool is_signed) {
    if (is_signed) {
      auto i = v.as_int();
      if (!i || *i < min_i || *i > max_i) return std::nullopt;
      return static_cast<uint64_t>(*i);
    }
    auto u = v.as_uint();
    if (!u || *u > max_u) return std::nullopt;
    return *u;
  }

  void count_strings(uint64_t n, const std::string& key) {
    if (n > kMaxMetadataStringBytes - string_bytes_)
      throw Error("gguf: '" + key + "': metadata strings exceed " +
                  std::to_string(kMaxMetadataStringBytes) + " bytes in all");
    string_bytes_ += n;
  }

  void check_value(const std::string& key, const Value& v, uint32_t level) {
    auto bad = [&](const std::string& why) { throw Error("gguf: value of '" + key + "': " + why); };
    const char* tn = value_type_name(v.type);
    switch (v.type) {
      case ValueType::U8:
      case ValueType::U16:
      case ValueType::U32:
      case ValueType::U64:
      case ValueType::I8:
      case ValueType::I16:
      case ValueType::I32:
      case ValueType::I64: {
        if (!std::holds_alternative<uint64_t>(v.v) && !std::holds_alternative<int64_t>(v.v))
          bad(std::string(tn) + " value does not hold an integer");
        if (!encode_int(v)) bad(std::string("integer out of range for ") + tn);
        return;
      }
      case ValueType::F32: {
        const double* d = std::get_if<double>(&v.v);
        if (!d) bad("f32 value does not hold a float");
        if (!std::isnan(*d) && static_cast<double>(static_cast<float>(*d)) != *d)
          bad("value is not representable as f32");
        return;
      }
      case ValueType::F64:
        if (!std::holds_alternative<double>(v.v)) bad("f64 value does not hold a float");
        return;
      case ValueType::BOOL:
        if (!std::holds_alternative<bool>(v.v)) bad("bool value does not hold a bool");
        return;
      case ValueType::STRING: {
        const auto* s = std::get_if<std::string>(&v.v);
        if (!s) bad("string value does not hold a string");
        if (s->size() > kMaxStringBytes)
          bad("string of " + std::to_string(s->size()) + " bytes exceeds the limit");
        count_strings(s->size(), key);
        return;
      }
      case ValueType::ARRAY: {
        const auto* a = std::get_if<Array>(&v.v);
        if (!a) bad("array value does not hold an array");
        if (!detail::is_known_value_type(static_cast<uint32_t>(a->elem_type)))
          bad("unknown array element type");
        if (a->elem_type == ValueType::ARRAY && level + 1 >= kMaxArrayDepth)
          bad("arrays nested more than " + std::to_string(kMaxArrayDepth) + " deep");
        n_values_ += a->items.size();
        if (n_values_ > kMaxMetadataValues)
          bad("more than " + std::to_string(kMaxMetadataValues) + " metadata values");
        for (const Value& item : a->items) {
          if (item.type != a->elem_type)
            bad(std::string("array of ") + value_type_name(a->elem_type) + " holds a " +
                value_type_name(item.type));
          check_value(key, item, level + 1);
        }
        return;
      }
    }
    bad("unknown value type " + std::to_string(static_cast<uint32_t>(v.type)));
  }

  static std::optional<uint64_t> encode_int(const Value& v) {
    switch (v.type) {
      case ValueType::U8:
        return int_bits(v, 0xff, 0, 0, false);
      case ValueType::U16:
        return int_bits(v, 0xffff, 0, 0, false);
      case ValueType::U32:
        return int_bits(v, 0xffffffffu, 0, 0, false);
      case ValueType::U64:
        return int_bits(v, std::numeric_limits<uint64_t>::max(), 0, 0, false);
      case ValueType::I8:
        return int_bits(v, 0, -128, 127, true);
      case ValueType::I16:
        return int_bits(v, 0, -32768, 32767, true);
      case ValueType::I32:
        return int_bits(v, 0, std::numeric_limits<int32_t>::min(),
                        std::numeric_limits<int32_t>::max(), true);
      case ValueType::I64:
        return int_bits(v, 0, std::numeric_limits<int64_t>::min(),
                        std::numeric_limits<int64_t>::max(), true);
      default:
        return std::nullopt;
    }
  }

  static uint64_t value_bytes(const Value& v) {
    switch (v.type) {
      case ValueType::STRING:
        return 8 + std::get<std::string>(v.v).size();
      case ValueType::ARRAY: {
        const Array& a = std::get<Array>(v.v);
        uint64_t n = 12;
        if (a.elem_type == ValueType::STRING || a.elem_type == ValueType::ARRAY) {
          for (const Value& item : a.items) n += value_bytes(item);
        } else {
          n += a.items.size() * detail::min_value_bytes(a.elem_type);
        }
        return n;
      }
      default:
        return detail::min_value_bytes(v.type);
    }
  }

  static void put_value(std::string& out, const Value& v) {
    switch (v.type) {
      case ValueType::U8:
      case ValueType::I8:
        put<uint8_t>(out, static_cast<uint8_t>(*encode_int(v)));
        return;
      case ValueType::U16:
      case ValueType::I16:
        put<uint16_t>(out, static_cast<uint16_t>(*encode_int(v)));
        return;
      case ValueType::U32:
      case ValueType::I32:
        put<uint32_t>(out, static_cast<uint32_t>(*encode_int(v)));
        return;
      case ValueType::U64:
      case ValueType::I64:
        put<uint64_t>(out, *encode_int(v));
        return;
      case ValueType::F32:
        put<float>(out, static_cast<float>(std::get<double>(v.v)));
        return;
      case ValueType::F64:
        put<double>(out, std::get<double>(v.v));
        return;
      case ValueType::BOOL:
        put<uint8_t>(out, std::get<bool>(v.v) ? 1 : 0);
        return;
      case ValueType::STRING:
        put_str(out, std::get<std::string>(v.v));
        return;
      case ValueType::ARRAY: {
        const Array& a = std::get<Array>(v.v);
        put<uint32_t>(out, static_cast<uint32_t>(a.elem_type));
        put<uint64_t>(out, a.items.size());
        for (const Value& item : a.items) put_value(out, item);
        return;
      }
    }
  }

  uint32_t alignment_;
  std::vector<std::pair<std::string, Value>> kvs_;
  std::set<std::string> keys_, names_;
  std::vector<Tensor> tensors_;
  bool has_alignment_kv_ = false;
  uint64_t kv_bytes_ = 0, info_bytes_ = 0, data_bytes_ = 0;
  uint64_t n_values_ = 0, string_bytes_ = 0;
};

// `<path>.partial`, renamed to `<path>` by commit(); removed if never committed.
class PartialFile {
 public:
  explicit PartialFile(std::string path) : path_(std::move(path)), tmp_(path_ + ".partial") {
    f_ = std::fopen(tmp_.c_str(), "wb");
    if (!f_) throw Error(tmp_ + ": cannot create: " + std::strerror(errno));
  }
  ~PartialFile() {
    if (f_) std::fclose(f_);
    if (!committed_) std::remove(tmp_.c_str());
  }
  PartialFile(const PartialFile&) = delete;
  PartialFile& operator=(const PartialFile&) = delete;

  void write(const void* data, uint64_t n) {
    if (n == 0) return;
    if (!f_) throw Error(tmp_ + ": write after close");
    if (std::fwrite(data, 1, n, f_) != n)
      throw Error(tmp_ + ": write failed: " + std::strerror(errno));
    pos_ += n;
  }
  void pad_to(uint64_t align) {
    static const char zeros[4096] = {};
    uint64_t n = *checked_align_up(pos_, align) - pos_;
    while (n > 0) {
      uint64_t k = std::min<uint64_t>(n, sizeof zeros);
      write(zeros, k);
      n -= k;
    }
  }
  void close() {
    if (!f_) return;
    bool ok = std::fflush(f_) == 0 && ::fsync(fileno(f_)) == 0;
    int e = errno;
    ok = (std::fclose(f_) == 0) && ok;
    f_ = nullptr;
    if (!ok) throw Error(tmp_ + ": write failed: " + std::strerror(e));
  }
  void commit() {
    close();
    if (std::rename(tmp_.c_str(), path_.c_str()) != 0)
      throw Error(tmp_ + ": cannot rename to " + path_ + ": " + std::strerror(errno));
    committed_ = true;
  }
  uint64_t pos() const { return pos_; }

 private:
  std::string path_, tmp_;
  std::FILE* f_ = nullptr;
  uint64_t pos_ = 0;
  bool committed_ = false;
};

// Writes one planned file: the header at start, then tensor data in declaration order.
class Stream {
 public:
  Stream(const Plan& plan, const std::string& path) : plan_(plan), out_(path) {
    std::string h = plan_.serialize_header();
    out_.write(h.data(), h.size());
  }
  // Appends n bytes to the current tensor; throws if it has fewer left.
  void write(const uint8_t* data, uint64_t n) {
    if (cur_ >= plan_.tensors().size())
      throw Error("gguf: write_data: all tensors are already written");
    const auto& t = plan_.tensors()[cur_];
    uint64_t left = t.nbytes - written_;
    if (n > left)
      throw Error("gguf: write_data: " + std::to_string(n) + " bytes for tensor '" + t.name +
                  "' which has only " + std::to_string(left) + " bytes left");
    out_.write(data, n);
    written_ += n;
    if (written_ == t.nbytes) {
      out_.pad_to(plan_.alignment());
      ++cur_;
      written_ = 0;
    }
  }
  bool complete() const { return cur_ == plan_.tensors().size(); }
  void check_complete() const {
    if (complete()) return;
    const auto& t = plan_.tensors()[cur_];
    size_t after = plan_.tensors().size() - cur_ - 1;
    throw Error("gguf: finish: tensor '" + t.name + "' has " + std::to_string(written_) + " of " +
                std::to_string(t.nbytes) + " bytes written" +
                (after ? "; " + std::to_string(after) + " more tensors have none" : ""));
  }
  PartialFile& file() { return out_; }

 private:
  const Plan& plan_;
  PartialFile out_;
  size_t cur_ = 0;
  uint64_t written_ = 0;
};

}  // namespace

// ---------------------------------------------------------------------------------------------
// Writer

struct Writer::Pending {
  std::string path;
  Plan plan;
  std::unique_ptr<Stream> stream;
  bool finished = false;
  Pending(std::string p, uint32_t a) : path(std::move(p)), plan(a) {}
};

Writer::Writer(std::string path, uint32_t alignment)
    : p_(std::make_unique<Pending>(std::move(path), alignment)) {}

Writer::~Writer() = default;  // an unfinished Stream removes its partial file

void Writer::add_kv(const std::string& key, Value v) {
  if (p_->stream || p_->finished) throw Error("gguf: add_kv after the header was written");
  p_->plan.add_kv(key, std::move(v));
}

void Writer::add_tensor(const std::string& name, const std::vector<uint64_t>& ne, DType dtype) {
  if (p_->stream || p_->finished) throw Error("gguf: add_tensor after the header was written");
  p_->plan.add_tensor(name, ne, dtype);
}

void Writer::write_header() {
  if (p_->stream || p_->finished) throw Error("gguf: write_header called twice");
  p_->stream = std::make_unique<Stream>(p_->plan, p_->path);
  bytes_written_ = p_->stream->file().pos();
}

void Writer::write_data(const void* data, uint64_t nbytes) {
  if (p_->finished) throw Error("gguf: write_data after finish");
  if (!p_->stream) write_header();
  if (nbytes == 0) return;
  p_->stream->write(static_cast<const uint8_t*>(data), nbytes);
  bytes_written_ = p_->stream->file().pos();
}

void Writer::finish() {
  if (p_->finished) throw Error("gguf: finish called twice");
  if (!p_->stream) write_header();
  p_->stream->check_complete();
  p_->stream->file().commit();
  bytes_written_ = p_->stream->file().pos();
  p_->finished = true;
}

uint64_t Writer::total_bytes() const {
  return p_->plan.total_bytes();
}

// ---------------------------------------------------------------------------------------------
// SplitWriter

struct SplitWriter::Pending {
  std::string stem;
  SplitOptions opt;
  Plan all;                                  // user metadata and every tensor
  std::vector<std::unique_ptr<Plan>> plans;  // one per split, after write_header
  std::vector<std::string> paths;
  std::vector<std::unique_ptr<Stream>> streams;  // opened in order; closed ones wait for finish
  bool planned = false, finished = false;
  Pending(std::string s, SplitOptions o) : stem(std::move(s)), opt(o), all(o.alignment) {}

  Stream* current() { return streams.empty() ? nullptr : streams.back().get(); }
  // Opens the next split (writes its header).
  void open_next() {
    size_t i = streams.size();
    if (Stream* s = current()) s->file().close();
    streams.push_back(std::make_unique<Stream>(*plans[i], paths[i]));
  }
};

SplitWriter::SplitWriter(std::string stem, SplitOptions options)
    : p_(std::make_unique<Pending>(std::move(stem), options)) {}

SplitWriter::~SplitWriter() = default;

void SplitWriter::add_kv(const std::string& key, Value v) {
  if (p_->planned || p_->finished) throw Error("gguf: add_kv after the header was written");
  if (key == kKeySplitNo || key == kKeySplitCount || key == kKeySplitTensorsCount)
    throw Error("gguf: SplitWriter writes " + key + " itself");
  p_->all.add_kv(key, std::move(v));
}

void SplitWriter::add_tensor(const std::string& name, const std::vector<uint64_t>& ne,
                             DType dtype) {
  if (p_->planned || p_->finished) throw Error("gguf: add_tensor after the header was written");
  p_->all.add_tensor(name, ne, dtype);
}

void SplitWriter::write_header() {
  if (p_->planned || p_->finished) throw Error("gguf: write_header called twice");
  const auto& ts = p_->all.tensors();
  const uint32_t align = p_->opt.alignment;
  // Assign tensors to splits in declaration order.
  std::vector<std::vector<size_t>> groups(1);
  uint64_t bytes = 0;
  for (size_t i = 0; i < ts.size(); ++i) {
    uint64_t padded = *checked_align_up(ts[i].nbytes, align);
    auto& g = groups.back();
    auto grown = checked_add(bytes, padded);
    bool full = !g.empty() && ((p_->opt.max_tensors && g.size() >= p_->opt.max_tensors) ||
                               (p_->opt.max_bytes && (!grown || *grown > p_->opt.max_bytes)));
    if (full) {
      groups.emplace_back();
      bytes = 0;
    }
    groups.back().push_back(i);
    bytes += padded;
  }
  if (groups.size() > 65535)
    throw Error("gguf: " + std::to_string(groups.size()) + " splits (at most 65535)");
  const auto n = static_cast<uint32_t>(groups.size());
  for (uint32_t s = 0; s < n; ++s) {
    auto plan = std::make_unique<Plan>(align);
    plan->add_kv(kKeySplitNo, Value::u16(static_cast<uint16_t>(s)));
    plan->add_kv(kKeySplitCount, Value::u16(static_cast<uint16_t>(n)));
    plan->add_kv(kKeySplitTensorsCount, Value::i32(static_cast<int32_t>(ts.size())));
    if (s == 0)
      for (auto& [k, v] : p_->all.kvs()) plan->add_kv(k, std::move(v));
    for (size_t i : groups[s]) plan->add_tensor(ts[i].name, ts[i].ne, ts[i].dtype);
    p_->plans.push_back(std::move(plan));
    p_->paths.push_back(split_path(p_->stem, s + 1, n));
  }
  p_->all.kvs().clear();
  p_->planned = true;
  p_->open_next();
}

void SplitWriter::write_data(const void* data, uint64_t nbytes) {
  if (p_->finished) throw Error("gguf: write_data after finish");
  if (!p_->planned) write_header();
  if (nbytes == 0) return;
  // Data for one tensor never spans splits, so one call goes to one tensor of one split.
  Stream* s = p_->current();
  if (s->complete()) {
    if (p_->streams.size() == p_->plans.size())
      throw Error("gguf: write_data: all tensors are already written");
    p_->open_next();
    s = p_->current();
  }
  s->write(static_cast<const uint8_t*>(data), nbytes);
}

void SplitWriter::finish() {
  if (p_->finished) throw Error("gguf: finish called twice");
  if (!p_->planned) write_header();
  while (true) {
    p_->current()->check_complete();
    if (p_->streams.size() == p_->plans.size()) break;
    p_->open_next();  // only splits without tensors get here
  }
  for (auto& s : p_->streams) s->file().close();
  for (auto& s : p_->streams) s->file().commit();
  p_->finished = true;
}

uint32_t SplitWriter::split_count() const {
  return static_cast<uint32_t>(p_->plans.size());
}

std::vector<std::string> SplitWriter::paths() const {
  return p_->paths;
}

uint64_t SplitWriter::bytes_written() const {
  uint64_t n = 0;
  for (const auto& s : p_->streams) n += s->file().pos();
  return n;
}

}  // namespace r1::gguf
