// r1 run [MODEL]: chat with a model from the terminal (interactive when standard input is a
// terminal), or answer one prompt (-p TEXT, or the prompt on standard input) for scripts.
// Reasoning is shown apart from the answer: dimmed on a terminal, between <think> and </think>
// when piped, or hidden with --hide-thinking.
#include <poll.h>
#include <signal.h>
#include <termios.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>
#include <memory>
#include <sstream>

#include "chat/conversation.h"
#include "cli/command.h"
#include "cli/sampling_options.h"
#include "core/error.h"
#include "engine/session.h"
#include "kernels/simd.h"
#include "model/forward.h"
#include "model/source.h"
#include "model/warmup.h"
#include "tools/test_model.h"

namespace r1::cli {
namespace {

struct RunOptions {
  std::string model;
  std::string prompt;
  std::string system;
  std::string chat_template;
  std::vector<std::string> stop;
  int64_t n_predict = -1;
  int64_t n_ctx = 4096;
  int threads = 0;  // 0 = all hardware threads
  bool no_warmup = false;
  SamplingParams sampling = deepseek_r1_defaults();
  int64_t think_budget = -1;
  std::string think_budget_message;
  bool no_think = false;
  bool hide_thinking = false;
  bool drop_oldest = false;
  bool verbose = false;
  bool ignore_eos = false;
  // Which sampling flags were given (the others may come from the checkpoint's
  // generation_config.json).
  bool temp_given = false, top_p_given = false, top_k_given = false;
};

// ---- signals: the first Ctrl-C cancels the generation, a second one exits.
std::atomic<bool> g_cancel{false};
volatile sig_atomic_t g_interrupts = 0;
volatile sig_atomic_t g_generating = 0;
termios g_orig{};                        // the terminal's settings before r1 run changed them
volatile sig_atomic_t g_term_saved = 0;  // g_orig holds them and they must be restored

void on_sigint(int) {
  g_cancel.store(true);
  g_interrupts = g_interrupts + 1;
  if (g_interrupts >= 2 && g_generating) {
    const char msg[] = "\n";
    (void)!write(STDOUT_FILENO, msg, 1);
    if (g_term_saved) tcsetattr(STDIN_FILENO, TCSANOW, &g_orig);
    _exit(130);
  }
}

void install_sigint() {
  struct sigaction sa = {};
  sa.sa_handler = on_sigint;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: a read at the prompt returns EINTR
  sigaction(SIGINT, &sa, nullptr);
}

// ---- the demo model, made once in the cache folder.
std::string demo_model_path() {
  std::filesystem::path dir;
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x != nullptr && *x != '\0')
    dir = std::filesystem::path(x) / "r1";
  else if (const char* h = std::getenv("HOME"); h != nullptr && *h != '\0')
    dir = std::filesystem::path(h) / ".cache" / "r1";
  else
    dir = std::filesystem::temp_directory_path() / "r1-cache";
  const std::filesystem::path file = dir / "demo-deepseek_v3-tiny-q8_0.gguf";
  if (std::filesystem::exists(file)) return file.string();
  std::filesystem::create_directories(dir);
  std::fprintf(stderr, "r1: making the tiny demo model (random weights) at %s\n",
               file.string().c_str());
  TestModelOptions t;
  t.config = test_model_config("tiny", Arch::kDeepSeekV3);
  t.weights = parse_weight_type("Q8_0");
  t.progress = false;
  const std::string tmp = file.string() + ".tmp" + std::to_string(getpid());
  write_test_model(t, tmp);
  std::filesystem::rename(tmp, file);
  return file.string();
}

// ---- output: reasoning apart from the answer.
class Printer {
 public:
  Printer(bool tty, bool hide) : tty_(tty), hide_(hide) {}
  void on_event(const chat::StreamEvent& e) {
    if (e.kind == chat::EventKind::kReasoning) {
      if (hide_) return;
      if (!in_reasoning_) {
        out(tty_ ? "\x1b[2mThinking: " : "<think>\n");
        in_reasoning_ = true;
      }
      text(e.text);
    } else if (e.kind == chat::EventKind::kContent) {
      close_reasoning();
      text(e.text);
    } else if (e.kind == chat::EventKind::kError) {
      close_reasoning();
      out("[" + e.text + "]");
    }
  }
  void close_reasoning() {
    if (!in_reasoning_) return;
    out(tty_ ? "\x1b[0m\n\n" : "\n</think>\n\n");
    in_reasoning_ = false;
  }
  void end() {
    close_reasoning();
    out("\n");
  }
  void out(std::string_view s) {
    std::fwrite(s.data(), 1, s.size(), stdout);
    std::fflush(stdout);
  }
  // Model text: on a terminal, control characters (other than newline and tab) are shown as
  // U+FFFD so generated escape sequences cannot drive the terminal.
  void text(std::string_view s) {
    if (!tty_) return out(s);
    std::string t;
    for (char ch : s) {
      const unsigned char u = static_cast<unsigned char>(ch);
      if ((u < 0x20 && ch != '\n' && ch != '\t') || u == 0x7f)
        t += "\xEF\xBF\xBD";
      else
        t += ch;
    }
    out(t);
  }

