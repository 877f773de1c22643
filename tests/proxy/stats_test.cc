// proxy/stats: counters per worker, summed at one moment; /stats as JSON and
// /metrics in the Prometheus text format.
#include "proxy/stats.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace imapfront {
namespace {

size_t R(CloseReason r) {
  return static_cast<size_t>(r);
}

// A Stats with sessions on three workers and two routes:
//   worker 0: 5 accepted; closed 2 logout, 1 tls_error
//   worker 1: 4 accepted; closed 1 logout, 1 limit
//   worker 2: 1 accepted; closed none
//   route "legacy": 3 accepted on worker 0, 2 on worker 1; 1 logout on 1
//   route "default": 1 accepted on worker 2; none closed
// and counters: handshakes 3 + 4, commands 10 + 20 + 30, bytes 1000 (w2).
void Fill(Stats& stats) {
  stats.worker(0).sessions.accepted.Add(5);
  stats.worker(0).sessions.closed[R(CloseReason::kLogout)].Add(2);
  stats.worker(0).sessions.closed[R(CloseReason::kTlsError)].Add(1);
  stats.worker(1).sessions.accepted.Add(4);
  stats.worker(1).sessions.closed[R(CloseReason::kLogout)].Add(1);
  stats.worker(1).sessions.closed[R(CloseReason::kLimit)].Add(1);
  stats.worker(2).sessions.accepted.Add(1);
  stats.RouteCounters(0, "legacy")->accepted.Add(3);
  stats.RouteCounters(1, "legacy")->accepted.Add(2);
  stats.RouteCounters(1, "legacy")->closed[R(CloseReason::kLogout)].Add(1);
  stats.RouteCounters(2, "default")->accepted.Add(1);
  stats.worker(0).Add(Counter::kTlsHandshakes, 3);
  stats.worker(1).Add(Counter::kTlsHandshakes, 4);
  stats.worker(0).Add(Counter::kTlsVersion13, 2);
  stats.worker(1).Add(Counter::kTlsVersion13, 3);
  stats.worker(1).Add(Counter::kTlsVersion12, 1);
  stats.worker(0).Add(Counter::kTlsVersion10, 1);
  stats.worker(0).Add(Counter::kImapCommands, 10);
  stats.worker(1).Add(Counter::kImapCommands, 20);
  stats.worker(2).Add(Counter::kImapCommands, 30);
  stats.worker(2).Add(Counter::kBytesBackendToClient, 1000);
}

TEST_CASE("close reasons: every one has its SPEC name, all different") {
  CHECK(std::string(CloseReasonName(CloseReason::kClientClosed)) == "client_closed");
  CHECK(std::string(CloseReasonName(CloseReason::kBackendClosed)) == "backend_closed");
  CHECK(std::string(CloseReasonName(CloseReason::kLogout)) == "logout");
  CHECK(std::string(CloseReasonName(CloseReason::kIdleTimeout)) == "idle_timeout");
  CHECK(std::string(CloseReasonName(CloseReason::kLifetime)) == "lifetime");
  CHECK(std::string(CloseReasonName(CloseReason::kHandshakeTimeout)) == "handshake_timeout");
  CHECK(std::string(CloseReasonName(CloseReason::kTlsError)) == "tls_error");
  CHECK(std::string(CloseReasonName(CloseReason::kProtocolError)) == "protocol_error");
  CHECK(std::string(CloseReasonName(CloseReason::kBackendUnavailable)) == "backend_unavailable");
  CHECK(std::string(CloseReasonName(CloseReason::kNoRoute)) == "no_route");
  CHECK(std::string(CloseReasonName(CloseReason::kLimit)) == "limit");
  CHECK(std::string(CloseReasonName(CloseReason::kShutdown)) == "shutdown");
  CHECK(std::string(CloseReasonName(CloseReason::kAuthFailed)) == "auth_failed");
  CHECK(kCloseReasonCount == 13);
  std::set<std::string> names;
  for (size_t r = 0; r < kCloseReasonCount; ++r) {
    names.insert(CloseReasonName(static_cast<CloseReason>(r)));
  }
  CHECK(names.size() == kCloseReasonCount);
}

TEST_CASE("StatCounter adds, a fresh one reads zero") {
  StatCounter c;
  CHECK(c.Get() == 0);
  c.Add(1);
  c.Add(41);
  CHECK(c.Get() == 42);
  c.Add(0);
  CHECK(c.Get() == 42);
}

TEST_CASE("SessionTotals: active is accepted less every close, AddFrom sums") {
  SessionTotals t;
  CHECK(t.active() == 0);
  t.accepted = 10;
  CHECK(t.active() == 10);
  t.closed[R(CloseReason::kLogout)] = 3;
  t.closed[R(CloseReason::kShutdown)] = 2;
  CHECK(t.active() == 5);
  t.closed[R(CloseReason::kClientClosed)] = 5;
  CHECK(t.active() == 0);

  SessionCounters c;
  c.accepted.Add(4);
  c.closed[R(CloseReason::kIdleTimeout)].Add(1);
  SessionTotals sum;
  sum.AddFrom(c);
  sum.AddFrom(c);
  CHECK(sum.accepted == 8);
  CHECK(sum.closed[R(CloseReason::kIdleTimeout)] == 2);
  CHECK(sum.closed[R(CloseReason::kLogout)] == 0);
  CHECK(sum.active() == 6);
}

TEST_CASE("Snapshot sums sessions and counters over every worker") {
  Stats stats(3);
  Fill(stats);
  StatsSnapshot s = stats.Snapshot(12.5);
  CHECK(s.uptime_seconds == 12.5);
  CHECK(s.sessions.accepted == 10);
  CHECK(s.sessions.closed[R(CloseReason::kLogout)] == 3);
  CHECK(s.sessions.closed[R(CloseReason::kTlsError)] == 1);
  CHECK(s.sessions.closed[R(CloseReason::kLimit)] == 1);
  CHECK(s.sessions.closed[R(CloseReason::kShutdown)] == 0);
  CHECK(s.sessions.active() == 5);
  CHECK(s.counters[static_cast<size_t>(Counter::kTlsHandshakes)] == 7);
  CHECK(s.counters[static_cast<size_t>(Counter::kImapCommands)] == 60);
  CHECK(s.counters[static_cast<size_t>(Counter::kBytesBackendToClient)] == 1000);
  CHECK(s.counters[static_cast<size_t>(Counter::kImapAppends)] == 0);
  // A snapshot is a copy: later counts do not change it.
  stats.worker(1).sessions.accepted.Add(1);
  CHECK(s.sessions.accepted == 10);
  CHECK(stats.Snapshot(0).sessions.accepted == 11);
}

TEST_CASE("Snapshot: routes summed over workers, each route on its own") {
  Stats stats(3);
  Fill(stats);
  StatsSnapshot s = stats.Snapshot(1);
  REQUIRE(s.routes.size() == 2);
  REQUIRE(s.routes.count("legacy"));
  REQUIRE(s.routes.count("default"));
  CHECK(s.routes["legacy"].accepted == 5);
  CHECK(s.routes["legacy"].closed[R(CloseReason::kLogout)] == 1);
  CHECK(s.routes["legacy"].active() == 4);
  CHECK(s.routes["default"].accepted == 1);
  CHECK(s.routes["default"].active() == 1);
  // Route counts are their own: the workers' totals do not include them twice.
  CHECK(s.sessions.accepted == 10);
}

TEST_CASE("RouteCounters: one block per worker and route, the same on every call") {
  Stats stats(2);
  SessionCounters* a0 = stats.RouteCounters(0, "a");
  SessionCounters* a1 = stats.RouteCounters(1, "a");
  SessionCounters* b0 = stats.RouteCounters(0, "b");
  REQUIRE(a0 != nullptr);
  CHECK(a0 != a1);
  CHECK(a0 != b0);
  CHECK(stats.RouteCounters(0, "a") == a0);
  CHECK(stats.RouteCounters(1, "a") == a1);
  for (int i = 0; i < 100; ++i) {
    std::string route = "r";  // +=, not "r" + ...: GCC 12's -Wrestrict false positive
    route += std::to_string(i);
    stats.RouteCounters(static_cast<size_t>(i % 2), route);
  }
  CHECK(stats.RouteCounters(0, "a") == a0);
  // A route asked for but never counted shows up with zeros.
  StatsSnapshot s = stats.Snapshot(0);
  CHECK(s.routes.size() == 102);
  CHECK(s.routes["b"].accepted == 0);
}

TEST_CASE("StatsJson: every key, with the snapshot's values") {
  Stats stats(3);
  Fill(stats);
  const std::string text = StatsJson(stats.Snapshot(12.5));
  CHECK(text.ends_with("\n"));
  const nlohmann::json j = nlohmann::json::parse(text);
  CHECK(j["uptime_seconds"] == 12.5);
  CHECK(j["connections"]["accepted"] == 10);
  CHECK(j["connections"]["active"] == 5);
  REQUIRE(j["closed"].is_object());
  CHECK(j["closed"].size() == kCloseReasonCount);
  for (size_t r = 0; r < kCloseReasonCount; ++r) {
    CHECK_MESSAGE(j["closed"].contains(CloseReasonName(static_cast<CloseReason>(r))), r);
  }
  CHECK(j["closed"]["logout"] == 3);
  CHECK(j["closed"]["tls_error"] == 1);
  CHECK(j["closed"]["limit"] == 1);
  CHECK(j["closed"]["client_closed"] == 0);
  CHECK(j["tls"]["handshakes"] == 7);
  CHECK(j["tls"]["handshake_failures"] == 0);
  // Versions are members of one object ("TLSv1.3" is a key, not a path).
  CHECK(j["tls"]["versions"] ==
        nlohmann::json({{"TLSv1.3", 5}, {"TLSv1.2", 1}, {"TLSv1.1", 0}, {"TLSv1", 1}}));
  CHECK(j["imap"]["commands"] == 60);
  CHECK(j["imap"]["appends"] == 0);
  CHECK(j["imap"]["literal_bytes"] == 0);
  CHECK(j["bytes"]["client_to_backend"] == 0);
  CHECK(j["bytes"]["backend_to_client"] == 1000);
  REQUIRE(j["routes"].size() == 2);
  CHECK(j["routes"]["legacy"]["accepted"] == 5);
  CHECK(j["routes"]["legacy"]["active"] == 4);
  CHECK(j["routes"]["legacy"]["closed"]["logout"] == 1);
  CHECK(j["routes"]["legacy"]["closed"].size() == kCloseReasonCount);
  CHECK(j["routes"]["default"]["accepted"] == 1);
  CHECK(j["routes"]["default"]["active"] == 1);
  // The invariant of SPEC, as a client of /stats checks it.
  uint64_t closed = 0;
  for (const auto& [reason, count] : j["closed"].items()) closed += count.get<uint64_t>();
  CHECK(j["connections"]["accepted"].get<uint64_t>() ==
        j["connections"]["active"].get<uint64_t>() + closed);
}

TEST_CASE("StatsJson: with no routes and no sessions, zeros and an empty routes object") {
  Stats stats(1);
  const nlohmann::json j = nlohmann::json::parse(StatsJson(stats.Snapshot(0)));
  CHECK(j["connections"]["accepted"] == 0);
  CHECK(j["connections"]["active"] == 0);
  CHECK(j["routes"].is_object());
  CHECK(j["routes"].empty());
  CHECK(j["closed"]["shutdown"] == 0);
  CHECK(j["closed"]["auth_failed"] == 0);
  CHECK(j["auth"] ==
        nlohmann::json({{"attempts", 0}, {"successes", 0}, {"failures", 0}, {"throttled", 0}}));
}

// The lines of |text|; the last one must end with a newline.
std::vector<std::string> Lines(const std::string& text) {
  CHECK(text.ends_with("\n"));
  std::vector<std::string> lines;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) lines.push_back(line);
  return lines;
}

