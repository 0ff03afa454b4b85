#include "test_util.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace r1::test {

TempDir::TempDir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "r1test-XXXXXX").string();
  if (mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string r1_binary() {
  if (const char* e = std::getenv("R1_BINARY")) return e;
#ifdef R1_BINARY
  return R1_BINARY;
#else
  return "r1";
#endif
}

std::string source_dir() {
#ifdef R1_SOURCE_DIR
  return R1_SOURCE_DIR;
#else
  return ".";
#endif
}

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void write_file(const std::string& path, const std::string& data) {
  std::ofstream f(path, std::ios::binary);
  f << data;
}

CommandResult run_command(const std::string& cmdline) {
  TempDir tmp;
  std::string out = tmp.file("out"), err = tmp.file("err");
  std::string full = cmdline + " >" + out + " 2>" + err;
  int rc = std::system(full.c_str());
  CommandResult r;
  r.exit_code = WIFEXITED(rc) ? WEXITSTATUS(rc) : 128 + WTERMSIG(rc);
  r.out = read_file(out);
  r.err = read_file(err);
  return r;
}

}  // namespace r1::test
