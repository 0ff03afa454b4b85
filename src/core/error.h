// Error types for bad input (files, requests, flags). Internal invariants use R1_CHECK (check.h).
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

namespace r1 {

// Any user-facing error: a bad file, flag or request. The message names what is wrong and where.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A malformed model file. Carries the file, the field and the byte offset where it went wrong.
class FormatError : public Error {
 public:
  FormatError(std::string file, std::string field, uint64_t offset, const std::string& what)
      : Error(file + ": " + field + " at byte offset " + std::to_string(offset) + ": " + what),
        file_(std::move(file)),
        field_(std::move(field)),
        offset_(offset) {}
  const std::string& file() const { return file_; }
  const std::string& field() const { return field_; }
  uint64_t offset() const { return offset_; }

 private:
  std::string file_;
  std::string field_;
  uint64_t offset_;
};

}  // namespace r1
