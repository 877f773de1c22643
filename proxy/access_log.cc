#include "proxy/access_log.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>

#include <nlohmann/json.hpp>

#include "proxy/log.h"

namespace imapfront {

std::string AccessLogEntry::ToJson() const {
  using nlohmann::json;
  auto text_or_null = [](const std::optional<std::string>& v) {
    return v ? json(Sanitize(*v, 256)) : json(nullptr);
  };
  json entry = {
      {"ts", ts},
      {"conn", conn},
      {"client", client},
      {"listener", listener},
      {"route", route ? json(*route) : json(nullptr)},
      {"sni", text_or_null(sni)},
      {"tls_version", text_or_null(tls_version)},
      {"cipher", text_or_null(cipher)},
      {"user", text_or_null(user)},
      {"login", login ? json(*login) : json(nullptr)},
      {"duration_seconds", duration_seconds},
      {"bytes_in", bytes_in},
      {"bytes_out", bytes_out},
      {"commands", commands},
      {"appends", appends},
      {"reason", reason},
  };
  return entry.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::shared_ptr<AccessLog> AccessLog::Open(const std::string& path, std::string* error) {
  auto log = std::shared_ptr<AccessLog>(new AccessLog(path));
  if (!log->Reopen(error)) return nullptr;
  return log;
}

AccessLog::~AccessLog() {
  if (file_ && file_ != stderr) std::fclose(file_);
  if (syslog_fd_ >= 0) close(syslog_fd_);
}

bool AccessLog::ConnectSyslog(std::string* error) {
  const char* env = std::getenv("IMAPFRONT_SYSLOG_SOCKET");
  const std::string path = env && *env ? env : kDefaultSyslogSocket;
  if (syslog_fd_ >= 0) close(syslog_fd_);
  syslog_fd_ = -1;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path)) {
    *error = "syslog socket path too long: " + path;
    return false;
  }
  // Non-blocking: a stalled syslog daemon costs lines, never a worker.
  syslog_fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  if (syslog_fd_ < 0 ||
      connect(syslog_fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
    *error = "cannot connect to syslog at " + path + ": " + std::strerror(errno);
    if (syslog_fd_ >= 0) close(syslog_fd_);
    syslog_fd_ = -1;
    return false;
  }
  return true;
}

// RFC 3164, as syslog(3) writes it: "<22>Dec  2 01:23:45 imapfront[PID]: "
// (22 = facility mail (2) * 8 + priority info (6)).
void AccessLog::SendSyslog(std::string_view line) {
  char head[64];
  const time_t now = time(nullptr);
  tm local{};
  localtime_r(&now, &local);
  size_t n = strftime(head, sizeof(head), "<22>%b %e %H:%M:%S ", &local);
  std::snprintf(head + n, sizeof(head) - n, "imapfront[%d]: ", static_cast<int>(getpid()));
  std::string message(head);
  message.append(line);
  for (int attempt = 0; attempt < 2; ++attempt) {
    std::string error;
    if (syslog_fd_ < 0 && !ConnectSyslog(&error)) return;  // syslog is down: the line is lost
    if (send(syslog_fd_, message.data(), message.size(), MSG_NOSIGNAL) >= 0) return;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return;  // syslog is behind: the line is lost
    close(syslog_fd_);  // the syslog daemon restarted: connect again, once
    syslog_fd_ = -1;
  }
}

bool AccessLog::Reopen(std::string* error) {
  if (path_ == kSyslog) {
    std::lock_guard<std::mutex> lock(mu_);
    return ConnectSyslog(error);
  }
  if (path_ == "-") {
    std::lock_guard<std::mutex> lock(mu_);
    file_ = stderr;
    return true;
  }
  FILE* next = std::fopen(path_.c_str(), "ae");
  if (!next) {
    *error = "cannot open " + path_ + ": " + std::strerror(errno);
    return false;
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (file_) std::fclose(file_);
  file_ = next;
  return true;
}

void AccessLog::Write(std::string_view line) {
  std::lock_guard<std::mutex> lock(mu_);
  if (path_ == kSyslog) {
    SendSyslog(line);
    return;
  }
  if (!file_) return;
  // One fwrite per line: on unbuffered stderr, two calls could let another
  // thread's log line in between.
  std::string whole;
  whole.reserve(line.size() + 1);
  whole.append(line);
  whole += '\n';
  std::fwrite(whole.data(), 1, whole.size(), file_);
  std::fflush(file_);  // lines reach the file as sessions end, for tail -f
}

}  // namespace imapfront
