// safetensors checkpoints: one file, a folder with model.safetensors.index.json, or the index.
#include <algorithm>
#include <filesystem>
#include <set>

#include "core/check.h"
#include "core/checked_math.h"
#include "core/error.h"
#include "formats/safetensors.h"
#include "formats/safetensors_internal.h"

namespace r1::safetensors {

namespace fs = std::filesystem;
using detail::quote;
using nlohmann::json;

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// A shard named in an index must be a plain file name in the index's folder.
bool is_plain_file_name(const std::string& s) {
  return !s.empty() && s != "." && s != ".." && s.find('/') == std::string::npos &&
         s.find('\\') == std::string::npos && s.find('\0') == std::string::npos;
}

std::string parent_dir(const std::string& path) {
  std::string p = fs::path(path).parent_path().string();
  return p.empty() ? "." : p;
}

std::string strip_trailing_slashes(std::string p) {
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  return p;
}

// weight_map of an index file, tensor name -> shard file name (validated).
std::map<std::string, std::string> read_index(const std::string& index_path) {
  auto mf = MappedFile::open(index_path);
  if (mf->size() > kMaxIndexBytes)
    throw FormatError(index_path, "index", 0,
                      "index file has " + std::to_string(mf->size()) + " bytes, more than the " +
                          std::to_string(kMaxIndexBytes) + "-byte limit");
  detail::JsonDoc doc =
      detail::parse_json(std::string_view(reinterpret_cast<const char*>(mf->data()), mf->size()),
                         index_path, 0, "index");
  if (!doc.value.is_object())
    throw FormatError(index_path, "index", 0,
                      std::string("index must be a JSON object, not ") + doc.value.type_name());
  const uint64_t at = doc.offset_of("weight_map", 0);
  if (doc.has_duplicate) {
    const auto& d = doc.duplicate;
    if (d.depth == 2 && d.top_key == "weight_map")
      throw FormatError(index_path, "weight_map[" + quote(d.key) + "]", d.top_offset,
                        "tensor listed twice");
    throw FormatError(index_path, "index", d.top_offset, "duplicate key " + quote(d.key));
  }
  auto it = doc.value.find("weight_map");
  if (it == doc.value.end()) throw FormatError(index_path, "weight_map", 0, "missing");
  if (!it->is_object())
    throw FormatError(index_path, "weight_map", at,
                      std::string("must be an object, not ") + it->type_name());
  if (it->empty()) throw FormatError(index_path, "weight_map", at, "lists no tensors");
  std::map<std::string, std::string> map;
  for (const auto& [name, file] : it->items()) {
    const std::string field = "weight_map[" + quote(name) + "]";
    if (name.empty()) throw FormatError(index_path, field, at, "empty tensor name");
    if (!file.is_string())
      throw FormatError(index_path, field, at,
                        std::string("shard must be a file name string, not ") + file.type_name());
    const std::string& shard = file.get_ref<const std::string&>();
    if (!is_plain_file_name(shard))
      throw FormatError(
          index_path, field, at,
          "shard " + quote(shard) + " is not a plain file name in the index's folder");
    map.emplace(name, shard);
  }
  return map;
}

}  // namespace

Checkpoint Checkpoint::open(const std::string& path, bool map) {
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  if (ec || !fs::exists(st)) throw Error(path + ": no such file or folder");

  std::string index_path;
  std::vector<std::string> shard_paths;
  Checkpoint cp;
  cp.mapped_ = map;
  if (fs::is_directory(st)) {
    cp.dir_ = strip_trailing_slashes(path);
    const fs::path idx = fs::path(cp.dir_) / kIndexFileName;
    if (fs::exists(idx, ec)) {
      index_path = idx.string();
    } else {
      std::vector<std::string> found;
      for (const auto& e : fs::directory_iterator(cp.dir_, ec))
        if (e.path().extension() == ".safetensors" && e.is_regular_file(ec))
          found.push_back(e.path().string());
      if (ec) throw Error(path + ": cannot list folder: " + ec.message());
      if (found.empty()) throw Error(path + ": no .safetensors file in this folder");
      if (found.size() > 1)
        throw Error(path + ": " + std::to_string(found.size()) + " .safetensors files but no " +
                    kIndexFileName + " (the index is missing, so the shards cannot be matched)");
      shard_paths = found;
    }
  } else {
    cp.dir_ = parent_dir(path);
    if (ends_with(path, ".json")) {
      index_path = path;
    } else {
      shard_paths.push_back(path);
    }
  }

  std::map<std::string, std::string> weight_map;
  if (!index_path.empty()) {
    weight_map = read_index(index_path);
    std::set<std::string> shards;
    for (const auto& [name, shard] : weight_map) shards.insert(shard);
    for (const std::string& shard : shards) {
      const std::string p = (fs::path(cp.dir_) / shard).string();
      if (!fs::is_regular_file(p, ec))
        throw Error(index_path + ": shard " + quote(shard) + " named in weight_map is missing (" +
                    p + ")");
      shard_paths.push_back(p);
    }
  }

  // Open every shard; a tensor name may appear in one shard only.
  for (size_t s = 0; s < shard_paths.size(); ++s) {
    cp.files_.push_back(File::open(shard_paths[s], map));
    cp.paths_.push_back(shard_paths[s]);
    for (TensorInfo t : cp.files_.back().tensors()) {
      t.shard = static_cast<uint32_t>(s);
      auto [pos, inserted] = cp.index_.emplace(t.name, cp.tensors_.size());
      if (!inserted)
        throw Error(shard_paths[s] + ": tensor " + quote(t.name) + " is also in shard " +
                    cp.paths_[cp.tensors_[pos->second].shard] +
                    " (a tensor name must be in one shard only)");
      cp.tensors_.push_back(std::move(t));
    }
  }

  // The index and the shards must agree both ways.
  if (!index_path.empty()) {
    for (const TensorInfo& t : cp.tensors_) {
      const std::string shard = fs::path(cp.paths_[t.shard]).filename().string();
      auto it = weight_map.find(t.name);
      if (it == weight_map.end())
        throw Error(index_path + ": weight_map: tensor " + quote(t.name) + " is in shard " +
                    quote(shard) + " but not in the index");
      if (it->second != shard)
        throw Error(index_path + ": weight_map[" + quote(t.name) + "]: index names shard " +
                    quote(it->second) + " but the tensor is in shard " + quote(shard));
    }
    for (const auto& [name, shard] : weight_map)
      if (cp.index_.find(name) == cp.index_.end())
        throw Error(index_path + ": weight_map[" + quote(name) + "]: shard " + quote(shard) +
                    " does not hold this tensor");
  }
  return cp;
}

const TensorInfo* Checkpoint::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

void Checkpoint::read(const TensorInfo& t, uint64_t offset, void* dst, uint64_t n) const {
  R1_CHECK(t.shard < files_.size());
  files_[t.shard].read(t, offset, dst, n);
}

const std::map<std::string, std::string>& Checkpoint::metadata() const {
  static const std::map<std::string, std::string> kEmpty;
  return files_.empty() ? kEmpty : files_.front().metadata();
}

uint64_t Checkpoint::file_bytes() const {
  uint64_t total = 0;
  for (const File& f : files_) total += f.file_bytes();
  return total;
}

}  // namespace r1::safetensors
