// r1 bench MODEL: prompt processing (ppN) and generation (tgN, optionally after D tokens of
// context) in tokens/s over repetitions, for one or more thread counts, each set against the
// machine's limits measured in the same run: decode as a share of read bandwidth (weight and
// cache bytes per token x tokens/s), prefill as a share of the float32 FMA peak.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "cli/command.h"
#include "cli/sampling_options.h"
#include "core/error.h"
#include "core/thread_pool.h"
#include "kernels/amx.h"
#include "kernels/amx_int8.h"
#include "kernels/int8.h"
#include "kernels/roofline.h"
#include "kernels/simd.h"
#include "model/cost.h"
#include "model/forward.h"
#include "model/source.h"
#include "model/warmup.h"

namespace r1::cli {
namespace {

struct BenchOptions {
  std::string model;
  std::vector<int64_t> prompt = {512};
  std::vector<int64_t> gen = {128};
  std::vector<int64_t> depth = {0};
  std::vector<int> threads = {0};
  int reps = 3;
  bool json = false;
  bool no_roofline = false;
  uint64_t seed = 1;
};

struct Result {
  std::string test;  // pp512, tg128, tg128@d4096
  int threads = 0;
  int64_t n_prompt = 0, n_gen = 0, depth = 0;
  std::vector<double> tps;  // per repetition
  double median = 0, min = 0, max = 0, stddev = 0;
  double limit = 0;           // bytes/s or FLOP/s
  std::string limit_kind;     // "read bandwidth" / "fp32 peak"
  double work_per_token = 0;  // bytes or FLOPs per token
  double roofline = 0;        // median x work / limit
};

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

std::vector<int32_t> random_tokens(int64_t n, int64_t vocab, std::mt19937_64& rng) {
  std::vector<int32_t> t(static_cast<size_t>(n));
  for (auto& x : t) x = static_cast<int32_t>(rng() % static_cast<uint64_t>(vocab));
  return t;
}

void summarize(Result& r) {
  std::vector<double> v = r.tps;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  r.median = n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
  r.min = v.front();
  r.max = v.back();
  double mean = 0, ss = 0;
  for (double x : v) mean += x;
  mean /= static_cast<double>(n);
  for (double x : v) ss += (x - mean) * (x - mean);
  r.stddev = n > 1 ? std::sqrt(ss / static_cast<double>(n - 1)) : 0;
  r.roofline = r.limit > 0 ? r.median * r.work_per_token / r.limit : 0;
}

void run_bench(const BenchOptions& o) {
  keep_weights_on_huge_pages();
  ModelSource src = ModelSource::open(o.model);
  // Read every page first: the runs measure the model in memory, not the disk.
  warm_up(src, !o.json && isatty(STDERR_FILENO) != 0);
  const TokenCost cost = token_cost(src);
  Model model(bind_weights(src));
  const ModelConfig& c = model.config();
  std::mt19937_64 rng(o.seed);
  std::vector<Result> results;
  std::vector<float> logits(static_cast<size_t>(c.vocab_size));

  if (!o.json)
    std::printf("model: %s (%s), %.2f GB, %.2f GB of weights read per token\nISA: %s%s%s\n",
                o.model.c_str(), arch_name(c.arch), static_cast<double>(src.file_bytes()) / 1e9,
                static_cast<double>(cost.weight_bytes) / 1e9, simd::isa_summary().c_str(),
                !int8::enabled()        ? ""
                : amx::int8_available() ? ", AMX int8 tiles for prefill"
                : amx::available()      ? ", AMX bf16 tiles for prefill"
                                        : "",
                int8::enabled() ? "" : " (R1_EXACT: float32 activations)");
  for (int t : o.threads) {
    const int threads = apply_threads(t);
    double bw = 0, peak = 0;
    // Prefill multiplies the integer-coded weights on int8 units (AMX-INT8 tiles, else AVX-512
    // VNNI) and the rest (attention, float weights) in float32 (bf16 tiles where there are any
    // and no integer units): the limit is the FLOP rate of the ideal time, each part at its own
    // peak.
    const bool fast = int8::enabled();
    const bool amx_int8 = fast && amx::int8_available() && cost.integer_matmul_flops > 0;
    const bool vnni = !amx_int8 && fast && int8::cpu_has_vnni() && cost.integer_matmul_flops > 0;
    const bool bf16_tiles = fast && !amx_int8 && !vnni && amx::available();
    const std::string peak_kind = amx_int8     ? "AMX int8 + fp32 peaks"
                                  : vnni       ? "int8 VNNI + fp32 peaks"
                                  : bf16_tiles ? "AMX bf16 peak"
                                               : "fp32 peak";
    if (!o.no_roofline) {
      bw = roofline::read_bandwidth();
      peak = bf16_tiles ? roofline::amx_bf16_peak() : roofline::fp32_peak();
      const double int8_peak = amx_int8 ? roofline::amx_int8_peak()
                               : vnni   ? roofline::int8_peak()
                                        : 0;
      if (!o.json) {
        std::printf("threads %d: read bandwidth %.1f GB/s, %s %.0f GFLOP/s", threads, bw / 1e9,
                    bf16_tiles ? "AMX bf16 peak" : "fp32 peak", peak / 1e9);
        if (int8_peak > 0)
          std::printf(", %s peak %.0f GOP/s", amx_int8 ? "AMX int8" : "int8 VNNI", int8_peak / 1e9);
        std::printf("\n");
      }
      if (int8_peak > 0 && peak > 0) {
        const double f = cost.flops(0), i = cost.integer_matmul_flops;
        peak = f / (i / int8_peak + (f - i) / peak);
      }
    }
    for (int64_t p : o.prompt) {
      if (p <= 0) continue;
      Result r;
      r.test = "pp" + std::to_string(p);
      r.threads = threads;
      r.n_prompt = p;
      r.limit = peak;
      r.limit_kind = peak_kind;
      // Average FLOPs per token over positions 0..p-1.
      r.work_per_token = cost.flops((p - 1) / 2);
      for (int rep = 0; rep < o.reps; ++rep) {
        Sequence seq = model.new_sequence(p);
        const auto toks = random_tokens(p, c.vocab_size, rng);
        const auto t0 = std::chrono::steady_clock::now();
        model.forward(seq, toks, logits.data(), false);
        r.tps.push_back(static_cast<double>(p) / seconds_since(t0));
      }
      summarize(r);
      results.push_back(r);
    }
    for (int64_t g : o.gen) {
      if (g <= 0) continue;
      for (int64_t d : o.depth) {
        Result r;
        r.test = "tg" + std::to_string(g) + (d > 0 ? "@d" + std::to_string(d) : "");
        r.threads = threads;
        r.n_gen = g;
        r.depth = d;
        r.limit = bw;
        r.limit_kind = "read bandwidth";
        r.work_per_token = cost.decode_bytes(d + g / 2);
        for (int rep = 0; rep < o.reps; ++rep) {
          Sequence seq = model.new_sequence(d + g);
          if (d > 0) {  // the context, not timed, in chunks
            const auto ctx = random_tokens(d, c.vocab_size, rng);
            for (int64_t i = 0; i < d; i += 512) {
              const int64_t m = std::min<int64_t>(512, d - i);
              model.forward(seq, std::span<const int32_t>(ctx.data() + i, m), logits.data(), false);
            }
          }
          int32_t tok = static_cast<int32_t>(rng() % static_cast<uint64_t>(c.vocab_size));
          const auto t0 = std::chrono::steady_clock::now();
          for (int64_t i = 0; i < g; ++i) {
            model.forward(seq, std::span<const int32_t>(&tok, 1), logits.data(), false);
            tok = static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) -
                                       logits.begin());
          }
          r.tps.push_back(static_cast<double>(g) / seconds_since(t0));
        }
        summarize(r);
        results.push_back(r);
      }
    }
  }
  if (o.json) {
    nlohmann::json out = nlohmann::json::array();
    for (const Result& r : results)
      out.push_back({{"model", o.model},
                     {"arch", arch_name(c.arch)},
                     {"isa", simd::target_name()},
                     {"test", r.test},
                     {"threads", r.threads},
                     {"n_prompt", r.n_prompt},
                     {"n_gen", r.n_gen},
                     {"depth", r.depth},
                     {"repetitions", r.tps.size()},
                     {"tokens_per_second", r.median},
                     {"tokens_per_second_min", r.min},
                     {"tokens_per_second_max", r.max},
                     {"tokens_per_second_stddev", r.stddev},
                     {"samples", r.tps},
                     {"limit", r.limit_kind},
                     {"limit_value", r.limit},
                     {"work_per_token", r.work_per_token},
                     {"roofline_fraction", r.roofline}});
    std::printf("%s\n", out.dump(2).c_str());
    return;
  }
  std::printf("\n| test | threads | tokens/s (median) | min..max | roofline | limit |\n");
  std::printf("|---|---:|---:|---:|---:|---|\n");
  for (const Result& r : results)
    std::printf("| %s | %d | %.2f | %.2f..%.2f | %.0f%% | %s |\n", r.test.c_str(), r.threads,
                r.median, r.min, r.max, 100 * r.roofline, r.limit_kind.c_str());
}

