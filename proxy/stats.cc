#include "proxy/stats.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string_view>

namespace imapfront {
namespace {

struct CounterInfo {
  const char* group;
  const char* key;
  const char* family;
  const char* label;
  const char* help;
};

constexpr CounterInfo kCounterInfo[] = {
#define IMAPFRONT_INFO(id, group, key, family, label, help) {group, key, family, label, help},
    IMAPFRONT_COUNTERS(IMAPFRONT_INFO)
#undef IMAPFRONT_INFO
};

constexpr const char* kCloseReasonNames[] = {
#define IMAPFRONT_NAME(id, name) name,
    IMAPFRONT_CLOSE_REASONS(IMAPFRONT_NAME)
#undef IMAPFRONT_NAME
};

struct HistogramInfo {
  const char* family;
  const char* help;
};

constexpr HistogramInfo kHistogramInfo[] = {
#define IMAPFRONT_INFO(id, family, help) {family, help},
    IMAPFRONT_HISTOGRAMS(IMAPFRONT_INFO)
#undef IMAPFRONT_INFO
};

// A TLS handshake on a LAN takes about a millisecond, over a mobile network a
// few hundred; handshake_timeout defaults to 10 s.
constexpr double kHandshakeBounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                       0.25,  0.5,    1,     2.5,  5,     10};
// A backend on the same network connects and greets in well under 10 ms;
// backend_connect_timeout defaults to 5 s.
constexpr double kConnectBounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                     0.1,    0.25,  0.5,    1,     2.5,  5,     10};
// From a port check (no time at all) to a day-long IDLE (max_lifetime).
constexpr double kDurationBounds[] = {0.1,  1,    10,    60,    300,   900,
                                      1800, 3600, 14400, 28800, 86400, 172800};
static_assert(std::size(kHandshakeBounds) <= kMaxBuckets);
static_assert(std::size(kConnectBounds) <= kMaxBuckets);
static_assert(std::size(kDurationBounds) <= kMaxBuckets);

nlohmann::json ClosedJson(const SessionTotals& t) {
  nlohmann::json closed = nlohmann::json::object();
  for (size_t r = 0; r < kCloseReasonCount; ++r) closed[kCloseReasonNames[r]] = t.closed[r];
  return closed;
}

// Prometheus label values: escape backslash, quote and newline.
std::string LabelValue(std::string_view v) {
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

// Numbers as Prometheus reads them: the shortest text that reads back as
// the same double ("0.1", not "0.10000000000000001"), so that a selector
// like {le="0.1"} matches.
std::string Number(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof(buf), v);
  return std::string(buf, r.ptr);
}

// Text exposition, family by family: each family's HELP and TYPE lines, then
// its samples, never interleaved with another family's.
class Exposition {
 public:
  void Family(std::string_view name, std::string_view type, std::string_view help) {
    out_ += "# HELP ";
    out_ += name;
    out_ += ' ';
    out_ += help;
    out_ += "\n# TYPE ";
    out_ += name;
    out_ += ' ';
    out_ += type;
    out_ += '\n';
  }
  void Sample(std::string_view name, std::string_view labels, std::string_view value) {
    out_ += name;
    if (!labels.empty()) {
      out_ += '{';
      out_ += labels;
      out_ += '}';
    }
    out_ += ' ';
    out_ += value;
    out_ += '\n';
  }
  void Sample(std::string_view name, std::string_view labels, uint64_t value) {
    Sample(name, labels, std::to_string(value));
  }
  void Histogram(const HistogramInfo& info, std::span<const double> bounds,
                 const HistogramTotals& t) {
    Family(info.family, "histogram", info.help);
    const std::string family(info.family);
    uint64_t cumulative = 0;
    for (size_t i = 0; i < bounds.size(); ++i) {
      cumulative += t.buckets[i];
      Sample(family + "_bucket", "le=\"" + Number(bounds[i]) + "\"", cumulative);
    }
    cumulative += t.buckets[bounds.size()];
    Sample(family + "_bucket", "le=\"+Inf\"", cumulative);
    Sample(family + "_sum", "", Number(static_cast<double>(t.sum_us) / 1e6));
    Sample(family + "_count", "", cumulative);
  }
  std::string Take() { return std::move(out_); }

 private:
  std::string out_;
};

