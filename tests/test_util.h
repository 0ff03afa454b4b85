// Shared helpers for unit tests: temporary folders, the r1 binary, running commands.
#pragma once

#include <string>

namespace r1::test {

// A fresh temporary folder, removed when the object dies.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Path of the built r1 program.
std::string r1_binary();
std::string source_dir();

struct CommandResult {
  int exit_code = -1;
  std::string out;  // stdout
  std::string err;  // stderr
};
// Runs a shell command line and captures its output.
CommandResult run_command(const std::string& cmdline);

std::string read_file(const std::string& path);
void write_file(const std::string& path, const std::string& data);

}  // namespace r1::test
