// `r1 serve`: an OpenAI/DeepSeek-compatible HTTP server over the request scheduler
// (engine/scheduler.h). Endpoints, parameters, limits and errors: docs/SERVER.md.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "chat/template.h"
#include "engine/scheduler.h"
#include "model/forward.h"
#include "server/api.h"
#include "tokenizer/tokenizer.h"

namespace r1::server {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;                        // 0: any free port (bind() says which)
  std::vector<std::string> api_keys;      // empty: no authentication
  std::vector<std::string> cors_origins;  // "*" allows any origin
  std::string model_name = "r1";
  chat::ChatTemplate chat_template;
  engine::SchedulerOptions scheduler;
  Limits limits;
  Defaults defaults;
  int http_threads = 0;       // 0: slots + queue + 32
  double drain_seconds = 10;  // on shutdown, running requests may finish within this
  int read_timeout_seconds = 10;
};

// True for 127.0.0.0/8, ::1 and "localhost".
bool is_loopback(const std::string& host);
// Compares a presented key with each allowed key in time independent of where they differ.
bool key_matches(const std::string& presented, const std::vector<std::string>& keys);

class Server {
 public:
  Server(const Model& model, const Tokenizer& tok, ServerOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds the listening socket; returns the port. Throws r1::Error when it cannot.
  int bind();
  // Serves until shutdown() has drained and stopped the server.
  void run();
  // Stops accepting requests (new ones get 503), lets running ones finish within
  // drain_seconds, then cancels the rest (each gets a final event or an error), and makes run()
  // return. Blocks until done; safe from any thread, once.
  void shutdown();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace r1::server
