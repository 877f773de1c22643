// End to end: connection caps: global, per IP, per route.
#include <doctest/doctest.h>

#include <memory>
#include <vector>

#include "tests/e2e/e2e_fixture.h"
#include "tests/support/harness.h"

namespace imapfront::testing {
namespace {

TEST_CASE("caps: global max_connections across workers; a freed slot is usable again") {
  ScriptedBackend backend(MiniImap);
  TestSetup setup;
  auto config = setup.Config({backend.port()});
  config["workers"] = 2;
  config["limits"] = {{"max_connections", 3}};
  Proxy proxy(config);
  std::vector<std::unique_ptr<TlsClient>> open;
  for (int i = 0; i < 3; ++i) open.push_back(Greeted(setup.port));
  for (int i = 0; i < 2; ++i) {
    TlsClient over(setup.port);
    REQUIRE(over.Handshake());
    CHECK(over.WaitEof());
    CHECK(over.received() == kTooMany);
  }
  CHECK(backend.connections() == 3);  // the backend never saw the refused ones
  REQUIRE(open[0]->Send("a LOGOUT\r\n"));
  CHECK(open[0]->WaitEof());
  REQUIRE(WaitFor([&] { return proxy.Stats()["connections"]["active"] == 2; }));
  auto again = Greeted(setup.port);
  CHECK(backend.connections() == 4);
  for (auto& c : open) c->SendCloseNotify();
  again->SendCloseNotify();
  auto stats = QuietStats(proxy, 6);
  CHECK(ClosedCount(stats, "limit") == 2);
}

TEST_CASE("caps: max_connections_per_ip") {
  ScriptedBackend backend(MiniImap);
  TestSetup setup;
  auto config = setup.Config({backend.port()});
  config["limits"] = {{"max_connections_per_ip", 2}};
  Proxy proxy(config);
  auto a = Greeted(setup.port);
  auto b = Greeted(setup.port);
  TlsClient over(setup.port);
  REQUIRE(over.Handshake());
  CHECK(over.WaitEof());
  CHECK(over.received() == kTooMany);
  CHECK(backend.connections() == 2);
  a->SendCloseNotify();
  b->SendCloseNotify();
  auto stats = QuietStats(proxy, 3);
  CHECK(ClosedCount(stats, "limit") == 1);
}

TEST_CASE("caps: a route's max_connections leaves other routes alone") {
  ScriptedBackend small(MiniImap);
  ScriptedBackend other(MiniImap);
  TestSetup setup;
  auto config = setup.Config({other.port()});
  config["routes"] = {
      {{"name", "small"},
       {"sni", {"small.example"}},
       {"backends", {"127.0.0.1:" + std::to_string(small.port())}},
       {"limits", {{"max_connections", 1}}}},
      {{"name", "default"}, {"backends", {"127.0.0.1:" + std::to_string(other.port())}}}};
  Proxy proxy(config);
  auto first = Greeted(setup.port, "small.example");
  TlsClient over(setup.port, "small.example");
  REQUIRE(over.Handshake());
  CHECK(over.WaitEof());
  CHECK(over.received() == kTooMany);
  auto elsewhere = Greeted(setup.port, "other.example");
  CHECK(small.connections() == 1);
  CHECK(other.connections() == 1);
  first->SendCloseNotify();
  elsewhere->SendCloseNotify();
  auto stats = QuietStats(proxy, 3);
  CHECK(stats["routes"]["small"]["closed"]["limit"] == 1);
  CHECK(stats["routes"]["small"]["accepted"] == 2);
}

}  // namespace
}  // namespace imapfront::testing
