// A progress bar on standard error for long jobs (bytes done, rate, ETA). Redraws in place on a
// terminal, prints a line every few seconds otherwise, and stays silent when disabled.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace r1 {

class Progress {
 public:
  Progress(std::string label, uint64_t total_bytes, bool enabled = true);
  ~Progress();
  void update(uint64_t done_bytes);
  void finish();

 private:
  void draw(bool final_line);
  std::string label_;
  uint64_t total_ = 0;
  uint64_t done_ = 0;
  bool enabled_ = true;
  bool tty_ = false;
  bool finished_ = false;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

}  // namespace r1
