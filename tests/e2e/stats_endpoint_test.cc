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