 private:
  bool tty_, hide_;
  bool in_reasoning_ = false;
};

void print_stats(const engine::TurnStats& s) {
  std::fprintf(stderr,
               "[%lld tokens (%lld thinking%s), %.1f tokens/s, first token after %.2f s, "
               "prompt %lld tokens (%lld reused), %s]\n",
               static_cast<long long>(s.generated), static_cast<long long>(s.thinking_tokens),
               s.inserted ? ", think budget reached" : "", s.tokens_per_s(),
               s.time_to_first_token_s, static_cast<long long>(s.prompt_tokens),
               static_cast<long long>(s.reused_tokens), engine::finish_name(s.finish));
}

engine::TurnResult answer(engine::ChatSession& session, const std::string& text, bool tty,
                          bool hide, bool verbose) {
  Printer p(tty, hide);
  g_cancel.store(false);
  g_interrupts = 0;
  g_generating = 1;
  engine::TurnResult r;
  try {
    r = session.send(
        text, [&](const chat::StreamEvent& e) { p.on_event(e); }, &g_cancel);
  } catch (...) {
    g_generating = 0;
    throw;
  }
  g_generating = 0;
  if (r.stats.finish == engine::Finish::kCancelled) {
    p.close_reasoning();
    p.out(" [interrupted]");
  }
  p.end();
  if (r.stats.finish == engine::Finish::kContext)
    std::fprintf(stderr, "[the context (%lld tokens) is full: /drop the oldest turn or /reset]\n",
                 static_cast<long long>(session.options().n_ctx));
  if (verbose) print_stats(r.stats);
  return r;
}

// ---- the interactive loop.
enum class ReadResult { kLine, kEof, kInterrupted };

// One line from standard input (the terminal's own line editing applies), without its newline.
// kInterrupted once Ctrl-C has been pressed more than `interrupts_seen` times (also when the
// signal came before the read started: the count is polled, not only read's EINTR).
ReadResult read_line(std::string& line, sig_atomic_t interrupts_seen) {
  line.clear();
  for (;;) {
    if (g_interrupts > interrupts_seen) return ReadResult::kInterrupted;
    struct pollfd p = {STDIN_FILENO, POLLIN, 0};
    const int ready = poll(&p, 1, 100);
    if (ready < 0 && errno == EINTR) continue;
    if (ready == 0) continue;
    char c;
    const ssize_t n = read(STDIN_FILENO, &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return line.empty() ? ReadResult::kEof : ReadResult::kLine;
    if (c == '\n') return ReadResult::kLine;
    line.push_back(c);
  }
}

// A small line editor for the terminal (raw mode while a line is read): Left/Right, Home/End,
// Backspace/Delete, Up/Down through the history, Ctrl-A/E/B/F/P/N/U/K/W/L, Ctrl-D on an empty
// line ends the input, Ctrl-C reports kInterrupted. Without a terminal it reads plain lines.
class LineEditor {
 public:
  // On a terminal, the whole session runs without canonical mode and echo (so text typed ahead
  // while an answer streams waits for the editor, Ctrl-D included); Ctrl-C raises SIGINT except
  // while a line is being edited. The destructor restores the terminal.
  LineEditor() {
    if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO) || tcgetattr(STDIN_FILENO, &g_orig) != 0)
      return;
    g_term_saved = 1;
    base_ = g_orig;
    base_.c_lflag &= ~static_cast<tcflag_t>(ICANON | ECHO | IEXTEN);
    base_.c_lflag |= ISIG | NOFLSH;
    base_.c_iflag &= ~static_cast<tcflag_t>(IXON | ICRNL);
    base_.c_cc[VMIN] = 1;
    base_.c_cc[VTIME] = 0;
    raw_ = base_;
    raw_.c_lflag &= ~static_cast<tcflag_t>(ISIG);
    tcsetattr(STDIN_FILENO, TCSANOW, &base_);
  }
  ~LineEditor() {
    if (g_term_saved) tcsetattr(STDIN_FILENO, TCSANOW, &g_orig);
    g_term_saved = 0;
  }
  LineEditor(const LineEditor&) = delete;
  LineEditor& operator=(const LineEditor&) = delete;

