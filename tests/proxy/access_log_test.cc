// proxy/access_log: whole lines to a file, appended; reopened after logrotate
// moved the file; an error that names the path when it cannot be opened.
#include "proxy/access_log.h"

#include <doctest/doctest.h>
#include <sys/stat.h>

#include <cstdio>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/test_certs.h"

namespace imapfront {
namespace {

using testing::MakeTempDir;
using testing::ReadFile;
using testing::WriteFile;

TEST_CASE("Open a file, Write whole lines: each newline-terminated, at once in the file") {
  const std::string path = MakeTempDir() + "/access.log";
  std::string error;
  auto log = AccessLog::Open(path, &error);
  REQUIRE(log != nullptr);
  CHECK(error.empty());
  CHECK(log->path() == path);
  log->Write("{\"conn\":1}");
  // Flushed per line: readable while the log is still open.
  CHECK(ReadFile(path) == "{\"conn\":1}\n");
  log->Write("");
  log->Write("second line");
  CHECK(ReadFile(path) == "{\"conn\":1}\n\nsecond line\n");
  log.reset();
  CHECK(ReadFile(path) == "{\"conn\":1}\n\nsecond line\n");
}

TEST_CASE("Open appends to what the file holds") {
  const std::string path = MakeTempDir() + "/access.log";
  WriteFile(path, "old line\n");
  std::string error;
  auto log = AccessLog::Open(path, &error);
  REQUIRE(log != nullptr);
  log->Write("new line");
  CHECK(ReadFile(path) == "old line\nnew line\n");
}

TEST_CASE("Write from several threads: every line whole, none lost") {
  const std::string path = MakeTempDir() + "/access.log";
  std::string error;
  auto log = AccessLog::Open(path, &error);
  REQUIRE(log != nullptr);
  constexpr int kThreads = 6;
  constexpr int kLines = 400;
  auto line_of = [](int t, int i) {
    return "{\"thread\":" + std::to_string(t) + ",\"line\":" + std::to_string(i) + ",\"pad\":\"" +
           std::string(static_cast<size_t>(50 + (i % 7) * 100), static_cast<char>('a' + t)) + "\"}";
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kLines; ++i) log->Write(line_of(t, i));
    });
  }
  for (std::thread& th : threads) th.join();
  std::set<std::string> want;
  for (int t = 0; t < kThreads; ++t) {
    for (int i = 0; i < kLines; ++i) want.insert(line_of(t, i));
  }
  const std::string all = ReadFile(path);
  CHECK(all.ends_with("\n"));
  std::istringstream in(all);
  std::string line;
  size_t count = 0;
  std::set<std::string> got;
  while (std::getline(in, line)) {
    ++count;
    CHECK_MESSAGE(want.count(line), "not a whole line: " << line.substr(0, 80));
    got.insert(line);
  }
  CHECK(count == static_cast<size_t>(kThreads * kLines));
  CHECK(got == want);
}

TEST_CASE("Reopen after logrotate renamed the file: later lines go to the new file") {
  const std::string dir = MakeTempDir();
  const std::string path = dir + "/access.log";
  std::string error;
  auto log = AccessLog::Open(path, &error);
  REQUIRE(log != nullptr);
  log->Write("one");
  REQUIRE(std::rename(path.c_str(), (path + ".1").c_str()) == 0);
  log->Write("two");  // still the open file, now access.log.1
  struct stat st;
  CHECK(stat(path.c_str(), &st) != 0);  // nothing made a new file yet
  REQUIRE(log->Reopen(&error));
  CHECK(error.empty());
  log->Write("three");
  CHECK(ReadFile(path) == "three\n");
  CHECK(ReadFile(path + ".1") == "one\ntwo\n");
  CHECK(log->path() == path);
}

TEST_CASE("Open failure: no log, and an error that names the path and the reason") {
  const std::string path = MakeTempDir() + "/no-such-dir/access.log";
  std::string error;
  auto log = AccessLog::Open(path, &error);
  CHECK(log == nullptr);
  CHECK(error.find(path) != std::string::npos);
  CHECK(error.find("No such file or directory") != std::string::npos);
}

TEST_CASE("Reopen failure: an error naming the path, lines keep going to the old file") {
  const std::string dir = MakeTempDir();
  const std::string path = dir + "/logs/access.log";
  REQUIRE(mkdir((dir + "/logs").c_str(), 0755) == 0);
  std::string error;
  auto log = AccessLog::Open(path, &error);
  REQUIRE(log != nullptr);
  log->Write("before");
  // The directory moves away: the path cannot be opened again.
  REQUIRE(std::rename((dir + "/logs").c_str(), (dir + "/moved").c_str()) == 0);
  CHECK_FALSE(log->Reopen(&error));
  CHECK(error.find(path) != std::string::npos);
  log->Write("after");
  CHECK(ReadFile(dir + "/moved/access.log") == "before\nafter\n");
}

TEST_CASE("\"-\" is stderr: Open and Reopen succeed without a file") {
  std::string error;
  auto log = AccessLog::Open("-", &error);
  REQUIRE(log != nullptr);
  CHECK(log->path() == "-");
  CHECK(log->Reopen(&error));
  CHECK(error.empty());
}

}  // namespace
}  // namespace imapfront
