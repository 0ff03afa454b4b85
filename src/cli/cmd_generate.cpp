// r1 generate MODEL --prompt TEXT: runs the whole path (tokenizer, chat template, forward pass,
// sampling, streaming detokenizer) and prints the continuation.
#include <cstdio>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "chat/template.h"
#include "cli/command.h"
#include "cli/sampling_options.h"
#include "core/check.h"
#include "core/error.h"
#include "core/npy.h"
#include "model/forward.h"
#include "model/source.h"
#include "sampling/sampler.h"
#include "tokenizer/tokenizer.h"

namespace r1::cli {
namespace {

struct GenerateOptions {
  std::string model;
  std::string prompt;
  std::string tokens;  // comma-separated ids instead of a prompt
  int64_t n_predict = 64;
  int64_t n_ctx = 0;
  SamplingParams sampling;  // greedy unless --temp is given
  bool raw = false;
  bool print_ids = false;
  bool ignore_eos = false;
  std::string dump_logits;
  std::string dump_mtp;
  std::string dump_routing;
  int threads = 0;
};

std::vector<int32_t> parse_ids(const std::string& s) {
  std::vector<int32_t> ids;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    try {
      size_t used = 0;
      long v = std::stol(item, &used);
      if (used != item.size() || v < 0 || v > INT32_MAX) throw std::invalid_argument(item);
      ids.push_back(static_cast<int32_t>(v));
    } catch (const std::exception&) {
      throw Error("--tokens: '" + item + "' is not a token id");
    }
  }
  if (ids.empty()) throw Error("--tokens: no token ids given");
  return ids;
}

std::vector<int32_t> prompt_tokens(const GenerateOptions& o, const Tokenizer& tok) {
  if (!o.tokens.empty()) return parse_ids(o.tokens);
  if (o.prompt.empty()) throw Error("give a prompt with --prompt (or ids with --tokens)");
  if (o.raw) return tok.encode(o.prompt, tok.add_bos());
  nlohmann::json conv = nlohmann::json::array({{{"role", "user"}, {"content", o.prompt}}});
  const std::string text =
      chat::render_conversation(tok.chat_template(), conv, tok.bos_text(), tok.eos_text());
  const bool has_bos = !tok.bos_text().empty() && text.rfind(tok.bos_text(), 0) == 0;
  return tok.encode(text, tok.add_bos() && !has_bos);
}

// The experts each MoE layer chose, as float32 .npy [moe layers, positions, k] (ids are exact
// in float32): every position the model ran, prompt and generated, in order.
void write_routing(const std::string& path, const std::vector<std::vector<int32_t>>& trace,
                   int64_t k) {
  std::vector<const std::vector<int32_t>*> layers;
  for (const auto& t : trace)
    if (!t.empty()) layers.push_back(&t);
  R1_CHECK(!layers.empty() && k > 0);
  const size_t per_layer = layers[0]->size();
  std::vector<float> v;
  v.reserve(layers.size() * per_layer);
  for (const auto* t : layers) {
    R1_CHECK(t->size() == per_layer);
    v.insert(v.end(), t->begin(), t->end());
  }
  NpyWriter w(path,
              {layers.size(), per_layer / static_cast<uint64_t>(k), static_cast<uint64_t>(k)});
  w.write(v.data(), v.size());
  w.finish();
}

void run_generate(const GenerateOptions& o) {
  keep_weights_on_huge_pages();
  ModelSource src = ModelSource::open(o.model);
  apply_threads(o.threads);
  Model model(bind_weights(src));
  const Tokenizer tok = load_tokenizer(src);
  const ModelConfig& c = model.config();
  const std::vector<int32_t> prompt = prompt_tokens(o, tok);
  const int64_t n = static_cast<int64_t>(prompt.size()), V = c.vocab_size;
  const int64_t n_ctx = o.n_ctx > 0 ? o.n_ctx : std::min<int64_t>(c.max_position, n + o.n_predict);
  if (n + o.n_predict > n_ctx)
    throw Error("the prompt (" + std::to_string(n) + " tokens) plus -n " +
                std::to_string(o.n_predict) + " exceed the context (" + std::to_string(n_ctx) +
                ")");

  std::vector<std::vector<int32_t>> routing;
  if (!o.dump_routing.empty()) {
    if (!c.is_moe()) throw Error("--dump-routing: this model has no MoE layers");
    model.trace_routing(&routing);
  }
  Sequence seq = model.new_sequence(n_ctx);
  const bool all = !o.dump_logits.empty();
  std::vector<float> logits(static_cast<size_t>((all ? n : 1) * V));
  std::vector<float> hidden;
  model.forward(seq, prompt, logits.data(), all, o.dump_mtp.empty() ? nullptr : &hidden);
  if (all) {
    NpyWriter w(o.dump_logits, {static_cast<uint64_t>(n), static_cast<uint64_t>(V)});
    w.write(logits.data(), logits.size());
    w.finish();
  }
  if (!o.dump_mtp.empty()) {
    // Draft logits for positions 0..n-2 (position i uses h_i and the next prompt token).
    if (n < 2) throw Error("--dump-mtp needs a prompt of at least two tokens");
    Sequence mtp = model.new_mtp_sequence(n_ctx);
    std::vector<float> draft(static_cast<size_t>((n - 1) * V));
    model.forward_mtp(mtp, hidden.data(), std::span(prompt).subspan(1), draft.data());
    NpyWriter w(o.dump_mtp, {static_cast<uint64_t>(n - 1), static_cast<uint64_t>(V)});
    w.write(draft.data(), draft.size());
    w.finish();
  }
  const float* last = logits.data() + (all ? (n - 1) * V : 0);
  std::vector<float> step(static_cast<size_t>(V));
  std::copy(last, last + V, step.begin());
  Sampler sampler(o.sampling);
  sampler.accept(prompt);
  StreamingDecoder out(tok);
  for (int64_t i = 0; i < o.n_predict; ++i) {
    const int32_t id = sampler.sample(step.data(), V);
    if (id == tok.eos() && !o.ignore_eos) break;
    if (o.print_ids) {
      std::printf("%s%d", i ? " " : "", id);
    } else {
      const std::string piece = out.push(id);
      std::fwrite(piece.data(), 1, piece.size(), stdout);
    }
    std::fflush(stdout);
    if (i + 1 < o.n_predict) model.forward(seq, std::span(&id, 1), step.data(), false);
  }
  model.trace_routing(nullptr);
  if (!o.dump_routing.empty()) write_routing(o.dump_routing, routing, c.n_experts_per_tok);
  const std::string rest = o.print_ids ? std::string() : out.flush();
  std::fwrite(rest.data(), 1, rest.size(), stdout);
  std::fputc('\n', stdout);
}

CommandRegistrar reg([](CLI::App& app) {
  auto o = std::make_shared<GenerateOptions>();
  CLI::App* sub = app.add_subcommand("generate", "Generate a continuation of a prompt");
  sub->add_option("MODEL", o->model, "a .gguf file or a safetensors checkpoint folder")->required();
  sub->add_option("-p,--prompt", o->prompt, "the prompt (a user message unless --raw)");
  sub->add_option("--tokens", o->tokens, "the prompt as comma-separated token ids");
  sub->add_option("-n,--n-predict", o->n_predict, "tokens to generate")
      ->check(CLI::Range(0, 1 << 20));
  sub->add_option("-c,--ctx-size", o->n_ctx, "context size (default: prompt + n)")
      ->check(CLI::Range(1, 1 << 24));
  add_sampling_options(sub, o->sampling);
  add_thread_option(sub, o->threads);
  sub->add_flag("--raw", o->raw, "use the prompt as is, without the chat template");
  sub->add_flag("--ignore-eos", o->ignore_eos, "keep generating after the end-of-sequence token");
  sub->add_flag("--print-ids", o->print_ids, "print the generated token ids instead of text");
  sub->add_option("--dump-logits", o->dump_logits,
                  "write the logits of every prompt position as float32 .npy [n_tokens, n_vocab]");
  sub->add_option("--dump-mtp", o->dump_mtp,
                  "write the MTP module's draft logits for prompt positions 0..n-2 (.npy)");
  sub->add_option("--dump-routing", o->dump_routing,
                  "write the experts every MoE layer chose at every position run, prompt and "
                  "generated (float32 .npy [moe_layers, positions, k])");
  sub->callback([o] { run_generate(*o); });
});

}  // namespace
}  // namespace r1::cli
