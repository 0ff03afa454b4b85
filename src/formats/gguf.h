// GGUF v3 reader and writer. Knows the container only: no model knowledge.
//
// Reading memory-maps the file(s) and checks every count, length, offset and size against the
// file with overflow-safe arithmetic before use; any violation throws r1::FormatError naming the
// field and its byte offset. Tensor data is exposed as zero-copy views into the mapping.
// Split models (`name-00001-of-0000N.gguf`) open as one File.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "core/dtype.h"
#include "core/mmap_file.h"

namespace r1::gguf {

inline constexpr uint32_t kMagic = 0x46554747;  // "GGUF" little-endian
inline constexpr uint32_t kVersion = 3;
inline constexpr uint32_t kDefaultAlignment = 32;
inline constexpr uint32_t kMaxDims = 4;

enum class ValueType : uint32_t {
  U8 = 0,
  I8 = 1,
  U16 = 2,
  I16 = 3,
  U32 = 4,
  I32 = 5,
  F32 = 6,
  BOOL = 7,
  STRING = 8,
  ARRAY = 9,
  U64 = 10,
  I64 = 11,
  F64 = 12,
};
const char* value_type_name(ValueType t);

struct Value;
struct Array {
  ValueType elem_type = ValueType::U8;
  std::vector<Value> items;
};

// One metadata value. Integers keep their declared width in `type`.
struct Value {
  ValueType type = ValueType::U8;
  std::variant<uint64_t, int64_t, double, bool, std::string, Array> v;

  static Value u8(uint8_t x) { return {ValueType::U8, uint64_t{x}}; }
  static Value u16(uint16_t x) { return {ValueType::U16, uint64_t{x}}; }
  static Value u32(uint32_t x) { return {ValueType::U32, uint64_t{x}}; }
  static Value u64(uint64_t x) { return {ValueType::U64, x}; }
  static Value i8(int8_t x) { return {ValueType::I8, int64_t{x}}; }
  static Value i16(int16_t x) { return {ValueType::I16, int64_t{x}}; }
  static Value i32(int32_t x) { return {ValueType::I32, int64_t{x}}; }
  static Value i64(int64_t x) { return {ValueType::I64, x}; }
  static Value f32(float x) { return {ValueType::F32, double{x}}; }
  static Value f64(double x) { return {ValueType::F64, x}; }
  static Value boolean(bool x) { return {ValueType::BOOL, x}; }
  static Value str(std::string x) { return {ValueType::STRING, std::move(x)}; }
  static Value array(ValueType elem, std::vector<Value> items) {
    return {ValueType::ARRAY, Array{elem, std::move(items)}};
  }
  static Value str_array(const std::vector<std::string>& xs);
  static Value i32_array(const std::vector<int32_t>& xs);
  static Value f32_array(const std::vector<float>& xs);

  // Typed accessors: nullopt/nullptr when the value is not of a compatible kind.
  std::optional<uint64_t> as_uint() const;  // any integer type holding a value >= 0
  std::optional<int64_t> as_int() const;    // any integer type fitting int64
  std::optional<double> as_float() const;   // F32/F64 (and integers, converted)
  std::optional<bool> as_bool() const;
  const std::string* as_string() const;
  const Array* as_array() const;

  // Same type and same value; floats compare bit for bit (NaN == NaN, -0.0 != 0.0), arrays
  // element by element.
  bool operator==(const Value& o) const;
};

struct TensorInfo {
  std::string name;
  std::vector<uint64_t> ne;  // ggml order: ne[0] is the contiguous (row) dimension; each >= 1
  DType dtype = DType::F32;
  uint32_t ggml_type = 0;  // as stored
  uint64_t offset = 0;     // relative to the data section of its split file
  uint64_t nbytes = 0;
  uint32_t split = 0;             // which split file holds it
  uint64_t file_offset = 0;       // absolute offset of its data in that file
  const uint8_t* data = nullptr;  // zero-copy view into the mapping (null when opened unmapped)

  uint64_t n_elements() const;  // product of ne (validated not to overflow at load)
};

class File {
 public:
  // Opens a .gguf file. If the name matches `*-0000i-of-0000N.gguf` (any i), all N splits are
  // opened and merged (metadata from the first, tensors from all, in split order). Throws
  // FormatError / Error. Limits and error fields: docs/FORMATS.md, section GGUF.
  // map = false: only the header of each file is mapped (a growing prefix, until the metadata and
  // tensor infos parse); TensorInfo::data is null and tensor data is read with read().
  static File open(const std::string& path, bool map = true);
  // Parses one in-memory image (used by fuzzers and tests). `name` is used in messages.
  static File parse(std::shared_ptr<MappedFile> file);

  uint32_t version() const { return version_; }
  uint32_t alignment() const { return alignment_; }
  uint64_t file_bytes() const;  // sum over split files

  // Metadata in file order.
  const std::vector<std::pair<std::string, Value>>& metadata() const { return kv_; }
  const Value* find(const std::string& key) const;
  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo* find_tensor(const std::string& name) const;
  const std::vector<std::string>& paths() const { return paths_; }
  // Copies bytes [offset, offset + n) of tensor `t` (one of tensors()) into dst.
  void read(const TensorInfo& t, uint64_t offset, void* dst, uint64_t n) const;