  ReadResult read(const std::string& prompt, std::string& line, sig_atomic_t interrupts_seen) {
    std::fputs(prompt.c_str(), stdout);
    std::fflush(stdout);
    if (!g_term_saved) return read_line(line, interrupts_seen);
    tcsetattr(STDIN_FILENO, TCSANOW, &raw_);
    const ReadResult r = edit(prompt, line, interrupts_seen);
    tcsetattr(STDIN_FILENO, TCSANOW, &base_);
    if (r == ReadResult::kLine && !line.empty() && (history_.empty() || history_.back() != line))
      history_.push_back(line);
    return r;
  }

 private:
  // The next input byte; false at the end of the input or on a signal-driven interrupt.
  static bool next(char& c, sig_atomic_t interrupts_seen) {
    for (;;) {
      if (g_interrupts > interrupts_seen) return false;
      struct pollfd p = {STDIN_FILENO, POLLIN, 0};
      const int ready = poll(&p, 1, 100);
      if (ready <= 0) continue;
      const ssize_t n = ::read(STDIN_FILENO, &c, 1);
      if (n < 0 && errno == EINTR) continue;
      return n == 1;
    }
  }
  static size_t chars(std::string_view s) {  // UTF-8 code points (terminal columns, roughly)
    size_t n = 0;
    for (unsigned char c : s) n += (c & 0xC0) != 0x80;
    return n;
  }
  static void refresh(const std::string& prompt, const std::string& buf, size_t pos) {
    std::string o = "\r" + prompt + buf + "\x1b[K";
    const size_t back = chars(std::string_view(buf).substr(pos));
    if (back > 0) o += "\x1b[" + std::to_string(back) + "D";
    std::fwrite(o.data(), 1, o.size(), stdout);
    std::fflush(stdout);
  }
  ReadResult edit(const std::string& prompt, std::string& line, sig_atomic_t seen) {
    std::string buf;
    size_t pos = 0;
    size_t hist = history_.size();
    std::string draft;
    auto left = [&] {
      while (pos > 0 && (static_cast<unsigned char>(buf[--pos]) & 0xC0) == 0x80) {
      }
    };
    auto right = [&] {
      if (pos < buf.size()) ++pos;
      while (pos < buf.size() && (static_cast<unsigned char>(buf[pos]) & 0xC0) == 0x80) ++pos;
    };
    auto recall = [&](size_t h) {
      if (hist == history_.size()) draft = buf;
      hist = h;
      buf = hist == history_.size() ? draft : history_[hist];
      pos = buf.size();
    };
    for (;;) {
      char c;
      if (!next(c, seen)) {
        std::fputs("\r\n", stdout);
        if (g_interrupts > seen) return ReadResult::kInterrupted;
        line = buf;
        return buf.empty() ? ReadResult::kEof : ReadResult::kLine;
      }
      const unsigned char u = static_cast<unsigned char>(c);
      if (c == '\r' || c == '\n') {
        std::fputs("\r\n", stdout);
        std::fflush(stdout);
        line = buf;
        return ReadResult::kLine;
      } else if (u == 3) {  // Ctrl-C
        std::fputs("^C\r\n", stdout);
        std::fflush(stdout);
        return ReadResult::kInterrupted;
      } else if (u == 4) {  // Ctrl-D
        if (buf.empty()) {
          std::fputs("\r\n", stdout);
          return ReadResult::kEof;
        }
        const size_t at = pos;
        right();
        buf.erase(at, pos - at);
        pos = at;
      } else if (u == 127 || u == 8) {
        const size_t at = pos;
        left();
        buf.erase(pos, at - pos);
      } else if (u == 1) {
        pos = 0;
      } else if (u == 5) {
        pos = buf.size();
      } else if (u == 2) {
        left();
      } else if (u == 6) {
        right();
      } else if (u == 21) {
        buf.erase(0, pos);
        pos = 0;
      } else if (u == 11) {
        buf.erase(pos);
      } else if (u == 23) {  // delete the word before the cursor
        size_t at = pos;
        while (at > 0 && buf[at - 1] == ' ') --at;
        while (at > 0 && buf[at - 1] != ' ') --at;
        buf.erase(at, pos - at);
        pos = at;
      } else if (u == 12) {
        std::fputs("\x1b[H\x1b[2J", stdout);
      } else if (u == 16 || u == 14) {
        if (u == 16 && hist > 0) recall(hist - 1);
        if (u == 14 && hist < history_.size()) recall(hist + 1);
      } else if (u == 27) {  // escape sequences: arrows, Home/End, Delete
        char a, b;
        if (!next(a, seen) || !next(b, seen)) continue;
        if (a == '[' && b >= '0' && b <= '9') {
          char t;
          if (!next(t, seen)) continue;
          if (b == '3' && t == '~' && pos < buf.size()) {
            const size_t at = pos;
            right();
            buf.erase(at, pos - at);
            pos = at;
          } else if ((b == '1' || b == '7') && t == '~') {
            pos = 0;
          } else if ((b == '4' || b == '8') && t == '~') {
            pos = buf.size();
          }
        } else if (b == 'A' && hist > 0) {
          recall(hist - 1);
        } else if (b == 'B' && hist < history_.size()) {
          recall(hist + 1);
        } else if (b == 'C') {
          right();
        } else if (b == 'D') {
          left();
        } else if (b == 'H') {
          pos = 0;
        } else if (b == 'F') {
          pos = buf.size();
        }
      } else if (u >= 32) {
        buf.insert(pos, 1, c);
        ++pos;
      } else {
        continue;
      }
      refresh(prompt, buf, pos);
    }
  }

