// The process-wide backend checker (SPEC "Backend health"): for every route
// with health_check, each backend is connected every |interval| seconds; a
// "* OK" greeting within |timeout| passes (imapfront then says LOGOUT and
// closes), anything else fails. |fall| failures in a row mark the backend
// down, |rise| passes in a row up again; the BackendState says so to every
// worker, and each transition is logged (backend_down, backend_up).
//
// One checker for the process, on the server's loop: N workers do not make
// N times the checks. Checks send no PROXY header and no ID.
#pragma once

#include <uv.h>

#include <memory>
#include <vector>

#include "proxy/backend_state.h"
#include "proxy/config/config.h"
#include "proxy/resolver.h"

namespace imapfront {

class HealthChecker {
 public:
  explicit HealthChecker(uv_loop_t* loop) : loop_(loop), resolver_(loop) {}
  ~HealthChecker();
  HealthChecker(const HealthChecker&) = delete;
  HealthChecker& operator=(const HealthChecker&) = delete;

  // Checks the backends of |config| (states in |table|) from now on, in
  // place of what it checked before. A backend whose state, address and
  // check settings are the same goes on being checked as it was (a
  // reload that does not touch it neither delays nor repeats its checks).
  void Watch(std::shared_ptr<const Config> config, std::shared_ptr<const BackendTable> table);
  // Stops every check; their handles close on the loop's next turns.
  void Stop();

 private:
  class Probe;
  uv_loop_t* loop_;
  Resolver resolver_;
  std::vector<Probe*> probes_;  // each deletes itself once retired and closed
};

}  // namespace imapfront