bool HasLine(const std::vector<std::string>& lines, const std::string& want) {
  for (const std::string& l : lines) {
    if (l == want) return true;
  }
  return false;
}

TEST_CASE("StatsPrometheus: values of the snapshot, each metric with HELP and TYPE") {
  Stats stats(3);
  Fill(stats);
  StatsSnapshot snapshot = stats.Snapshot(12.5);
  snapshot.process.version = "1.2.3";
  snapshot.process.boringssl = "BoringSSL";
  snapshot.process.libuv = "1.44.2";
  snapshot.process.start_time_seconds = 1700000000.5;
  snapshot.process.resident_memory_bytes = 4096;
  snapshot.process.open_fds = 12;
  const auto lines = Lines(StatsPrometheus(snapshot));
  for (const char* want : {
           "imapfront_connections_accepted_total 10",
           "imapfront_connections_active 5",
           "imapfront_connections_closed_total{reason=\"logout\"} 3",
           "imapfront_connections_closed_total{reason=\"tls_error\"} 1",
           "imapfront_connections_closed_total{reason=\"limit\"} 1",
           "imapfront_connections_closed_total{reason=\"shutdown\"} 0",
           "imapfront_connections_closed_total{reason=\"auth_failed\"} 0",
           "imapfront_auth_attempts_total 0",
           "imapfront_auth_throttled_total 0",
           "# TYPE imapfront_auth_failures_total counter",
           "imapfront_route_connections_accepted_total{route=\"legacy\"} 5",
           "imapfront_route_connections_active{route=\"legacy\"} 4",
           "imapfront_route_connections_closed_total{route=\"legacy\",reason=\"logout\"} 1",
           "imapfront_route_connections_accepted_total{route=\"default\"} 1",
           "imapfront_tls_handshakes_total 7",
           "imapfront_tls_handshake_failures_total 0",
           "imapfront_tls_version_handshakes_total{version=\"TLSv1.3\"} 5",
           "imapfront_tls_version_handshakes_total{version=\"TLSv1.2\"} 1",
           "imapfront_tls_version_handshakes_total{version=\"TLSv1.1\"} 0",
           "imapfront_tls_version_handshakes_total{version=\"TLSv1\"} 1",
           "# TYPE imapfront_tls_version_handshakes_total counter",
           "imapfront_imap_commands_total 60",
           "imapfront_imap_appends_total 0",
           "imapfront_relayed_bytes_total{direction=\"client_to_backend\"} 0",
           "imapfront_relayed_bytes_total{direction=\"backend_to_client\"} 1000",
           "# TYPE imapfront_relayed_bytes_total counter",
           "imapfront_build_info{version=\"1.2.3\",boringssl=\"BoringSSL\",libuv=\"1.44.2\"} 1",
           "process_start_time_seconds 1700000000.5",
           "process_resident_memory_bytes 4096",
           "process_open_fds 12",
           "# TYPE process_cpu_seconds_total counter",
           "# TYPE imapfront_tls_handshake_seconds histogram",
           "# TYPE imapfront_backend_connect_seconds histogram",
           "# TYPE imapfront_session_duration_seconds histogram",
           "# TYPE imapfront_connections_accepted_total counter",
           "# TYPE imapfront_connections_active gauge",
           "# TYPE imapfront_connections_closed_total counter",
           "# TYPE imapfront_route_connections_active gauge",
           "# TYPE imapfront_tls_handshakes_total counter",
           "# TYPE imapfront_uptime_seconds gauge",
           "# HELP imapfront_tls_handshakes_total TLS handshakes completed.",
       }) {
    CHECK_MESSAGE(HasLine(lines, want), want);
  }
  bool uptime = false;
  for (const std::string& l : lines) {
    if (l.starts_with("imapfront_uptime_seconds ")) uptime = std::stod(l.substr(25)) == 12.5;
  }
  CHECK(uptime);
  // Families one after another: HELP, then TYPE, then only that family's
  // samples; no family twice.
  std::set<std::string> families;
  std::string family, type;
  size_t samples = 0;
  for (size_t i = 0; i < lines.size(); ++i) {
    const std::string& l = lines[i];
    if (l.starts_with("# HELP ")) {
      family = l.substr(7, l.find(' ', 7) - 7);
      CHECK_MESSAGE(families.insert(family).second, l);
      REQUIRE(i + 1 < lines.size());
      CHECK_MESSAGE(lines[i + 1].starts_with("# TYPE " + family + " "), lines[i + 1]);
      type = lines[i + 1].substr(8 + family.size());
      ++i;
      continue;
    }
    ++samples;
    const std::string name = l.substr(0, l.find_first_of("{ "));
    const bool ok = type == "histogram" ? (name == family + "_bucket" || name == family + "_sum" ||
                                           name == family + "_count")
                                        : name == family;
    CHECK_MESSAGE(ok, l, " under ", family);
    if (type == "counter") CHECK_MESSAGE(family.ends_with("_total"), family);
  }
  size_t histogram_samples = 0;
  for (size_t h = 0; h < kHistogramCount; ++h) {
    histogram_samples += HistogramBounds(static_cast<Histogram>(h)).size() + 3;
  }
  // build_info, uptime, 5 process, 2 + 13 totals, 2 x (2 + 13) for the
  // routes, the counters, the histograms.
  CHECK(samples == 2 + 5 + 15 + 30 + kCounterCount + histogram_samples);
}

