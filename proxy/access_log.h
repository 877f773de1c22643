// The access log (SPEC "Access log"): one JSON object per line for each
// ended session, to a file or to stderr ("-"). Workers write whole lines
// under a mutex; SIGUSR1 reopens the file for logrotate.
#pragma once

#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

namespace imapfront {

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