 private:
  uint32_t version_ = kVersion;
  uint32_t alignment_ = kDefaultAlignment;
  std::vector<std::pair<std::string, Value>> kv_;
  std::map<std::string, size_t> kv_index_;
  std::vector<TensorInfo> tensors_;
  std::map<std::string, size_t> tensor_index_;
  std::vector<std::shared_ptr<MappedFile>> files_;
  std::vector<std::string> paths_;
  friend class FileParser;
};

// Streaming writer: declare metadata and tensor infos, then write tensor data in declaration
// order. Memory use is independent of tensor sizes. Writes to `path + ".partial"` and renames
// on finish(), so an interrupted run never leaves a half-written file under the final name.
class Writer {
 public:
  explicit Writer(std::string path, uint32_t alignment = kDefaultAlignment);
  ~Writer();  // removes the partial file if finish() was not reached
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  void add_kv(const std::string& key, Value v);
  // ne in ggml order. Throws if the row length is not a multiple of the block size.
  void add_tensor(const std::string& name, const std::vector<uint64_t>& ne, DType dtype);
  // Writes header, metadata and tensor infos. Called automatically by the first write.
  void write_header();
  // Appends bytes of the current tensor (may be called several times per tensor; tensors in
  // the order they were added). Throws if more bytes are written than the tensor holds.
  void write_data(const void* data, uint64_t nbytes);
  void finish();  // checks every tensor was fully written, pads, renames into place

  uint64_t bytes_written() const { return bytes_written_; }
  uint64_t total_bytes() const;  // final file size, known after all add_tensor calls

 private:
  struct Pending;
  std::unique_ptr<Pending> p_;
  uint64_t bytes_written_ = 0;
};

// The name of split `index` of `count`: `<stem>-%05u-of-%05u.gguf`. `index` is 1-based, as in the
// file name (llama.cpp's `split.no` key is 0-based: split.no = index - 1). Throws r1::Error unless
// 1 <= index <= count <= 65535.
std::string split_path(const std::string& stem, uint32_t index, uint32_t count);

// The parts of a split file name; nullopt when `path` does not end in `-NNNNN-of-MMMMM.gguf`
// with 1 <= NNNNN <= MMMMM.
struct SplitName {
  std::string stem;    // everything before `-NNNNN-of-MMMMM.gguf` (directory included)
  uint32_t index = 0;  // 1-based
  uint32_t count = 0;
};
std::optional<SplitName> parse_split_path(const std::string& path);

// Split-key names (as llama.cpp's gguf-split writes them).
inline constexpr const char* kKeySplitNo = "split.no";                       // u16, 0-based
inline constexpr const char* kKeySplitCount = "split.count";                 // u16
inline constexpr const char* kKeySplitTensorsCount = "split.tensors.count";  // i32, all splits
inline constexpr const char* kKeyAlignment = "general.alignment";            // u32

// Limits the reader enforces (and the writers refuse to exceed). See docs/FORMATS.md.
inline constexpr uint64_t kMaxKeyBytes = 65535;
inline constexpr uint64_t kMaxTensorNameBytes = 64;
inline constexpr uint32_t kMaxArrayDepth = 8;            // an array nested in 7 others is ok
inline constexpr uint64_t kMaxStringBytes = 1ull << 30;  // one metadata string
inline constexpr uint64_t kMaxMetadataStringBytes = 1ull << 31;  // all metadata strings together
inline constexpr uint64_t kMaxMetadataValues = 1ull << 24;  // keys + array elements, all levels
inline constexpr uint64_t kMaxTensors = 1ull << 20;

// How SplitWriter distributes tensors: in declaration order, a new split starts when the current
// one already holds `max_tensors` tensors or when the next tensor's data would take it past
// `max_bytes` (data bytes incl. padding; a split always takes at least one tensor). 0 = no limit.
struct SplitOptions {
  uint32_t max_tensors = 0;
  uint64_t max_bytes = 0;
  uint32_t alignment = kDefaultAlignment;
};

// Streaming writer of a split set `<stem>-0000i-of-0000N.gguf`, used like Writer. N is fixed by
// write_header() (after the last add_tensor). Split 1 holds split.no/split.count/
// split.tensors.count followed by all metadata; the others hold only the split.* keys (and
// general.alignment when it is not the default). Every file is written as `<path>.partial` and
// all are renamed into place by finish(); the destructor removes partial files.
class SplitWriter {
 public:
  explicit SplitWriter(std::string stem, SplitOptions options = {});
  ~SplitWriter();
  SplitWriter(const SplitWriter&) = delete;
  SplitWriter& operator=(const SplitWriter&) = delete;

  void add_kv(const std::string& key, Value v);
  void add_tensor(const std::string& name, const std::vector<uint64_t>& ne, DType dtype);
  void write_header();  // plans the splits; called automatically by the first write_data
  void write_data(const void* data, uint64_t nbytes);
  void finish();

  uint32_t split_count() const;            // known after write_header()
  std::vector<std::string> paths() const;  // final paths, known after write_header()
  uint64_t bytes_written() const;          // over all splits

 private:
  struct Pending;
  std::unique_ptr<Pending> p_;
};

}  // namespace r1::gguf
