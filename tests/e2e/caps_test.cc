// End to end: connection caps: global, per IP, per route.
#include <doctest/doctest.h>

#include <memory>
#include <vector>

#include "tests/e2e/e2e_fixture.h"
#include "tests/support/harness.h"

namespace imapfront::testing {
namespace {

TEST_CASE("caps: global max_connections across workers, a freed slot is usable again") {
  E2e t([](Json& config) {
    config["workers"] = 2;
    config["limits"] = {{"max_connections", 3}};
  });
  std::vector<std::unique_ptr<TlsClient>> open;
  for (int i = 0; i < 3; ++i) open.push_back(t.Greeted());
  for (int i = 0; i < 2; ++i) {
    TlsClient over(t.port());
    REQUIRE(over.Handshake());
    CHECK(over.WaitEof());
    CHECK(over.received() == kTooMany);
  }
  CHECK(t.backend.connections() == 3);  // the backend never saw the refused ones
  REQUIRE(open[0]->Send("a LOGOUT\r\n"));
  CHECK(open[0]->WaitEof());
  REQUIRE(WaitFor([&] { return t.proxy.Stats()["connections"]["active"] == 2; }));
  auto again = t.Greeted();
  CHECK(t.backend.connections() == 4);
  for (auto& c : open) c->SendCloseNotify();
  again->SendCloseNotify();
  auto stats = t.QuietStats(6);
  CHECK(ClosedCount(stats, "limit") == 2);
}

TEST_CASE("caps: max_connections_per_ip") {
  E2e t([](Json& config) { config["limits"] = {{"max_connections_per_ip", 2}}; });
  auto a = t.Greeted();
  auto b = t.Greeted();
  TlsClient over(t.port());
  REQUIRE(over.Handshake());
  CHECK(over.WaitEof());
  CHECK(over.received() == kTooMany);
  CHECK(t.backend.connections() == 2);
  a->SendCloseNotify();
  b->SendCloseNotify();
  auto stats = t.QuietStats(3);
  CHECK(ClosedCount(stats, "limit") == 1);
}

TEST_CASE("caps: a route's max_connections leaves other routes alone") {
  ScriptedBackend small(MiniImap);
  // Before the fixture's route "default" (served by t.backend), a small one.
  E2e t([&](Json& config) {
    config["routes"].insert(config["routes"].begin(),
                            Json{{"name", "small"},
                                 {"sni", {"small.example"}},
                                 {"backends", {BackendAddress(small.port())}},
                                 {"limits", {{"max_connections", 1}}}});
  });
  ScriptedBackend& other = t.backend;
  auto first = t.Greeted("small.example");
  TlsClient over(t.port(), "small.example");
  REQUIRE(over.Handshake());
  CHECK(over.WaitEof());
  CHECK(over.received() == kTooMany);
  auto elsewhere = t.Greeted("other.example");
  CHECK(small.connections() == 1);
  CHECK(other.connections() == 1);
  first->SendCloseNotify();
  elsewhere->SendCloseNotify();
  auto stats = t.QuietStats(3);
  CHECK(stats["routes"]["small"]["closed"]["limit"] == 1);
  CHECK(stats["routes"]["small"]["accepted"] == 2);
}

}  // namespace
}  // namespace imapfront::testing
