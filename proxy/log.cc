#include "proxy/log.h"

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <ctime>

namespace imapfront {
namespace {

std::atomic<int> g_level{static_cast<int>(LogLevel::kInfo)};
std::atomic<bool> g_journal{false};

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
  return "-";
}

// syslog(3) priorities: LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG.
const char* JournalPrefix(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "<7>";
    case LogLevel::kInfo:
      return "<6>";
    case LogLevel::kWarn:
      return "<4>";
    case LogLevel::kError:
      return "<3>";
  }
  return "<6>";
}

}  // namespace

void SetLogLevel(LogLevel level) {
  g_level.store(static_cast<int>(level));
}

bool LogEnabled(LogLevel level) {
  return static_cast<int>(level) >= g_level.load(std::memory_order_relaxed);
}

// systemd sets JOURNAL_STREAM=DEV:INODE for the stream it connected to
// stdout/stderr; it is the journal only if stderr is still that stream.
void DetectJournal() {
  const char* env = std::getenv("JOURNAL_STREAM");
  bool journal = false;
  struct stat st {};
  if (env && fstat(STDERR_FILENO, &st) == 0) {
    unsigned long long dev = 0, ino = 0;
    if (std::sscanf(env, "%llu:%llu", &dev, &ino) == 2) {
      journal = dev == static_cast<unsigned long long>(st.st_dev) &&
                ino == static_cast<unsigned long long>(st.st_ino);
    }
  }
  g_journal.store(journal);
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

std::string LogfmtValue(std::string_view value, size_t max) {
  if (value.empty()) return "-";
  const std::string clean = Sanitize(value, max);  // printable ASCII, cut
  if (clean.find_first_of(" =\"\\") == std::string::npos) return clean;
  std::string out = "\"";
  for (char c : clean) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  out += '"';
  return out;
}

LogEvent::LogEvent(LogLevel level, std::string_view event)
    : enabled_(LogEnabled(level)), level_(level) {
  if (!enabled_) return;
  line_.reserve(256);
  if (g_journal.load(std::memory_order_relaxed)) line_ += JournalPrefix(level);
  line_ += "ts=";
  line_ += UtcTimestamp();
  line_ += " level=";
  line_ += LevelName(level);
  line_ += " event=";
  line_ += LogfmtValue(event);
}

LogEvent::~LogEvent() {
  if (!enabled_) return;
  line_ += '\n';
  // One write per line: stdio's lock keeps lines from different threads whole.
  std::fwrite(line_.data(), 1, line_.size(), stderr);
}

void LogEvent::Key(std::string_view key) {
  line_ += ' ';
  line_ += key;
  line_ += '=';
}

LogEvent& LogEvent::Add(std::string_view key, std::string_view value) {
  if (!enabled_) return *this;
  Key(key);
  line_ += LogfmtValue(value);
  return *this;
}

LogEvent& LogEvent::Add(std::string_view key, double value) {
  if (!enabled_) return *this;
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.3f", value);
  Key(key);
  line_ += buf;
  return *this;
}

LogEvent& LogEvent::AddNumber(std::string_view key, int64_t value) {
  if (!enabled_) return *this;
  Key(key);
  line_ += std::to_string(value);
  return *this;
}

LogEvent& LogEvent::AddNumber(std::string_view key, uint64_t value) {
  if (!enabled_) return *this;
  Key(key);
  line_ += std::to_string(value);
  return *this;
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
