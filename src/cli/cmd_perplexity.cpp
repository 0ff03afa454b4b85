// r1 perplexity MODEL FILE [--kl-base BASE] [-c N] [--chunks K]: perplexity of a model on a text,
// and with a base model the KL divergence of its token distributions from the base's.
#include <cstdio>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/command.h"
#include "cli/sampling_options.h"
#include "core/error.h"
#include "model/forward.h"
#include "model/source.h"
#include "tokenizer/tokenizer.h"
#include "tools/perplexity.h"

namespace r1::cli {
namespace {

struct PerplexityArgs {
  std::string model, file, base;
  int64_t n_ctx = 512;
  int64_t chunks = 0;
  bool json = false, quiet = false;
};

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open the text file");
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) throw Error(path + ": cannot read the text file");
  return ss.str();
}

struct Loaded {
  ModelSource src;
  std::unique_ptr<Model> model;
};

Loaded load(const std::string& path) {
  Loaded l{ModelSource::open(path), nullptr};
  l.model = std::make_unique<Model>(bind_weights(l.src));
  return l;
}

void run_perplexity(const PerplexityArgs& a) {
  const std::string text = read_text(a.file);
  Loaded m = load(a.model);
  const Tokenizer tok = load_tokenizer(m.src);
  std::unique_ptr<Loaded> base;
  if (!a.base.empty()) base = std::make_unique<Loaded>(load(a.base));

  const std::vector<int32_t> tokens = tok.encode(text, false, /*parse_special=*/false);
  ppl::PerplexityOptions o;
  o.n_ctx = a.n_ctx;
  o.max_chunks = a.chunks;
  o.bos = tok.add_bos() ? tok.bos() : -1;

  const int64_t first = ppl::first_scored(o.n_ctx);
  if (!a.quiet)
    std::fprintf(stderr,
                 "r1: %s: %zu tokens, windows of %lld tokens, scoring positions %lld..%lld of "
                 "each\n",
                 a.file.c_str(), tokens.size(), static_cast<long long>(o.n_ctx),
                 static_cast<long long>(first + 1), static_cast<long long>(o.n_ctx - 1));
  ppl::PerplexityProgress progress;
  if (!a.quiet)
    progress = [&](int64_t done, int64_t all, const ppl::PerplexityResult& r) {
      std::fprintf(stderr, "[%lld/%lld] perplexity %.4f", static_cast<long long>(done),
                   static_cast<long long>(all), r.nll.perplexity());
      if (base) std::fprintf(stderr, ", mean KL %.6f", r.kl.mean());
      std::fputc('\n', stderr);
    };
  const ppl::PerplexityResult r =
      ppl::evaluate_perplexity(*m.model, base ? base->model.get() : nullptr, tokens, o, progress);

  if (a.json) {  // NaN and inf are written as null
    nlohmann::json j;
    j["model"] = a.model;
    j["tokens"] = r.n_tokens;
    j["n_ctx"] = o.n_ctx;
    j["windows"] = r.windows;
    j["scored"] = r.nll.count();
    j["mean_nll"] = r.nll.mean();
    j["mean_nll_stderr"] = r.nll.mean_stderr();
    j["perplexity"] = r.nll.perplexity();
    j["perplexity_stderr"] = r.nll.perplexity_stderr();
    if (base) {
      j["base"] = a.base;
      j["base_perplexity"] = r.base_nll.perplexity();
      j["base_perplexity_stderr"] = r.base_nll.perplexity_stderr();
      j["kl"] = {{"mean", r.kl.mean()},
                 {"stderr", r.kl.mean_stderr()},
                 {"median", r.kl.median()},
                 {"p90", r.kl.quantile(0.9)},
                 {"p99", r.kl.quantile(0.99)},
                 {"max", r.kl.max()},
                 {"same_top", r.kl.same_top_share()}};
    }
    std::printf("%s\n", j.dump().c_str());
    return;
  }
  std::printf("%s: %lld windows of %lld tokens, %lld tokens scored\n", a.model.c_str(),
              static_cast<long long>(r.windows), static_cast<long long>(o.n_ctx),
              static_cast<long long>(r.nll.count()));
  std::printf("perplexity: %.6f +/- %.6f\n", r.nll.perplexity(), r.nll.perplexity_stderr());
  if (base) {
    std::printf("base perplexity (%s): %.6f +/- %.6f\n", a.base.c_str(), r.base_nll.perplexity(),
                r.base_nll.perplexity_stderr());
    std::printf("KL divergence (base || model), nats per token: mean %.8f +/- %.8f\n", r.kl.mean(),
                r.kl.mean_stderr());
    std::printf("  median %.8f, 90th percentile %.8f, 99th percentile %.8f, max %.8f\n",
                r.kl.median(), r.kl.quantile(0.9), r.kl.quantile(0.99), r.kl.max());
    std::printf("same top token: %.2f %% of positions\n", 100.0 * r.kl.same_top_share());
  }
}

CommandRegistrar reg([](CLI::App& app) {
  auto a = std::make_shared<PerplexityArgs>();
  CLI::App* sub = app.add_subcommand(
      "perplexity",
      "Perplexity of a model on a text file; with --kl-base, the KL divergence of its token "
      "distributions from a base model's");
  sub->footer(
      "The text is tokenized without special tokens and cut into consecutive windows of -c "
      "tokens (a shorter tail is dropped); with a BOS-adding tokenizer each window's first token "
      "is replaced by BOS. Each window runs from an empty cache and only its second half is "
      "scored: the logits at positions c/2 .. c-2 predict the next token, as llama.cpp's "
      "perplexity does. Perplexity = exp(mean negative log-likelihood), its error the standard "
      "error of the mean carried through exp. KL(base || model) = sum p_base (log p_base - log "
      "p_model) per scored position, in nats, computed in double.");
  sub->add_option("MODEL", a->model, "the model: a .gguf file or a safetensors checkpoint")
      ->required();
  sub->add_option("FILE", a->file, "a UTF-8 text file")->required();
  sub->add_option("--kl-base", a->base,
                  "a base model with the same vocabulary (e.g. the unquantized one)");
  sub->add_option("-c,--ctx-size", a->n_ctx, "window size in tokens (default 512)")
      ->check(CLI::Range(int64_t{4}, int64_t{1} << 24));
  sub->add_option("--chunks", a->chunks, "score at most this many windows (default: all)")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 40));
  sub->add_flag("--json", a->json, "print one JSON object for scripts");
  sub->add_flag("-q,--quiet", a->quiet, "no progress on standard error");
  sub->callback([a] { run_perplexity(*a); });
});

}  // namespace
}  // namespace r1::cli
