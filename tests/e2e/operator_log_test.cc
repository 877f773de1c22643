// End to end: the operator log as a log shipper reads it: every line logfmt
// from ts= to its end, the events an operator looks for with the keys they
// need, journal priorities when stderr is the journal, and the access log
// through a syslog socket.
#include <doctest/doctest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

#include "tests/e2e/e2e_fixture.h"
#include "tests/support/harness.h"
#include "tests/support/logfmt.h"

namespace imapfront::testing {
namespace {

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// Every line parsed; a line that is not logfmt fails the case.
std::vector<LogfmtFields> ParseAll(const std::string& log) {
  std::vector<LogfmtFields> out;
  for (const std::string& line : Lines(log)) {
    const auto fields = ParseLogfmt(line);
    CHECK_MESSAGE(fields.has_value(), "not logfmt: ", line);
    if (!fields) continue;
    CHECK_MESSAGE(line.starts_with("ts="), line);
    CHECK_MESSAGE(line.find(" level=") < line.find(" event="), line);
    out.push_back(*fields);
  }
  return out;
}

const LogfmtFields* Find(const std::vector<LogfmtFields>& lines, const std::string& event) {
  for (const LogfmtFields& f : lines) {
    if (f.at("event") == event) return &f;
  }
  return nullptr;
}

TEST_CASE(
    "operator log: every line is logfmt; start, backend_failed, session_start, "
    "session_end, reopen, reload, shutdown say what an operator needs") {
  const uint16_t dead = FreePort();
  E2e t(E2eOptions{.config =
                       [&](Json& c) {
                         Json& b = c["routes"][0]["backends"];
                         b.insert(b.begin(), BackendAddress(dead));
                       },
                   .access_log = true});
  {
    auto client = t.Greeted("localhost");
    REQUIRE(client->Send("a1 LOGIN {4}\r\n"));
    REQUIRE(client->ReadUntil("+ "));
    REQUIRE(client->Send("user \"pass word\"\r\na2 LOGOUT\r\n"));
    CHECK(client->WaitEof());
  }
  t.QuietStats(1);
  t.proxy.Signal(SIGUSR1);
  REQUIRE(WaitFor([&] { return t.proxy.Log().find("event=reopen ") != std::string::npos; }));
  auto changed = t.setup.Config({dead, t.backend.port()});
  changed["limits"] = {{"idle_timeout", 100}};
  changed["log"] = {{"level", "debug"}, {"access_log", t.access_log}};
  t.proxy.Reload(changed);
  REQUIRE(WaitFor([&] { return t.proxy.Log().find("event=reload ") != std::string::npos; }));
  {
    // At debug level: the accept line names the client before anything else is known.
    auto client = t.Greeted("localhost");
    REQUIRE(client->Send("b1 LOGOUT\r\n"));
    CHECK(client->WaitEof());
  }
  const pid_t pid = t.proxy.pid();
  REQUIRE(t.proxy.Stop() == 0);

  const auto lines = ParseAll(t.proxy.Log());
  const LogfmtFields* start = Find(lines, "start");
  REQUIRE(start);
  CHECK(start->at("level") == "info");
  CHECK(start->at("pid") == std::to_string(pid));
  CHECK(start->at("config") == t.proxy.config_path());
  CHECK(start->at("workers") == "2");
  CHECK(start->at("listeners") == "imaps=127.0.0.1:" + std::to_string(t.port()));
  CHECK(!start->at("version").empty());

  const LogfmtFields* failed = Find(lines, "backend_failed");
  REQUIRE(failed);
  CHECK(failed->at("level") == "warn");
  CHECK(failed->at("backend") == BackendAddress(dead));
  CHECK(failed->at("route") == "default");
  CHECK(failed->at("listener") == "imaps");
  CHECK(failed->at("error") != "-");

  const LogfmtFields* begun = Find(lines, "session_start");
  REQUIRE(begun);
  CHECK(begun->at("tls") == "TLSv1.3");
  CHECK(begun->at("cipher").starts_with("TLS_"));
  CHECK(begun->at("sni") == "localhost");
  CHECK(begun->at("backend") == BackendAddress(t.backend.port()));

  const LogfmtFields* end = Find(lines, "session_end");
  REQUIRE(end);
  for (const char* key :
       {"conn", "client", "listener", "route", "backend", "reason", "duration_seconds"}) {
    CHECK_MESSAGE(end->count(key), key);
  }
  CHECK(end->at("conn") == begun->at("conn"));
  CHECK(end->at("client").starts_with("127.0.0.1:"));
  CHECK(end->at("listener") == "imaps");
  CHECK(end->at("route") == "default");
  CHECK(end->at("backend") == BackendAddress(t.backend.port()));
  CHECK(end->at("reason") == "logout");
  CHECK(end->at("user") == "user");
  CHECK(std::stod(end->at("duration_seconds")) >= 0);

  const LogfmtFields* accepted = Find(lines, "accept");
  REQUIRE(accepted);
  CHECK(accepted->at("level") == "debug");
  CHECK(accepted->at("client").starts_with("127.0.0.1:"));
  CHECK(accepted->at("listener") == "imaps");

  const LogfmtFields* reopen = Find(lines, "reopen");
  REQUIRE(reopen);
  CHECK(reopen->at("access_log") == t.access_log);
  const LogfmtFields* reload = Find(lines, "reload");
  REQUIRE(reload);
  CHECK(reload->at("changed") == "limits");
  CHECK(reload->at("config") == t.proxy.config_path());
  CHECK(Find(lines, "shutdown"));
  CHECK(Find(lines, "stopped"));
  // The password never reaches the operator log.
  CHECK(t.proxy.Log().find("pass word") == std::string::npos);
}

TEST_CASE("operator log: syslog priorities when JOURNAL_STREAM names stderr, none otherwise") {
  E2e journal(E2eOptions{.config = UnreachableBackend,
                         .access_log = true,
                         .env = {{"JOURNAL_STREAM", Proxy::kStderrStream}}});
  {
    auto client = journal.Handshaken();
    CHECK(client->WaitEof());  // backend unavailable: a warn and an info line
  }
  journal.QuietStats();
  REQUIRE(journal.proxy.Stop() == 0);
  bool warn = false, info = false;
  for (const std::string& line : Lines(journal.proxy.Log())) {
    REQUIRE_MESSAGE(line.size() > 3, line);
    const std::string prefix = line.substr(0, 3);
    const auto fields = ParseLogfmt(line.substr(3));
    REQUIRE_MESSAGE(fields.has_value(), line);
    const std::string& level = fields->at("level");
    CHECK_MESSAGE(prefix == (level == "error"  ? "<3>"
                             : level == "warn" ? "<4>"
                             : level == "info" ? "<6>"
                                               : "<7>"),
                  line);
    warn = warn || level == "warn";
    info = info || level == "info";
  }
  CHECK(warn);
  CHECK(info);

  // Another stream in JOURNAL_STREAM (stderr redirected away from the
  // journal): no prefixes.
  E2e elsewhere(E2eOptions{.access_log = true, .env = {{"JOURNAL_STREAM", "1:2"}}});
  REQUIRE(elsewhere.proxy.Stop() == 0);
  for (const std::string& line : Lines(elsewhere.proxy.Log())) CHECK(line.starts_with("ts="));
}

TEST_CASE(
    "access log \"syslog\": each session a line on the syslog socket, facility mail, "
    "priority info, ident imapfront") {
  const std::string dir = MakeTempDir();
  const std::string path = dir + "/log";
  const int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  Socket holder(fd);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);

