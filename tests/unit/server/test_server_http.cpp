// `r1 serve` over real sockets with a tiny random-weight model: a hostile-request suite (every
// answer a clear 4xx in OpenAI's error shape, never a 5xx or a crash, and the next request
// served normally), authentication tricks, a valid chat and completion, SSE streaming equal to
// the whole answer at temperature 0, the bounded queue's 429, clients that disconnect freeing
// their slots, and SIGTERM ending streams with a final event. Every wait has a deadline.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>
#include <thread>

#include "test_util.h"

namespace r1 {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;
const std::string kKey = "test-key-0123456789";

struct Response {
  int status = 0;
  std::string head, body;
  json j;  // body as JSON when it parses
  std::string header(const std::string& name) const {
    std::regex re("\r\n" + name + ": ([^\r]*)", std::regex::icase);
    std::smatch m;
    return std::regex_search(head, m, re) ? m[1].str() : std::string();
  }
};

int connect_to(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a = {};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

bool send_all(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    ssize_t n = send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

// Reads until the peer closes or `seconds` pass.
std::string read_all(int fd, double seconds = 30) {
  std::string out;
  const auto end = Clock::now() + std::chrono::duration<double>(seconds);
  char buf[65536];
  while (Clock::now() < end) {
    pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

std::string dechunk(const std::string& body) {
  std::string out;
  size_t pos = 0;
  while (pos < body.size()) {
    size_t eol = body.find("\r\n", pos);
    if (eol == std::string::npos) break;
    const size_t len = std::stoul(body.substr(pos, eol - pos), nullptr, 16);
    if (len == 0) break;
    out += body.substr(eol + 2, len);
    pos = eol + 2 + len + 2;
  }
  return out;
}

Response parse_response(const std::string& raw) {
  Response r;
  const size_t sp = raw.find(' ');
  if (raw.rfind("HTTP/1.1 ", 0) == 0 && sp != std::string::npos)
    r.status = std::atoi(raw.c_str() + sp + 1);
  const size_t hend = raw.find("\r\n\r\n");
  r.head = raw.substr(0, hend);
  r.body = hend == std::string::npos ? "" : raw.substr(hend + 4);
  if (r.header("Transfer-Encoding") == "chunked") r.body = dechunk(r.body);
  r.j = json::parse(r.body, nullptr, false);
  return r;
}

struct ServerProcess {
  pid_t pid = -1;
  int port = 0;
  int err_fd = -1;
  std::string log;

  void start(const std::string& model, const std::vector<std::string>& extra) {
    int pipefd[2];
    ASSERT_EQ(pipe(pipefd), 0);
    std::vector<std::string> argv = {test::r1_binary(), "serve", model, "--port", "0"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    pid = fork();
    if (pid == 0) {
      dup2(pipefd[1], 2);
      close(pipefd[0]);
      std::vector<char*> args;
      for (auto& a : argv) args.push_back(a.data());
      args.push_back(nullptr);
      execv(args[0], args.data());
      _exit(127);
    }
    close(pipefd[1]);
    err_fd = pipefd[0];
    const auto end = Clock::now() + std::chrono::seconds(60);
    std::smatch m;
    const std::regex re("listening on http://[^:]+:([0-9]+)");
    while (Clock::now() < end && !std::regex_search(log, m, re)) {
      pollfd p = {err_fd, POLLIN, 0};
      if (poll(&p, 1, 100) <= 0) continue;
      char buf[4096];
      ssize_t n = read(err_fd, buf, sizeof buf);
      if (n <= 0) break;
      log.append(buf, static_cast<size_t>(n));
    }
    ASSERT_TRUE(std::regex_search(log, m, re)) << log;
    port = std::stoi(m[1].str());
  }
  // Sends SIGTERM and returns the exit status (-1 after the deadline).
  int stop(double seconds = 30) {
    if (pid <= 0) return -1;
    kill(pid, SIGTERM);
    const auto end = Clock::now() + std::chrono::duration<double>(seconds);
    while (Clock::now() < end) {
      int st = 0;
      if (waitpid(pid, &st, WNOHANG) == pid) {
        pid = -1;
        return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return -1;
  }
  ~ServerProcess() {
    if (pid > 0) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
    if (err_fd >= 0) close(err_fd);
  }
};

std::string request_text(const std::string& method, const std::string& path,
                         const std::string& body, const std::string& headers) {
  std::string s =
      method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n" + headers;
  if (!body.empty() || method == "POST")
    s +=
        "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  return s + "\r\n" + body;
}

struct Fixture {
  test::TempDir dir;
  std::string model;
  ServerProcess server;
  Fixture() {
    model = dir.file("tiny.gguf");
    auto r = test::run_command(test::r1_binary() +
                               " make-test-model -q --arch deepseek_v3 --type Q8_0 " + model);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    server.start(model,
                 {"--api-key", kKey, "--parallel", "2", "--queue", "1", "-c", "2048", "--max-body",
                  "65536", "--temp", "0", "--http-threads", "24", "--drain-timeout", "1"});
  }
  Response raw(const std::string& text, double seconds = 30) {
    int fd = connect_to(server.port);
    EXPECT_GE(fd, 0);
    if (fd < 0) return {};
    send_all(fd, text);
    Response r = parse_response(read_all(fd, seconds));
    close(fd);
    return r;
  }
  Response call(const std::string& method, const std::string& path, const std::string& body = {},
                const std::string& headers = "Authorization: Bearer " + kKey + "\r\n") {
    return raw(request_text(method, path, body, headers));
  }
  Response chat(const json& body) { return call("POST", "/v1/chat/completions", body.dump()); }
};

Fixture& fx() {
  static Fixture f;
  return f;
}

json hello(int max_tokens = 8) {
  return {{"model", "tiny"},
          {"messages", json::array({{{"role", "user"}, {"content", "Hello there"}}})},
          {"max_tokens", max_tokens}};
}

// A 4xx in OpenAI's error shape, with the given status and (when not empty) param.
void expect_error(const Response& r, int status, const std::string& param = {}) {
  EXPECT_EQ(r.status, status) << r.head << "\n" << r.body;
  ASSERT_TRUE(r.j.is_object()) << r.body;
  ASSERT_TRUE(r.j.contains("error")) << r.body;
  const json& e = r.j["error"];
  EXPECT_TRUE(e["message"].is_string());
  EXPECT_TRUE(e["type"].is_string());
  EXPECT_TRUE(e.contains("param"));
  EXPECT_TRUE(e.contains("code"));
  if (!param.empty()) {
    EXPECT_EQ(e["param"], param) << r.body;
  }
}

// The server still answers normally.
void expect_alive() {
  const Response r = fx().call("GET", "/v1/models");
  EXPECT_EQ(r.status, 200) << r.body;
}

TEST(ServerHttp, HealthModelsMetrics) {
  Fixture& f = fx();
  Response r = f.call("GET", "/health", {}, "");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.j["status"], "ok");
  r = f.call("GET", "/v1/models");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.j["object"], "list");
  EXPECT_EQ(r.j["data"][0]["object"], "model");
  r = f.call("GET", "/metrics");
  ASSERT_EQ(r.status, 200);
  EXPECT_NE(r.body.find("r1_busy_slots"), std::string::npos);
  EXPECT_NE(r.body.find("r1_time_to_first_token_seconds_bucket"), std::string::npos);
}

TEST(ServerHttp, Authentication) {
  Fixture& f = fx();
  const std::vector<std::string> bad = {
      "",                                                                   // no key
      "Authorization: Bearer wrong-key-000000\r\n",                         // wrong key
      "Authorization: Bearer " + kKey + "x\r\n",                            // longer
      "Authorization: Bearer " + kKey.substr(0, kKey.size() - 1) + "\r\n",  // prefix
      "Authorization: bearer" + kKey + "\r\n",                              // no space
      "Authorization: Basic " + kKey + "\r\n",                              // other scheme
      "Authorization: Bearer\r\n",                // no key after the scheme
      "X-Api-Key: " + kKey + "\r\n",              // wrong header
      "Api-Key: " + kKey + "\r\n",                // wrong header
      "Authorization: Bearer  " + kKey + "\r\n",  // two spaces
  };
  for (const auto& h : bad) {
    const Response r = f.call("GET", "/v1/models", {}, h);
    expect_error(r, 401);
    EXPECT_EQ(r.j["error"]["type"], "authentication_error");
    const Response c = f.call("POST", "/v1/chat/completions", hello().dump(), h);
    expect_error(c, 401);
  }
  expect_error(f.call("GET", "/metrics", {}, ""), 401);
  expect_error(f.call("GET", "/v1/models?api_key=" + kKey, {}, ""), 401);  // key in the URL
  expect_alive();
}

TEST(ServerHttp, OddPathsAndMethods) {
  Fixture& f = fx();
  for (const std::string& p : std::vector<std::string>{
           "/v1/nope", "/v1/chat/completions/", "//v1/models", "/../etc/passwd", "/v1/%2e%2e/x",
           "/V1/MODELS", "/v1/chat/completions%00", "/" + std::string(2000, 'a')}) {
    const Response r = f.call("GET", p);
    EXPECT_GE(r.status, 400) << p.substr(0, 40);
    EXPECT_LT(r.status, 500) << p.substr(0, 40);
  }
  expect_error(f.call("GET", "/v1/chat/completions"), 404);
  expect_error(f.call("DELETE", "/v1/models"), 404);
  expect_error(f.call("POST", "/v1/nope", "{}"), 404);
  // No CORS unless configured: a preflight is refused, no Allow-Origin header anywhere.
  const Response pre =
      f.call("OPTIONS", "/v1/chat/completions", {}, "Origin: https://evil.example\r\n");
  EXPECT_EQ(pre.status, 403);
  EXPECT_EQ(pre.header("Access-Control-Allow-Origin"), "");
  expect_alive();
}

TEST(ServerHttp, MalformedBodies) {
  Fixture& f = fx();
  const std::vector<std::string> bodies = {
      "",
      "{",
      "}",
      "null",
      "[]",
      "\"text\"",
      "42",
      "{\"messages\": [}",
      "{'messages': []}",
      "{\"messages\": NaN}",
      "{\"temperature\": NaN, \"messages\": []}",
      "{\"temperature\": Infinity}",
      "{\"temperature\": 1e999}",
      "{\"a\":1,}",
      "{\"messages\":[{\"role\":\"user\",\"content\":\"\xff\xfe\"}]}",       // invalid UTF-8
      "{\"messages\":[{\"role\":\"user\",\"content\":\"\xc3\"}]}",           // truncated UTF-8
      "{\"messages\":[{\"role\":\"user\",\"content\":\"\\ud800\"}]}",        // lone surrogate
      "{\"messages\":[{\"role\":\"user\",\"content\":\"a\u0000b\"}]}",       // raw control
      std::string(200, '[') + std::string(200, ']'),                         // deep nesting
      "{\"messages\":" + std::string(40, '[') + std::string(40, ']') + "}",  // deep nesting
      "\xef\xbb\xbf{}",                                                      // BOM, then {}
  };
  for (const auto& b : bodies) {
    const Response r = f.call("POST", "/v1/chat/completions", b);
    EXPECT_EQ(r.status / 100, 4) << b << " -> " << r.body;
    EXPECT_TRUE(r.j.is_object() && r.j.contains("error")) << b << " -> " << r.body;
  }
  expect_alive();
}

std::string many_words(int n) {
  std::string s;
  for (int i = 0; i < n; ++i) s += " w" + std::to_string(i);
  return s;
}

TEST(ServerHttp, InvalidParameters) {
  Fixture& f = fx();
  struct Case {
    json patch;
    int status;
    std::string param;
  };
  const std::vector<Case> cases = {
      {{{"temperature", -1}}, 400, "temperature"},
      {{{"temperature", 2.5}}, 400, "temperature"},
      {{{"temperature", "0.5"}}, 400, "temperature"},
      {{{"top_p", 0}}, 400, "top_p"},
      {{{"top_p", 1.5}}, 400, "top_p"},
      {{{"top_k", -3}}, 400, "top_k"},
      {{{"max_tokens", 0}}, 400, "max_tokens"},
      {{{"max_tokens", 1.5}}, 400, "max_tokens"},
      {{{"max_tokens", 1e30}}, 400, "max_tokens"},
      {{{"max_tokens", json::parse("99999999999999999999")}}, 400, "max_tokens"},
      {{{"max_tokens", -5}}, 400, "max_tokens"},
      {{{"max_tokens", true}}, 400, "max_tokens"},
      {{{"n", 2}}, 422, "n"},
      {{{"n", 0}}, 400, "n"},
      {{{"stream", "yes"}}, 400, "stream"},
      {{{"stream_options", {{"include_usage", true}}}}, 400, "stream_options"},
      {{{"stop", json::array({"a", "b", "c", "d", "e"})}}, 400, "stop"},
      {{{"stop", ""}}, 400, "stop"},
      {{{"stop", 5}}, 400, "stop"},
      {{{"stop", json::array({1})}}, 400, "stop[0]"},
      {{{"stop", std::string(300, 'x')}}, 400, "stop"},
      {{{"logit_bias", {{"abc", 1}}}}, 400, "logit_bias"},
      {{{"logit_bias", {{"99999999", 1}}}}, 400, "logit_bias"},
      {{{"logit_bias", {{"5", 1000}}}}, 400, "logit_bias.5"},
      {{{"logit_bias", json::array()}}, 400, "logit_bias"},
      {{{"presence_penalty", 3}}, 400, "presence_penalty"},
      {{{"seed", 1.5}}, 400, "seed"},
      {{{"reasoning_effort", "extreme"}}, 400, "reasoning_effort"},
      {{{"think_budget", -2}}, 400, "think_budget"},
      {{{"tool_choice", "required"}}, 400, "tool_choice"},  // no tools to call
      {{{"tool_choice", {{"type", "function"}}}}, 400, "tool_choice"},
      {{{"tool_choice", 3}}, 400, "tool_choice"},
      {{{"tool_choice", "sometimes"}}, 400, "tool_choice"},
      {{{"tools", "calc"}}, 400, "tools"},
      {{{"tools", json::array({{{"type", "function"}}})}}, 400, "tools"},
      {{{"logprobs", true}}, 422, "logprobs"},
      {{{"response_format", {{"type", "xml"}}}}, 400, "response_format.type"},
      {{{"response_format", {{"type", "json_schema"}}}}, 400, "response_format.json_schema"},
      {{{"response_format", {{"type", "json_schema"}, {"json_schema", {{"name", "x"}}}}}},
       400,
       "response_format.json_schema.schema"},
      {{{"response_format",
         {{"type", "json_schema"}, {"json_schema", {{"schema", {{"$ref", "#/nowhere"}}}}}}}},
       400,
       "response_format.json_schema.schema"},
      {{{"response_format", {{"type", "json_object"}, {"strict", true}}}},
       400,
       "response_format.strict"},
      {{{"frobnicate", 1}}, 400, "frobnicate"},
      {{{"model", 7}}, 400, "model"},
      {{{"messages", json::array()}}, 400, "messages"},
      {{{"messages", "hi"}}, 400, "messages"},
      {{{"messages", json::array({{{"role", "wizard"}, {"content", "x"}}})}}, 400, "messages"},
      {{{"messages", json::array({{{"role", "user"}, {"content", 5}}})}}, 400, "messages"},
      {{{"messages", json::array({{{"role", "user"}}})}}, 400, "messages"},
      {{{"messages", json::array({"hello"})}}, 400, "messages"},
      {{{"messages", json::array({{{"role", "user"}, {"content", many_words(3000)}}})}},
       400,
       "messages"},  // longer than the 2048-token context
  };
  for (const auto& c : cases) {
    json body = hello();
    body.update(c.patch);
    const Response r = f.chat(body);
    expect_error(r, c.status, c.param);
  }
  json no_messages = hello();
  no_messages.erase("messages");
  expect_error(f.chat(no_messages), 400, "messages");
  // Text completions.
  expect_error(f.call("POST", "/v1/completions", R"({"prompt":""})"), 400, "prompt");
  expect_error(f.call("POST", "/v1/completions", R"({"prompt":5})"), 400, "prompt");
  expect_error(f.call("POST", "/v1/completions", R"({"max_tokens":3})"), 400, "prompt");
  expect_error(f.call("POST", "/v1/completions", R"({"prompt":"a","echo":true})"), 422, "echo");
  expect_alive();
}

TEST(ServerHttp, SizeLimits) {
  Fixture& f = fx();
  // Body over --max-body (64 KiB here).
  json big = hello();
  big["messages"][0]["content"] = std::string(70000, 'a');
  const Response r = f.chat(big);
  EXPECT_EQ(r.status, 413) << r.body;
  // A huge header line and very many headers: refused, not served.
  const Response h = f.raw(request_text(
      "GET", "/v1/models", {},
      "Authorization: Bearer " + kKey + "\r\nX-Big: " + std::string(20000, 'b') + "\r\n"));
  EXPECT_NE(h.status, 200);
  EXPECT_LT(h.status, 500);
  std::string many;
  for (int i = 0; i < 500; ++i) many += "X-H" + std::to_string(i) + ": y\r\n";
  expect_error(
      f.raw(request_text("GET", "/v1/models", {}, "Authorization: Bearer " + kKey + "\r\n" + many)),
      431);
  // Garbage instead of HTTP; a body shorter than its Content-Length, then the client leaves.
  f.raw("HELLO\r\n\r\n", 5);
  f.raw("POST /v1/chat/completions HTTP/1.1\r\nContent-Length: 100\r\n\r\n{\"a\"", 1);
  expect_alive();
}

std::vector<json> sse_events(const std::string& body, bool* done) {
  std::vector<json> out;
  *done = false;
  size_t pos = 0;
  while (pos < body.size()) {
    size_t end = body.find("\n\n", pos);
    if (end == std::string::npos) break;
    const std::string ev = body.substr(pos, end - pos);
    pos = end + 2;
    if (ev.rfind("data: ", 0) != 0) continue;
    const std::string data = ev.substr(6);
    if (data == "[DONE]") {
      *done = true;
      continue;
    }
    json j = json::parse(data, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << data;
    out.push_back(j);
  }
  return out;
}

TEST(ServerHttp, ChatWholeAndStreamedAgree) {
  Fixture& f = fx();
  json body = hello(24);
  body["temperature"] = 0;
  const Response whole = f.chat(body);
  ASSERT_EQ(whole.status, 200) << whole.body;
  const json& msg = whole.j["choices"][0]["message"];
  EXPECT_EQ(msg["role"], "assistant");
  EXPECT_TRUE(msg["content"].is_string());
  EXPECT_TRUE(msg["reasoning_content"].is_string());
  EXPECT_EQ(whole.j["object"], "chat.completion");
  const json& u = whole.j["usage"];
  EXPECT_GT(u["prompt_tokens"].get<int>(), 0);
  EXPECT_GT(u["completion_tokens"].get<int>(), 0);
  EXPECT_EQ(u["total_tokens"], u["prompt_tokens"].get<int>() + u["completion_tokens"].get<int>());
  EXPECT_TRUE(u["completion_tokens_details"]["reasoning_tokens"].is_number_integer());
  const std::string fr = whole.j["choices"][0]["finish_reason"];
  EXPECT_TRUE(fr == "stop" || fr == "length") << fr;

  body["stream"] = true;
  body["stream_options"] = {{"include_usage", true}};
  const Response st = f.chat(body);
  ASSERT_EQ(st.status, 200);
  EXPECT_NE(st.header("Content-Type").find("text/event-stream"), std::string::npos);
  bool done = false;
  const auto events = sse_events(st.body, &done);
  EXPECT_TRUE(done);
  std::string reasoning, content, finish;
  json usage;
  for (const auto& e : events) {
    EXPECT_EQ(e["object"], "chat.completion.chunk");
    if (!e["choices"].empty()) {
      const json& d = e["choices"][0]["delta"];
      if (d.contains("reasoning_content")) reasoning += d["reasoning_content"].get<std::string>();
      if (d.contains("content")) content += d["content"].get<std::string>();
      if (!e["choices"][0]["finish_reason"].is_null()) finish = e["choices"][0]["finish_reason"];
    } else {
      usage = e["usage"];
    }
  }
  EXPECT_EQ(reasoning, msg["reasoning_content"].get<std::string>());
  EXPECT_EQ(content, msg["content"].get<std::string>());
  EXPECT_EQ(finish, fr);
  EXPECT_EQ(usage, u);
}

TEST(ServerHttp, ForcedToolCallsAndJsonAnswers) {
  Fixture& f = fx();
  const json tools = json::parse(R"([{"type":"function","function":{"name":"get_weather",
      "parameters":{"type":"object","properties":{"city":{"enum":["Paris","Rome"]}},"required":["city"]}}},
      {"type":"function","function":{"name":"get_time","parameters":{"type":"object","properties":{}}}}])");
  for (const json& choice :
       {json("required"), json::parse(R"({"type":"function","function":{"name":"get_time"}})")}) {
    json body = hello(400);
    body["tools"] = tools;
    body["tool_choice"] = choice;
    body["think_budget"] = 6;
    body["temperature"] = 0.9;
    const Response r = f.chat(body);
    ASSERT_EQ(r.status, 200) << r.body;
    const json& c = r.j["choices"][0];
    EXPECT_EQ(c["finish_reason"], "tool_calls") << r.body;
    EXPECT_TRUE(c["message"]["content"].is_null()) << r.body;
    ASSERT_TRUE(c["message"]["tool_calls"].is_array()) << r.body;
    const json& call = c["message"]["tool_calls"][0]["function"];
    const json args = json::parse(call["arguments"].get<std::string>());
    if (choice.is_object()) EXPECT_EQ(call["name"], "get_time");
    if (call["name"] == "get_weather")
      EXPECT_TRUE(args["city"] == "Paris" || args["city"] == "Rome");
    EXPECT_TRUE(args.is_object());
  }
  // Refused: a named function that is not offered, a schema that does not compile.
  json body = hello();
  body["tools"] = tools;
  body["tool_choice"] = json::parse(R"({"type":"function","function":{"name":"launch"}})");
  expect_error(f.chat(body), 400, "tool_choice");
  body["tool_choice"] = "required";
  body["tools"][1]["function"]["parameters"] = json::parse(R"({"type":"wizard"})");
  expect_error(f.chat(body), 400, "tools");
  body["tools"] = tools;
  body["response_format"] = {{"type", "json_object"}};
  expect_error(f.chat(body), 400, "response_format");
  // JSON answers, whole and streamed.
  json j = hello(200);
  j["response_format"] = json::parse(R"({"type":"json_schema","json_schema":{"name":"sum","schema":
      {"type":"object","properties":{"answer":{"type":"integer"},"sure":{"type":"boolean"}},"required":["answer","sure"]}}})");
  j["think_budget"] = 4;
  j["temperature"] = 0;
  const Response whole = f.chat(j);
  ASSERT_EQ(whole.status, 200) << whole.body;
  const std::string content = whole.j["choices"][0]["message"]["content"];
  const json v = json::parse(content, nullptr, false);
  EXPECT_TRUE(v.is_object() && v["answer"].is_number_integer() && v["sure"].is_boolean())
      << content;
  EXPECT_EQ(whole.j["choices"][0]["finish_reason"], "stop");
  j["stream"] = true;
  const Response st = f.chat(j);
  std::string streamed;
  bool done = false;
  for (const auto& e : sse_events(st.body, &done))
    if (!e["choices"].empty() && e["choices"][0]["delta"].contains("content"))
      streamed += e["choices"][0]["delta"]["content"].get<std::string>();
  EXPECT_TRUE(done);
  EXPECT_EQ(streamed, content);
  expect_alive();
}

TEST(ServerHttp, CompletionsAndThinkBudget) {
  Fixture& f = fx();
  Response r = f.call("POST", "/v1/completions",
                      R"({"prompt":"Once upon a time","max_tokens":6,"temperature":0})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.j["object"], "text_completion");
  EXPECT_TRUE(r.j["choices"][0]["text"].is_string());
  EXPECT_LE(r.j["usage"]["completion_tokens"].get<int>(), 6);
  // An explicit budget of 4 thinking tokens; the model may not end on its own.
  json body = hello(30);
  body["think_budget"] = 4;
  body["logit_bias"] = {{"1", -100}};  // harmless; checks that a bias is accepted
  r = f.chat(body);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_LE(r.j["usage"]["completion_tokens_details"]["reasoning_tokens"].get<int>(), 4);
  body = hello(10);
  body["reasoning_effort"] = "low";
  body["thinking"] = false;
  r = f.chat(body);
  ASSERT_EQ(r.status, 200) << r.body;
}

// A streaming request that cannot end by itself (end of sequence forbidden).
std::string endless_stream(int max_tokens) {
  json body = hello(max_tokens);
  body["stream"] = true;
  body["ignore_eos"] = true;
  return request_text("POST", "/v1/chat/completions", body.dump(),
                      "Authorization: Bearer " + kKey + "\r\n");
}

int64_t metric(const std::string& text, const std::string& name) {
  std::smatch m;
  if (!std::regex_search(text, m, std::regex("\n" + name + " ([0-9.e+-]+)"))) return -1;
  return static_cast<int64_t>(std::stod(m[1].str()));
}

// Polls /metrics until the gauge `name` reads `want` or `seconds` pass; returns the last value.
int64_t gauge_becomes(Fixture& f, const char* name, int64_t want, double seconds) {
  int64_t v = -1;
  const auto t0 = Clock::now();
  while (Clock::now() - t0 < std::chrono::duration<double>(seconds)) {
    v = metric(f.call("GET", "/metrics").body, name);
    if (v == want) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return v;
}

TEST(ServerHttp, QueueFullAnswers429AndDisconnectsFreeSlots) {
  Fixture& f = fx();
  // 2 slots + 1 waiting: the fourth concurrent request is refused at once.
  std::vector<int> fds;
  for (int i = 0; i < 3; ++i) {
    int fd = connect_to(f.server.port);
    ASSERT_GE(fd, 0);
    ASSERT_TRUE(send_all(fd, endless_stream(2000)));
    fds.push_back(fd);
  }
  for (int fd : fds) {  // each one is accepted (its stream has begun)
    pollfd p = {fd, POLLIN, 0};
    EXPECT_EQ(poll(&p, 1, 20000), 1);
  }
  const auto t0 = Clock::now();
  const Response r = f.chat(hello());
  const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  expect_error(r, 429);
  EXPECT_EQ(r.header("Retry-After"), "1");
  EXPECT_LT(ms, 500);  // generous for sanitizer builds; typically a few ms
  // The clients go away mid-generation: the slots are free within a second.
  for (int fd : fds) close(fd);
  const auto t1 = Clock::now();
  int64_t busy = -1, queued = -1;
  while (Clock::now() - t1 < std::chrono::seconds(3)) {
    const Response m = f.call("GET", "/metrics");
    busy = metric(m.body, "r1_busy_slots");
    queued = metric(m.body, "r1_queue_length");
    if (busy == 0 && queued == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(busy, 0);
  EXPECT_EQ(queued, 0);
  EXPECT_LT(std::chrono::duration<double>(Clock::now() - t1).count(), 1.0);
  expect_alive();
}

// A streaming client that gives up while its request waits in the queue leaves the queue
// without ever taking a slot (its connection is watched, not only written to).
TEST(ServerHttp, QueuedStreamsWhoseClientLeavesNeverRun) {
  Fixture& f = fx();
  std::vector<int> running;
  for (int i = 0; i < 2; ++i) {
    int fd = connect_to(f.server.port);
    ASSERT_GE(fd, 0);
    ASSERT_TRUE(send_all(fd, endless_stream(2000)));
    pollfd p = {fd, POLLIN, 0};
    EXPECT_EQ(poll(&p, 1, 20000), 1);
    running.push_back(fd);
  }
  const int waiting = connect_to(f.server.port);
  ASSERT_GE(waiting, 0);
  ASSERT_TRUE(send_all(waiting, endless_stream(2000)));
  ASSERT_EQ(gauge_becomes(f, "r1_queue_length", 1, 20), 1);
  const int64_t finished0 = metric(f.call("GET", "/metrics").body, "r1_generations_finished_total");
  const int64_t cancelled0 =
      metric(f.call("GET", "/metrics").body, "r1_generations_cancelled_total");
  close(waiting);
  const auto t1 = Clock::now();
  EXPECT_EQ(gauge_becomes(f, "r1_queue_length", 0, 3), 0);
  EXPECT_LT(std::chrono::duration<double>(Clock::now() - t1).count(), 1.0);
  const std::string m = f.call("GET", "/metrics").body;
  EXPECT_EQ(metric(m, "r1_busy_slots"), 2);  // the running streams go on
  EXPECT_EQ(metric(m, "r1_generations_cancelled_total"), cancelled0 + 1);
  EXPECT_EQ(metric(m, "r1_generations_finished_total"), finished0);
  for (int fd : running) close(fd);
  EXPECT_EQ(gauge_becomes(f, "r1_busy_slots", 0, 3), 0);
  expect_alive();
}

// Non-streaming requests have no stream to write into, so the server watches their sockets: a
// client that goes away while its whole answer is computed frees its slot within a second too.
TEST(ServerHttp, DroppedWholeAnswersFreeSlots) {
  Fixture& f = fx();
  json body = hello(2000);
  body["ignore_eos"] = true;
  const std::string text = request_text("POST", "/v1/chat/completions", body.dump(),
                                        "Authorization: Bearer " + kKey + "\r\n");
  std::vector<int> fds;
  for (int i = 0; i < 2; ++i) {
    int fd = connect_to(f.server.port);
    ASSERT_GE(fd, 0);
    ASSERT_TRUE(send_all(fd, text));
    fds.push_back(fd);
  }
  ASSERT_EQ(gauge_becomes(f, "r1_busy_slots", 2, 20), 2);
  const int64_t cancelled0 =
      metric(f.call("GET", "/metrics").body, "r1_generations_cancelled_total");
  for (int fd : fds) close(fd);
  const auto t1 = Clock::now();
  EXPECT_EQ(gauge_becomes(f, "r1_busy_slots", 0, 3), 0);
  EXPECT_LT(std::chrono::duration<double>(Clock::now() - t1).count(), 1.0);
  EXPECT_EQ(metric(f.call("GET", "/metrics").body, "r1_generations_cancelled_total"),
            cancelled0 + 2);
  expect_alive();
}

// Last (the suite's order is the file's): SIGTERM drains, then cancels with a final event.
TEST(ServerHttp, ZzSigtermEndsStreamsWithAFinalEvent) {
  Fixture& f = fx();
  int fd = connect_to(f.server.port);
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(send_all(fd, endless_stream(2000)));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  kill(f.server.pid, SIGTERM);
  const Response r = parse_response(read_all(fd, 60));
  close(fd);
  EXPECT_EQ(r.status, 200);
  bool done = false;
  const auto events = sse_events(r.body, &done);
  EXPECT_TRUE(done) << r.body.substr(r.body.size() > 500 ? r.body.size() - 500 : 0);
  ASSERT_FALSE(events.empty());
  // Either it finished within the drain time or it ended with an explicit error event.
  const json& last = events.back();
  EXPECT_TRUE(last.contains("error") || !last["choices"][0]["finish_reason"].is_null())
      << last.dump();
  EXPECT_EQ(f.server.stop(), 0) << f.server.log;
}

}  // namespace
}  // namespace r1