template <class T>
std::vector<T> parse_list(const std::string& flag, const std::string& s) {
  std::vector<T> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    try {
      size_t used = 0;
      const long long v = std::stoll(item, &used);
      if (used != item.size() || v < 0 || v > (1ll << 24)) throw std::invalid_argument(item);
      out.push_back(static_cast<T>(v));
    } catch (const std::exception&) {
      throw Error(flag + ": '" + item + "' is not a count (0 .. 16777216)");
    }
  }
  if (out.empty()) throw Error(flag + ": empty list");
  return out;
}

const CommandRegistrar reg([](CLI::App& app) {
  auto o = std::make_shared<BenchOptions>();
  auto lists = std::make_shared<std::array<std::string, 4>>();
  auto* sub = app.add_subcommand(
      "bench", "Measure prompt processing and generation speed against the machine's limits");
  sub->add_option("MODEL", o->model, "a .gguf file or a safetensors checkpoint folder")->required();
  sub->add_option("-p,--n-prompt", (*lists)[0], "prompt lengths, comma-separated (0 = none)")
      ->default_str("512");
  sub->add_option("-n,--n-gen", (*lists)[1], "generated tokens, comma-separated (0 = none)")
      ->default_str("128");
  sub->add_option("-d,--depth", (*lists)[2], "tokens of context before generating, comma-separated")
      ->default_str("0");
  sub->add_option("-t,--threads", (*lists)[3], "thread counts, comma-separated (0 = all)")
      ->default_str("0");
  sub->add_option("-r,--repetitions", o->reps, "repetitions of each test")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  sub->add_option("--seed", o->seed, "seed of the random tokens")->capture_default_str();
  sub->add_flag("--json", o->json, "print a JSON list with one object per test");
  sub->add_flag("--no-roofline", o->no_roofline, "skip measuring bandwidth and peak FLOP/s");
  sub->callback([o, lists] {
    if (!(*lists)[0].empty()) o->prompt = parse_list<int64_t>("--n-prompt", (*lists)[0]);
    if (!(*lists)[1].empty()) o->gen = parse_list<int64_t>("--n-gen", (*lists)[1]);
    if (!(*lists)[2].empty()) o->depth = parse_list<int64_t>("--depth", (*lists)[2]);
    if (!(*lists)[3].empty()) o->threads = parse_list<int>("--threads", (*lists)[3]);
    run_bench(*o);
  });
});

}  // namespace
}  // namespace r1::cli
