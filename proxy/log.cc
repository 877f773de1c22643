#include "proxy/log.h"

#include <algorithm>
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

std::string UtcTimestamp() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  tm utc{};
  gmtime_r(&ts.tv_sec, &utc);
  char when[40];
  size_t n = strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &utc);
  snprintf(when + n, sizeof(when) - n, ".%03ldZ", ts.tv_nsec / 1000000);
  return when;
}

void LogLine(LogLevel level, std::string_view message) {
  if (!LogEnabled(level)) return;
  const std::string when = UtcTimestamp();
  // One fprintf per line: stdio's lock keeps lines from different threads whole.
  std::fprintf(stderr, "%s %s %.*s\n", when.c_str(), LevelName(level),
               static_cast<int>(message.size()), message.data());
}

namespace {

void LogV(LogLevel level, const char* prefix, const char* format, va_list args) {
  char buf[4096];
  int p = std::snprintf(buf, sizeof(buf), "%s", prefix);
  if (p < 0) return;
  size_t used = std::min(static_cast<size_t>(p), sizeof(buf) - 1);
  int n = std::vsnprintf(buf + used, sizeof(buf) - used, format, args);
  if (n < 0) return;
  used = std::min(used + static_cast<size_t>(n), sizeof(buf) - 1);
  LogLine(level, std::string_view(buf, used));
}

}  // namespace

void Logf(LogLevel level, const char* format, ...) {
  if (!LogEnabled(level)) return;
  va_list args;
  va_start(args, format);
  LogV(level, "", format, args);
  va_end(args);
}

void LogSession(LogLevel level, uint64_t conn, const std::string& client, const char* format, ...) {
  if (!LogEnabled(level)) return;
  char prefix[128];
  std::snprintf(prefix, sizeof(prefix), "conn=%llu client=%s ",
                static_cast<unsigned long long>(conn), client.c_str());
  va_list args;
  va_start(args, format);
  LogV(level, prefix, format, args);
  va_end(args);
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
