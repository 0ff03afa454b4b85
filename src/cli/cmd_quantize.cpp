// r1 quantize: requantize a GGUF model with a mixture preset and per-tensor overrides.
#include <cstdio>
#include <memory>

#include "cli/command.h"
#include "tools/convert.h"

namespace r1::cli {
namespace {

struct QuantizeArgs {
  std::string in, out, type;
  std::vector<std::string> overrides;
  bool report = false, quiet = false;
};

void run_quantize(const QuantizeArgs& a) {
  QuantizeOptions o;
  o.weights = parse_weight_type(a.type);
  for (const auto& s : a.overrides) o.overrides.push_back(parse_type_override(s));
  o.report = a.report;
  o.progress = !a.quiet;
  const QuantizeResult r = quantize_gguf(a.in, a.out, o);
  if (a.report) {
    std::printf("%-40s %-6s %-6s %12s %12s %10s\n", "tensor", "from", "to", "elements", "bytes",
                "rel. RMS");
    for (const auto& t : r.tensors)
      std::printf("%-40s %-6s %-6s %12llu %12llu %10.6f%s\n", t.name.c_str(), dtype_name(t.from),
                  dtype_name(t.to), static_cast<unsigned long long>(t.elements),
                  static_cast<unsigned long long>(t.bytes), t.relative_rms,
                  t.copied ? " (copied)" : "");
  }
  std::printf("%s: %s, %.2f MB, %.3f bits per weight (%llu weights)\n", r.path.c_str(),
              o.weights.name().c_str(), static_cast<double>(r.bytes) / 1e6, r.bits_per_weight(),
              static_cast<unsigned long long>(r.elements));
}

CommandRegistrar reg([](CLI::App& app) {
  auto a = std::make_shared<QuantizeArgs>();
  CLI::App* sub =
      app.add_subcommand("quantize", "Requantize a GGUF model (presets such as Q4_K_M)");
  sub->add_option("IN", a->in, "input .gguf file")->required();
  sub->add_option("OUT", a->out, "output .gguf file")->required();
  sub->add_option("TYPE", a->type, "F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q5_K, Q6_K or Q4_K_M")
      ->required();
  sub->add_option("--override", a->overrides,
                  "PATTERN=TYPE: tensors whose GGUF name matches the glob get TYPE (repeatable)")
      ->allow_extra_args(false);
  sub->add_flag("--report", a->report, "print each tensor's type, size and relative RMS error");
  sub->add_flag("-q,--quiet", a->quiet, "no progress bar");
  sub->callback([a] { run_quantize(*a); });
});

}  // namespace
}  // namespace r1::cli
