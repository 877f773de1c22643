// End to end: SPEC "Backend health". A scripted backend that can be made
// sick and well again, sub-second check settings, and bounded waits for
// each transition; the skipping of down backends; /stats and /metrics; a
// reload that keeps what is known.
#include <doctest/doctest.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "tests/e2e/e2e_fixture.h"
#include "tests/support/harness.h"

namespace imapfront::testing {
namespace {

// A backend that greets and serves (MiniImap) while |well|, and otherwise
// refuses with a BYE greeting.
struct Switchable {
  std::shared_ptr<std::atomic<bool>> well = std::make_shared<std::atomic<bool>>(true);
  ScriptedBackend::Script script() const {
    auto w = well;
    return [w](BackendConnection& c) {
      if (w->load()) {
        MiniImap(c);
      } else {
        c.Send("* BYE [UNAVAILABLE] sick\r\n");
      }
    };
  }
};

// Accepts and never greets: a hung backend. Its scripts end when imapfront
// closes the connection (or at the harness's bounded wait).
void Hung(BackendConnection& c) {
  c.WaitEof();
}

Json Backends(Proxy& proxy) {
  return proxy.Stats()["backends"];
}

std::string Key(uint16_t port, const std::string& route = "default") {
  return route + "/127.0.0.1:" + std::to_string(port);
}

Json FastChecks(int fall = 2, int rise = 2) {
  return {{"interval", 0.1}, {"timeout", 0.5}, {"fall", fall}, {"rise", rise}};
}

}  // namespace

TEST_CASE(
    "health_check: fall failures mark a backend down, rise passes bring it up; each "
    "transition logged, /stats and /metrics say so") {
  Switchable backend;
  E2e t(backend.script(), [](Json& config) { config["routes"][0]["health_check"] = FastChecks(); });
  const std::string key = Key(t.backend.port());
  REQUIRE(WaitFor([&] { return t.backend.connections() >= 2; }));
  Json b = Backends(t.proxy)[key];
  CHECK(b["up"] == true);
  CHECK(b["checks_failed"] == 0);

  *backend.well = false;
  REQUIRE(WaitFor([&] { return Backends(t.proxy)[key]["up"] == false; }));
  b = Backends(t.proxy)[key];
  CHECK(b["checks_failed"].get<uint64_t>() >= 2);
  const std::string log = t.proxy.Log();
  const size_t down = log.find("event=backend_down route=default backend=127.0.0.1:" +
                               std::to_string(t.backend.port()) + " why=\"refused: * BYE");
  CHECK(down != std::string::npos);
  const std::string metrics = HttpGet(t.proxy.stats_port(), "/metrics");
  const std::string labels =
      "{route=\"default\",backend=\"127.0.0.1:" + std::to_string(t.backend.port()) + "\"}";
  CHECK(metrics.find("# TYPE imapfront_backend_up gauge\n") != std::string::npos);
  CHECK(metrics.find("imapfront_backend_up" + labels + " 0\n") != std::string::npos);
  CHECK(metrics.find("imapfront_backend_checks_failed_total" + labels + " ") != std::string::npos);
  CHECK(metrics.find("imapfront_backend_sessions_total" + labels + " 0\n") != std::string::npos);
  CHECK(metrics.find("imapfront_backend_connect_failures_total" + labels + " 0\n") !=
        std::string::npos);

  *backend.well = true;
  REQUIRE(WaitFor([&] { return Backends(t.proxy)[key]["up"] == true; }));
  CHECK(t.proxy.Log().find("event=backend_up route=default backend=127.0.0.1:" +
                           std::to_string(t.backend.port())) > down);
  // A session counts in its backend's figures.
  auto client = t.Greeted();
  client.reset();
  REQUIRE(WaitFor([&] { return Backends(t.proxy)[key]["sessions"] == 1; }));
}

TEST_CASE(
    "health_check: one checker for the process, however many workers; a reload restarts "
    "only the checks it changes") {
  // Four workers; the first checks come at start, the next a minute later.
  E2e t([](Json& config) {
    config["workers"] = 4;
    config["routes"][0]["health_check"] = {{"interval", 60}, {"timeout", 5}};
  });
  REQUIRE(WaitFor([&] { return t.backend.connections() >= 1; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  CHECK(t.backend.connections() == 1);
  CHECK(t.backend.received(0) == "imapfront1 LOGOUT\r\n");

  // A reload that leaves the checks alone neither repeats nor delays them...
  Json config = t.setup.Config({t.backend.port()});
  config["workers"] = 4;
  config["routes"][0]["health_check"] = {{"interval", 60}, {"timeout", 5}};
  config["limits"] = {{"idle_timeout", 600}};
  t.proxy.Reload(config);
  REQUIRE(WaitFor([&] { return t.proxy.Log().find("event=reload ") != std::string::npos; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  CHECK(t.backend.connections() == 1);
  // ... one that changes them starts them anew, at once.
  config["routes"][0]["health_check"]["timeout"] = 4;
  t.proxy.Reload(config);
  REQUIRE(WaitFor([&] { return t.backend.connections() == 2; }));
}

TEST_CASE(
    "health_check: a session does not wait for a backend that is down; connect failures "
    "are counted per backend") {
  ScriptedBackend hung(Hung);
  E2e t([&](Json& config) {
    config["routes"][0]["backends"] = {BackendAddress(hung.port()),
                                       config["routes"][0]["backends"][0]};
    config["routes"][0]["health_check"] = {
        {"interval", 0.1}, {"timeout", 0.2}, {"fall", 1}, {"rise", 1}};
    // A session that tried the hung backend would wait this long: longer
    // than any wait of the test.
    config["limits"]["backend_connect_timeout"] = 60;
  });
  REQUIRE(WaitFor([&] { return Backends(t.proxy)[Key(hung.port())]["up"] == false; }));
  auto client = t.Greeted();  // within kWait: the hung backend was skipped
  REQUIRE(client->Send("a1 LOGOUT\r\n"));
  REQUIRE(client->WaitEof());
  const Json backends = Backends(t.proxy);
  CHECK(backends[Key(t.backend.port())]["sessions"] == 1);
  CHECK(backends[Key(hung.port())]["sessions"] == 0);
  CHECK(backends[Key(hung.port())]["connect_failures"] == 0);
  CHECK(t.proxy.Log().find("event=backend_skipped") != std::string::npos);
  // No session attempt failed on it (checks alone reached it).
  CHECK(t.proxy.Log().find("event=backend_failed") == std::string::npos);
}

TEST_CASE("health_check: when every backend of a route is down, each is still tried") {
  Switchable backend;
  E2e t(backend.script(), [](Json& config) {
    // rise 1000: once down, it stays down for the whole test.
    config["routes"][0]["health_check"] = FastChecks(1, 1000);
  });
  const std::string key = Key(t.backend.port());
  *backend.well = false;
  REQUIRE(WaitFor([&] { return Backends(t.proxy)[key]["up"] == false; }));
  *backend.well = true;
  auto client = t.Greeted();
  client.reset();
  CHECK(Backends(t.proxy)[key]["up"] == false);
  REQUIRE(WaitFor([&] { return Backends(t.proxy)[key]["sessions"] == 1; }));
}

TEST_CASE("health_check: a reload keeps the state of backends that stay, adds and drops others") {
  Switchable backend;
  ScriptedBackend other(MiniImap);
  E2e t(backend.script(),
        [](Json& config) { config["routes"][0]["health_check"] = FastChecks(1, 1000); });
  const std::string key = Key(t.backend.port());
  *backend.well = false;
  REQUIRE(WaitFor([&] { return Backends(t.proxy)[key]["up"] == false; }));
  *backend.well = true;
  Json config = t.setup.Config({t.backend.port()});
  config["routes"][0]["health_check"] = FastChecks(1, 1000);
  config["routes"].push_back({{"name", "extra"}, {"backends", {BackendAddress(other.port())}}});
  t.proxy.Reload(config);
  REQUIRE(WaitFor([&] { return Backends(t.proxy).contains(Key(other.port(), "extra")); }));
  Json backends = Backends(t.proxy);
  CHECK(backends[key]["up"] == false);  // kept: no fresh start as "up"
  CHECK(backends[key]["checks_failed"].get<uint64_t>() >= 1);
  CHECK(backends[Key(other.port(), "extra")]["up"] == true);
  // Dropped from the config, dropped from /stats.
  Json smaller = t.setup.Config({other.port()});
  t.proxy.Reload(smaller);
  REQUIRE(WaitFor([&] { return !Backends(t.proxy).contains(key); }));
  CHECK(Backends(t.proxy).contains(Key(other.port())));
}

}  // namespace imapfront::testing
