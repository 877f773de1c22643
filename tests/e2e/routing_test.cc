// End to end: which backend serves a session: routes by SNI, failover past
// refused, silent and full backends, no backend at all.
#include <doctest/doctest.h>

#include <string>
#include <utility>
#include <vector>

#include "tests/e2e/e2e_fixture.h"
#include "tests/support/harness.h"

namespace imapfront::testing {
namespace {

TEST_CASE("routes by SNI: the named route's backend, and the default for other names or none") {
  ScriptedBackend legacy(MiniImap);
  ScriptedBackend other(MiniImap);
  TestSetup setup;
  auto config = setup.Config({other.port()});
  config["routes"] = {
      {{"name", "legacy"},
       {"sni", {"mail.example.com", "*.legacy.example"}},
       {"listeners", {"imaps"}},
       {"backends", {"127.0.0.1:" + std::to_string(legacy.port())}}},
      {{"name", "default"}, {"backends", {"127.0.0.1:" + std::to_string(other.port())}}}};
  Proxy proxy(config);
  const std::vector<std::pair<std::string, ScriptedBackend*>> cases = {
      {"mail.example.com", &legacy},
      {"imap.legacy.example", &legacy},
      {"other.example.com", &other},
      {"", &other}};
  for (const auto& [sni, backend] : cases) {
    TlsClient client(setup.port, sni);
    REQUIRE(client.Handshake("x LOGOUT\r\n"));
    CHECK(client.WaitEof());
  }
  REQUIRE(legacy.WaitScriptsDone());
  REQUIRE(other.WaitScriptsDone());
  CHECK(legacy.connections() == 2);
  CHECK(other.connections() == 2);
  auto stats = QuietStats(proxy, 4);
  CHECK(stats["routes"]["legacy"]["accepted"] == 2);
  CHECK(stats["routes"]["default"]["accepted"] == 2);
}

TEST_CASE("backend unreachable: the client gets BYE and the close is counted") {
  TestSetup setup;
  Proxy proxy(setup.Config({FreePort()}));
  TlsClient client(setup.port);
  REQUIRE(client.Handshake());
  CHECK(client.WaitEof());
  CHECK(client.received() == "* BYE [UNAVAILABLE] Backend unavailable\r\n");
  auto stats = QuietStats(proxy);
  CHECK(ClosedCount(stats, "backend_unavailable") == 1);
  CHECK(stats["routes"]["default"]["closed"]["backend_unavailable"] == 1);
}

TEST_CASE("failover: refused, then silent, then a working backend") {
  ScriptedBackend silent([](BackendConnection& c) { c.WaitEof(3s); });
  ScriptedBackend good(MiniImap);
  TestSetup setup;
  auto config = setup.Config({FreePort(), silent.port(), good.port()});
  config["limits"] = {{"backend_connect_timeout", 0.3}};
  Proxy proxy(config);
  TlsClient client(setup.port);
  REQUIRE(client.Handshake("a1 NOOP\r\n"));
  REQUIRE(client.ReadUntil("a1 OK done\r\n"));
  CHECK(client.received() == kGreeting + "a1 OK done\r\n");
  CHECK(silent.connections() == 1);
  CHECK(silent.received(0).empty());  // nothing was sent to a backend that never greeted
  REQUIRE(client.Send("a2 LOGOUT\r\n"));
  CHECK(client.WaitEof());
  REQUIRE(good.WaitScriptsDone());
  CHECK(good.received(0) == "a1 NOOP\r\na2 LOGOUT\r\n");
  QuietStats(proxy);
}

TEST_CASE("failover: a backend that greets with BYE (full) is skipped") {
  ScriptedBackend full([](BackendConnection& c) {
    c.Send("* BYE Too many connections\r\n");
    c.socket().Close();
  });
  ScriptedBackend good(MiniImap);
  TestSetup setup;
  Proxy proxy(setup.Config({full.port(), good.port()}));
  TlsClient client(setup.port);
  REQUIRE(client.Handshake("a1 LOGOUT\r\n"));
  CHECK(client.WaitEof());
  CHECK(client.received() == kGreeting + "* BYE logging out\r\na1 OK LOGOUT completed\r\n");
  REQUIRE(good.WaitScriptsDone());
  CHECK(full.received(0).empty());
  CHECK(good.received(0) == "a1 LOGOUT\r\n");
  QuietStats(proxy);
}

}  // namespace
}  // namespace imapfront::testing
