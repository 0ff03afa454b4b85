// r1 convert: a Hugging Face checkpoint folder to a GGUF file in llama.cpp's layout.
#include <cstdio>
#include <memory>

#include "cli/command.h"
#include "tools/convert.h"

namespace r1::cli {
namespace {

struct ConvertArgs {
  std::string in, out, type = "BF16";
  bool keep_mtp = false, quiet = false;
};

void run_convert(const ConvertArgs& a) {
  ConvertOptions o;
  o.weights = parse_weight_type(a.type);
  o.keep_mtp = a.keep_mtp;
  o.progress = !a.quiet;
  const ConvertResult r = convert_hf_to_gguf(a.in, a.out, o);
  if (!a.quiet)
    std::printf(
        "%s: %llu tensors, %.2f MB, %.2f bits per weight\n", r.path.c_str(),
        static_cast<unsigned long long>(r.tensors), static_cast<double>(r.bytes) / 1e6,
        r.elements ? 8.0 * static_cast<double>(r.bytes) / static_cast<double>(r.elements) : 0.0);
}

CommandRegistrar reg([](CLI::App& app) {
  auto a = std::make_shared<ConvertArgs>();
  CLI::App* sub = app.add_subcommand(
      "convert", "Convert a Hugging Face safetensors checkpoint (BF16 or FP8) to GGUF");
  sub->add_option("HF_DIR", a->in, "checkpoint folder (config.json, tokenizer, safetensors)")
      ->required();
  sub->add_option("OUT", a->out, "output .gguf file")->required();
  sub->add_option("--type", a->type,
                  "weight type: F32, F16, BF16 (default), Q8_0, Q4_0, Q4_K, Q5_K, Q6_K, Q4_K_M");
  sub->add_flag("--keep-mtp", a->keep_mtp, "keep the multi-token-prediction module");
  sub->add_flag("-q,--quiet", a->quiet, "no progress bar and no summary");
  sub->callback([a] { run_convert(*a); });
});

}  // namespace
}  // namespace r1::cli
