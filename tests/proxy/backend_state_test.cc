#include "proxy/backend_state.h"

#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

namespace imapfront {
namespace {

std::shared_ptr<const Config> Load(const nlohmann::json& routes) {
  nlohmann::json doc = {{"tls", {{"certificates", {{{"cert", "c.pem"}, {"key", "k.pem"}}}}}},
                        {"listeners", {{{"name", "imaps"}, {"listen", "127.0.0.1:9993"}}}},
                        {"routes", routes}};
  ConfigResult r = ParseConfig(doc.dump(), "t.json");
  REQUIRE(r.config);
  return r.config;
}

const nlohmann::json kCheck = {{"interval", 1}};

}  // namespace

TEST_CASE("BackendTable: a reload keeps the state of the backends that stay") {
  auto before = Load(
      {{{"name", "a"}, {"backends", {"10.0.0.1:143", "10.0.0.2:143"}}, {"health_check", kCheck}},
       {{"name", "b"}, {"backends", {"10.0.0.1:143"}}}});
  auto table = BackendTable::Build(*before, nullptr);
  REQUIRE(table->route_count() == 2);
  BackendState& a1 = *table->Route(0)[0];
  CHECK(a1.route == "a");
  CHECK(a1.backend == "10.0.0.1:143");
  CHECK(a1.up);
  a1.up = false;
  a1.sessions = 7;
  a1.failed_in_row = 2;
  // Route b's 10.0.0.1 is another backend state: routes are checked apart.
  CHECK(table->Route(1)[0].get() != &a1);

  auto after = Load(
      {{{"name", "b"}, {"backends", {"10.0.0.3:143"}}},
       {{"name", "a"}, {"backends", {"10.0.0.9:143", "10.0.0.1:143"}}, {"health_check", kCheck}}});
  auto next = BackendTable::Build(*after, table.get());
  CHECK(next->Route(1)[1].get() == &a1);  // kept: down, counters and all
  CHECK_FALSE(a1.up);
  CHECK(a1.sessions == 7);
  CHECK(next->Route(1)[0]->up);  // new: up until checked
  CHECK(next->Route(0)[0]->backend == "10.0.0.3:143");

  // Checks removed: nothing may keep it down.
  auto unchecked = Load({{{"name", "a"}, {"backends", {"10.0.0.1:143"}}}});
  auto last = BackendTable::Build(*unchecked, next.get());
  CHECK(last->Route(0)[0].get() == &a1);
  CHECK(a1.up);
  CHECK(a1.failed_in_row == 0);
}

TEST_CASE("BackendTable: a backend listed twice in a route keeps two states across reloads") {
  // The config refuses one address twice in a route; the table still copes.
  auto valid = Load(
      {{{"name", "a"}, {"backends", {"10.0.0.1:143", "10.0.0.2:143"}}, {"health_check", kCheck}}});
  auto copy = std::make_shared<Config>(*valid);
  copy->routes[0].backends[1] = copy->routes[0].backends[0];
  std::shared_ptr<const Config> config = copy;
  auto table = BackendTable::Build(*config, nullptr);
  BackendState* first = table->Route(0)[0].get();
  BackendState* second = table->Route(0)[1].get();
  CHECK(first != second);
  auto next = BackendTable::Build(*config, table.get());
  CHECK(next->Route(0)[0].get() == first);
  CHECK(next->Route(0)[1].get() == second);
}

TEST_CASE("RouteBackends: a down backend is skipped while another of its route is up") {
  auto config = Load({{{"name", "a"},
                       {"backends", {"10.0.0.1:143", "10.0.0.2:143", "10.0.0.3:143"}},
                       {"health_check", kCheck}}});
  auto table = BackendTable::Build(*config, nullptr);
  RouteBackends backends(&table->Route(0));
  CHECK_FALSE(backends.Skip(0));
  table->Route(0)[0]->up = false;
  table->Route(0)[2]->up = false;
  CHECK(backends.Skip(0));
  CHECK_FALSE(backends.Skip(1));
  CHECK(backends.Skip(2));
  table->Route(0)[1]->up = false;
  // All down: each is still tried.
  CHECK_FALSE(backends.Skip(0));
  CHECK_FALSE(backends.Skip(1));
  CHECK(RouteBackends().at(0) == nullptr);
  CHECK_FALSE(RouteBackends().Skip(0));
}

}  // namespace imapfront
