// Writes float32 arrays as NumPy .npy files (version 1.0, '<f4', C order), streamed row by row.
#pragma once

#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

namespace r1 {

class NpyWriter {
 public:
  // Throws r1::Error when the file cannot be created.
  NpyWriter(const std::string& path, const std::vector<uint64_t>& shape);
  void write(const float* v, size_t n);
  void finish();  // throws r1::Error on a write error

 private:
  std::string path_;
  std::ofstream f_;
};

}  // namespace r1
