#include "server/server.h"

#include <httplib.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <sstream>
#include <thread>

#include "core/error.h"
#include "server/sockets.h"

namespace r1::server {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

// A Prometheus histogram with fixed buckets.
struct Histogram {
  explicit Histogram(std::vector<double> b) : bounds(std::move(b)), counts(bounds.size(), 0) {}
  void observe(double v) {
    for (size_t i = 0; i < bounds.size(); ++i)
      if (v <= bounds[i]) ++counts[i];
    ++count;
    sum += v;
  }
  void write(std::ostringstream& o, const std::string& name, const std::string& help) const {
    o << "# HELP " << name << " " << help << "\n# TYPE " << name << " histogram\n";
    for (size_t i = 0; i < bounds.size(); ++i)
      o << name << "_bucket{le=\"" << bounds[i] << "\"} " << counts[i] << "\n";
    o << name << "_bucket{le=\"+Inf\"} " << count << "\n";
    o << name << "_sum " << sum << "\n" << name << "_count " << count << "\n";
  }
  std::vector<double> bounds;
  std::vector<uint64_t> counts;
  uint64_t count = 0;
  double sum = 0;
};

const char* finish_reason(const engine::GenerationStats& st) {
  switch (st.finish) {
    case engine::Finish::kEos:
    case engine::Finish::kStop:
      return st.tool_calls ? "tool_calls" : "stop";
    case engine::Finish::kLength:
    case engine::Finish::kContext:
      return "length";
    case engine::Finish::kCancelled:
      return "stop";
  }
  return "stop";
}

json usage_json(const engine::GenerationStats& st) {
  const int64_t completion = st.generated + st.inserted;
  return {{"prompt_tokens", st.prompt_tokens},
          {"completion_tokens", completion},
          {"total_tokens", st.prompt_tokens + completion},
          {"completion_tokens_details", {{"reasoning_tokens", st.thinking_tokens}}}};
}

const std::array<std::string, 5> kEndpoints = {"/v1/chat/completions", "/v1/completions",
                                               "/v1/models", "/health", "/metrics"};

}  // namespace

bool is_loopback(const std::string& host) {
  if (host == "localhost" || host == "::1" || host == "[::1]") return true;
  return host.rfind("127.", 0) == 0 && host.find_first_not_of("0123456789.") == std::string::npos;
}

bool key_matches(const std::string& presented, const std::vector<std::string>& keys) {
  bool any = false;
  for (const auto& k : keys) {
    // Runs over the longer of the two whatever the contents; the length difference counts too.
    const size_t n = std::max(k.size(), presented.size());
    volatile unsigned char diff = static_cast<unsigned char>(k.size() != presented.size());
    for (size_t i = 0; i < n; ++i) {
      const unsigned char a = i < k.size() ? static_cast<unsigned char>(k[i]) : 0;
      const unsigned char b = i < presented.size() ? static_cast<unsigned char>(presented[i]) : 0;
      diff = diff | static_cast<unsigned char>(a ^ b);
    }
    any = any | (diff == 0);
  }
  return any;
}

struct Server::Impl {
  Impl(const Model& m, const Tokenizer& t, ServerOptions o)
      : model(m), tok(t), opt(std::move(o)), sched(m, t, opt.scheduler) {
    std::random_device rd;
    id_prefix = std::to_string(rd() % 100000);
    if (opt.limits.max_tokens <= 0) opt.limits.max_tokens = opt.scheduler.n_ctx;
  }

  const Model& model;
  const Tokenizer& tok;
  ServerOptions opt;
  engine::Scheduler sched;
  httplib::Server http;
  std::string id_prefix;
  std::atomic<uint64_t> next_id{1};
  std::atomic<bool> draining{false};
  std::atomic<int64_t> in_flight{0};  // requests being answered (streams until their end)
  std::once_flag shutdown_once;

  std::mutex metrics_mu;
  std::map<std::pair<std::string, int>, uint64_t> requests_by_status;
  uint64_t rejected_queue_full = 0;
  Histogram ttft{{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}};
  Histogram tpot{{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1}};

  std::string new_id(const char* prefix) {
    return std::string(prefix) + id_prefix + "-" + std::to_string(next_id++);
  }

  static void send_error(httplib::Response& res, const ApiError& e) {
    res.status = e.status;
    res.set_content(dump(error_json(e)), "application/json");
  }