  termios base_{}, raw_{};
  std::vector<std::string> history_;
};

const char* kHelp =
    "Type a message and press Enter. End a line with \\ to continue on the next one, or\n"
    "enclose several lines in \"\"\" ... \"\"\". Ctrl-C stops an answer; twice exits.\n"
    "  /help                this text\n"
    "  /exit, /quit         leave (or Ctrl-D)\n"
    "  /reset               forget the conversation\n"
    "  /drop                drop the oldest turn (to make room in the context)\n"
    "  /save FILE           write the conversation as JSON (OpenAI messages)\n"
    "  /load FILE           read a conversation written by /save\n"
    "  /set                 show the settings\n"
    "  /set NAME VALUE      temp, top-k, top-p, min-p, repeat-penalty, presence-penalty,\n"
    "                       frequency-penalty, seed, max-tokens, think-budget, think (on|off),\n"
    "                       hide-thinking (on|off), verbose (on|off), drop-oldest (on|off),\n"
    "                       system TEXT\n";

bool parse_bool(const std::string& v) {
  if (v == "on" || v == "true" || v == "1" || v == "yes") return true;
  if (v == "off" || v == "false" || v == "0" || v == "no") return false;
  throw Error("expected on or off, not '" + v + "'");
}

void show_settings(const engine::SessionOptions& o, bool hide, bool verbose) {
  const SamplingParams& s = o.sampling;
  std::printf(
      "temp %g, top-k %d, top-p %g, min-p %g, repeat-penalty %g, presence-penalty %g, "
      "frequency-penalty %g, seed %llu, max-tokens %lld, think-budget %lld, think %s, "
      "hide-thinking %s, verbose %s, context %lld\n",
      s.temperature, s.top_k, s.top_p, s.min_p, s.repeat_penalty, s.presence_penalty,
      s.frequency_penalty, static_cast<unsigned long long>(s.seed),
      static_cast<long long>(o.max_tokens), static_cast<long long>(o.think_budget),
      o.thinking ? "on" : "off", hide ? "on" : "off", verbose ? "on" : "off",
      static_cast<long long>(o.n_ctx));
}

