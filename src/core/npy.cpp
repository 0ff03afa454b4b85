#include "core/npy.h"

#include "core/error.h"

namespace r1 {

NpyWriter::NpyWriter(const std::string& path, const std::vector<uint64_t>& shape)
    : path_(path), f_(path, std::ios::binary | std::ios::trunc) {
  if (!f_) throw Error("cannot open " + path + " for writing");
  // Python tuple syntax: "()", "(n,)", "(a, b)".
  std::string dims;
  for (size_t i = 0; i < shape.size(); ++i) dims += (i ? ", " : "") + std::to_string(shape[i]);
  if (shape.size() == 1) dims += ",";
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + dims + "), }";
  // magic (6) + version (2) + header length (2) + header, padded with spaces to a multiple of
  // 64 and ended by a newline.
  const size_t unpadded = 10 + header.size() + 1;
  header.append((64 - unpadded % 64) % 64, ' ');
  header.push_back('\n');
  const uint16_t len = static_cast<uint16_t>(header.size());
  const char magic[8] = {'\x93', 'N', 'U', 'M', 'P', 'Y', 1, 0};
  f_.write(magic, 8);
  const char len_le[2] = {static_cast<char>(len & 0xff), static_cast<char>(len >> 8)};
  f_.write(len_le, 2);
  f_.write(header.data(), static_cast<std::streamsize>(header.size()));
}

void NpyWriter::write(const float* v, size_t n) {
  f_.write(reinterpret_cast<const char*>(v), static_cast<std::streamsize>(n * sizeof(float)));
}

void NpyWriter::finish() {
  f_.flush();
  if (!f_) throw Error("error writing " + path_);
  f_.close();
}

}  // namespace r1
