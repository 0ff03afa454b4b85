#include "server/api.h"

#include <cmath>
#include <limits>
#include <set>

#include "chat/tool_grammar.h"
#include "core/error.h"
#include "sampling/json_schema.h"

namespace r1::server {
namespace {

using json = nlohmann::json;

const char* type_name(const json& v) {
  switch (v.type()) {
    case json::value_t::null:
      return "null";
    case json::value_t::boolean:
      return "a boolean";
    case json::value_t::string:
      return "a string";
    case json::value_t::array:
      return "an array";
    case json::value_t::object:
      return "an object";
    case json::value_t::number_float:
      return "a number";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
      return "an integer";
    default:
      return "an invalid value";
  }
}

ApiError wrong_type(const std::string& field, const char* want, const json& v) {
  return ApiError(400, "'" + field + "' must be " + want + ", not " + type_name(v), field,
                  "invalid_type");
}

ApiError out_of_range(const std::string& field, const std::string& range) {
  return ApiError(400, "'" + field + "' must be " + range, field, "out_of_range");
}

// Reads the optional fields of a request object: each accessor marks its key as known, and
// finish() refuses any key left unknown.
class Fields {
 public:
  explicit Fields(const json& obj) : obj_(obj) {}

  // The value, or nullptr when absent or null (null means "the default", as OpenAI's API does).
  const json* get(const std::string& key) {
    known_.insert(key);
    auto it = obj_.find(key);
    if (it == obj_.end() || it->is_null()) return nullptr;
    return &*it;
  }
  bool boolean(const std::string& key, bool dflt) {
    const json* v = get(key);
    if (v == nullptr) return dflt;
    if (!v->is_boolean()) throw wrong_type(key, "a boolean", *v);
    return v->get<bool>();
  }
  double number(const std::string& key, double dflt, double lo, double hi, bool lo_open = false) {
    const json* v = get(key);
    if (v == nullptr) return dflt;
    if (!v->is_number()) throw wrong_type(key, "a number", *v);
    const double x = v->get<double>();
    if (!std::isfinite(x) || x < lo || x > hi || (lo_open && x == lo))
      throw out_of_range(key, std::string(lo_open ? "> " : ">= ") + fmt(lo) + " and <= " + fmt(hi));
    return x;
  }
  int64_t integer(const std::string& key, int64_t dflt, int64_t lo, int64_t hi) {
    const json* v = get(key);
    if (v == nullptr) return dflt;
    if (!v->is_number_integer()) throw wrong_type(key, "an integer", *v);
    if (v->is_number_unsigned()) {
      const uint64_t u = v->get<uint64_t>();
      if (u > static_cast<uint64_t>(hi) || (lo > 0 && u < static_cast<uint64_t>(lo)))
        throw out_of_range(key,
                           "an integer from " + std::to_string(lo) + " to " + std::to_string(hi));
      return static_cast<int64_t>(u);
    }
    const int64_t x = v->get<int64_t>();
    if (x < lo || x > hi)
      throw out_of_range(key,
                         "an integer from " + std::to_string(lo) + " to " + std::to_string(hi));
    return x;
  }
  std::string string(const std::string& key, const std::string& dflt, size_t max_bytes) {
    const json* v = get(key);
    if (v == nullptr) return dflt;
    if (!v->is_string()) throw wrong_type(key, "a string", *v);
    const std::string& s = v->get_ref<const std::string&>();
    if (s.size() > max_bytes)
      throw out_of_range(key, "at most " + std::to_string(max_bytes) + " bytes long");
    return s;
  }
  void finish() const {
    for (const auto& [k, v] : obj_.items())
      if (!known_.count(k))
        throw ApiError(400, "unrecognized request argument '" + k + "'", k, "unknown_parameter");
  }