// The three session families under |prefix| ("imapfront_" or
// "imapfront_route_"), for every (labels, totals) pair, each family whole.
void SessionFamilies(Exposition& e, const std::string& prefix, const char* scope,
                     const std::vector<std::pair<std::string, const SessionTotals*>>& sets) {
  const std::string accepted = prefix + "connections_accepted_total";
  const std::string active = prefix + "connections_active";
  const std::string closed = prefix + "connections_closed_total";
  e.Family(accepted, "counter", std::string("Connections accepted") + scope + ".");
  for (const auto& [labels, t] : sets) e.Sample(accepted, labels, t->accepted);
  e.Family(active, "gauge", std::string("Connections open now") + scope + ".");
  for (const auto& [labels, t] : sets) e.Sample(active, labels, t->active());
  e.Family(closed, "counter", std::string("Connections ended, by reason") + scope + ".");
  for (const auto& [labels, t] : sets) {
    const std::string sep = labels.empty() ? "" : ",";
    for (size_t r = 0; r < kCloseReasonCount; ++r) {
      e.Sample(closed, labels + sep + "reason=\"" + kCloseReasonNames[r] + "\"", t->closed[r]);
    }
  }
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
    for (size_t h = 0; h < kHistogramCount; ++h) {
      HistogramTotals& t = s.histograms[h];
      for (size_t b = 0; b <= kMaxBuckets; ++b) t.buckets[b] += w->histograms[h].buckets[b].Get();
      t.sum_us += w->histograms[h].sum_us.Get();
    }
  }
  std::lock_guard<std::mutex> lock(routes_mu_);
  for (const auto& [name, per_worker] : routes_) {
    SessionTotals& t = s.routes[name];
    for (const auto& c : per_worker) t.AddFrom(*c);
  }
  return s;
}

namespace {

// Per route and backend (SPEC "Backend health").
void BackendFamilies(Exposition& e, const std::vector<BackendFigures>& backends) {
  if (backends.empty()) return;
  std::vector<std::string> labels;
  for (const BackendFigures& b : backends) {
    labels.push_back("route=\"" + LabelValue(b.route) + "\",backend=\"" + LabelValue(b.backend) +
                     "\"");
  }
  auto family = [&](const char* name, const char* type, const char* help, auto value) {
    e.Family(name, type, help);
    for (size_t i = 0; i < backends.size(); ++i) e.Sample(name, labels[i], value(backends[i]));
  };
  family("imapfront_backend_up", "gauge",
         "1 if the backend is up (health checks pass, or none are configured), else 0.",
         [](const BackendFigures& b) { return uint64_t{b.up ? 1u : 0u}; });
  family("imapfront_backend_sessions_total", "counter",
         "Sessions relayed through the backend (counted once it greeted, or logged in).",
         [](const BackendFigures& b) { return b.sessions; });
  family("imapfront_backend_connect_failures_total", "counter",
         "Session connection attempts that failed on the backend.",
         [](const BackendFigures& b) { return b.connect_failures; });
  family("imapfront_backend_checks_failed_total", "counter", "Health checks the backend failed.",
         [](const BackendFigures& b) { return b.checks_failed; });
}

}  // namespace

std::string StatsJson(const StatsSnapshot& s) {
  nlohmann::json j;
  j["uptime_seconds"] = s.uptime_seconds;
  j["connections"] = {{"accepted", s.sessions.accepted}, {"active", s.sessions.active()}};
  j["closed"] = ClosedJson(s.sessions);
  for (size_t i = 0; i < kCounterCount; ++i) {
    // A dot in the group nests; the key ("TLSv1.3") is one member.
    std::string pointer = std::string("/") + kCounterInfo[i].group;
    std::replace(pointer.begin(), pointer.end(), '.', '/');
    pointer.append("/").append(kCounterInfo[i].key);
    j[nlohmann::json::json_pointer(pointer)] = s.counters[i];
  }
  j["routes"] = nlohmann::json::object();
  for (const auto& [name, t] : s.routes) {
    j["routes"][name] = {
        {"accepted", t.accepted}, {"active", t.active()}, {"closed", ClosedJson(t)}};
  }
  j["backends"] = nlohmann::json::object();
  for (const BackendFigures& b : s.backends) {
    j["backends"][b.route + "/" + b.backend] = {{"up", b.up},
                                                {"sessions", b.sessions},
                                                {"connect_failures", b.connect_failures},
                                                {"checks_failed", b.checks_failed}};
  }
  return j.dump(2) + "\n";
}

