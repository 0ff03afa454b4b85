// `r1 run` in a pseudo-terminal: a scripted three-turn conversation with a tiny test model that
// uses /set, interrupts an answer with Ctrl-C, carries on, saves, and checks what the screen
// shows. Every wait has a deadline, so a hang fails the test instead of blocking CI.
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "test_util.h"

namespace r1 {
namespace {

using Clock = std::chrono::steady_clock;

class Terminal {
 public:
  explicit Terminal(const std::vector<std::string>& argv) {
    struct winsize ws = {};
    ws.ws_row = 50;
    ws.ws_col = 200;
    pid_ = forkpty(&fd_, nullptr, nullptr, &ws);
    if (pid_ == 0) {
      std::vector<char*> args;
      for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      execv(args[0], args.data());
      _exit(127);
    }
  }
  ~Terminal() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    if (fd_ >= 0) close(fd_);
  }
  bool started() const { return pid_ > 0; }
  void type(const std::string& s) { ASSERT_EQ(write(fd_, s.data(), s.size()), (ssize_t)s.size()); }
  // Reads until `what` appears after position `from` of the screen text; true when it did.
  bool wait_for(const std::string& what, size_t from, double seconds = 30) {
    const auto end = Clock::now() + std::chrono::duration<double>(seconds);
    while (screen_.find(what, from) == std::string::npos) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - Clock::now());
      if (left.count() <= 0) return false;
      if (!pump(static_cast<int>(left.count())))
        return screen_.find(what, from) != std::string::npos;
    }
    return true;
  }
  // Waits for the child to exit; its status, or -1 after the deadline.
  int wait_exit(double seconds = 20) {
    const auto end = Clock::now() + std::chrono::duration<double>(seconds);
    while (Clock::now() < end) {
      int st = 0;
      pump(50);
      if (waitpid(pid_, &st, WNOHANG) == pid_) {
        pid_ = -1;
        return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      }
    }
    return -1;
  }
  const std::string& screen() const { return screen_; }
  size_t size() const { return screen_.size(); }

 private:
  bool pump(int ms) {
    struct pollfd p = {fd_, POLLIN, 0};
    if (poll(&p, 1, std::min(ms, 200)) <= 0) return true;
    char buf[4096];
    const ssize_t n = read(fd_, buf, sizeof buf);
    if (n <= 0) return false;  // the child closed the terminal
    screen_.append(buf, static_cast<size_t>(n));
    return true;
  }
  int fd_ = -1;
  pid_t pid_ = -1;
  std::string screen_;
};

TEST(RunTerminal, ThreeTurnsWithSetAndCtrlC) {
  test::TempDir dir;
  const std::string model = dir.file("tiny.gguf");
  auto made = test::run_command(test::r1_binary() +
                                " make-test-model -q --arch deepseek_v3 --type Q8_0 " + model);
  ASSERT_EQ(made.exit_code, 0) << made.err;
  // --ignore-eos: the interrupted answer must still be running when Ctrl-C comes.
  Terminal t(
      {test::r1_binary(), "run", model, "--temp", "0", "-n", "12", "-c", "4096", "--ignore-eos"});
  ASSERT_TRUE(t.started());
  ASSERT_TRUE(t.wait_for("/help for help", 0)) << t.screen();
  ASSERT_TRUE(t.wait_for("> ", 0)) << t.screen();

  // Turn 1: an answer streams, the reasoning dimmed, and the prompt comes back.
  size_t mark = t.size();
  t.type("Hello there\r");
  ASSERT_TRUE(t.wait_for("\n> ", mark)) << t.screen();
  EXPECT_NE(t.screen().find("\x1b[2mThinking: ", mark), std::string::npos) << t.screen();

  // /set changes a setting and says so.
  mark = t.size();
  t.type("/set temp 0.7\r");
  ASSERT_TRUE(t.wait_for("temp = 0.7", mark)) << t.screen();
  ASSERT_TRUE(t.wait_for("> ", mark)) << t.screen();
  mark = t.size();
  t.type("/set max-tokens -1\r");
  ASSERT_TRUE(t.wait_for("max-tokens = -1", mark)) << t.screen();

  // Turn 2: a long answer, interrupted by Ctrl-C once it has started.
  mark = t.size();
  t.type("Tell me a very long story\r");
  ASSERT_TRUE(t.wait_for("Thinking: ", mark)) << t.screen();
  const size_t started = t.size();
  ASSERT_TRUE(t.wait_for("", started + 20)) << t.screen();  // some tokens arrived
  t.type("\x03");
  ASSERT_TRUE(t.wait_for("[interrupted]", mark)) << t.screen();
  ASSERT_TRUE(t.wait_for("\n> ", mark)) << t.screen();

  // Turn 3: the session carries on.
  mark = t.size();
  t.type("/set max-tokens 8\r");
  ASSERT_TRUE(t.wait_for("max-tokens = 8", mark)) << t.screen();
  mark = t.size();
  t.type("And a third message\r");
  ASSERT_TRUE(t.wait_for("\n> ", mark + 20)) << t.screen();

  // The conversation holds three user turns and three answers.
  const std::string saved = dir.file("chat.json");
  mark = t.size();
  t.type("/save " + saved + "\r");
  ASSERT_TRUE(t.wait_for("(saved 6 messages", mark)) << t.screen();
  const auto saved_json = nlohmann::json::parse(test::read_file(saved));
  const auto& j = saved_json.is_object() ? saved_json["messages"] : saved_json;
  ASSERT_EQ(j.size(), 6u);
  EXPECT_EQ(j[0]["content"], "Hello there");
  EXPECT_EQ(j[2]["content"], "Tell me a very long story");
  EXPECT_EQ(j[4]["content"], "And a third message");

  // /load reads it back.
  mark = t.size();
  t.type("/reset\r");
  ASSERT_TRUE(t.wait_for("(conversation cleared)", mark)) << t.screen();
  t.type("/load " + saved + "\r");
  ASSERT_TRUE(t.wait_for("(loaded 6 messages", mark)) << t.screen();

  t.type("/exit\r");
  EXPECT_EQ(t.wait_exit(), 0) << t.screen();
}

