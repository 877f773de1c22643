// Operator log (SPEC "Operating it"): one logfmt line per event on stderr,
//
//   ts=2026-12-02T01:23:45.678Z level=warn event=backend_failed conn=7 ...
//
// key=value throughout; a value with a space, '=' or '"' is double-quoted
// with \" and \\ escapes, an unknown (empty) value is "-", and remote text is
// cut to printable ASCII. When stderr is the systemd journal (JOURNAL_STREAM
// names its device and inode), each line starts with its syslog priority
// ("<3>" error, "<4>" warn, "<6>" info, "<7>" debug).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>

namespace imapfront {

// The "log.level" setting: lines below it are not written.
enum class LogLevel { kDebug, kInfo, kWarn, kError };

void SetLogLevel(LogLevel level);
bool LogEnabled(LogLevel level);

// Looks at JOURNAL_STREAM and stderr once, at startup: priority prefixes on
// or off.
void DetectJournal();

// One line, written when the LogEvent goes away (at the end of the full
// expression for a temporary):
//
//   LogEvent(LogLevel::kInfo, "reload").Add("config", path).Add("changed", what);
//
// A disabled level costs the level check only.
class LogEvent {
 public:
  LogEvent(LogLevel level, std::string_view event);
  // A session's event: "conn=N client=ADDR" first.
  LogEvent(LogLevel level, std::string_view event, uint64_t conn, std::string_view client)
      : LogEvent(level, event) {
    Add("conn", conn).Add("client", client);
  }
  ~LogEvent();
  LogEvent(const LogEvent&) = delete;
  LogEvent& operator=(const LogEvent&) = delete;

  LogEvent& Add(std::string_view key, std::string_view value);
  LogEvent& Add(std::string_view key, const char* value) {
    return Add(key, std::string_view(value ? value : ""));
  }
  LogEvent& Add(std::string_view key, const std::string& value) {
    return Add(key, std::string_view(value));
  }
  template <typename T>
  requires std::is_integral_v<T> LogEvent& Add(std::string_view key, T value) {
    if constexpr (std::is_signed_v<T>) {
      return AddNumber(key, static_cast<int64_t>(value));
    } else {
      return AddNumber(key, static_cast<uint64_t>(value));
    }
  }
  LogEvent& Add(std::string_view key, double value);
  LogEvent& Add(std::string_view key, bool value) { return Add(key, value ? "yes" : "no"); }

 private:
  LogEvent& AddNumber(std::string_view key, int64_t value);
  LogEvent& AddNumber(std::string_view key, uint64_t value);
  void Key(std::string_view key);

  bool enabled_;
  LogLevel level_;
  std::string line_;
};

// |value| as a logfmt value: "-" when empty, quoted when it must be;
// non-printable bytes become '?' and it is cut at |max| bytes.
std::string LogfmtValue(std::string_view value, size_t max = 256);

// Now in UTC with milliseconds: "2026-12-02T01:23:45.678Z".
std::string UtcTimestamp();

// Remote text made safe for a log line: printable ASCII only, at most |max|
// bytes.
std::string Sanitize(std::string_view text, size_t max = 200);

}  // namespace imapfront