TEST_CASE(
    "histograms: an observation lands in the first bucket that holds it, summed over "
    "workers, exposed cumulative") {
  Stats stats(2);
  const auto bounds = HistogramBounds(Histogram::kTlsHandshake);
  REQUIRE(bounds.size() >= 3);
  CHECK(std::is_sorted(bounds.begin(), bounds.end()));
  stats.worker(0).Observe(Histogram::kTlsHandshake, bounds[0]);         // the bound itself: le
  stats.worker(1).Observe(Histogram::kTlsHandshake, bounds[0] * 1.01);  // just over: next
  stats.worker(1).Observe(Histogram::kTlsHandshake, 1e9);               // +Inf only
  stats.worker(0).Observe(Histogram::kTlsHandshake, -1);                // a clock step: 0
  const StatsSnapshot s = stats.Snapshot(1);
  const HistogramTotals& t = s.histograms[static_cast<size_t>(Histogram::kTlsHandshake)];
  CHECK(t.buckets[0] == 2);
  CHECK(t.buckets[1] == 1);
  CHECK(t.buckets[bounds.size()] == 1);
  const auto lines = Lines(StatsPrometheus(s));
  auto value = [&](const std::string& prefix) -> std::string {
    for (const std::string& l : lines) {
      if (l.starts_with(prefix)) return l.substr(prefix.size());
    }
    return "missing";
  };
  REQUIRE(bounds[0] == 0.001);
  REQUIRE(bounds[1] == 0.0025);
  // Bounds in their shortest form, as a rule's {le="0.001"} selector writes them.
  CHECK(value("imapfront_tls_handshake_seconds_bucket{le=\"0.001\"} ") == "2");
  CHECK(value("imapfront_tls_handshake_seconds_bucket{le=\"0.0025\"} ") == "3");
  for (const std::string& l : lines) {
    const size_t at = l.find("le=\"");
    if (at == std::string::npos) continue;
    const std::string le = l.substr(at + 4, l.find('"', at + 4) - at - 4);
    CHECK_MESSAGE(le.size() <= 7, l);  // "0.00025", "172800", "+Inf"
  }
  CHECK(value("imapfront_tls_handshake_seconds_bucket{le=\"+Inf\"} ") == "4");
  CHECK(value("imapfront_tls_handshake_seconds_count ") == "4");
  CHECK(std::stod(value("imapfront_tls_handshake_seconds_sum ")) ==
        doctest::Approx(1e9 + bounds[0] * 2.01).epsilon(1e-9));
  CHECK(value("imapfront_session_duration_seconds_count ") == "0");
}

TEST_CASE("ReadProcessFigures: this process's memory and descriptors") {
  ProcessInfo p;
  ReadProcessFigures(&p);
  CHECK(p.resident_memory_bytes > 1024 * 1024);
  CHECK(p.open_fds >= 3);  // stdin, stdout, stderr at least
  CHECK(p.max_fds >= p.open_fds);
  CHECK(p.cpu_seconds >= 0);
}

TEST_CASE("StatsPrometheus: route names are escaped in label values") {
  Stats stats(1);
  stats.RouteCounters(0, "a\"b\\c\nd")->accepted.Add(2);
  const auto lines = Lines(StatsPrometheus(stats.Snapshot(0)));
  CHECK(HasLine(lines, "imapfront_route_connections_accepted_total{route=\"a\\\"b\\\\c\\nd\"} 2"));
}

}  // namespace
}  // namespace imapfront