std::string StatsPrometheus(const StatsSnapshot& s) {
  Exposition e;
  const ProcessInfo& p = s.process;
  e.Family("imapfront_build_info", "gauge", "Versions of imapfront and its libraries.");
  e.Sample("imapfront_build_info",
           "version=\"" + LabelValue(p.version) + "\",boringssl=\"" + LabelValue(p.boringssl) +
               "\",libuv=\"" + LabelValue(p.libuv) + "\"",
           1);
  e.Family("imapfront_uptime_seconds", "gauge", "Seconds since imapfront started.");
  e.Sample("imapfront_uptime_seconds", "", Number(s.uptime_seconds));
  e.Family("process_start_time_seconds", "gauge",
           "Start time of the process since the Unix epoch in seconds.");
  e.Sample("process_start_time_seconds", "", Number(p.start_time_seconds));
  e.Family("process_cpu_seconds_total", "counter", "Total user and system CPU time in seconds.");
  e.Sample("process_cpu_seconds_total", "", Number(p.cpu_seconds));
  e.Family("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
  e.Sample("process_resident_memory_bytes", "", p.resident_memory_bytes);
  e.Family("process_open_fds", "gauge", "Number of open file descriptors.");
  e.Sample("process_open_fds", "", p.open_fds);
  e.Family("process_max_fds", "gauge", "Maximum number of open file descriptors.");
  e.Sample("process_max_fds", "", p.max_fds);

  SessionFamilies(e, "imapfront_", "", {{"", &s.sessions}});
  // Per route under names of their own, so that summing over routes never
  // counts a connection twice.
  std::vector<std::pair<std::string, const SessionTotals*>> routes;
  for (const auto& [name, t] : s.routes)
    routes.emplace_back("route=\"" + LabelValue(name) + "\"", &t);
  SessionFamilies(e, "imapfront_route_", " on a route", routes);

  for (size_t i = 0; i < kCounterCount; ++i) {
    const CounterInfo& c = kCounterInfo[i];
    if (i == 0 || std::string_view(kCounterInfo[i - 1].family) != c.family) {
      e.Family(c.family, "counter", std::string(c.help) + ".");
    }
    e.Sample(c.family, c.label, s.counters[i]);
  }
  BackendFamilies(e, s.backends);
  for (size_t h = 0; h < kHistogramCount; ++h) {
    e.Histogram(kHistogramInfo[h], HistogramBounds(static_cast<Histogram>(h)), s.histograms[h]);
  }
  return e.Take();
}

std::span<const double> HistogramBounds(Histogram h) {
  switch (h) {
    case Histogram::kTlsHandshake:
      return kHandshakeBounds;
    case Histogram::kBackendConnect:
      return kConnectBounds;
    case Histogram::kSessionDuration:
    case Histogram::kCount:
      break;
  }
  return kDurationBounds;
}

void WorkerStats::Observe(Histogram h, double seconds) {
  if (!(seconds >= 0)) seconds = 0;  // NaN or a clock step back
  HistogramCounters& c = histograms[static_cast<size_t>(h)];
  const std::span<const double> bounds = HistogramBounds(h);
  size_t bucket = 0;
  while (bucket < bounds.size() && seconds > bounds[bucket]) ++bucket;
  // Sum before count: a reader that sees the count sees its sum too (the
  // same order argument as SessionTotals::AddFrom).
  c.sum_us.Add(static_cast<uint64_t>(seconds * 1e6));
  c.buckets[bucket].Add(1);
}

void ReadProcessFigures(ProcessInfo* info) {
  rusage usage{};
  if (getrusage(RUSAGE_SELF, &usage) == 0) {
    info->cpu_seconds = static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
                        static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
  }
  if (FILE* f = std::fopen("/proc/self/statm", "re")) {
    unsigned long long size = 0, resident = 0;
    if (std::fscanf(f, "%llu %llu", &size, &resident) == 2) {
      info->resident_memory_bytes = resident * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
    }
    std::fclose(f);
  }
  // open() then fdopendir(), not opendir(): the descriptor number may have
  // just been a session's on another thread, and ThreadSanitizer must see it
  // created here (it does not intercept opendir's own open).
  const int dir_fd = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  DIR* d = dir_fd >= 0 ? fdopendir(dir_fd) : nullptr;
  if (!d && dir_fd >= 0) close(dir_fd);
  if (d) {
    uint64_t n = 0;
    while (const dirent* entry = readdir(d)) {
      if (entry->d_name[0] != '.') ++n;
    }
    closedir(d);
    info->open_fds = n > 0 ? n - 1 : 0;  // less the one opendir holds
  }
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0) info->max_fds = limit.rlim_cur;
}

}  // namespace imapfront
