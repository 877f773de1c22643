// proxy/log: logfmt values and whole lines, read back by a strict parser.
#include "proxy/log.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "tests/support/logfmt.h"
#include "tests/support/test_certs.h"

namespace imapfront {
namespace {

using testing::ParseLogfmt;

// Runs |body| with stderr sent to a file; returns what was written.
template <typename F>
std::string CaptureStderr(F body) {
  const std::string path = testing::MakeTempDir() + "/stderr";
  std::fflush(stderr);
  const int saved = dup(2);
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  dup2(fd, 2);
  close(fd);
  body(path);
  std::fflush(stderr);
  dup2(saved, 2);
  close(saved);
  return testing::ReadFile(path);
}

TEST_CASE("LogfmtValue: bare, quoted, escaped, unknown, cut") {
  CHECK(LogfmtValue("imaps") == "imaps");
  CHECK(LogfmtValue("") == "-");
  CHECK(LogfmtValue("TLS_AES_128_GCM_SHA256") == "TLS_AES_128_GCM_SHA256");
  CHECK(LogfmtValue("a b") == "\"a b\"");
  CHECK(LogfmtValue("k=v") == "\"k=v\"");
  CHECK(LogfmtValue("say \"hi\"") == "\"say \\\"hi\\\"\"");
  CHECK(LogfmtValue("back\\slash") == "\"back\\\\slash\"");
  CHECK(LogfmtValue("line\r\nbreak") == "line??break");  // never a line break
  CHECK(LogfmtValue(std::string(300, 'x'), 10) == "xxxxxxxxxx...");
}

TEST_CASE("LogEvent: one whole logfmt line, ts level event first, values a parser reads back") {
  SetLogLevel(LogLevel::kInfo);
  const std::string hostile = "evil\" x=1 \\ \n<3>";
  const std::string out = CaptureStderr([&](const std::string&) {
    LogEvent(LogLevel::kWarn, "backend_failed", 7, "127.0.0.1:5000")
        .Add("route", "default")
        .Add("sni", "")
        .Add("error", hostile)
        .Add("count", 3u)
        .Add("delta", -2)
        .Add("duration_seconds", 1.5);
    LogEvent(LogLevel::kDebug, "hidden").Add("x", "y");  // below the level
  });
  REQUIRE(out.ends_with("\n"));
  const std::string line = out.substr(0, out.size() - 1);
  CHECK(line.find('\n') == std::string::npos);
  CHECK(line.starts_with("ts="));
  const auto fields = ParseLogfmt(line);
  REQUIRE_MESSAGE(fields.has_value(), line);
  CHECK(fields->at("level") == "warn");
  CHECK(fields->at("event") == "backend_failed");
  CHECK(fields->at("conn") == "7");
  CHECK(fields->at("client") == "127.0.0.1:5000");
  CHECK(fields->at("route") == "default");
  CHECK(fields->at("sni") == "-");
  CHECK(fields->at("error") == "evil\" x=1 \\ ?<3>");
  CHECK(fields->at("count") == "3");
  CHECK(fields->at("delta") == "-2");
  CHECK(fields->at("duration_seconds") == "1.500");
  CHECK(fields->count("x") == 0);
  CHECK(fields->at("ts").size() == std::string("2026-12-02T01:23:45.678Z").size());
  CHECK(fields->at("ts").ends_with("Z"));
}

TEST_CASE("DetectJournal: priority prefixes only when JOURNAL_STREAM names stderr") {
  SetLogLevel(LogLevel::kDebug);
  const std::string out = CaptureStderr([&](const std::string& path) {
    struct stat st {};
    REQUIRE(stat(path.c_str(), &st) == 0);
    const std::string mine = std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
    setenv("JOURNAL_STREAM", "1:2", 1);  // another stream: no prefixes
    DetectJournal();
    LogEvent(LogLevel::kError, "one");
    setenv("JOURNAL_STREAM", mine.c_str(), 1);
    DetectJournal();
    LogEvent(LogLevel::kError, "two");
    LogEvent(LogLevel::kWarn, "three");
    LogEvent(LogLevel::kInfo, "four");
    LogEvent(LogLevel::kDebug, "five");
    unsetenv("JOURNAL_STREAM");
    DetectJournal();
    LogEvent(LogLevel::kInfo, "six");
  });
  SetLogLevel(LogLevel::kInfo);
  std::vector<std::string> lines;
  size_t start = 0;
  for (size_t nl; (nl = out.find('\n', start)) != std::string::npos; start = nl + 1) {
    lines.push_back(out.substr(start, nl - start));
  }
  REQUIRE(lines.size() == 6);
  CHECK(lines[0].starts_with("ts="));
  CHECK(lines[1].starts_with("<3>ts="));
  CHECK(lines[2].starts_with("<4>ts="));
  CHECK(lines[3].starts_with("<6>ts="));
  CHECK(lines[4].starts_with("<7>ts="));
  CHECK(lines[5].starts_with("ts="));
  for (size_t i = 1; i < 5; ++i) CHECK(ParseLogfmt(lines[i].substr(3)).has_value());
}

TEST_CASE("ParseLogfmt (the tests' reader) refuses what is not logfmt") {
  CHECK(ParseLogfmt("a=1 b=\"x y\"").has_value());
  CHECK_FALSE(ParseLogfmt("2026-12-02 info listening").has_value());
  CHECK_FALSE(ParseLogfmt("a=1 b=x y").has_value());
  CHECK_FALSE(ParseLogfmt("a=\"open").has_value());
  CHECK_FALSE(ParseLogfmt("a=1 a=2").has_value());
  CHECK_FALSE(ParseLogfmt("a=").has_value());
  CHECK_FALSE(ParseLogfmt("tls=TLSv1.3 TLS_AES_256_GCM_SHA384").has_value());
}

}  // namespace
}  // namespace imapfront
