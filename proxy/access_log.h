// The access log (SPEC "Access log"): one JSON object per line for each
// ended session, to a file, to stderr ("-") or to the local syslog
// ("syslog": facility mail, priority info, ident imapfront, one datagram per
// line on /dev/log, or on $IMAPFRONT_SYSLOG_SOCKET where that is set).
// Workers write whole lines under a mutex; SIGUSR1 reopens the file (or
// reconnects to syslog) for logrotate.
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
  std::optional<std::string> login;  // "ok", "failed"; null: no attempt
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
  static constexpr const char* kSyslog = "syslog";
  static constexpr const char* kDefaultSyslogSocket = "/dev/log";

  // Opens |path| for appending ("-": stderr, "syslog": the local syslog).
  // Null and *error on failure.
  static std::shared_ptr<AccessLog> Open(const std::string& path, std::string* error);
  ~AccessLog();

  const std::string& path() const { return path_; }
  void Write(std::string_view line);  // a newline is added
  // Closes and opens the path again (after logrotate moved the file).
  bool Reopen(std::string* error);

 private:
  explicit AccessLog(std::string path) : path_(std::move(path)) {}

  bool ConnectSyslog(std::string* error);  // under mu_
  void SendSyslog(std::string_view line);  // under mu_

  std::string path_;
  std::mutex mu_;
  FILE* file_ = nullptr;
  int syslog_fd_ = -1;  // "syslog": a datagram socket connected to the syslog socket
};

}  // namespace imapfront
