// What imapfront knows of each backend of each route (SPEC "Backend
// health"): up or down as the health checker last decided, and counters.
// One BackendState per route and backend address, shared by every worker
// (sessions read |up| and count) and the checker (which writes |up|).
// A reload keeps the state of the backends that stay, so neither the
// counters nor a "down" are forgotten.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "proxy/config/config.h"

namespace imapfront {

struct BackendState {
  BackendState(std::string route_name, std::string backend_text)
      : route(std::move(route_name)), backend(std::move(backend_text)) {}

  const std::string route;    // routes[].name
  const std::string backend;  // "host:port" as the config writes it
  std::atomic<bool> up{true};
  // Sessions that relayed through it (counted once greeted, or logged in).
  std::atomic<uint64_t> sessions{0};
  // Session attempts that failed on it (connect, greeting, timeout).
  std::atomic<uint64_t> connect_failures{0};
  std::atomic<uint64_t> checks_failed{0};
  // The checker's alone (one thread): checks in a row that failed/passed.
  uint64_t failed_in_row = 0;
  uint64_t passed_in_row = 0;
};

// The backends of one config, route by route, in config order.
class BackendTable {
 public:
  // States for |config|'s backends, taking those of |previous| (may be
  // null) for the same route name and backend text. A route without
  // health_check has every backend up.
  static std::shared_ptr<const BackendTable> Build(const Config& config,
                                                   const BackendTable* previous);

  // routes[route_index]'s backends, in its order.
  const std::vector<std::shared_ptr<BackendState>>& Route(size_t route_index) const {
    return routes_[route_index];
  }
  size_t route_count() const { return routes_.size(); }

 private:
  std::vector<std::vector<std::shared_ptr<BackendState>>> routes_;
};

// A session's view of its route's backends: which to try (a down backend
// is skipped while any of the route is up) and where to count.
class RouteBackends {
 public:
  RouteBackends() = default;
  explicit RouteBackends(const std::vector<std::shared_ptr<BackendState>>* states)
      : states_(states) {}

  // The state of backend |i|, or null (no table: tests without a server).
  BackendState* at(size_t i) const {
    return states_ && i < states_->size() ? (*states_)[i].get() : nullptr;
  }
  // Backend |i| is down and another of the route is up.
  bool Skip(size_t i) const;

 private:
  const std::vector<std::shared_ptr<BackendState>>* states_ = nullptr;
};

}  // namespace imapfront
