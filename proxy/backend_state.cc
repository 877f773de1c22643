#include "proxy/backend_state.h"

#include <deque>
#include <map>

namespace imapfront {

std::shared_ptr<const BackendTable> BackendTable::Build(const Config& config,
                                                        const BackendTable* previous) {
  // A backend listed twice in a route has two states; they are taken in
  // order, so each keeps its own.
  std::map<std::pair<std::string, std::string>, std::deque<std::shared_ptr<BackendState>>> old;
  if (previous) {
    for (const auto& route : previous->routes_) {
      for (const auto& state : route) old[{state->route, state->backend}].push_back(state);
    }
  }
  auto table = std::make_shared<BackendTable>();
  for (const RouteConfig& route : config.routes) {
    auto& states = table->routes_.emplace_back();
    for (const BackendAddress& backend : route.backends) {
      auto it = old.find({route.name, backend.text});
      std::shared_ptr<BackendState> state;
      if (it != old.end() && !it->second.empty()) {
        state = std::move(it->second.front());
        it->second.pop_front();
      } else {
        state = std::make_shared<BackendState>(route.name, backend.text);
      }
      if (!route.health_check) {
        // Nobody checks it: nothing may keep it down.
        state->up.store(true, std::memory_order_relaxed);
        state->failed_in_row = state->passed_in_row = 0;
      }
      states.push_back(std::move(state));
    }
  }
  return table;
}

bool RouteBackends::Skip(size_t i) const {
  const BackendState* state = at(i);
  if (!state || state->up.load(std::memory_order_relaxed)) return false;
  for (const auto& other : *states_) {
    if (other->up.load(std::memory_order_relaxed)) return true;
  }
  return false;  // all down: each is still tried
}

}  // namespace imapfront
