#include "core/progress.h"

#include <unistd.h>

#include <cstdio>

namespace r1 {

namespace {
std::string fmt_bytes(double b) {
  char buf[32];
  if (b >= 1073741824.0)
    std::snprintf(buf, sizeof buf, "%.2f GiB", b / 1073741824.0);
  else if (b >= 1048576.0)
    std::snprintf(buf, sizeof buf, "%.1f MiB", b / 1048576.0);
  else
    std::snprintf(buf, sizeof buf, "%.0f KiB", b / 1024.0);
  return buf;
}
}  // namespace

Progress::Progress(std::string label, uint64_t total_bytes, bool enabled)
    : label_(std::move(label)), total_(total_bytes), enabled_(enabled) {
  tty_ = isatty(STDERR_FILENO) != 0;
  start_ = last_draw_ = std::chrono::steady_clock::now();
}

Progress::~Progress() {
  if (enabled_ && !finished_ && tty_) std::fputc('\n', stderr);
}

void Progress::update(uint64_t done_bytes) {
  done_ = done_bytes;
  if (!enabled_) return;
  auto now = std::chrono::steady_clock::now();
  auto since = std::chrono::duration<double>(now - last_draw_).count();
  if (since < (tty_ ? 0.1 : 5.0)) return;
  last_draw_ = now;
  draw(false);
}

void Progress::finish() {
  if (!enabled_ || finished_) return;
  done_ = total_;
  draw(true);
  finished_ = true;
}

void Progress::draw(bool final_line) {
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double frac = total_ ? static_cast<double>(done_) / static_cast<double>(total_) : 1.0;
  const double rate = secs > 0 ? static_cast<double>(done_) / secs : 0;
  const double eta = rate > 0 ? static_cast<double>(total_ - done_) / rate : 0;
  constexpr int kWidth = 30;
  std::string bar(kWidth, ' ');
  for (int i = 0; i < static_cast<int>(frac * kWidth) && i < kWidth; ++i) bar[i] = '#';
  char line[256];
  if (final_line)
    std::snprintf(line, sizeof line, "%s [%s] %s in %.1f s (%s/s)", label_.c_str(), bar.c_str(),
                  fmt_bytes(static_cast<double>(total_)).c_str(), secs, fmt_bytes(rate).c_str());
  else
    std::snprintf(line, sizeof line, "%s [%s] %5.1f%% %s / %s, %s/s, ETA %.0f s", label_.c_str(),
                  bar.c_str(), 100 * frac, fmt_bytes(static_cast<double>(done_)).c_str(),
                  fmt_bytes(static_cast<double>(total_)).c_str(), fmt_bytes(rate).c_str(), eta);
  if (tty_)
    std::fprintf(stderr, "\r\033[K%s%s", line, final_line ? "\n" : "");
  else
    std::fprintf(stderr, "%s\n", line);
  std::fflush(stderr);
}

}  // namespace r1
