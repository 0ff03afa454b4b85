// r1: the command-line program. Subcommands live in cmd_*.cpp and register themselves.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>

#include "cli/command.h"
#include "core/error.h"
#include "core/mmap_file.h"

namespace r1::cli {
void keep_weights_on_huge_pages() {
  const char* m = std::getenv("R1_MMAP");
  if (m == nullptr || std::strcmp(m, "1") != 0)
    MappedFile::set_default_residency(Residency::kHugePages);
}

std::vector<CommandSetup>& command_setups() {
  static std::vector<CommandSetup> setups;
  return setups;
}
}  // namespace r1::cli

int main(int argc, char** argv) {
  CLI::App app{"r1.cpp: run DeepSeek-R1-class reasoning models on your own hardware", "r1"};
  app.set_version_flag("--version", std::string("r1.cpp ") + R1_VERSION);
  app.require_subcommand(1);
  for (auto& setup : r1::cli::command_setups()) setup(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const r1::cli::ExitStatus& s) {
    return s.code;
  } catch (const r1::Error& e) {
    std::fprintf(stderr, "r1: error: %s\n", e.what());
    return 1;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "r1: error: out of memory\n");
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "r1: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
