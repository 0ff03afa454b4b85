// Flags shared by the commands that generate text (r1 generate, r1 run): llama.cpp's spellings
// for sampling, and loading a model's tokenizer.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "model/source.h"
#include "sampling/sampler.h"
#include "tokenizer/tokenizer.h"

namespace r1::cli {

// --temp, --top-k, --top-p, --min-p, --repeat-penalty, --repeat-last-n, --presence-penalty,
// --frequency-penalty, --seed. Defaults are whatever `p` holds when called.
void add_sampling_options(CLI::App* app, SamplingParams& p);

// -t/--threads N: threads of the forward pass (0 = all hardware threads, the default).
void add_thread_option(CLI::App* app, int& threads);
// Sizes the thread pool; returns the thread count in use.
int apply_threads(int threads);

// The tokenizer of an opened model (GGUF metadata, or tokenizer.json beside the checkpoint).
Tokenizer load_tokenizer(const ModelSource& src);

}  // namespace r1::cli