  const std::string check_file = dir + "/check.json";
  TestSetup setup;
  Json config = setup.Config({143});
  config["log"] = {{"access_log", "syslog"}};
  WriteFile(check_file, config.dump());
  const auto check = RunCommand({IMAPFRONT_BINARY, "--check-config", check_file});
  CHECK(check.exit_code == 0);

  E2e t(E2eOptions{.config =
                       [](Json& c) {
                         c["log"] = {{"access_log", "syslog"}};
                       },
                   .env = {{"IMAPFRONT_SYSLOG_SOCKET", path}}});
  {
    auto client = t.Greeted();
    REQUIRE(client->Send("a1 LOGOUT\r\n"));
    CHECK(client->WaitEof());
  }
  pollfd p{fd, POLLIN, 0};
  REQUIRE(poll(&p, 1, 5000) == 1);
  char buf[4096];
  const ssize_t n = recv(fd, buf, sizeof(buf), 0);
  REQUIRE(n > 0);
  const std::string message(buf, static_cast<size_t>(n));
  CHECK(message.starts_with("<22>"));  // mail (2) * 8 + info (6)
  const std::string ident = "imapfront[" + std::to_string(t.proxy.pid()) + "]: ";
  const size_t at = message.find(ident);
  REQUIRE_MESSAGE(at != std::string::npos, message);
  const Json line = Json::parse(message.substr(at + ident.size()));
  CHECK(line["reason"] == "logout");
  CHECK(line["listener"] == "imaps");
  // Nothing went to stderr as an access log line, no file named "syslog".
  CHECK(t.proxy.Log().find("{\"ts\"") == std::string::npos);
  CHECK(access("syslog", F_OK) != 0);
}

}  // namespace
}  // namespace imapfront::testing