TEST(RunTerminal, CtrlCTwiceAtThePromptExits) {
  test::TempDir dir;
  const std::string model = dir.file("tiny.gguf");
  auto made = test::run_command(test::r1_binary() +
                                " make-test-model -q --arch deepseek_v3 --type Q8_0 " + model);
  ASSERT_EQ(made.exit_code, 0) << made.err;
  Terminal t({test::r1_binary(), "run", model});
  ASSERT_TRUE(t.wait_for("> ", 0)) << t.screen();
  t.type("\x03");
  ASSERT_TRUE(t.wait_for("Ctrl-C again", 0)) << t.screen();
  t.type("\x03");
  EXPECT_EQ(t.wait_exit(), 0) << t.screen();
}

TEST(RunTerminal, LineEditingAndHistory) {
  test::TempDir dir;
  const std::string model = dir.file("tiny.gguf");
  auto made = test::run_command(test::r1_binary() +
                                " make-test-model -q --arch deepseek_v3 --type Q8_0 " + model);
  ASSERT_EQ(made.exit_code, 0) << made.err;
  Terminal t({test::r1_binary(), "run", model});
  ASSERT_TRUE(t.wait_for("> ", 0)) << t.screen();
  // Left arrow twice, then an insertion: "/set temp .5" becomes "/set temp 0.5".
  size_t mark = t.size();
  t.type("/set temp .5\x1b[D\x1b[D0\r");
  ASSERT_TRUE(t.wait_for("temp = 0.5", mark)) << t.screen();
  // Ctrl-A, Ctrl-K clear the line; Backspace deletes.
  mark = t.size();
  t.type("junk\x01\x0b/set top-k 33\x7f\r");
  ASSERT_TRUE(t.wait_for("top-k = 3\r", mark)) << t.screen();
  // Up recalls the previous line.
  mark = t.size();
  t.type("\x1b[A\x1b[A\r");
  ASSERT_TRUE(t.wait_for("temp = 0.5", mark)) << t.screen();
  // Multi-line input: a line ending with a backslash, and a block between triple quotes.
  mark = t.size();
  t.type("/set max-tokens 3\r");
  ASSERT_TRUE(t.wait_for("max-tokens = 3", mark)) << t.screen();
  mark = t.size();
  t.type("first \\\rsecond\r");
  ASSERT_TRUE(t.wait_for("\n> ", mark + 10)) << t.screen();
  mark = t.size();
  t.type("\"\"\"\rline one\rline two\r\"\"\"\r");
  ASSERT_TRUE(t.wait_for("\n> ", mark + 30)) << t.screen();
  const std::string saved = dir.file("chat.json");
  mark = t.size();
  t.type("/save " + saved + "\r");
  ASSERT_TRUE(t.wait_for("(saved 4 messages", mark)) << t.screen();
  const auto j = nlohmann::json::parse(test::read_file(saved))["messages"];
  EXPECT_EQ(j[0]["content"], "first \nsecond");
  EXPECT_EQ(j[2]["content"], "line one\nline two");
  // Ctrl-D on an empty line leaves.
  t.type("\x04");
  EXPECT_EQ(t.wait_exit(), 0) << t.screen();
}

