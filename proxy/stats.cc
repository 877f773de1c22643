#include "proxy/stats.h"

#include <nlohmann/json.hpp>

namespace imapfront {
namespace {

struct CounterInfo {
  const char* group;
  const char* key;
  const char* help;
};

constexpr CounterInfo kCounterInfo[] = {
#define IMAPFRONT_INFO(id, group, key, help) {group, key, help},
    IMAPFRONT_COUNTERS(IMAPFRONT_INFO)
#undef IMAPFRONT_INFO
};

constexpr const char* kCloseReasonNames[] = {
#define IMAPFRONT_NAME(id, name) name,
    IMAPFRONT_CLOSE_REASONS(IMAPFRONT_NAME)
#undef IMAPFRONT_NAME
};

nlohmann::json ClosedJson(const SessionTotals& t) {
  nlohmann::json closed = nlohmann::json::object();
  for (size_t r = 0; r < kCloseReasonCount; ++r) closed[kCloseReasonNames[r]] = t.closed[r];
  return closed;
}

// Prometheus label values: escape backslash, quote and newline.
std::string LabelValue(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

std::string Series(const std::string& name, const std::string& labels) {
  return labels.empty() ? name : name + "{" + labels + "}";
}

// The session metrics under |prefix| ("imapfront_" or "imapfront_route_").
void AppendSessionMetrics(std::string* out, const std::string& prefix, const std::string& labels,
                          const SessionTotals& t) {
  const std::string sep = labels.empty() ? "" : ",";
  *out += Series(prefix + "connections_accepted_total", labels) + " " + std::to_string(t.accepted) +
          "\n";
  *out += Series(prefix + "connections_active", labels) + " " + std::to_string(t.active()) + "\n";
  for (size_t r = 0; r < kCloseReasonCount; ++r) {
    *out += Series(prefix + "connections_closed_total",
                   labels + sep + "reason=\"" + kCloseReasonNames[r] + "\"") +
            " " + std::to_string(t.closed[r]) + "\n";
  }
}

void AppendSessionHelp(std::string* out, const std::string& prefix, const char* scope) {
  *out += "# HELP " + prefix + "connections_accepted_total Connections accepted" + scope + ".\n";
  *out += "# TYPE " + prefix + "connections_accepted_total counter\n";
  *out += "# HELP " + prefix + "connections_active Connections open now" + scope + ".\n";
  *out += "# TYPE " + prefix + "connections_active gauge\n";
  *out +=
      "# HELP " + prefix + "connections_closed_total Connections ended, by reason" + scope + ".\n";
  *out += "# TYPE " + prefix + "connections_closed_total counter\n";
}

}  // namespace

const char* CloseReasonName(CloseReason reason) {
  return kCloseReasonNames[static_cast<size_t>(reason)];
}

uint64_t SessionTotals::active() const {
  uint64_t closed_sum = 0;
  for (uint64_t c : closed) closed_sum += c;
  return accepted - closed_sum;
}

void SessionTotals::AddFrom(const SessionCounters& c) {
  // Closed first, accepted second: a session's accepted is written before its
  // closed, so this order never sees more closed than accepted.
  for (size_t r = 0; r < kCloseReasonCount; ++r) closed[r] += c.closed[r].Get();
  accepted += c.accepted.Get();
}

Stats::Stats(size_t workers) {
  for (size_t i = 0; i < workers; ++i) workers_.push_back(std::make_unique<WorkerStats>());
}

SessionCounters* Stats::RouteCounters(size_t worker, const std::string& route) {
  std::lock_guard<std::mutex> lock(routes_mu_);
  auto& per_worker = routes_[route];
  if (per_worker.empty()) {
    for (size_t i = 0; i < workers_.size(); ++i) {
      per_worker.push_back(std::make_unique<SessionCounters>());
    }
  }
  return per_worker[worker].get();
}

StatsSnapshot Stats::Snapshot(double uptime_seconds) const {
  StatsSnapshot s;
  s.uptime_seconds = uptime_seconds;
  for (const auto& w : workers_) {
    s.sessions.AddFrom(w->sessions);
    for (size_t i = 0; i < kCounterCount; ++i) s.counters[i] += w->counters[i].Get();
  }
  std::lock_guard<std::mutex> lock(routes_mu_);
  for (const auto& [name, per_worker] : routes_) {
    SessionTotals& t = s.routes[name];
    for (const auto& c : per_worker) t.AddFrom(*c);
  }
  return s;
}

std::string StatsJson(const StatsSnapshot& s) {
  nlohmann::json j;
  j["uptime_seconds"] = s.uptime_seconds;
  j["connections"] = {{"accepted", s.sessions.accepted}, {"active", s.sessions.active()}};
  j["closed"] = ClosedJson(s.sessions);
  for (size_t i = 0; i < kCounterCount; ++i) {
    j[kCounterInfo[i].group][kCounterInfo[i].key] = s.counters[i];
  }
  j["routes"] = nlohmann::json::object();
  for (const auto& [name, t] : s.routes) {
    j["routes"][name] = {
        {"accepted", t.accepted}, {"active", t.active()}, {"closed", ClosedJson(t)}};
  }
  return j.dump(2) + "\n";
}

std::string StatsPrometheus(const StatsSnapshot& s) {
  std::string out;
  out += "# HELP imapfront_uptime_seconds Seconds since imapfront started.\n";
  out += "# TYPE imapfront_uptime_seconds gauge\n";
  out += "imapfront_uptime_seconds " + std::to_string(s.uptime_seconds) + "\n";
  AppendSessionHelp(&out, "imapfront_", "");
  AppendSessionMetrics(&out, "imapfront_", "", s.sessions);
  // Per route under their own names, so that summing over routes never
  // counts a connection twice.
  AppendSessionHelp(&out, "imapfront_route_", " on a route");
  for (const auto& [name, t] : s.routes) {
    AppendSessionMetrics(&out, "imapfront_route_", "route=\"" + LabelValue(name) + "\"", t);
  }
  for (size_t i = 0; i < kCounterCount; ++i) {
    std::string metric =
        std::string("imapfront_") + kCounterInfo[i].group + "_" + kCounterInfo[i].key + "_total";
    out += "# HELP " + metric + " " + kCounterInfo[i].help + ".\n";
    out += "# TYPE " + metric + " counter\n";
    out += metric + " " + std::to_string(s.counters[i]) + "\n";
  }
  return out;
}

}  // namespace imapfront
