// r1 inspect PATH [--json]: what a model file holds.
#include <cstdio>
#include <memory>

#include "cli/command.h"
#include "model/describe.h"
#include "model/source.h"

namespace r1::cli {
namespace {

struct InspectOptions {
  std::string path;
  bool json = false;
  bool no_validate = false;
};

void run_inspect(const InspectOptions& o) {
  ModelSource m = ModelSource::open(o.path);
  if (!o.no_validate) m.validate_tensors();
  if (o.json) {
    std::printf("%s\n", describe_json(m).dump(2).c_str());
  } else {
    std::printf("%s", describe_text(m).c_str());
  }
}

CommandRegistrar reg([](CLI::App& app) {
  auto o = std::make_shared<InspectOptions>();
  CLI::App* sub = app.add_subcommand(
      "inspect", "Describe a model: a .gguf, a safetensors file or folder, or a config.json");
  sub->add_option("PATH", o->path, "model file or folder")->required();
  sub->add_flag("--json", o->json, "print one JSON object for scripts");
  sub->add_flag("--no-validate", o->no_validate, "describe without checking the tensors");
  sub->callback([o] { run_inspect(*o); });
});

}  // namespace
}  // namespace r1::cli
