// Operator log: one line per event on stderr, "TIME LEVEL message", with
// key=value fields an operator can grep (conn=, client=, listener=, ...).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace imapfront {

// The "log.level" setting: lines below it are not written.
enum class LogLevel { kDebug, kInfo, kWarn, kError };

void SetLogLevel(LogLevel level);
bool LogEnabled(LogLevel level);
void LogLine(LogLevel level, std::string_view message);

// printf-style; the result is truncated at a few KiB.
void Logf(LogLevel level, const char* format, ...) __attribute__((format(printf, 2, 3)));
// The same for one session's event: the line starts "conn=N client=ADDR ".
void LogSession(LogLevel level, uint64_t conn, const std::string& client, const char* format, ...)
    __attribute__((format(printf, 4, 5)));

// Now in UTC with milliseconds: "2026-12-02T01:23:45.678Z".
std::string UtcTimestamp();

// Remote text made safe for a log line: printable ASCII only, at most |max|
// bytes.
std::string Sanitize(std::string_view text, size_t max = 200);

}  // namespace imapfront