  void record(const engine::GenerationStats& st) {
    std::lock_guard lock(metrics_mu);
    if (st.generated > 0) ttft.observe(st.time_to_first_token_s);
    if (st.generated > 1)
      tpot.observe((st.total_s + st.queue_s - st.time_to_first_token_s) /
                   static_cast<double>(st.generated - 1));
  }

  // ---- rendering and submitting

  struct Prepared {
    engine::GenerationRequest req;
    GenerationParams gen;
  };

  engine::GenerationRequest base_request(const GenerationParams& g, std::vector<int32_t> prompt,
                                         const std::string& prompt_param) {
    const int64_t n = static_cast<int64_t>(prompt.size());
    const int64_t n_ctx = opt.scheduler.n_ctx;
    if (n + 1 > n_ctx)
      throw ApiError(400,
                     "the prompt has " + std::to_string(n) + " tokens but the context holds " +
                         std::to_string(n_ctx) + " (prompt and at least one generated token)",
                     prompt_param, "context_length_exceeded");
    engine::GenerationRequest r;
    r.prompt = std::move(prompt);
    r.sampling = g.sampling;
    if (g.ignore_eos && tok.eos() >= 0)
      r.sampling.logit_bias[tok.eos()] = -std::numeric_limits<float>::infinity();
    r.max_tokens = g.max_tokens < 0 ? n_ctx - n : std::min(g.max_tokens, n_ctx - n);
    r.think_budget = g.think_budget;
    r.stop = g.stop;
    return r;
  }

  Prepared prepare_chat(const ChatRequest& cr) {
    chat::Conversation conv = cr.conversation;
    if (cr.tools_enabled) {
      const std::string tp = tools_system_prompt(conv.tools);
      auto last_sys =
          std::find_if(conv.messages.rbegin(), conv.messages.rend(),
                       [](const chat::Message& m) { return m.role == chat::Role::kSystem; });
      if (last_sys != conv.messages.rend()) {
        last_sys->content = last_sys->content.value_or("") + "\n\n" + tp;
      } else {
        chat::Message sys;
        sys.role = chat::Role::kSystem;
        sys.content = tp;
        conv.messages.insert(conv.messages.begin(), std::move(sys));
      }
    }
    chat::RenderOptions ro;
    ro.bos = tok.bos_text();
    ro.eos = tok.eos_text();
    ro.thinking = cr.gen.thinking;
    std::string text;
    try {
      text = chat::render(opt.chat_template, conv, ro);
    } catch (const Error& e) {
      throw ApiError(400, e.what(), "messages", "invalid_value");
    }
    const bool has_bos = !ro.bos.empty() && text.rfind(ro.bos, 0) == 0;
    Prepared p;
    p.gen = cr.gen;
    p.req = base_request(cr.gen, tok.encode(text, tok.add_bos() && !has_bos), "messages");
    p.req.starts_in_reasoning = chat::prompt_opens_reasoning(text);
    p.req.parse_tool_calls = cr.tools_enabled;
    p.req.grammar = cr.grammar;
    return p;
  }

  Prepared prepare_completion(const CompletionRequest& cr) {
    Prepared p;
    p.gen = cr.gen;
    p.req = base_request(cr.gen, tok.encode(cr.prompt, tok.add_bos()), "prompt");
    p.req.raw = true;
    return p;
  }

  std::shared_ptr<engine::GenerationHandle> submit(engine::GenerationRequest req) {
    if (draining)
      throw ApiError(503, "the server is shutting down", {}, "server_shutting_down",
                     "server_error");
    std::shared_ptr<engine::GenerationHandle> h;
    try {
      h = sched.submit(std::move(req));
    } catch (const Error& e) {
      throw ApiError(400, e.what(), {}, "invalid_value");
    }
    if (!h) {
      {
        std::lock_guard lock(metrics_mu);
        ++rejected_queue_full;
      }
      throw ApiError(429, "all slots are busy and the queue is full; retry later", {}, "queue_full",
                     "rate_limit_error");
    }
    return h;
  }

  // ---- answering

