#include "cli/sampling_options.h"

#include <filesystem>

#include "core/thread_pool.h"

namespace r1::cli {

void add_thread_option(CLI::App* app, int& threads) {
  app->add_option("-t,--threads", threads, "threads of the forward pass (0 = all hardware threads)")
      ->check(CLI::Range(0, 1024))
      ->capture_default_str();
}

int apply_threads(int threads) {
  ThreadPool::set_threads(threads > 0 ? threads : ThreadPool::default_threads());
  return ThreadPool::global().threads();
}

void add_sampling_options(CLI::App* app, SamplingParams& p) {
  app->add_option("--temp", p.temperature, "temperature (0 = greedy, exact argmax)")
      ->check(CLI::Range(0.0, 100.0))
      ->capture_default_str();
  app->add_option("--top-k", p.top_k, "keep the k most likely tokens (0 = off)")
      ->check(CLI::Range(0, 1 << 30))
      ->capture_default_str();
  app->add_option("--top-p", p.top_p, "nucleus sampling: smallest set reaching p (1 = off)")
      ->check(CLI::Range(1e-12, 1.0))
      ->capture_default_str();
  app->add_option("--min-p", p.min_p, "drop tokens below min-p x the best one's p (0 = off)")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  app->add_option("--repeat-penalty", p.repeat_penalty, "penalise repeated tokens (1 = off)")
      ->check(CLI::Range(1e-6, 100.0))
      ->capture_default_str();
  app->add_option("--repeat-last-n", p.penalty_last_n, "window of recent tokens penalised")
      ->check(CLI::Range(0, 1 << 24))
      ->capture_default_str();
  app->add_option("--presence-penalty", p.presence_penalty, "subtracted once per seen token")
      ->capture_default_str();
  app->add_option("--frequency-penalty", p.frequency_penalty,
                  "subtracted per occurrence of a token")
      ->capture_default_str();
  app->add_option("-s,--seed", p.seed, "random seed (same seed, same text)")->capture_default_str();
}

Tokenizer load_tokenizer(const ModelSource& src) {
  if (src.gguf() != nullptr) return Tokenizer::from_gguf(*src.gguf());
  std::filesystem::path p(src.path());
  if (!std::filesystem::is_directory(p)) p = p.parent_path();
  return Tokenizer::from_hf(p.empty() ? "." : p.string());
}

}  // namespace r1::cli