 private:
  static std::string fmt(double x) {
    std::string s = std::to_string(x);
    while (s.size() > 1 && s.back() == '0') s.pop_back();
    if (!s.empty() && s.back() == '.') s.pop_back();
    return s;
  }
  const json& obj_;
  std::set<std::string> known_;
};

// The parameters chat and completion requests share.
GenerationParams common_params(Fields& f, const Limits& limits, const Defaults& d,
                               int64_t vocab_size) {
  GenerationParams g;
  g.model = f.string("model", "", 256);
  g.stream = f.boolean("stream", false);
  if (const json* so = f.get("stream_options")) {
    if (!so->is_object()) throw wrong_type("stream_options", "an object", *so);
    Fields sf(*so);
    g.include_usage = sf.boolean("include_usage", false);
    try {
      sf.finish();
    } catch (const ApiError& e) {
      throw ApiError(400, std::string(e.what()) + " in 'stream_options'",
                     "stream_options." + e.param, e.code);
    }
    if (!g.stream)
      throw ApiError(400, "'stream_options' is only allowed when 'stream' is true",
                     "stream_options");
  }
  const int64_t max_hi = limits.max_tokens > 0 ? limits.max_tokens : (int64_t{1} << 30);
  g.max_tokens = f.integer("max_tokens", -1, 1, max_hi);
  const int64_t mct = f.integer("max_completion_tokens", -1, 1, max_hi);
  if (mct >= 0) g.max_tokens = g.max_tokens >= 0 ? std::min(g.max_tokens, mct) : mct;
  if (g.max_tokens < 0) g.max_tokens = d.max_tokens;

  SamplingParams& s = g.sampling;
  s = d.sampling;
  s.temperature = static_cast<float>(f.number("temperature", s.temperature, 0.0, 2.0));
  s.top_p = static_cast<float>(f.number("top_p", s.top_p, 0.0, 1.0, true));
  s.top_k = static_cast<int32_t>(f.integer("top_k", s.top_k, 0, vocab_size));
  s.min_p = static_cast<float>(f.number("min_p", s.min_p, 0.0, 1.0));
  s.presence_penalty =
      static_cast<float>(f.number("presence_penalty", s.presence_penalty, -2.0, 2.0));
  s.frequency_penalty =
      static_cast<float>(f.number("frequency_penalty", s.frequency_penalty, -2.0, 2.0));
  s.repeat_penalty =
      static_cast<float>(f.number("repetition_penalty", s.repeat_penalty, 0.0, 10.0, true));
  const json* seed = f.get("seed");
  if (seed != nullptr) {
    if (!seed->is_number_integer()) throw wrong_type("seed", "an integer", *seed);
    s.seed = seed->is_number_unsigned() ? seed->get<uint64_t>()
                                        : static_cast<uint64_t>(seed->get<int64_t>());
  }
  if (f.integer("n", 1, 1, std::numeric_limits<int32_t>::max()) != 1)
    throw ApiError(422, "'n' must be 1: one choice per request", "n", "unsupported_value");

  if (const json* st = f.get("stop")) {
    std::vector<json> items;
    if (st->is_string())
      items.push_back(*st);
    else if (st->is_array())
      items.assign(st->begin(), st->end());
    else
      throw wrong_type("stop", "a string or an array of strings", *st);
    if (items.size() > limits.max_stop)
      throw out_of_range("stop", "at most " + std::to_string(limits.max_stop) + " strings");
    for (size_t i = 0; i < items.size(); ++i) {
      const std::string field = "stop[" + std::to_string(i) + "]";
      if (!items[i].is_string()) throw wrong_type(field, "a string", items[i]);
      const auto& str = items[i].get_ref<const std::string&>();
      if (str.empty() || str.size() > limits.max_stop_bytes)
        throw ApiError(
            400,
            "'" + field + "' must be 1 to " + std::to_string(limits.max_stop_bytes) + " bytes long",
            "stop", "out_of_range");
      g.stop.push_back(str);
    }
  }
  if (const json* lb = f.get("logit_bias")) {
    if (!lb->is_object()) throw wrong_type("logit_bias", "an object", *lb);
    if (lb->size() > limits.max_logit_bias)
      throw out_of_range("logit_bias",
                         "at most " + std::to_string(limits.max_logit_bias) + " entries");
    for (const auto& [k, v] : lb->items()) {
      int64_t id = -1;
      if (!k.empty() && k.size() <= 10 && k.find_first_not_of("0123456789") == std::string::npos)
        id = std::stoll(k);
      if (id < 0 || id >= vocab_size)
        throw ApiError(400, "'logit_bias' key '" + k + "' is not a token id of this model",
                       "logit_bias", "out_of_range");
      if (!v.is_number()) throw wrong_type("logit_bias." + k, "a number", v);
      const double b = v.get<double>();
      if (!std::isfinite(b) || b < -100 || b > 100)
        throw out_of_range("logit_bias." + k, "from -100 to 100");
      s.logit_bias[static_cast<int32_t>(id)] =
          b <= -100 ? -std::numeric_limits<float>::infinity() : static_cast<float>(b);
    }
  }
  if (f.boolean("logprobs", false))
    throw ApiError(422, "'logprobs' is not supported", "logprobs", "unsupported_value");
  if (f.integer("top_logprobs", 0, 0, 20) != 0)
    throw ApiError(422, "'top_logprobs' is not supported", "top_logprobs", "unsupported_value");
  f.string("user", "", 256);  // accepted, unused
  // Sent by some OpenAI clients; accepted and ignored.
  f.boolean("store", false);
  if (const json* md = f.get("metadata"); md != nullptr && !md->is_object())
    throw wrong_type("metadata", "an object", *md);
  f.string("service_tier", "", 64);

  g.thinking = f.boolean("thinking", d.thinking);
  g.think_budget = d.think_budget;
  if (const json* re = f.get("reasoning_effort")) {
    if (!re->is_string()) throw wrong_type("reasoning_effort", "a string", *re);
    const auto& e = re->get_ref<const std::string&>();
    if (e != "low" && e != "medium" && e != "high")
      throw ApiError(400, "'reasoning_effort' must be \"low\", \"medium\" or \"high\"",
                     "reasoning_effort", "invalid_value");
    g.think_budget = think_budget_of_effort(e);
  }
  g.think_budget = f.integer("think_budget", g.think_budget, -1, int64_t{1} << 30);
  g.ignore_eos = f.boolean("ignore_eos", false);
  return g;
}

}  // namespace

json error_json(const ApiError& e) {
  json err = {{"message", e.what()},
              {"type", e.type},
              {"param", e.param.empty() ? json(nullptr) : json(e.param)},
              {"code", e.code.empty() ? json(nullptr) : json(e.code)}};
  return json{{"error", err}};
}

std::string dump(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

void check_depth(std::string_view body, int max_depth) {
  int depth = 0;
  bool in_string = false, escaped = false;
  for (char c : body) {
    if (in_string) {
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"')
        in_string = false;
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth)
        throw ApiError(
            400, "the JSON body is nested deeper than " + std::to_string(max_depth) + " levels", {},
            "too_deep");
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
}

json parse_body(std::string_view body, const Limits& limits) {
  if (body.size() > limits.max_body_bytes)
    throw ApiError(
        413, "the request body is larger than " + std::to_string(limits.max_body_bytes) + " bytes",
        {}, "body_too_large");
  check_depth(body, limits.max_depth);
  json j;
  try {
    j = json::parse(body);
  } catch (const json::exception& e) {
    std::string what = e.what();
    // nlohmann's messages start with "[json.exception.parse_error.101] "; keep the rest.
    if (auto p = what.find("] "); p != std::string::npos) what = what.substr(p + 2);
    throw ApiError(400, "the request body is not valid JSON: " + what, {}, "invalid_json");
  }
  if (!j.is_object())
    throw ApiError(400, std::string("the request body must be a JSON object, not ") + type_name(j),
                   {}, "invalid_type");
  return j;
}

int64_t think_budget_of_effort(std::string_view effort) {
  if (effort == "low") return 256;
  if (effort == "medium") return 1024;
  return -1;
}

ChatRequest parse_chat_request(const json& body, const Limits& limits, const Defaults& defaults,
                               int64_t vocab_size) {
  Fields f(body);
  ChatRequest r;
  const json* messages = f.get("messages");
  if (messages == nullptr)
    throw ApiError(400, "'messages' is required", "messages", "missing_required_parameter");
  if (!messages->is_array()) throw wrong_type("messages", "an array", *messages);
  if (messages->empty())
    throw ApiError(400, "'messages' must hold at least one message", "messages", "empty_array");
  if (messages->size() > limits.max_messages)
    throw out_of_range("messages", "at most " + std::to_string(limits.max_messages) + " messages");
  json conv = {{"messages", *messages}};
  const json* tools = f.get("tools");
  if (tools != nullptr) {
    if (!tools->is_array()) throw wrong_type("tools", "an array", *tools);
    if (tools->size() > limits.max_tools)
      throw out_of_range("tools", "at most " + std::to_string(limits.max_tools) + " tools");
    conv["tools"] = *tools;
  }
  // tool_choice: "none" | "auto" | "required" | {"type":"function","function":{"name":...}}.
  bool tool_choice_none = false, tool_choice_forced = false;
  std::string forced_name;  // a named function (else any of the tools)
  if (const json* tc = f.get("tool_choice")) {
    if (tc->is_string()) {
      const auto& s = tc->get_ref<const std::string&>();
      if (s == "none")
        tool_choice_none = true;
      else if (s == "required")
        tool_choice_forced = true;
      else if (s != "auto")
        throw ApiError(400, "'tool_choice' must be \"none\", \"auto\", \"required\" or a function",
                       "tool_choice");
    } else if (tc->is_object()) {
      auto fn = tc->find("function");
      auto name = fn != tc->end() && fn->is_object() ? fn->find("name") : tc->end();
      if (tc->value("type", json()) != "function" || fn == tc->end() || !fn->is_object() ||
          name == fn->end() || !name->is_string())
        throw ApiError(
            400, "'tool_choice' must be {\"type\": \"function\", \"function\": {\"name\": NAME}}",
            "tool_choice");
      tool_choice_forced = true;
      forced_name = name->get<std::string>();
    } else {
      throw wrong_type("tool_choice", "a string or an object", *tc);
    }
  }
  // DeepSeek's format allows several calls; false limits a forced answer to one.
  const bool parallel_calls = f.boolean("parallel_tool_calls", true);
  // response_format: {"type":"text"} | {"type":"json_object"} |
  // {"type":"json_schema","json_schema":{"name":...,"schema":{...},"strict":...}}.
  const json* json_schema = nullptr;
  bool json_answer = false;
  if (const json* rf = f.get("response_format")) {
    if (!rf->is_object()) throw wrong_type("response_format", "an object", *rf);
    Fields rff(*rf);
    const std::string type = rff.string("type", "", 64);
    if (type == "json_schema") {
      const json* js = rff.get("json_schema");
      if (js == nullptr || !js->is_object())
        throw ApiError(400, "'response_format.json_schema' must be an object with a 'schema'",
                       "response_format.json_schema");
      Fields jf(*js);
      jf.string("name", "", 256);
      jf.string("description", "", 1 << 16);
      jf.boolean("strict", false);
      json_schema = jf.get("schema");
      if (json_schema == nullptr)
        throw ApiError(400, "'response_format.json_schema.schema' is required",
                       "response_format.json_schema.schema", "missing_required_parameter");
      try {
        jf.finish();
      } catch (const ApiError& e) {
        throw ApiError(400, std::string(e.what()) + " in 'response_format.json_schema'",
                       "response_format.json_schema." + e.param, e.code);
      }
      json_answer = true;
    } else if (type == "json_object") {
      json_answer = true;
    } else if (type != "text") {
      throw ApiError(400,
                     "'response_format.type' must be \"text\", \"json_object\" or \"json_schema\"",
                     "response_format.type");
    }
    try {
      rff.finish();
    } catch (const ApiError& e) {
      throw ApiError(400, std::string(e.what()) + " in 'response_format'",
                     "response_format." + e.param, e.code);
    }
  }
  r.gen = common_params(f, limits, defaults, vocab_size);
  f.finish();
  try {
    r.conversation = chat::conversation_from_json(conv);
  } catch (const Error& e) {
    const std::string what = e.what();
    const bool about_tools = what.rfind("tool ", 0) == 0 || what.rfind("tools", 0) == 0;
    throw ApiError(400, what, about_tools ? "tools" : "messages", "invalid_value");
  }
  r.tools_enabled = !r.conversation.tools.empty() && !tool_choice_none;
  if (tool_choice_none) r.conversation.tools.clear();
  if (tool_choice_forced) {
    if (r.conversation.tools.empty())
      throw ApiError(400, "'tool_choice' forces a tool call but no 'tools' are given",
                     "tool_choice");
    if (json_answer)
      throw ApiError(400, "'response_format' JSON cannot be combined with a forced tool call",
                     "response_format");
    std::vector<chat::Tool> callable;
    for (const auto& t : r.conversation.tools)
      if (forced_name.empty() || t.name == forced_name) callable.push_back(t);
    if (callable.empty())
      throw ApiError(400, "'tool_choice' names function '" + forced_name + "', not one of 'tools'",
                     "tool_choice");
    try {
      r.grammar = chat::tool_call_grammar(callable, parallel_calls && forced_name.empty());
      (void)r.grammar->start();  // too ambiguous a schema fails here, not in the scheduler
    } catch (const Error& e) {
      throw ApiError(400, e.what(), "tools", "invalid_schema");
    }
  } else if (json_answer) {
    try {
      r.grammar = json_grammar::document_grammar(json_schema);
      (void)r.grammar->start();
    } catch (const Error& e) {
      throw ApiError(400, std::string("response_format.json_schema.") + e.what(),
                     "response_format.json_schema.schema", "invalid_schema");
    }
  }
  return r;
}

CompletionRequest parse_completion_request(const json& body, const Limits& limits,
                                           const Defaults& defaults, int64_t vocab_size) {
  Fields f(body);
  CompletionRequest r;
  const json* p = f.get("prompt");
  if (p == nullptr)
    throw ApiError(400, "'prompt' is required", "prompt", "missing_required_parameter");
  if (p->is_array()) {
    if (p->size() != 1 || !(*p)[0].is_string())
      throw ApiError(422, "'prompt' must be a string (or an array of exactly one string)", "prompt",
                     "unsupported_value");
    r.prompt = (*p)[0].get<std::string>();
  } else if (p->is_string()) {
    r.prompt = p->get<std::string>();
  } else {
    throw wrong_type("prompt", "a string", *p);
  }
  if (r.prompt.empty()) throw ApiError(400, "'prompt' must not be empty", "prompt", "empty_prompt");
  if (f.boolean("echo", false))
    throw ApiError(422, "'echo' is not supported", "echo", "unsupported_value");
  if (!f.string("suffix", "", 1 << 20).empty())
    throw ApiError(422, "'suffix' is not supported", "suffix", "unsupported_value");
  if (f.integer("best_of", 1, 1, 1 << 20) != 1)
    throw ApiError(422, "'best_of' must be 1", "best_of", "unsupported_value");
  Defaults d = defaults;
  d.thinking = false;  // raw text: no template, so nothing to think about unless asked
  r.gen = common_params(f, limits, d, vocab_size);
  f.finish();
  return r;
}

json tool_call_json(const chat::ToolCall& c, const std::string& id, size_t index, bool stream) {
  json j = {{"id", id},
            {"type", c.type.empty() ? "function" : c.type},
            {"function", {{"name", c.name}, {"arguments", c.arguments}}}};
  if (stream) j["index"] = index;
  return j;
}

json chat_message_json(const chat::ParsedResponse& p, const std::string& id_base, bool thinking) {
  json msg = {
      {"role", "assistant"},
      {"content", p.tool_calls.empty() || !p.content.empty() ? json(p.content) : json(nullptr)}};
  if (!p.reasoning_content.empty() || thinking) msg["reasoning_content"] = p.reasoning_content;
  if (!p.tool_calls.empty()) {
    json calls = json::array();
    for (size_t i = 0; i < p.tool_calls.size(); ++i)
      calls.push_back(
          tool_call_json(p.tool_calls[i], "call_" + id_base + "-" + std::to_string(i), i, false));
    msg["tool_calls"] = calls;
  }
  return msg;
}

std::string tools_system_prompt(const std::vector<chat::Tool>& tools) {
  std::string s = "You can call these functions:\n";
  for (const auto& t : tools) {
    s += "\n### " + t.name + "\n";
    if (!t.description.empty()) s += t.description + "\n";
    if (!t.parameters.is_null()) s += "Parameters (JSON schema): " + dump(t.parameters) + "\n";
  }
  s += "\nTo call functions, answer with <｜tool▁calls▁begin｜>, then for each call "
       "<｜tool▁call▁begin｜>function<｜tool▁sep｜>NAME\n```json\nARGUMENTS\n```<｜tool▁call▁end｜>"
       ", "
       "then <｜tool▁calls▁end｜>.";
  return s;
}

}  // namespace r1::server
