// End to end: which backend serves a session: routes by SNI, failover past
// refused, silent and full backends, no backend at all.
#include <doctest/doctest.h>

#include <cstdlib>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tests/e2e/e2e_fixture.h"
#include "tests/support/harness.h"

namespace imapfront::testing {
namespace {

std::string AsanOptions() {
  const char* v = std::getenv("ASAN_OPTIONS");
  return v ? v : "";
}

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

TEST_CASE("no route: an SNI no route names, and no catch-all, is no_route with its own BYE") {
  E2e t([](Json& config) { config["routes"][0]["sni"] = {"localhost"}; });
  {
    auto client = t.Handshaken("unknown.example");
    CHECK(client->WaitEof());
    CHECK(client->received() == "* BYE [UNAVAILABLE] No server for this name\r\n");
  }
  {
    auto client = t.Handshaken();  // no SNI at all: only routes without sni would do
    CHECK(client->WaitEof());
    CHECK(client->received() == "* BYE [UNAVAILABLE] No server for this name\r\n");
  }
  auto served = t.Greeted("localhost");
  served->SendCloseNotify();
  auto stats = t.QuietStats(3);
  CHECK(ClosedCount(stats, "no_route") == 2);
  CHECK(ClosedCount(stats, "backend_unavailable") == 0);
  CHECK(t.backend.connections() == 1);  // the refused ones never reached a backend
  CHECK(stats["routes"]["default"]["accepted"] == 1);
  CHECK(t.proxy.Log().find("event=no_route ") != std::string::npos);
}

TEST_CASE(
    "backend names resolve when a session connects: unresolvable at start, served once the "
    "name resolves, failover past a name that does not") {
  const std::string hosts = MakeTempDir() + "/hosts";
  WriteFile(hosts, "");
  E2e t(E2eOptions{.config =
                       [](Json& config) {
                         const std::string port =
                             config["routes"][0]["backends"][0].get<std::string>().substr(
                                 std::string("127.0.0.1:").size());
                         config["routes"][0]["backends"] = {"never.imapfront.test:" + port,
                                                            "backend.imapfront.test:" + port};
                       },
                   .env = {{"LD_PRELOAD", IMAPFRONT_RESOLVER_STUB},
                           {"IMAPFRONT_TEST_HOSTS", hosts},
                           // The stub is preloaded ahead of the sanitizer runtime.
                           {"ASAN_OPTIONS", AsanOptions() + ":verify_asan_link_order=0"}}});
  // Started although neither name resolves; the log says so (the check runs
  // on the thread pool, so it may come just after the start).
  CHECK(WaitFor([&] {
    const std::string log = t.proxy.Log();
    return log.find("event=config_warning") != std::string::npos &&
           log.find("routes[0].backends[1]: cannot resolve \\\"backend.imapfront.test\\\"") !=
               std::string::npos;
  }));
  {
    auto client = t.Handshaken();
    CHECK(client->WaitEof());
    CHECK(client->received() == "* BYE [UNAVAILABLE] Backend unavailable\r\n");
  }
  CHECK(t.proxy.Log().find("cannot resolve \\\"backend.imapfront.test\\\"") != std::string::npos);
  WriteFile(hosts, "backend.imapfront.test 127.0.0.1\n");
  // A failure is cached for at most a second; then the name resolves.
  std::unique_ptr<TlsClient> client;
  REQUIRE(WaitFor([&] {
    client = t.Client();
    return client->Handshake() && client->ReadUntil(kGreeting, 1s);
  }));
  REQUIRE(client->Send("a1 LOGOUT\r\n"));
  CHECK(client->WaitEof());
  auto stats = t.QuietStats(t.proxy.Stats()["connections"]["accepted"].get<uint64_t>());
  CHECK(ClosedCount(stats, "logout") == 1);
  CHECK(t.backend.connections() == 1);
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