void set_option(engine::ChatSession& session, const std::string& name, const std::string& value,
                bool& hide, bool& verbose) {
  engine::SessionOptions& o = session.options();
  SamplingParams s = o.sampling;
  auto num = [&]() {
    try {
      size_t used = 0;
      const double v = std::stod(value, &used);
      if (used != value.size()) throw std::invalid_argument(value);
      return v;
    } catch (const std::exception&) {
      throw Error("/set " + name + ": '" + value + "' is not a number");
    }
  };
  if (name == "temp" || name == "temperature")
    s.temperature = static_cast<float>(num());
  else if (name == "top-k")
    s.top_k = static_cast<int32_t>(num());
  else if (name == "top-p")
    s.top_p = static_cast<float>(num());
  else if (name == "min-p")
    s.min_p = static_cast<float>(num());
  else if (name == "repeat-penalty")
    s.repeat_penalty = static_cast<float>(num());
  else if (name == "presence-penalty")
    s.presence_penalty = static_cast<float>(num());
  else if (name == "frequency-penalty")
    s.frequency_penalty = static_cast<float>(num());
  else if (name == "seed")
    s.seed = static_cast<uint64_t>(num());
  else if (name == "max-tokens" || name == "n")
    o.max_tokens = static_cast<int64_t>(num());
  else if (name == "think-budget")
    o.think_budget = static_cast<int64_t>(num());
  else if (name == "think")
    o.thinking = parse_bool(value);
  else if (name == "hide-thinking")
    hide = parse_bool(value);
  else if (name == "verbose")
    verbose = parse_bool(value);
  else if (name == "drop-oldest")
    o.drop_oldest = parse_bool(value);
  else if (name == "system")
    o.system_prompt = value;
  else
    throw Error("/set: unknown setting '" + name + "' (see /help)");
  Sampler check(s);  // validates the ranges
  o.sampling = s;
  std::printf("%s = %s\n", name.c_str(), value.c_str());
}

