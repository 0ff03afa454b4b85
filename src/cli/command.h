// Subcommand registry: each src/cli/cmd_*.cpp registers itself, so main.cpp knows none of them.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <vector>

namespace r1::cli {

using CommandSetup = std::function<void(CLI::App& app)>;

std::vector<CommandSetup>& command_setups();

// Commands that run a model keep its weights on huge pages (MappedFile Residency::kHugePages,
// where the file fits in memory); R1_MMAP=1 in the environment keeps the plain mapping.
void keep_weights_on_huge_pages();

struct CommandRegistrar {
  explicit CommandRegistrar(CommandSetup setup) { command_setups().push_back(std::move(setup)); }
};

// Thrown by a command to end with a given exit status after printing its own message.
struct ExitStatus {
  int code;
};

}  // namespace r1::cli