  // Non-streaming: waits for the whole answer, watching the connection meanwhile: a client that
  // goes away cancels its request within one wait period, as a streaming one does.
  void answer_whole(const httplib::Request& req, httplib::Response& res,
                    const std::shared_ptr<engine::GenerationHandle>& h, bool chat_api,
                    const GenerationParams& g) {
    chat::ParsedResponse parsed;
    std::vector<chat::StreamEvent> ev;
    const std::optional<int> sock =
        find_connection_socket(req.local_port, req.remote_addr, req.remote_port);
    bool client_gone = false;
    while (!h->wait(ev, 50)) {
      if (!client_gone && sock && peer_closed(*sock)) {
        client_gone = true;
        h->cancel();
      }
    }
    for (const auto& e : ev) parsed.add(e);
    const engine::GenerationStats st = h->stats();
    record(st);
    if (client_gone) return;  // nobody to answer
    if (!h->error().empty())
      throw ApiError(500, "generation failed: " + h->error(), {}, "generation_failed",
                     "server_error");
    if (st.finish == engine::Finish::kCancelled)
      throw ApiError(503, "the server shut down before the answer was complete", {},
                     "server_shutting_down", "server_error");
    const std::string id = new_id(chat_api ? "chatcmpl-" : "cmpl-");
    json choice;
    if (chat_api) {
      const json msg = chat_message_json(parsed, id, g.thinking);
      choice = {{"index", 0},
                {"message", msg},
                {"logprobs", nullptr},
                {"finish_reason", finish_reason(st)}};
    } else {
      choice = {{"index", 0},
                {"text", parsed.reasoning_content + parsed.content},
                {"logprobs", nullptr},
                {"finish_reason", finish_reason(st)}};
    }
    json body = {{"id", id},
                 {"object", chat_api ? "chat.completion" : "text_completion"},
                 {"created", static_cast<int64_t>(std::time(nullptr))},
                 {"model", opt.model_name},
                 {"choices", json::array({choice})},
                 {"usage", usage_json(st)}};
    res.status = 200;
    res.set_content(dump(body), "application/json");
  }

  // Streaming (SSE): chunks as the text comes; a client that goes away cancels the request,
  // found by watching its connection (also while the request waits in the queue) or by a
  // failed write.
  void answer_stream(const httplib::Request& req, httplib::Response& res,
                     std::shared_ptr<engine::GenerationHandle> h, bool chat_api,
                     const GenerationParams& g) {
    struct State {
      std::shared_ptr<engine::GenerationHandle> h;
      std::string id;
      int64_t created = 0;
      bool chat = true, include_usage = false, started = false, tool_calls = false;
      size_t n_calls = 0;
      Clock::time_point last_write = Clock::now();
      std::optional<int> sock;  // open until the provider's last call
    };
    auto s = std::make_shared<State>();
    s->sock = find_connection_socket(req.local_port, req.remote_addr, req.remote_port);
    s->h = std::move(h);
    s->id = new_id(chat_api ? "chatcmpl-" : "cmpl-");
    s->created = static_cast<int64_t>(std::time(nullptr));
    s->chat = chat_api;
    s->include_usage = g.include_usage;
    ++in_flight;  // until the releaser runs
    res.set_header("Cache-Control", "no-cache");
    res.set_header("X-Accel-Buffering", "no");
    auto chunk = [this, s](json delta, json finish) {
      json choice;
      if (s->chat)
        choice = {{"index", 0},
                  {"delta", std::move(delta)},
                  {"logprobs", nullptr},
                  {"finish_reason", std::move(finish)}};
      else
        choice = {{"index", 0},
                  {"text", delta.value("content", std::string())},
                  {"logprobs", nullptr},
                  {"finish_reason", std::move(finish)}};
      json j = {{"id", s->id},
                {"object", s->chat ? "chat.completion.chunk" : "text_completion"},
                {"created", s->created},
                {"model", opt.model_name},
                {"choices", json::array({choice})}};
      if (s->include_usage) j["usage"] = nullptr;
      return "data: " + dump(j) + "\n\n";
    };
    res.set_chunked_content_provider(
        "text/event-stream",
        [this, s, chunk](size_t, httplib::DataSink& sink) {
          std::string out;
          if (!s->started && s->chat) {
            out += chunk({{"role", "assistant"}, {"content", ""}}, nullptr);
            s->started = true;
          }
          std::vector<chat::StreamEvent> ev;
          const bool done = s->h->wait(ev, 50);
          if (!done && s->sock && peer_closed(*s->sock)) {
            s->h->cancel();
            return false;
          }
          for (const auto& e : ev) {
            if (e.kind == chat::EventKind::kReasoning && s->chat)
              out += chunk({{"reasoning_content", e.text}}, nullptr);
            else if (e.kind == chat::EventKind::kContent ||
                     (e.kind == chat::EventKind::kReasoning && !s->chat))
              out += chunk({{"content", e.text}}, nullptr);
            else if (e.kind == chat::EventKind::kToolCall) {
              const size_t i = s->n_calls++;
              s->tool_calls = true;
              out +=
                  chunk({{"tool_calls",
                          json::array({tool_call_json(
                              e.tool_call, "call_" + s->id + "-" + std::to_string(i), i, true)})}},
                        nullptr);
            }
          }
          if (done) {
            const engine::GenerationStats st = s->h->stats();
            record(st);
            const std::string err = s->h->error();
            if (!err.empty() || st.finish == engine::Finish::kCancelled) {
              const ApiError e =
                  err.empty() ? ApiError(503, "the server shut down before the answer was complete",
                                         {}, "server_shutting_down", "server_error")
                              : ApiError(500, "generation failed: " + err, {}, "generation_failed",
                                         "server_error");
              out += "data: " + dump(error_json(e)) + "\n\n";
            } else {
              out += chunk(json::object(), finish_reason(st));
              if (s->include_usage) {
                json u = {{"id", s->id},
                          {"object", s->chat ? "chat.completion.chunk" : "text_completion"},
                          {"created", s->created},
                          {"model", opt.model_name},
                          {"choices", json::array()},
                          {"usage", usage_json(st)}};
                out += "data: " + dump(u) + "\n\n";
              }
            }
            out += "data: [DONE]\n\n";
          } else if (out.empty() && Clock::now() - s->last_write > std::chrono::milliseconds(200)) {
            out = ": keep-alive\n\n";  // also finds out whether the client is still there
          }
          if (!out.empty()) {
            if (!sink.write(out.data(), out.size())) {
              s->h->cancel();
              return false;
            }
            s->last_write = Clock::now();
          }
          if (done) sink.done();
          return true;
        },
        [this, s](bool) {
          // Ended (completely or not): a request still running is of no use to anyone now.
          if (!s->h->finished()) s->h->cancel();
          --in_flight;
        });
  }

