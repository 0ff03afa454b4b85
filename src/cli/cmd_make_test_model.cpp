// r1 make-test-model: random-weight models in the real formats, for tests and benchmarks.
#include <cstdio>
#include <memory>

#include "cli/command.h"
#include "core/error.h"
#include "tools/test_model.h"

namespace r1::cli {
namespace {

struct MakeOptions {
  std::string arch;
  std::string format = "gguf";
  std::string shape = "tiny";
  std::string type = "F32";
  uint64_t seed = 1;
  int64_t layers = 0;
  uint32_t split = 1;
  bool legacy_kv_b = false;
  bool no_mtp = false;
  bool quiet = false;
  std::string out;
};

void run_make(const MakeOptions& o) {
  TestModelOptions t;
  const Arch arch = o.arch.empty() ? test_model_default_arch(o.shape) : arch_from_name(o.arch);
  t.config = test_model_config(o.shape, arch);
  if (o.layers > 0) {
    t.config.n_layers = o.layers;
    if (t.config.first_k_dense_replace > o.layers) t.config.first_k_dense_replace = o.layers;
  }
  if (o.format == "gguf")
    t.format = FileKind::kGguf;
  else if (o.format == "safetensors")
    t.format = FileKind::kSafetensors;
  else
    throw Error("--format must be gguf or safetensors, not '" + o.format + "'");
  t.weights = parse_weight_type(o.type);
  t.seed = o.seed;
  t.legacy_kv_b = o.legacy_kv_b;
  t.include_mtp = !o.no_mtp;
  t.split_count = o.split;
  t.progress = !o.quiet;
  auto paths = write_test_model(t, o.out);
  if (!o.quiet)
    for (const auto& p : paths) std::printf("%s\n", p.c_str());
}

CommandRegistrar reg([](CLI::App& app) {
  auto o = std::make_shared<MakeOptions>();
  CLI::App* sub = app.add_subcommand(
      "make-test-model", "Write a random-weight model (seeded) in GGUF or safetensors format");
  sub->add_option("--arch", o->arch,
                  "deepseek_v3, deepseek_v2, qwen2 or llama (default: the shape's)");
  sub->add_option("--format", o->format, "gguf (a file) or safetensors (a folder)")
      ->check(CLI::IsMember({"gguf", "safetensors"}));
  sub->add_option("--shape", o->shape,
                  "tiny, v2-lite, r1-distill-qwen-1.5b, r1-distill-llama-8b or r1-reduced");
  sub->add_option(
      "--type", o->type,
      "weight type: F32, F16, BF16, FP8 (safetensors), Q8_0, Q4_0, Q4_K, Q5_K, Q6_K, Q4_K_M");
  sub->add_option("--seed", o->seed, "random seed (same seed, same weights in both formats)");
  sub->add_option("--layers", o->layers, "override the number of layers");
  sub->add_option("--split", o->split, "GGUF: write this many split files")
      ->check(CLI::Range(1, 9999));
  sub->add_flag("--legacy-kv-b", o->legacy_kv_b,
                "DeepSeek GGUF: one attn_kv_b (old llama.cpp form)");
  sub->add_flag("--no-mtp", o->no_mtp, "leave out the multi-token-prediction module");
  sub->add_flag("-q,--quiet", o->quiet, "no progress bar and no list of files");
  sub->add_option("OUT", o->out, "output .gguf file, or folder for safetensors")->required();
  sub->callback([o] { run_make(*o); });
});

}  // namespace
}  // namespace r1::cli
