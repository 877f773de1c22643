#include "proxy/log.h"

#include <atomic>
#include <cstdarg>
#include <cstdio>
#include <ctime>

namespace imapfront {
namespace {

std::atomic<int> g_level{static_cast<int>(LogLevel::kInfo)};

const char* LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarn:
      return "warn";
    case LogLevel::kError:
      return "error";
  }
  return "?";
}

}  // namespace

void SetLogLevel(LogLevel level) {
  g_level.store(static_cast<int>(level));
}

bool LogEnabled(LogLevel level) {
  return static_cast<int>(level) >= g_level.load();
}

void LogLine(LogLevel level, std::string_view message) {
  if (!LogEnabled(level)) return;
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  tm utc{};
  gmtime_r(&ts.tv_sec, &utc);
  char when[32];
  strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &utc);
  // One fprintf per line: stdio's lock keeps lines from different threads whole.
  std::fprintf(stderr, "%s.%03ldZ %s %.*s\n", when, ts.tv_nsec / 1000000, LevelName(level),
               static_cast<int>(message.size()), message.data());
}

void Logf(LogLevel level, const char* format, ...) {
  if (!LogEnabled(level)) return;
  char buf[4096];
  va_list args;
  va_start(args, format);
  int n = std::vsnprintf(buf, sizeof(buf), format, args);
  va_end(args);
  if (n < 0) return;
  LogLine(level, std::string_view(buf, std::min(static_cast<size_t>(n), sizeof(buf) - 1)));
}

std::string Sanitize(std::string_view text, size_t max) {
  std::string out;
  for (char c : text.substr(0, max)) {
    out += (c >= 0x20 && c < 0x7f) ? c : '?';
  }
  if (text.size() > max) out += "...";
  return out;
}

}  // namespace imapfront