void interactive(engine::ChatSession& session, const RunOptions& o) {
  const bool tty_out = isatty(STDOUT_FILENO) != 0;
  bool hide = o.hide_thinking, verbose = o.verbose;
  std::printf("Chatting with %s. /help for help, /exit or Ctrl-D to leave.\n", o.model.c_str());
  std::string line;
  LineEditor editor;
  for (;;) {
    g_interrupts = 0;
    ReadResult rr = editor.read("> ", line, 0);
    if (rr == ReadResult::kInterrupted) {
      const sig_atomic_t seen = g_interrupts;  // before the message: a quick second Ctrl-C counts
      std::fputs("(Ctrl-C again to exit, or /exit)\n", stdout);
      rr = editor.read("> ", line, seen);
      if (rr == ReadResult::kInterrupted) {
        std::fputs("\n", stdout);
        return;
      }
    }
    if (rr == ReadResult::kEof) {
      std::fputs("\n", stdout);
      return;
    }
    // Multi-line input.
    std::string text = line;
    if (text == "\"\"\"") {
      text.clear();
      for (;;) {
        if (editor.read("... ", line, g_interrupts) != ReadResult::kLine || line == "\"\"\"") break;
        text += (text.empty() ? "" : "\n") + line;
      }
    } else {
      while (!text.empty() && text.back() == '\\') {
        text.back() = '\n';
        if (editor.read("... ", line, g_interrupts) != ReadResult::kLine) break;
        text += line;
      }
    }
    if (text.find_first_not_of(" \t\r\n") == std::string::npos) continue;
    try {
      if (text[0] == '/') {
        std::istringstream ss(text);
        std::string cmd, arg;
        ss >> cmd;
        std::getline(ss >> std::ws, arg);
        if (cmd == "/exit" || cmd == "/quit" || cmd == "/bye") return;
        if (cmd == "/help" || cmd == "/?") {
          std::fputs(kHelp, stdout);
        } else if (cmd == "/reset" || cmd == "/clear") {
          session.reset();
          std::puts("(conversation cleared)");
        } else if (cmd == "/drop") {
          std::puts(session.drop_oldest_turn() ? "(oldest turn dropped)" : "(nothing to drop)");
        } else if (cmd == "/save") {
          if (arg.empty()) throw Error("/save needs a file name");
          std::ofstream f(arg);
          f << chat::to_json(session.conversation()).dump(2) << "\n";
          f.close();
          if (!f) throw Error("cannot write " + arg);
          std::printf("(saved %zu messages to %s)\n", session.conversation().messages.size(),
                      arg.c_str());
        } else if (cmd == "/load") {
          if (arg.empty()) throw Error("/load needs a file name");
          std::ifstream f(arg);
          if (!f) throw Error("cannot read " + arg);
          nlohmann::json j;
          try {
            j = nlohmann::json::parse(f);
          } catch (const nlohmann::json::exception& e) {
            throw Error(arg + ": not JSON (" + e.what() + ")");
          }
          session.set_conversation(chat::conversation_from_json(j));
          std::printf("(loaded %zu messages from %s)\n", session.conversation().messages.size(),
                      arg.c_str());
        } else if (cmd == "/set") {
          std::istringstream as(arg);
          std::string name, value;
          as >> name;
          std::getline(as >> std::ws, value);
          if (name.empty())
            show_settings(session.options(), hide, verbose);
          else
            set_option(session, name, value, hide, verbose);
        } else {
          std::printf("unknown command %s (see /help)\n", cmd.c_str());
        }
        continue;
      }
      answer(session, text, tty_out, hide, verbose);
    } catch (const engine::ContextFull& e) {
      std::printf(
          "[context full: %s. /drop removes the oldest turn, /reset starts over, "
          "/set drop-oldest on does it automatically]\n",
          e.what());
    } catch (const Error& e) {
      std::printf("[error: %s]\n", e.what());
    }
  }
}

void run(RunOptions o) {
  if (o.model.empty()) {
    o.model = demo_model_path();
    std::fprintf(stderr,
                 "r1: no MODEL given: using the tiny demo model %s\n"
                 "    (random weights: it answers with nonsense; give a model to chat for real)\n",
                 o.model.c_str());
  }
  keep_weights_on_huge_pages();
  ModelSource src = ModelSource::open(o.model);
  src.validate_tensors();
  const int threads = apply_threads(o.threads);
  if (!o.no_warmup) warm_up(src, isatty(STDERR_FILENO) != 0 || o.verbose);
  Model model(bind_weights(src));
  Tokenizer tok = load_tokenizer(src);
  const ModelConfig& c = model.config();
  // Sampling defaults the checkpoint ships, unless a flag says otherwise.
  const GenerationDefaults& gd = src.generation_defaults();
  if (gd.temperature && !o.temp_given) o.sampling.temperature = static_cast<float>(*gd.temperature);
  if (gd.top_p && !o.top_p_given) o.sampling.top_p = static_cast<float>(*gd.top_p);
  if (gd.top_k && !o.top_k_given) o.sampling.top_k = static_cast<int32_t>(*gd.top_k);
  if (c.max_position > 0 && o.n_ctx > c.max_position) {
    std::fprintf(stderr, "r1: -c %lld is more than the model's %lld positions; using %lld\n",
                 static_cast<long long>(o.n_ctx), static_cast<long long>(c.max_position),
                 static_cast<long long>(c.max_position));
    o.n_ctx = c.max_position;
  }
  std::fprintf(stderr, "r1: %s, %s, %.1f MB, context %lld, %d thread%s, %s\n", o.model.c_str(),
               arch_name(c.arch), static_cast<double>(src.file_bytes()) / 1e6,
               static_cast<long long>(o.n_ctx), threads, threads == 1 ? "" : "s",
               simd::isa_summary().c_str());

  engine::SessionOptions so;
  so.n_ctx = o.n_ctx;
  so.max_tokens = o.n_predict;
  so.sampling = o.sampling;
  so.think_budget = o.think_budget;
  so.think_budget_message = o.think_budget_message;
  so.thinking = !o.no_think;
  so.stop = o.stop;
  so.system_prompt = o.system;
  so.drop_oldest = o.drop_oldest;
  if (o.ignore_eos && tok.eos() >= 0)
    so.sampling.logit_bias[tok.eos()] = -std::numeric_limits<float>::infinity();
  std::unique_ptr<engine::ChatSession> session =
      o.chat_template.empty() ? std::make_unique<engine::ChatSession>(model, tok, so)
                              : std::make_unique<engine::ChatSession>(
                                    model, tok, chat::chat_template_by_name(o.chat_template), so);
  install_sigint();

  const bool tty_in = isatty(STDIN_FILENO) != 0;
  if (o.prompt.empty() && tty_in) {
    interactive(*session, o);
    return;
  }
  std::string prompt = o.prompt;
  if (prompt.empty()) {
    std::stringstream ss;
    ss << std::cin.rdbuf();
    prompt = ss.str();
    while (!prompt.empty() && (prompt.back() == '\n' || prompt.back() == '\r')) prompt.pop_back();
    if (prompt.empty()) throw Error("no prompt: give -p TEXT or the prompt on standard input");
  }
  const auto r = answer(*session, prompt, isatty(STDOUT_FILENO) != 0, o.hide_thinking, o.verbose);
  if (r.stats.finish == engine::Finish::kCancelled) throw ExitStatus{130};
}

