// The access log (SPEC "Access log"): one JSON object per line for each
// ended session, to a file or to stderr ("-"). Workers write whole lines
// under a mutex; SIGUSR1 reopens the file for logrotate.
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace imapfront {

// One ended session, as the access log records it (SPEC "Access log").
// Optional text fields are null in the line when unknown.
struct AccessLogEntry {
  std::string ts;  // the session's end, UTC with milliseconds
  uint64_t conn = 0;
  std::string client;
  std::string listener;
  std::optional<std::string> route;
  std::optional<std::string> sni;
  std::optional<std::string> tls_version;
  std::optional<std::string> cipher;
  std::optional<std::string> user;
  double duration_seconds = 0;
  uint64_t bytes_in = 0;
  uint64_t bytes_out = 0;
  uint64_t commands = 0;
  uint64_t appends = 0;
  std::string reason;

  // The JSON line, without its newline. Remote text (sni, user) is
  // sanitized and truncated.
  std::string ToJson() const;
};

class AccessLog {
 public:
  // Opens |path| for appending ("-": stderr). Null and *error on failure.
  static std::shared_ptr<AccessLog> Open(const std::string& path, std::string* error);
  ~AccessLog();

  const std::string& path() const { return path_; }
  void Write(std::string_view line);  // a newline is added
  // Closes and opens the path again (after logrotate moved the file).
  bool Reopen(std::string* error);

 private:
  explicit AccessLog(std::string path) : path_(std::move(path)) {}

  std::string path_;
  std::mutex mu_;
  FILE* file_ = nullptr;
};

}  // namespace imapfront
