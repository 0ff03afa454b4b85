// r1 serve MODEL: the OpenAI/DeepSeek-compatible HTTP server (docs/SERVER.md).
#include <signal.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <sstream>
#include <thread>

#include "cli/command.h"
#include "cli/sampling_options.h"
#include "core/error.h"
#include "model/forward.h"
#include "model/source.h"
#include "server/server.h"

namespace r1::cli {
namespace {

struct ServeOptions {
  std::string model;
  std::string host = "127.0.0.1";
  int port = 8080;
  std::vector<std::string> api_keys;
  bool allow_no_key = false;
  std::vector<std::string> cors_origins;
  std::string model_name;
  std::string chat_template;
  int64_t n_ctx = 4096;
  int64_t parallel = 4;
  int64_t queue = -1;  // -1: 4 x parallel
  int64_t prefill_chunk = 256;
  int64_t n_predict = -1;
  int64_t think_budget = -1;
  bool no_think = false;
  int threads = 0;  // 0 = all hardware threads
  int http_threads = 0;
  int compute_nice = 5;
  double drain_seconds = 10;
  size_t max_body = 4u << 20;
  SamplingParams sampling = deepseek_r1_defaults();
  bool temp_given = false, top_p_given = false, top_k_given = false;
};

std::atomic<int> g_signal{0};
void on_signal(int sig) {
  g_signal.store(sig);
}

std::vector<std::string> split_keys(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string k;
  while (std::getline(ss, k, ','))
    if (!k.empty()) out.push_back(k);
  return out;
}

void serve(ServeOptions o) {
  if (const char* env = std::getenv("R1_API_KEY"); env != nullptr && *env != '\0')
    for (auto& k : split_keys(env)) o.api_keys.push_back(k);
  for (const auto& k : o.api_keys)
    if (k.size() < 8) throw Error("--api-key: keys must be at least 8 characters");
  if (!server::is_loopback(o.host) && o.api_keys.empty() && !o.allow_no_key)
    throw Error("refusing to listen on " + o.host +
                " without an API key: give --api-key (or R1_API_KEY), or --allow-no-key to "
                "accept requests from anyone who can reach this address");

  keep_weights_on_huge_pages();
  ModelSource src = ModelSource::open(o.model);

  apply_threads(o.threads);
  src.validate_tensors();
  Model model(bind_weights(src));
  Tokenizer tok = load_tokenizer(src);
  const ModelConfig& c = model.config();
  const GenerationDefaults& gd = src.generation_defaults();
  if (gd.temperature && !o.temp_given) o.sampling.temperature = static_cast<float>(*gd.temperature);
  if (gd.top_p && !o.top_p_given) o.sampling.top_p = static_cast<float>(*gd.top_p);
  if (gd.top_k && !o.top_k_given) o.sampling.top_k = static_cast<int32_t>(*gd.top_k);
  if (c.max_position > 0 && o.n_ctx > c.max_position) o.n_ctx = c.max_position;

  server::ServerOptions so;
  so.host = o.host;
  so.port = o.port;
  so.api_keys = o.api_keys;
  so.cors_origins = o.cors_origins;
  so.model_name =
      o.model_name.empty() ? std::filesystem::path(o.model).filename().string() : o.model_name;
  if (!o.chat_template.empty())
    so.chat_template = chat::chat_template_by_name(o.chat_template);
  else if (!tok.chat_template().empty())
    so.chat_template = chat::detect_chat_template(tok.chat_template());
  else
    so.chat_template = chat::chat_template_by_name("deepseek-r1");
  so.scheduler.slots = o.parallel;
  so.scheduler.n_ctx = o.n_ctx;
  so.scheduler.queue_max = o.queue >= 0 ? o.queue : 4 * o.parallel;
  so.scheduler.prefill_chunk = o.prefill_chunk;
  so.scheduler.compute_nice = o.compute_nice;
  so.limits.max_body_bytes = o.max_body;
  so.defaults.sampling = o.sampling;
  so.defaults.max_tokens = o.n_predict;
  so.defaults.think_budget = o.think_budget;
  so.defaults.thinking = !o.no_think;
  so.http_threads = o.http_threads;
  so.drain_seconds = o.drain_seconds;

#ifdef __GLIBC__
  // Many connection threads: a few shared malloc arenas keep freed memory from piling up.
  mallopt(M_ARENA_MAX, 4);
#endif
  server::Server srv(model, tok, so);
  const int port = srv.bind();
  struct sigaction sa = {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);
  std::fprintf(stderr,
               "r1 serve: %s (%s), %lld slots of %lld tokens, queue %lld, model name \"%s\"%s\n",
               o.model.c_str(), arch_name(c.arch), static_cast<long long>(o.parallel),
               static_cast<long long>(o.n_ctx), static_cast<long long>(so.scheduler.queue_max),
               so.model_name.c_str(), so.api_keys.empty() ? "" : ", API key required");
  std::fprintf(stderr, "r1 serve: listening on http://%s:%d\n", o.host.c_str(), port);
  std::fflush(stderr);

  std::atomic<bool> stopped{false};
  std::thread watcher([&] {
    while (!stopped.load() && g_signal.load() == 0)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (g_signal.load() != 0) {
      std::fprintf(stderr, "r1 serve: stopping (draining for up to %.0f s)\n", o.drain_seconds);
      srv.shutdown();
    }
  });
  srv.run();
  stopped.store(true);
  watcher.join();
  std::fprintf(stderr, "r1 serve: stopped\n");
}

CommandRegistrar reg([](CLI::App& app) {
  auto o = std::make_shared<ServeOptions>();
  CLI::App* sub = app.add_subcommand(
      "serve", "OpenAI/DeepSeek-compatible HTTP server (chat and text completions, streaming)");
  sub->add_option("MODEL", o->model, "a .gguf file or a safetensors folder");
  sub->add_option("-m,--model", o->model, "the model (same as MODEL)");
  sub->add_option("--host", o->host, "address to listen on")->capture_default_str();
  sub->add_option("--port", o->port, "port (0: any free port, printed on start)")
      ->check(CLI::Range(0, 65535))
      ->capture_default_str();
  sub->add_option("--api-key", o->api_keys,
                  "accept requests with 'Authorization: Bearer KEY' only (repeatable; also "
                  "R1_API_KEY, comma-separated)");
  sub->add_flag("--allow-no-key", o->allow_no_key,
                "allow a non-loopback --host without an API key");
  sub->add_option("--cors-origin", o->cors_origins,
                  "allow browser requests from this origin (repeatable; * for any)");
  sub->add_option("--model-name", o->model_name, "the model id reported (default: file name)");
  sub->add_option("--chat-template", o->chat_template, "force a chat template family by name");
  sub->add_option("-c,--ctx-size", o->n_ctx, "context of each slot in tokens")
      ->check(CLI::Range(int64_t{16}, int64_t{1} << 24))
      ->capture_default_str();
  sub->add_option("--parallel", o->parallel, "requests generated together (slots)")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  sub->add_option("--queue", o->queue,
                  "requests waiting for a slot before 429 (default 4 x --parallel)")
      ->check(CLI::Range(0, 100000));
  sub->add_option("--prefill-chunk", o->prefill_chunk,
                  "prompt tokens processed between two decode steps")
      ->check(CLI::Range(1, 1 << 20))
      ->capture_default_str();
  sub->add_option("-n,--n-predict", o->n_predict,
                  "default max_tokens when a request gives none (-1: until the context is full)")
      ->capture_default_str();
  sub->add_option("--think-budget", o->think_budget,
                  "default thinking tokens before </think> is forced (-1: unlimited)")
      ->capture_default_str();
  sub->add_flag("--no-think", o->no_think, "answer without reasoning unless a request asks");
  add_thread_option(sub, o->threads);
  sub->add_option("--http-threads", o->http_threads,
                  "connection threads (default: slots + queue + 32)")
      ->check(CLI::Range(1, 4096));
  sub->add_option("--compute-nice", o->compute_nice,
                  "nice value of the forward-pass threads, so that connection threads answer "
                  "(429s, health checks, streams) first when the cores are busy; 0 = unchanged")
      ->check(CLI::Range(0, 19))
      ->capture_default_str();
  sub->add_option("--drain-timeout", o->drain_seconds,
                  "on SIGTERM, seconds running requests may take to finish")
      ->check(CLI::Range(0.0, 3600.0))
      ->capture_default_str();
  sub->add_option("--max-body", o->max_body, "largest request body in bytes")
      ->check(CLI::Range(size_t{1024}, size_t{1} << 30))
      ->capture_default_str();
  add_sampling_options(sub, o->sampling);
  sub->callback([o, sub] {
    o->temp_given = sub->count("--temp") > 0;
    o->top_p_given = sub->count("--top-p") > 0;
    o->top_k_given = sub->count("--top-k") > 0;
    if (o->model.empty()) throw Error("give a MODEL (.gguf file or safetensors folder)");
    serve(*o);
  });
});

}  // namespace
}  // namespace r1::cli