CommandRegistrar reg([](CLI::App& app) {
  auto o = std::make_shared<RunOptions>();
  CLI::App* sub = app.add_subcommand(
      "run", "Chat with a model in the terminal, or answer one prompt (-p or standard input)");
  sub->add_option("MODEL", o->model,
                  "a .gguf file or a safetensors folder (default: a tiny random-weight demo "
                  "model, made once in ~/.cache/r1)");
  sub->add_option("-m,--model", o->model, "the model (same as MODEL)");
  sub->add_option("-p,--prompt", o->prompt, "answer this prompt and exit");
  sub->add_option("-n,--n-predict", o->n_predict, "tokens per answer (-1 = no limit)")
      ->capture_default_str();
  sub->add_option("-c,--ctx-size", o->n_ctx, "context size in tokens")
      ->check(CLI::Range(2, 1 << 24))
      ->capture_default_str();
  add_thread_option(sub, o->threads);
  sub->add_flag("--no-warmup", o->no_warmup,
                "do not read the model's pages before the first answer");
  add_sampling_options(sub, o->sampling);
  sub->add_option("--think-budget", o->think_budget,
                  "end the reasoning after N thinking tokens by inserting </think> (-1 = off)")
      ->capture_default_str();
  sub->add_option("--think-budget-message", o->think_budget_message,
                  "text written into the reasoning before the forced </think>");
  sub->add_flag("--no-think", o->no_think, "answer without reasoning (an empty think block)");
  sub->add_flag("--hide-thinking", o->hide_thinking, "do not show the reasoning");
  sub->add_option("--stop", o->stop, "stop when the model writes this text (repeatable)");
  sub->add_option("--system", o->system, "a system prompt");
  sub->add_option("--chat-template", o->chat_template,
                  "force a template family (deepseek-r1, deepseek-r1-distill, deepseek-v3, "
                  "deepseek-v2)");
  sub->add_flag("--drop-oldest", o->drop_oldest,
                "when the conversation outgrows the context, drop the oldest turns");
  sub->add_flag("--ignore-eos", o->ignore_eos,
                "never end an answer with the end-of-sequence token (for tests and benchmarks)");
  sub->add_flag("--verbose", o->verbose,
                "after each answer: tokens, thinking tokens, tokens/s, time to first token");
  sub->callback([o, sub] {
    o->temp_given = sub->count("--temp") > 0;
    o->top_p_given = sub->count("--top-p") > 0;
    o->top_k_given = sub->count("--top-k") > 0;
    run(*o);
  });
});

}  // namespace
}  // namespace r1::cli