TEST(RunTerminal, ContextFullIsExplainedAndDropOldestRecovers) {
  test::TempDir dir;
  const std::string model = dir.file("tiny.gguf");
  auto made = test::run_command(test::r1_binary() +
                                " make-test-model -q --arch deepseek_v3 --type Q8_0 " + model);
  ASSERT_EQ(made.exit_code, 0) << made.err;
  Terminal t(
      {test::r1_binary(), "run", model, "-c", "64", "-n", "4", "--no-think", "--ignore-eos"});
  ASSERT_TRUE(t.wait_for("> ", 0)) << t.screen();
  const std::string msg = "tell me about the weather in the mountains today\r";
  size_t mark = t.size();
  t.type(msg);
  ASSERT_TRUE(t.wait_for("\n> ", mark + 10)) << t.screen();
  // Each turn adds about 30 tokens: the third one no longer fits.
  bool full = false;
  for (int i = 0; i < 4 && !full; ++i) {
    mark = t.size();
    t.type(msg);
    ASSERT_TRUE(t.wait_for("\n> ", mark + 10)) << t.screen();
    full = t.screen().find("[context full:", mark) != std::string::npos;
  }
  ASSERT_TRUE(full) << t.screen();
  EXPECT_NE(t.screen().find("/drop", mark), std::string::npos);
  mark = t.size();
  t.type("/set drop-oldest on\r");
  ASSERT_TRUE(t.wait_for("drop-oldest = on", mark)) << t.screen();
  mark = t.size();
  t.type(msg);
  ASSERT_TRUE(t.wait_for("\n> ", mark + 10)) << t.screen();
  EXPECT_EQ(t.screen().find("[context full:", mark), std::string::npos) << t.screen();
  t.type("/exit\r");
  EXPECT_EQ(t.wait_exit(), 0) << t.screen();
}

TEST(RunOneShot, FixedSeedIsRepeatableAndPipedOutputHasMarkers) {
  test::TempDir dir;
  const std::string model = dir.file("tiny.gguf");
  auto made = test::run_command(test::r1_binary() +
                                " make-test-model -q --arch deepseek_v3 --type Q8_0 " + model);
  ASSERT_EQ(made.exit_code, 0) << made.err;
  const std::string cmd = test::r1_binary() + " run " + model + " -p 'Hi there' -n 30 --seed 7";
  const auto a = test::run_command(cmd), b = test::run_command(cmd);
  ASSERT_EQ(a.exit_code, 0) << a.err;
  EXPECT_EQ(a.out, b.out);
  EXPECT_EQ(a.out.rfind("<think>\n", 0), 0u) << a.out;
  const auto c =
      test::run_command(test::r1_binary() + " run " + model + " -p 'Hi there' -n 30 --seed 10");
  EXPECT_NE(a.out, c.out);
  // The prompt on standard input; --hide-thinking leaves the reasoning out.
  const auto d = test::run_command("echo 'Hi there' | " + test::r1_binary() + " run " + model +
                                   " -n 30 --seed 7 --hide-thinking");
  ASSERT_EQ(d.exit_code, 0) << d.err;
  EXPECT_EQ(d.out.find("<think>"), std::string::npos);
  // --think-budget shows the end of the reasoning in the output; --verbose prints a summary.
  const auto e = test::run_command(test::r1_binary() + " run " + model +
                                   " -p Hi -n 30 --think-budget 5 --verbose");
  ASSERT_EQ(e.exit_code, 0) << e.err;
  EXPECT_NE(e.out.find("</think>"), std::string::npos) << e.out;
  EXPECT_NE(e.err.find("thinking"), std::string::npos) << e.err;
  EXPECT_NE(e.err.find("tokens/s"), std::string::npos) << e.err;
}

TEST(RunOneShot, CheckpointGenerationConfigSetsDefaultsFlagsWin) {
  test::TempDir dir;
  const std::string model = dir.file("st");
  auto made = test::run_command(
      test::r1_binary() + " make-test-model -q --arch deepseek_v3 --format safetensors " + model);
  ASSERT_EQ(made.exit_code, 0) << made.err;
  test::write_file(model + "/generation_config.json", R"({"temperature": 0.0})");
  const std::string cmd = test::r1_binary() + " run " + model + " -p Hi -n 20";
  const auto a = test::run_command(cmd + " --seed 1"), b = test::run_command(cmd + " --seed 2");
  ASSERT_EQ(a.exit_code, 0) << a.err;
  EXPECT_EQ(a.out, b.out);  // greedy from the checkpoint: the seed does not matter
  const auto g = test::run_command(cmd + " --temp 0");
  EXPECT_EQ(a.out, g.out);
  const auto c = test::run_command(cmd + " --seed 1 --temp 1.5"),
             d = test::run_command(cmd + " --seed 2 --temp 1.5");
  EXPECT_NE(c.out, d.out);  // the flag wins
}

TEST(RunOneShot, ContextTooSmallIsAClearError) {
  test::TempDir dir;
  const std::string model = dir.file("tiny.gguf");
  auto made = test::run_command(test::r1_binary() +
                                " make-test-model -q --arch deepseek_v3 --type Q8_0 " + model);
  ASSERT_EQ(made.exit_code, 0) << made.err;
  const auto r = test::run_command(test::r1_binary() + " run " + model +
                                   " -c 8 -p 'a message much longer than eight tokens of context'");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("context"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace r1
