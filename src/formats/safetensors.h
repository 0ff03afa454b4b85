// safetensors reader and writer, single files and sharded checkpoints
// (`model.safetensors.index.json`). Knows the container only: no model knowledge.
//
// Every header field is checked before use (header length <= 100 MiB and within the file, JSON
// well-formed, dtype known, shape product and byte span consistent with checked arithmetic,
// offsets tiling the data section without gaps or overlap); violations throw r1::FormatError
// naming the tensor/field and the byte offset.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/mmap_file.h"

namespace r1::safetensors {

inline constexpr uint64_t kMaxHeaderBytes = 100ull << 20;
// Limits beyond the reference implementation (see docs/FORMATS.md, "safetensors").
inline constexpr int kMaxJsonDepth = 8;  // legitimate headers nest 3 deep ({ { [ )
inline constexpr size_t kMaxRank = 8;    // dimensions per tensor
inline constexpr uint64_t kMaxIndexBytes = 100ull << 20;
inline constexpr const char* kIndexFileName = "model.safetensors.index.json";

struct TensorInfo {
  std::string name;
  DType dtype = DType::F32;
  std::vector<uint64_t> shape;    // row-major, outermost first (PyTorch order)
  uint64_t begin = 0, end = 0;    // relative to the data section of its file
  uint32_t shard = 0;             // index into Checkpoint::paths()
  const uint8_t* data = nullptr;  // zero-copy view (null when the file is opened unmapped)

  uint64_t nbytes() const { return end - begin; }
  uint64_t n_elements() const;
};

// One .safetensors file.
class File {
 public:
  // map = false: the header is read and checked, tensor data is left on disk (TensorInfo::data is
  // null) and read with read().
  static File open(const std::string& path, bool map = true);
  static File parse(std::shared_ptr<MappedFile> file);

  // Copies bytes [offset, offset + n) of tensor `t` (one of this file's) into dst.
  void read(const TensorInfo& t, uint64_t offset, void* dst, uint64_t n) const;

  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  // Tensors in order of their data offsets.
  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo* find(const std::string& name) const;
  uint64_t file_bytes() const { return file_ ? file_->size() : 0; }
  const std::string& path() const;
  // File offset of the data section (8 + header length); TensorInfo::begin is relative to it.
  uint64_t data_offset() const { return data_offset_; }

 private:
  std::shared_ptr<MappedFile> file_;
  uint64_t data_offset_ = 0;
  std::map<std::string, std::string> metadata_;
  std::vector<TensorInfo> tensors_;
  std::map<std::string, size_t> index_;
  friend class FileParser;
};

// A checkpoint: a single .safetensors file, or a folder with model.safetensors.index.json
// (or a lone *.safetensors), or the index file itself. Tensor names must be unique across
// shards, and the index must match what the shards hold.
class Checkpoint {
 public:
  // map = false: no shard is mapped; tensor data is read with read() (bounded-memory tools).
  static Checkpoint open(const std::string& path, bool map = true);
  bool mapped() const { return mapped_; }
  // Copies bytes [offset, offset + n) of tensor `t` (one of tensors()) into dst.
  void read(const TensorInfo& t, uint64_t offset, void* dst, uint64_t n) const;

  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo* find(const std::string& name) const;
  const std::map<std::string, std::string>& metadata() const;  // from the first shard
  const std::vector<std::string>& paths() const { return paths_; }
  uint64_t file_bytes() const;
  const std::string& dir() const { return dir_; }  // folder holding config.json etc.

 private:
  std::vector<File> files_;
  std::vector<std::string> paths_;
  std::vector<TensorInfo> tensors_;
  std::map<std::string, size_t> index_;
  std::string dir_;
  bool mapped_ = true;
};

// Streaming writer: declare all tensors (the header needs every offset), then write data in
// declaration order. Writes `path + ".partial"` and renames on finish().
class Writer {
 public:
  explicit Writer(std::string path);
  ~Writer();
  void add_metadata(const std::string& key, const std::string& value);
  void add_tensor(const std::string& name, DType dtype, const std::vector<uint64_t>& shape);
  void write_header();
  void write_data(const void* data, uint64_t nbytes);
  void finish();
  uint64_t total_bytes() const;

 private:
  struct Pending;
  std::unique_ptr<Pending> p_;
};

// Writes model.safetensors.index.json for shards in `dir` (weight_map name -> file name).
void write_index(const std::string& dir, const std::map<std::string, std::string>& weight_map,
                 uint64_t total_size);

}  // namespace r1::safetensors
