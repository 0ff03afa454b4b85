// r1 tokenize PATH [--ids] [--chat] [--no-bos]: shows how a model's tokenizer splits text.
#include <chrono>
#include <cstdio>
#include <iostream>
#include <iterator>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "chat/template.h"
#include "cli/command.h"
#include "core/error.h"
#include "tokenizer/tokenizer.h"

namespace r1::cli {
namespace {

struct TokenizeOptions {
  std::string path;
  bool ids = false;
  bool chat = false;
  bool no_bos = false;
  bool no_special = false;
  bool r1_think = false;
  bool jsonl = false;
  bool bench = false;
  double bench_seconds = 2.0;
};

std::string read_stdin() {
  std::string s((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
  return s;
}

// A token's bytes for display: printable UTF-8 as is, the rest escaped.
std::string show_piece(const std::string& bytes) {
  std::string out;
  std::string valid;
  for (size_t i = 0; i < bytes.size();) {
    auto c = static_cast<unsigned char>(bytes[i]);
    if (c == '\n')
      out += "\\n";
    else if (c == '\r')
      out += "\\r";
    else if (c == '\t')
      out += "\\t";
    else if (c == '\\')
      out += "\\\\";
    else if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02X", c);
      out += buf;
    } else if (c < 0x80) {
      out += static_cast<char>(c);
    } else {
      // Keep a whole valid multi-byte character, else escape the byte.
      size_t len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
      std::string ch = bytes.substr(i, len);
      std::string clean;
      r1::utf8_sanitize_append(clean, ch);
      if (len > 1 && ch.size() == len && clean == ch) {
        out += ch;
        i += len;
        continue;
      }
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02X", c);
      out += buf;
    }
    ++i;
  }
  return out;
}

std::string from_hex(const std::string& hex) {
  auto v = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  if (hex.size() % 2 != 0) throw Error("--jsonl: odd-length hex");
  std::string out;
  for (size_t i = 0; i < hex.size(); i += 2) {
    int hi = v(hex[i]), lo = v(hex[i + 1]);
    if (hi < 0 || lo < 0) throw Error("--jsonl: bad hex digit");
    out.push_back(static_cast<char>(hi * 16 + lo));
  }
  return out;
}

// Batch mode for tests: one JSON object per input line, {"text": s} or {"hex": bytes}, optional
// "add_bos" (false) and "parse_special" (true); prints {"ids": [...], "decoded": s} per line.
void run_jsonl(const Tokenizer& tok) {
  std::string line;
  while (std::getline(std::cin, line)) {
    if (line.empty()) continue;
    nlohmann::json in = nlohmann::json::parse(line, nullptr, false);
    if (in.is_discarded() || !in.is_object()) throw Error("--jsonl: a line is not a JSON object");
    std::string text;
    if (in.contains("hex"))
      text = from_hex(in["hex"].get<std::string>());
    else
      text = in.value("text", "");
    auto ids = tok.encode(text, in.value("add_bos", false), in.value("parse_special", true));
    nlohmann::json out;
    out["ids"] = ids;
    out["decoded"] = tok.decode(ids);
    std::string s = out.dump();
    s += '\n';
    std::fwrite(s.data(), 1, s.size(), stdout);
  }
}

void run_bench(const Tokenizer& tok, const std::string& text, double seconds) {
  using clock = std::chrono::steady_clock;
  size_t tokens = tok.encode(text, false).size();  // warm-up
  size_t iters = 0;
  auto t0 = clock::now();
  double elapsed = 0;
  while (elapsed < seconds || iters < 3) {
    tokens = tok.encode(text, false).size();
    ++iters;
    elapsed = std::chrono::duration<double>(clock::now() - t0).count();
  }
  double mb = static_cast<double>(text.size()) * static_cast<double>(iters) / 1e6;
  std::printf("bytes %zu tokens %zu iterations %zu seconds %.3f MB/s %.2f tokens/s %.0f\n",
              text.size(), tokens, iters, elapsed, mb / elapsed,
              static_cast<double>(tokens) * static_cast<double>(iters) / elapsed);
}

void run_tokenize(const TokenizeOptions& o) {
  auto t0 = std::chrono::steady_clock::now();
  Tokenizer tok = Tokenizer::from_path(o.path);
  if (o.r1_think) tok.apply_r1_think_tokens();
  double load_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (o.jsonl) return run_jsonl(tok);
  std::string text = read_stdin();
  if (o.bench) {
    std::printf("load seconds %.3f vocab %zu merges %zu pre %s\n", load_s, tok.vocab_size(),
                tok.merges_count(), tok.pre_tokenizer().c_str());
    return run_bench(tok, text, o.bench_seconds);
  }
  bool add_bos = tok.add_bos() && !o.no_bos;
  if (o.chat) {
    nlohmann::json conv = nlohmann::json::parse(text, nullptr, false);
    if (conv.is_discarded()) throw Error("--chat: standard input is not JSON");
    text = chat::render_conversation(tok.chat_template(), conv, tok.bos_text(), tok.eos_text());
    // The template writes BOS itself.
    if (!tok.bos_text().empty() && text.rfind(tok.bos_text(), 0) == 0) add_bos = false;
  }
  std::vector<int32_t> ids = tok.encode(text, add_bos, !o.no_special);
  std::string out;
  if (o.ids) {
    for (size_t i = 0; i < ids.size(); ++i) {
      if (i) out += ' ';
      out += std::to_string(ids[i]);
    }
    out += '\n';
  } else {
    for (int32_t id : ids) {
      out += std::to_string(id);
      out += "\t'";
      out += show_piece(tok.token_bytes(id));
      out += "'\n";
    }
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
}

CommandRegistrar reg([](CLI::App& app) {
  auto o = std::make_shared<TokenizeOptions>();
  CLI::App* cmd = app.add_subcommand(
      "tokenize", "Tokenize standard input with a model's tokenizer (id and piece per line)");
  cmd->add_option("path", o->path, "a .gguf model or vocabulary, a tokenizer.json, or a folder")
      ->required();
  cmd->add_flag("--ids", o->ids, "print only the ids, space-separated on one line");
  cmd->add_flag("--chat", o->chat,
                "standard input is a JSON conversation, rendered with the model's chat template");
  cmd->add_flag("--no-bos", o->no_bos, "do not add the BOS token");
  cmd->add_flag("--no-special", o->no_special, "tokenize special-token strings as plain text");
  cmd->add_flag("--r1-think", o->r1_think,
                "give a DeepSeek-V3 vocabulary R1's <think> and </think> tokens");
  cmd->add_flag("--bench", o->bench, "measure single-threaded encoding speed of standard input");
  cmd->add_option("--bench-seconds", o->bench_seconds, "how long --bench runs")->group("");
  cmd->add_flag("--jsonl", o->jsonl, "batch mode for tests (JSON lines in and out)")->group("");
  cmd->callback([o] { run_tokenize(*o); });
});

}  // namespace
}  // namespace r1::cli