  void handle_generation(const httplib::Request& req, httplib::Response& res, bool chat_api) {
    ++in_flight;
    struct Leave {
      std::atomic<int64_t>& n;
      ~Leave() { --n; }
    } leave{in_flight};
    try {
      // Overload is answered before any parsing or tokenizing.
      if (!draining && sched.full()) {
        {
          std::lock_guard lock(metrics_mu);
          ++rejected_queue_full;
        }
        throw ApiError(429, "all slots are busy and the queue is full; retry later", {},
                       "queue_full", "rate_limit_error");
      }
      const json body = parse_body(req.body, opt.limits);
      const int64_t vocab = model.config().vocab_size;
      Prepared p =
          chat_api
              ? prepare_chat(parse_chat_request(body, opt.limits, opt.defaults, vocab))
              : prepare_completion(parse_completion_request(body, opt.limits, opt.defaults, vocab));
      auto h = submit(std::move(p.req));
      if (p.gen.stream)
        answer_stream(req, res, std::move(h), chat_api, p.gen);
      else
        answer_whole(req, res, h, chat_api, p.gen);
    } catch (const ApiError& e) {
      if (e.status == 429) res.set_header("Retry-After", "1");
      if (e.status == 503) res.set_header("Retry-After", "5");
      send_error(res, e);
    }
  }

