// r1 chat-template render|detect|show|parse-output: chat templates and the output parser.
//
//   r1 chat-template render (--template FILE | --family NAME) [--bos S] [--eos S]
//                           [--no-generation-prompt] [--no-think] [--jsonl]  < conversation.json
//   r1 chat-template detect --template FILE
//   r1 chat-template show --family NAME
//   r1 chat-template parse-output [--starts-in-content] [--no-tools] [--piece-bytes N]
//                                 [--events]  < generated.txt
//
// FILE is a .gguf (tokenizer.chat_template and the BOS/EOS token strings), a
// tokenizer_config.json ("chat_template", "bos_token", "eos_token") or a bare Jinja text.
// With --jsonl every stdin line is one conversation and every output line one JSON object,
// {"prompt": "..."} or {"error": "..."}; a line that is an object may carry
// "add_generation_prompt" and "thinking" to override the flags for that conversation.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "chat/reasoning_parser.h"
#include "chat/template.h"
#include "cli/command.h"
#include "core/error.h"
#include "formats/gguf.h"

namespace r1::cli {
namespace {

using nlohmann::json;

struct TemplateSource {
  std::string text;
  std::string bos;  // empty: not given by the file
  std::string eos;
};

std::string read_all(std::istream& in) {
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::string read_file_text(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error(path + ": cannot open");
  return read_all(f);
}

std::string token_string(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string())
    return v["content"].get<std::string>();
  return {};
}

std::string gguf_token(const gguf::File& f, const char* id_key, const std::string& path) {
  const gguf::Value* id = f.find(id_key);
  const gguf::Value* tokens = f.find("tokenizer.ggml.tokens");
  if (!id || !tokens || !id->as_uint() || !tokens->as_array()) return {};
  const auto& items = tokens->as_array()->items;
  const uint64_t i = *id->as_uint();
  if (i >= items.size())
    throw Error(path + ": " + id_key + " " + std::to_string(i) + " out of range");
  const std::string* s = items[i].as_string();
  return s ? *s : std::string();
}

TemplateSource load_template_source(const std::string& path) {
  TemplateSource src;
  std::string bytes = read_file_text(path);
  if (bytes.compare(0, 4, "GGUF") == 0) {
    const gguf::File f = gguf::File::open(path);
    const gguf::Value* t = f.find("tokenizer.chat_template");
    if (!t || !t->as_string()) throw Error(path + ": no tokenizer.chat_template in this GGUF");
    src.text = *t->as_string();
    src.bos = gguf_token(f, "tokenizer.ggml.bos_token_id", path);
    src.eos = gguf_token(f, "tokenizer.ggml.eos_token_id", path);
    return src;
  }
  const json j = json::parse(bytes, nullptr, /*allow_exceptions=*/false);
  if (j.is_object() && j.contains("chat_template")) {
    const json& t = j["chat_template"];
    if (t.is_string()) {
      src.text = t.get<std::string>();
    } else if (t.is_array()) {
      // [{"name": "default", "template": "..."}, ...]
      for (const json& e : t)
        if (e.is_object() && e.value("name", "") == "default" && e.contains("template"))
          src.text = e["template"].get<std::string>();
    }
    if (src.text.empty()) throw Error(path + ": \"chat_template\" is not a template text");
    if (j.contains("bos_token")) src.bos = token_string(j["bos_token"]);
    if (j.contains("eos_token")) src.eos = token_string(j["eos_token"]);
    return src;
  }
  src.text = std::move(bytes);
  return src;
}

struct RenderCli {
  std::string template_path;
  std::string family;
  std::string bos, eos;
  bool no_generation_prompt = false;
  bool no_think = false;
  bool jsonl = false;
};

std::string dump(const json& j) {
  return j.dump(-1, ' ', /*ensure_ascii=*/false, json::error_handler_t::strict);
}

void run_render(const RenderCli& o, const CLI::App& sub) {
  if (o.template_path.empty() && o.family.empty())
    throw Error("chat-template render: give --template FILE or --family NAME");
  TemplateSource src;
  if (!o.template_path.empty()) src = load_template_source(o.template_path);
  const chat::ChatTemplate t = o.family.empty() ? chat::detect_chat_template(src.text)
                                                : chat::chat_template_by_name(o.family);
  chat::RenderOptions opts;
  if (sub.count("--bos")) {
    opts.bos = o.bos;
  } else if (!src.bos.empty()) {
    opts.bos = src.bos;
  }
  if (sub.count("--eos")) {
    opts.eos = o.eos;
  } else if (!src.eos.empty()) {
    opts.eos = src.eos;
  }
  opts.add_generation_prompt = !o.no_generation_prompt;
  opts.thinking = !o.no_think;

  if (!o.jsonl) {
    const std::string input = read_all(std::cin);
    json conv;
    try {
      conv = json::parse(input);
    } catch (const json::exception& e) {
      throw Error(std::string("stdin: not a JSON conversation: ") + e.what());
    }
    const std::string prompt = chat::render(t, chat::conversation_from_json(conv), opts);
    std::fwrite(prompt.data(), 1, prompt.size(), stdout);
    return;
  }
  std::string line;
  size_t line_no = 0;
  while (std::getline(std::cin, line)) {
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    json result;
    try {
      json conv;
      try {
        conv = json::parse(line);
      } catch (const json::exception& e) {
        throw Error(std::string("not JSON: ") + e.what());
      }
      chat::RenderOptions line_opts = opts;
      if (conv.is_object()) {
        if (conv.contains("add_generation_prompt"))
          line_opts.add_generation_prompt = conv["add_generation_prompt"].get<bool>();
        if (conv.contains("thinking")) line_opts.thinking = conv["thinking"].get<bool>();
      }
      result["prompt"] = chat::render(t, chat::conversation_from_json(conv), line_opts);
    } catch (const std::exception& e) {
      result = json::object();
      result["error"] = "line " + std::to_string(line_no) + ": " + e.what();
    }
    const std::string out = dump(result) + "\n";
    std::fwrite(out.data(), 1, out.size(), stdout);
  }
}

struct ParseCli {
  bool starts_in_content = false;
  bool no_tools = false;
  size_t piece_bytes = 0;
  bool events = false;
};

json tool_call_json(const chat::ToolCall& c) {
  return {{"type", c.type}, {"function", {{"name", c.name}, {"arguments", c.arguments}}}};
}

void run_parse(const ParseCli& o) {
  const std::string text = read_all(std::cin);
  chat::ParserOptions po;
  po.starts_in_reasoning = !o.starts_in_content;
  po.parse_tool_calls = !o.no_tools;
  chat::ReasoningParser parser(po);
  std::vector<chat::StreamEvent> events;
  const size_t step = o.piece_bytes ? o.piece_bytes : std::max<size_t>(text.size(), 1);
  for (size_t i = 0; i < text.size(); i += step) {
    auto ev = parser.feed(std::string_view(text).substr(i, step));
    events.insert(events.end(), ev.begin(), ev.end());
  }
  auto ev = parser.finish();
  events.insert(events.end(), ev.begin(), ev.end());

  std::string out;
  if (o.events) {
    for (const chat::StreamEvent& e : events) {
      json j = {{"kind", chat::event_kind_name(e.kind)}};
      if (e.kind == chat::EventKind::kToolCall) {
        j["tool_call"] = tool_call_json(e.tool_call);
      } else {
        j["text"] = e.text;
      }
      out += dump(j) + "\n";
    }
  } else {
    chat::ParsedResponse r;
    r.add(events);
    json calls = json::array();
    for (const chat::ToolCall& c : r.tool_calls) calls.push_back(tool_call_json(c));
    json j = {{"reasoning_content", r.reasoning_content},
              {"content", r.content},
              {"tool_calls", calls},
              {"errors", r.errors},
              {"reasoning_closed", parser.reasoning_closed()}};
    out = j.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
}

CommandRegistrar reg([](CLI::App& app) {
  CLI::App* top = app.add_subcommand(
      "chat-template", "Render conversations with a model's chat template; parse model output");
  top->require_subcommand(1);

  auto r = std::make_shared<RenderCli>();
  CLI::App* render = top->add_subcommand(
      "render", "Render the JSON conversation on stdin (messages array or {messages, tools})");
  render->add_option("--template", r->template_path,
                     "the model's template: .gguf, tokenizer_config.json or Jinja text");
  render->add_option("--family", r->family,
                     "force a family: deepseek-r1, deepseek-r1-distill, deepseek-v3, deepseek-v2");
  render->add_option("--bos", r->bos, "BOS token string (default: the file's, else DeepSeek's)");
  render->add_option("--eos", r->eos, "EOS token string (default: the file's, else DeepSeek's)");
  render->add_flag("--no-generation-prompt", r->no_generation_prompt,
                   "do not end with the assistant prompt");
  render->add_flag("--no-think", r->no_think,
                   "R1: end the prompt with an empty think block (answer without reasoning)");
  render->add_flag("--jsonl", r->jsonl,
                   "one conversation per stdin line; one {\"prompt\"|\"error\"} line each");
  render->callback([r, render] { run_render(*r, *render); });

  auto d = std::make_shared<std::string>();
  CLI::App* detect = top->add_subcommand("detect", "Print the family of a model's chat template");
  detect->add_option("--template", *d, "a .gguf, tokenizer_config.json or Jinja text")->required();
  detect->callback([d] {
    const chat::ChatTemplate t = chat::detect_chat_template(load_template_source(*d).text);
    std::printf("%s\n", t.name().c_str());
  });

  auto s = std::make_shared<std::string>();
  CLI::App* show = top->add_subcommand("show", "Print the Jinja text kept for a family");
  show->add_option("--family", *s, "deepseek-r1, deepseek-r1-distill or deepseek-v2")->required();
  show->callback([s] {
    const std::string_view text = chat::builtin_template_text(chat::chat_template_by_name(*s));
    if (text.empty())
      throw Error("no template text is kept for " + *s +
                  " (V3's ships with the model: tokenizer_config.json)");
    std::fwrite(text.data(), 1, text.size(), stdout);
  });

  auto p = std::make_shared<ParseCli>();
  CLI::App* parse = top->add_subcommand(
      "parse-output", "Split generated text on stdin into reasoning, answer and tool calls");
  parse->add_flag("--starts-in-content", p->starts_in_content,
                  "the prompt did not open <think> (default: it did, as R1's does)");
  parse->add_flag("--no-tools", p->no_tools, "do not parse tool-call blocks");
  parse->add_option("--piece-bytes", p->piece_bytes, "feed the text in pieces of N bytes");
  parse->add_flag("--events", p->events, "print the stream events, one JSON object a line");
  parse->callback([p] { run_parse(*p); });
});

}  // namespace
}  // namespace r1::cli
