// End to end: the stats endpoint's other paths: /healthz, /metrics, 404.
#include <doctest/doctest.h>

#include <string>
#include <thread>

#include "tests/e2e/e2e_fixture.h"
#include "tests/support/harness.h"

namespace imapfront::testing {
namespace {

TEST_CASE("stats endpoint: /healthz, /metrics, 404") {
  E2e t(UnreachableBackend);
  CHECK(HttpGet(t.proxy.stats_port(), "/healthz").find("HTTP/1.1 200 OK") == 0);
  std::string metrics = HttpGet(t.proxy.stats_port(), "/metrics");
  CHECK(metrics.find("HTTP/1.1 200 OK") == 0);
  CHECK(metrics.find("# TYPE imapfront_connections_closed_total counter") != std::string::npos);
  CHECK(metrics.find("imapfront_connections_closed_total{reason=\"tls_error\"} 0") !=
        std::string::npos);
  CHECK(metrics.find("imapfront_connections_accepted_total 0") != std::string::npos);
  CHECK(HttpGet(t.proxy.stats_port(), "/nope").find("HTTP/1.1 404") == 0);

  // A request whose first segment fills the server's read buffer exactly.
  Socket s = Socket::Connect(t.proxy.stats_port());
  std::string head = "GET /healthz HTTP/1.1\r\nX-Pad: ";
  head += std::string(2048 - head.size(), 'p');
  REQUIRE(s.SendAll(head));
  std::this_thread::sleep_for(100ms);
  REQUIRE(s.SendAll("\r\n\r\n"));
  char buf[512];
  ssize_t n = s.ReadSome(buf, sizeof(buf), 5s);
  REQUIRE(n > 0);
  CHECK(std::string(buf, static_cast<size_t>(n)).find("HTTP/1.1 200 OK") == 0);
}

}  // namespace
}  // namespace imapfront::testing

namespace imapfront::testing {
namespace {

TEST_CASE("SIGHUP moves the stats endpoint; a changed workers count is a warning, not applied") {
  E2e t;
  const uint16_t old_port = t.proxy.stats_port();
  const uint16_t new_port = FreePort();
  Json config = t.setup.Config({t.backend.port()});
  config["stats"] = {{"listen", "127.0.0.1:" + std::to_string(new_port)}};
  config["workers"] = 3;  // the fixture runs 2
  t.proxy.Reload(config, new_port);
  REQUIRE(WaitFor([&] { return t.proxy.Log().find("event=reload ") != std::string::npos; }));
  CHECK(HttpGet(new_port, "/healthz").find("\r\n\r\nok") != std::string::npos);
  CHECK(WaitFor([&] { return HttpGet(old_port, "/healthz").empty(); }));
  const std::string log = t.proxy.Log();
  CHECK(log.find("event=stats_moved from=127.0.0.1:" + std::to_string(old_port) +
                 " to=127.0.0.1:" + std::to_string(new_port)) != std::string::npos);
  CHECK(log.find("level=warn event=reload_partial") != std::string::npos);
  CHECK(log.find("key=workers running=2 configured=3") != std::string::npos);
  CHECK(log.find("changed=stats,workers") != std::string::npos);
  // Sessions are served as before and counted on the new port.
  auto client = t.Greeted();
  client->SendCloseNotify();
  t.QuietStats(1);

  // The same port on the wildcard address: the old socket holds the port,
  // so it is closed first, and the endpoint answers on the new address.
  config["stats"] = {{"listen", "0.0.0.0:" + std::to_string(new_port)}};
  t.proxy.Reload(config);
  REQUIRE(WaitFor([&] {
    return t.proxy.Log().find("to=0.0.0.0:" + std::to_string(new_port)) != std::string::npos;
  }));
  CHECK(HttpGet(new_port, "/healthz").find("\r\n\r\nok") != std::string::npos);
  CHECK(t.proxy.Log().find("event=reload_refused") == std::string::npos);
}

}  // namespace
}  // namespace imapfront::testing