  std::string metrics_text() {
    const engine::SchedulerMetrics m = sched.metrics();
    std::ostringstream o;
    std::lock_guard lock(metrics_mu);
    o << "# HELP r1_requests_total HTTP requests answered, by endpoint and status.\n"
         "# TYPE r1_requests_total counter\n";
    for (const auto& [k, n] : requests_by_status)
      o << "r1_requests_total{endpoint=\"" << k.first << "\",status=\"" << k.second << "\"} " << n
        << "\n";
    auto metric = [&](const char* name, const char* type, const char* help, auto v) {
      o << "# HELP " << name << " " << help << "\n# TYPE " << name << " " << type << "\n"
        << name << " " << v << "\n";
    };
    metric("r1_requests_rejected_queue_full_total", "counter",
           "Requests refused with 429 because the queue was full.", rejected_queue_full);
    metric("r1_prompt_tokens_total", "counter", "Prompt tokens processed.", m.prompt_tokens_total);
    metric("r1_generated_tokens_total", "counter", "Tokens generated.", m.generated_tokens_total);
    metric("r1_decode_steps_total", "counter", "Scheduler steps.", m.steps_total);
    metric("r1_generations_finished_total", "counter", "Generations that ended normally.",
           m.requests_finished);
    metric("r1_generations_cancelled_total", "counter",
           "Generations cancelled (client gone or shutdown).", m.requests_cancelled);
    metric("r1_generations_failed_total", "counter", "Generations that failed.", m.requests_failed);
    metric("r1_queue_length", "gauge", "Requests waiting for a slot.", m.queued);
    metric("r1_busy_slots", "gauge", "Slots generating or prefilling.", m.busy_slots);
    metric("r1_slots", "gauge", "Slots (--parallel).", m.slots);
    metric("r1_kv_cache_tokens", "gauge", "Tokens held in the slots' caches.", m.cache_tokens);
    metric("r1_kv_cache_capacity_tokens", "gauge", "Tokens the slots' caches can hold.",
           m.cache_capacity_tokens);
    metric("r1_kv_cache_bytes", "gauge", "Bytes of the slots' caches.", m.cache_bytes);
    metric("r1_kv_cache_usage_ratio", "gauge", "Used fraction of the caches' capacity.",
           m.cache_capacity_tokens > 0
               ? static_cast<double>(m.cache_tokens) / static_cast<double>(m.cache_capacity_tokens)
               : 0.0);
    ttft.write(o, "r1_time_to_first_token_seconds", "Time from request to first token.");
    tpot.write(o, "r1_time_per_output_token_seconds", "Time per generated token after the first.");
    return o.str();
  }

