// End to end: session lifetime and its grace, SIGTERM (shutdown) and SIGHUP
// (reload) with sessions open.
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>

#include <chrono>
#include <string>

#include "tests/e2e/e2e_fixture.h"
#include "tests/support/harness.h"

namespace imapfront::testing {
namespace {

TEST_CASE("lifetime: an APPEND still trickling in completes before the BYE") {
  E2e t([](Json& config) { config["limits"] = {{"max_lifetime", 0.4}, {"lifetime_grace", 20}}; });
  auto client = t.Greeted();
  REQUIRE(client->Send("a1 APPEND INBOX {40}\r\n"));
  REQUIRE(client->ReadUntil("+ Ready"));
  for (int i = 0; i < 10; ++i) {  // 2 s: well past the lifetime
    REQUIRE(client->Send("abcd"));
    std::this_thread::sleep_for(200ms);
  }
  CHECK(client->received().find("BYE") == std::string::npos);
  REQUIRE(client->Send("\r\n"));
  CHECK(client->WaitEof());
  CHECK(client->received() == kGreeting +
                                  "+ Ready for literal data\r\na1 OK done\r\n"
                                  "* BYE Session lifetime reached; please reconnect\r\n");
  REQUIRE(t.backend.WaitScriptsDone());
  std::string literal;
  for (int i = 0; i < 10; ++i) literal += "abcd";
  CHECK(t.backend.received(0) == "a1 APPEND INBOX {40}\r\n" + literal + "\r\n");
  auto stats = t.QuietStats();
  CHECK(ClosedCount(stats, "lifetime") == 1);
}

TEST_CASE("lifetime: an IDLE session is ended at its lifetime") {
  E2e t(
      [](BackendConnection& c) {
        c.Send(kGreeting);
        if (!c.ReadUntil("a1 IDLE\r\n")) return;
        c.Send("+ idling\r\n");
        c.WaitEof();
      },
      [](Json& config) {
        config["limits"] = {{"max_lifetime", 0.5}, {"lifetime_grace", 20}};
      });
  auto client = t.Client();
  auto start = std::chrono::steady_clock::now();
  REQUIRE(client->Handshake());
  REQUIRE(client->Send("a1 IDLE\r\n"));
  REQUIRE(client->ReadUntil("+ idling\r\n"));
  CHECK(client->WaitEof());
  auto elapsed = std::chrono::steady_clock::now() - start;
  CHECK(elapsed >= 450ms);
  CHECK(elapsed < 5s);  // not the grace: an IDLE is not a command in progress
  CHECK(client->received() ==
        kGreeting + "+ idling\r\n* BYE Session lifetime reached; please reconnect\r\n");
  auto stats = t.QuietStats();
  CHECK(ClosedCount(stats, "lifetime") == 1);
}

TEST_CASE("lifetime grace: a command that never finishes is cut at the grace's end") {
  E2e t([](Json& config) { config["limits"] = {{"max_lifetime", 0.3}, {"lifetime_grace", 0.5}}; });
  auto client = t.Client();
  auto start = std::chrono::steady_clock::now();
  REQUIRE(client->Handshake());
  REQUIRE(client->Send("a1 APPEND INBOX {100}\r\n"));
  REQUIRE(client->ReadUntil("+ Ready"));
  REQUIRE(client->Send("only part"));
  CHECK(client->WaitEof());
  CHECK(std::chrono::steady_clock::now() - start >= 750ms);
  CHECK(client->received().ends_with("* BYE Session lifetime reached; please reconnect\r\n"));
  auto stats = t.QuietStats();
  CHECK(ClosedCount(stats, "lifetime") == 1);
}

TEST_CASE("SIGTERM: open sessions get BYE, the process exits 0") {
  E2e t([](BackendConnection& c) {
    c.Send(kGreeting);
    c.WaitEof();
  });
  auto client = t.Greeted();
  CHECK(t.proxy.Stop() == 0);
  CHECK(client->WaitEof());
  CHECK(client->received() == kGreeting + "* BYE Server shutting down\r\n");
}

TEST_CASE(
    "SIGHUP: new sessions follow the new config, open ones keep theirs, a bad file is ignored") {
  ScriptedBackend after(MiniImap);
  E2e t;
  ScriptedBackend& before = t.backend;
  auto open_session = t.Greeted();

  t.proxy.Reload(t.setup.Config({after.port()}));
  REQUIRE(WaitFor([&] { return t.proxy.Log().find("event=reload ") != std::string::npos; }));
  {
    auto fresh = t.Client();
    REQUIRE(fresh->Handshake("b1 LOGOUT\r\n"));
    CHECK(fresh->WaitEof());
  }
  REQUIRE(open_session->Send("a1 NOOP\r\n"));
  REQUIRE(open_session->ReadUntil("a1 OK done\r\n"));

  auto broken = t.setup.Config({before.port()});
  broken["routes"][0]["backends"][0] = "127.0.0.1:0";
  t.proxy.Reload(broken);
  REQUIRE(WaitFor([&] { return t.proxy.Log().find("event=reload_refused") != std::string::npos; }));
  CHECK(t.proxy.Log().find("routes[0].backends[0]") != std::string::npos);
  {
    auto fresh = t.Client();
    REQUIRE(fresh->Handshake("c1 LOGOUT\r\n"));
    CHECK(fresh->WaitEof());
  }
  REQUIRE(open_session->Send("a2 LOGOUT\r\n"));
  CHECK(open_session->WaitEof());
  REQUIRE(before.WaitScriptsDone());
  REQUIRE(after.WaitScriptsDone());
  CHECK(before.connections() == 1);
  CHECK(before.received(0) == "a1 NOOP\r\na2 LOGOUT\r\n");
  CHECK(after.connections() == 2);
  CHECK(after.received(0) == "b1 LOGOUT\r\n");
  CHECK(after.received(1) == "c1 LOGOUT\r\n");
  t.QuietStats(3);
}

TEST_CASE("SIGTERM: idle sessions end at once, a command in progress finishes first") {
  E2e t({.config =
             [](Json& config) {
               config["limits"] = {{"shutdown_grace", 20}};
             },
         .access_log = true});
  const std::string& log_path = t.access_log;
  auto idle = t.Greeted();
  auto busy = t.Handshaken();
  REQUIRE(busy->Send("a1 APPEND INBOX {8}\r\n"));
  REQUIRE(busy->ReadUntil("+ Ready"));
  REQUIRE(busy->Send("1234"));
  REQUIRE(
      WaitFor([&] { return t.backend.received(1).size() + t.backend.received(0).size() > 24; }));
  t.proxy.Signal(SIGTERM);
  CHECK(idle->WaitEof());
  CHECK(idle->received() == kGreeting + "* BYE Server shutting down\r\n");
  // logrotate's SIGUSR1 and a reload's SIGHUP during the grace must not
  // kill the process.
  t.proxy.Signal(SIGUSR1);
  t.proxy.Signal(SIGHUP);
  std::this_thread::sleep_for(300ms);
  REQUIRE(busy->Send("5678\r\n"));
  CHECK(busy->WaitEof());
  CHECK(busy->received() == kGreeting +
                                "+ Ready for literal data\r\na1 OK done\r\n"
                                "* BYE Server shutting down\r\n");
  CHECK(t.proxy.WaitExit() == 0);
  // The stats endpoint is gone with the process; the access log tells.
  auto lines = ReadJsonLines(log_path);
  REQUIRE(lines.size() == 2);
  CHECK(lines[0]["reason"] == "shutdown");
  CHECK(lines[1]["reason"] == "shutdown");
  CHECK(lines[0]["commands"] == 0);  // the idle one ended first
  CHECK(lines[1]["appends"] == 1);
}

TEST_CASE("SIGHUP: listeners added and removed, open sessions on a removed one go on") {
  E2e t;
  auto open = t.Greeted();

  const uint16_t new_port = FreePort();
  auto moved = t.setup.Config({t.backend.port()});
  moved["listeners"] = {{{"name", "imaps2"},
                         {"listen", "127.0.0.1:" + std::to_string(new_port)},
                         {"mode", "implicit_tls"}}};
  t.proxy.Reload(moved);
  REQUIRE(WaitFor([&] { return t.proxy.Log().find("event=reload ") != std::string::npos; }));
  auto fresh = Greeted(new_port);
  // Every worker closes its socket for the old port; then it refuses.
  CHECK(WaitFor([&] { return !Socket::Connect(t.port()).valid(); }));
  REQUIRE(open->Send("a1 NOOP\r\n"));
  CHECK(open->ReadUntil("a1 OK done\r\n"));

  // A listener on an address someone else holds: the reload is refused whole.
  Socket holder;
  const uint16_t taken = FreePort();
  {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(taken);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0);
    REQUIRE(listen(fd, 1) == 0);
    holder = Socket(fd);
  }
  auto clash = moved;
  clash["listeners"].push_back({{"name", "clash"},
                                {"listen", "127.0.0.1:" + std::to_string(taken)},
                                {"mode", "implicit_tls"}});
  t.proxy.Reload(clash);
  REQUIRE(WaitFor([&] { return t.proxy.Log().find("event=reload_refused") != std::string::npos; }));
  auto still = Greeted(new_port);
  open->SendCloseNotify();
  fresh->SendCloseNotify();
  still->SendCloseNotify();
  t.QuietStats(3);
}

}  // namespace
}  // namespace imapfront::testing
