// One loaded configuration with what was built from it. Sessions hold the
// Runtime they started under, so a reload never changes a running session.
#pragma once

#include <memory>

#include "proxy/access_log.h"
#include "proxy/backend_state.h"
#include "proxy/config/config.h"
#include "tls/context.h"

namespace imapfront {

struct Runtime {
  std::shared_ptr<const Config> config;
  std::shared_ptr<const tls::ServerContext> tls;
  std::shared_ptr<AccessLog> access_log;  // opened by the server, not by --check-config
  // Up/down and counters per route and backend; set by the server (null in
  // --check-config and in tests that run sessions without one).
  std::shared_ptr<const BackendTable> backends;

  // Route |route|'s (one of config's) backend states.
  RouteBackends BackendsOf(const RouteConfig* route) const {
    if (!backends || !route) return RouteBackends();
    return RouteBackends(&backends->Route(static_cast<size_t>(route - config->routes.data())));
  }
};

}  // namespace imapfront