  void setup() {
    const int threads = opt.http_threads > 0
                            ? opt.http_threads
                            : static_cast<int>(opt.scheduler.slots + opt.scheduler.queue_max + 32);
    http.new_task_queue = [threads] {
      return new httplib::ThreadPool(static_cast<size_t>(threads));
    };
    http.set_payload_max_length(opt.limits.max_body_bytes);
    http.set_read_timeout(opt.read_timeout_seconds, 0);
    http.set_write_timeout(10, 0);
    http.set_keep_alive_timeout(2);
    http.set_keep_alive_max_count(1000);
    http.set_tcp_nodelay(true);

    http.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
      // cpp-httplib bounds each header line (8 KiB) but not their number; refuse many.
      size_t header_bytes = 0;
      for (const auto& [k, v] : req.headers) header_bytes += k.size() + v.size() + 4;
      if (req.headers.size() > 100 || header_bytes > 32768) {
        send_error(res,
                   ApiError(431, "too many or too large request headers", {}, "headers_too_large"));
        return httplib::Server::HandlerResponse::Handled;
      }
      // CORS: only listed origins, and only when some are.
      const std::string origin = req.get_header_value("Origin");
      bool origin_ok = false;
      if (!origin.empty() && !opt.cors_origins.empty())
        for (const auto& o : opt.cors_origins)
          if (o == "*" || o == origin) origin_ok = true;
      if (origin_ok) {
        res.set_header("Access-Control-Allow-Origin", origin);
        res.set_header("Vary", "Origin");
      }
      if (req.method == "OPTIONS") {
        if (!origin_ok) {
          send_error(res, ApiError(403, "cross-origin requests are not allowed from this origin",
                                   {}, "cors_forbidden"));
          return httplib::Server::HandlerResponse::Handled;
        }
        res.status = 204;
        res.set_header("Access-Control-Allow-Methods", "GET, POST, OPTIONS");
        res.set_header("Access-Control-Allow-Headers", "Authorization, Content-Type");
        res.set_header("Access-Control-Max-Age", "600");
        return httplib::Server::HandlerResponse::Handled;
      }
      if (!opt.api_keys.empty() && req.path != "/health") {
        const std::string auth = req.get_header_value("Authorization");
        const std::string prefix = "Bearer ";
        const bool ok = auth.size() > prefix.size() &&
                        auth.compare(0, prefix.size(), prefix) == 0 &&
                        key_matches(auth.substr(prefix.size()), opt.api_keys);
        if (!ok) {
          res.set_header("WWW-Authenticate", "Bearer");
          send_error(res,
                     ApiError(401,
                              auth.empty() ? "missing API key: send 'Authorization: Bearer KEY'"
                                           : "invalid API key",
                              {}, "invalid_api_key", "authentication_error"));
          return httplib::Server::HandlerResponse::Handled;
        }
      }
      return httplib::Server::HandlerResponse::Unhandled;
    });

    http.Post("/v1/chat/completions", [this](const httplib::Request& req, httplib::Response& res) {
      handle_generation(req, res, true);
    });
    http.Post("/v1/completions", [this](const httplib::Request& req, httplib::Response& res) {
      handle_generation(req, res, false);
    });
    http.Get("/v1/models", [this](const httplib::Request&, httplib::Response& res) {
      json m = {
          {"id", opt.model_name}, {"object", "model"}, {"created", 0}, {"owned_by", "r1.cpp"}};
      res.set_content(dump(json{{"object", "list"}, {"data", json::array({m})}}),
                      "application/json");
    });
    http.Get("/health", [this](const httplib::Request&, httplib::Response& res) {
      if (draining) {
        res.status = 503;
        res.set_content(R"({"status":"shutting down"})", "application/json");
      } else {
        res.set_content(R"({"status":"ok"})", "application/json");
      }
    });
    http.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
      res.set_content(metrics_text(), "text/plain; version=0.0.4");
    });

    http.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
      if (!res.body.empty()) return;
      std::string msg = "error", code = "error";
      switch (res.status) {
        case 404:
          msg = "no such endpoint: " + req.method + " " + req.path;
          code = "not_found";
          break;
        case 405:
          msg = "method not allowed";
          code = "method_not_allowed";
          break;
        case 413:
          msg = "the request body is too large";
          code = "body_too_large";
          break;
        case 414:
          msg = "the request URI is too long";
          code = "uri_too_long";
          break;
        case 400:
          msg = "malformed HTTP request";
          code = "bad_request";
          break;
        default:
          msg = "HTTP error " + std::to_string(res.status);
      }
      send_error(res, ApiError(res.status, msg, {}, code));
    });
    http.set_exception_handler(
        [](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
          std::string what = "internal error";
          try {
            if (ep) std::rethrow_exception(ep);
          } catch (const std::exception& e) {
            what += std::string(": ") + e.what();
          } catch (...) {
          }
          send_error(res, ApiError(500, what, {}, "internal_error", "server_error"));
        });
    http.set_logger([this](const httplib::Request& req, const httplib::Response& res) {
      std::string ep = "other";
      for (const auto& e : kEndpoints)
        if (req.path == e) ep = e;
      std::lock_guard lock(metrics_mu);
      ++requests_by_status[{ep, res.status}];
    });
  }
};

Server::Server(const Model& model, const Tokenizer& tok, ServerOptions options)
    : impl_(std::make_unique<Impl>(model, tok, std::move(options))) {
  impl_->setup();
}

Server::~Server() {
  impl_->sched.stop();
  impl_->http.stop();
}

int Server::bind() {
  const auto& o = impl_->opt;
  int port = o.port;
  if (port == 0) {
    port = impl_->http.bind_to_any_port(o.host);
    if (port < 0) throw Error("cannot listen on " + o.host + " (any port)");
  } else if (!impl_->http.bind_to_port(o.host, port)) {
    throw Error("cannot listen on " + o.host + ":" + std::to_string(port) +
                " (address in use or not available)");
  }
  // Bursts of connections (many clients, retries after 429) must queue, not be dropped.
  if (!raise_listen_backlog(port))
    std::fprintf(stderr, "r1 serve: warning: could not enlarge the accept backlog (5)\n");
  return port;
}

void Server::run() {
  impl_->http.listen_after_bind();
}

void Server::shutdown() {
  Impl& s = *impl_;
  std::call_once(s.shutdown_once, [&s] {
    s.draining = true;
    const auto deadline = Clock::now() + std::chrono::duration<double>(s.opt.drain_seconds);
    auto busy = [&s] {
      const auto m = s.sched.metrics();
      return m.busy_slots > 0 || m.queued > 0;
    };
    while (busy() && Clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    s.sched.stop();  // what still runs ends as cancelled: each client gets a final event
    const auto answered = Clock::now() + std::chrono::seconds(5);
    while (s.in_flight.load() > 0 && Clock::now() < answered)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    s.http.stop();
  });
}

}  // namespace r1::server
