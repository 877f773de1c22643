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
  // Before the fixture's route "default" (served by t.backend), a route by SNI.
  E2e t([&](Json& config) {
    config["routes"].insert(config["routes"].begin(),
                            Json{{"name", "legacy"},
                                 {"sni", {"mail.example.com", "*.legacy.example"}},
                                 {"listeners", {"imaps"}},
                                 {"backends", {BackendAddress(legacy.port())}}});
  });
  ScriptedBackend& other = t.backend;
  const std::vector<std::pair<std::string, ScriptedBackend*>> cases = {
      {"mail.example.com", &legacy},
      {"imap.legacy.example", &legacy},
      {"other.example.com", &other},
      {"", &other}};
  for (const auto& [sni, backend] : cases) {
    auto client = t.Client(sni);
    REQUIRE(client->Handshake("x LOGOUT\r\n"));
    CHECK(client->WaitEof());
  }
  REQUIRE(legacy.WaitScriptsDone());
  REQUIRE(other.WaitScriptsDone());
  CHECK(legacy.connections() == 2);
  CHECK(other.connections() == 2);
  auto stats = t.QuietStats(4);
  CHECK(stats["routes"]["legacy"]["accepted"] == 2);
  CHECK(stats["routes"]["default"]["accepted"] == 2);
}

TEST_CASE("backend unreachable: the client gets BYE and the close is counted") {
  E2e t(UnreachableBackend);
  auto client = t.Handshaken();
  CHECK(client->WaitEof());
  CHECK(client->received() == "* BYE [UNAVAILABLE] Backend unavailable\r\n");
  auto stats = t.QuietStats();
  CHECK(ClosedCount(stats, "backend_unavailable") == 1);
  CHECK(stats["routes"]["default"]["closed"]["backend_unavailable"] == 1);
}

TEST_CASE("failover: refused, then silent, then a working backend") {
  ScriptedBackend silent([](BackendConnection& c) { c.WaitEof(3s); });
  // Refused, silent, then the fixture's backend.
  E2e t([&](Json& config) {
    Json& backends = config["routes"][0]["backends"];
    backends.insert(backends.begin(), {BackendAddress(FreePort()), BackendAddress(silent.port())});
    config["limits"] = {{"backend_connect_timeout", 0.3}};
  });
  ScriptedBackend& good = t.backend;
  auto client = t.Client();
  REQUIRE(client->Handshake("a1 NOOP\r\n"));
  REQUIRE(client->ReadUntil("a1 OK done\r\n"));
  CHECK(client->received() == kGreeting + "a1 OK done\r\n");
  CHECK(silent.connections() == 1);
  CHECK(silent.received(0).empty());  // nothing was sent to a backend that never greeted
  REQUIRE(client->Send("a2 LOGOUT\r\n"));
  CHECK(client->WaitEof());
  REQUIRE(good.WaitScriptsDone());
  CHECK(good.received(0) == "a1 NOOP\r\na2 LOGOUT\r\n");
  t.QuietStats();
}

TEST_CASE("failover: a backend that greets with BYE (full) is skipped") {
  ScriptedBackend full([](BackendConnection& c) {
    c.Send("* BYE Too many connections\r\n");
    c.socket().Close();
  });
  // The full backend first, then the fixture's.
  E2e t([&](Json& config) {
    Json& backends = config["routes"][0]["backends"];
    backends.insert(backends.begin(), BackendAddress(full.port()));
  });
  ScriptedBackend& good = t.backend;
  auto client = t.Client();
  REQUIRE(client->Handshake("a1 LOGOUT\r\n"));
  CHECK(client->WaitEof());
  CHECK(client->received() == kGreeting + "* BYE logging out\r\na1 OK LOGOUT completed\r\n");
  REQUIRE(good.WaitScriptsDone());
  CHECK(full.received(0).empty());
  CHECK(good.received(0) == "a1 LOGOUT\r\n");
  t.QuietStats();
}

}  // namespace
}  // namespace imapfront::testing
