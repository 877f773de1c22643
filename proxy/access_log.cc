#include "proxy/access_log.h"

#include <cerrno>
#include <cstring>

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
}

bool AccessLog::Reopen(std::string* error) {
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
