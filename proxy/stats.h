// Counters. Each one is declared once below (name, enum, export), written by
// exactly one worker thread, and summed over workers when /stats is read.
//
// Sessions are counted by construction: `accepted` when a Session is born and
// `closed[reason]` when it dies; `active` is never stored but derived as
// accepted - sum(closed), so `accepted == active + sum(closed)` cannot drift.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace imapfront {

#define IMAPFRONT_CLOSE_REASONS(X)              \
  X(kClientClosed, "client_closed")             \
  X(kBackendClosed, "backend_closed")           \
  X(kLogout, "logout")                          \
  X(kIdleTimeout, "idle_timeout")               \
  X(kLifetime, "lifetime")                      \
  X(kHandshakeTimeout, "handshake_timeout")     \
  X(kTlsError, "tls_error")                     \
  X(kProtocolError, "protocol_error")           \
  X(kBackendUnavailable, "backend_unavailable") \
  X(kNoRoute, "no_route")                       \
  X(kLimit, "limit")                            \
  X(kShutdown, "shutdown")                      \
  X(kAuthFailed, "auth_failed")

enum class CloseReason : uint8_t {
#define IMAPFRONT_ENUM(id, name) id,
  IMAPFRONT_CLOSE_REASONS(IMAPFRONT_ENUM)
#undef IMAPFRONT_ENUM
      kCount
};
constexpr size_t kCloseReasonCount = static_cast<size_t>(CloseReason::kCount);
const char* CloseReasonName(CloseReason reason);

#define IMAPFRONT_EMULATED_HELP \
  "IMAP commands served by routes[].compat emulation, and capability probes sent"

// Counters beyond sessions: id, JSON group, JSON key, Prometheus family,
// its label (or ""), the family's help. Entries of one family are adjacent.
// A group with a dot ("imap.emulated") is a nested JSON object.
#define IMAPFRONT_COUNTERS(X)                                                                     \
  X(kTlsHandshakes, "tls", "handshakes", "imapfront_tls_handshakes_total", "",                    \
    "TLS handshakes completed")                                                                   \
  X(kTlsHandshakeFailures, "tls", "handshake_failures", "imapfront_tls_handshake_failures_total", \
    "", "TLS handshakes that failed")                                                             \
  X(kTlsVersion13, "tls.versions", "TLSv1.3", "imapfront_tls_version_handshakes_total",           \
    "version=\"TLSv1.3\"", "TLS handshakes completed, by protocol version")                       \
  X(kTlsVersion12, "tls.versions", "TLSv1.2", "imapfront_tls_version_handshakes_total",           \
    "version=\"TLSv1.2\"", "TLS handshakes completed, by protocol version")                       \
  X(kTlsVersion11, "tls.versions", "TLSv1.1", "imapfront_tls_version_handshakes_total",           \
    "version=\"TLSv1.1\"", "TLS handshakes completed, by protocol version")                       \
  X(kTlsVersion10, "tls.versions", "TLSv1", "imapfront_tls_version_handshakes_total",             \
    "version=\"TLSv1\"", "TLS handshakes completed, by protocol version")                         \
  X(kImapCommands, "imap", "commands", "imapfront_imap_commands_total", "",                       \
    "IMAP commands the clients began, refused ones included")                                     \
  X(kImapAppends, "imap", "appends", "imapfront_imap_appends_total", "",                          \
    "IMAP APPEND commands relayed")                                                               \
  X(kImapLiteralBytes, "imap", "literal_bytes", "imapfront_imap_literal_bytes_total", "",         \
    "Bytes of client literals relayed to backends")                                               \
  X(kEmulatedIdle, "imap.emulated", "idle", "imapfront_imap_emulated_total", "kind=\"idle\"",     \
    IMAPFRONT_EMULATED_HELP)                                                                      \
  X(kEmulatedUnselect, "imap.emulated", "unselect", "imapfront_imap_emulated_total",              \
    "kind=\"unselect\"", IMAPFRONT_EMULATED_HELP)                                                 \
  X(kEmulatedId, "imap.emulated", "id", "imapfront_imap_emulated_total", "kind=\"id\"",           \
    IMAPFRONT_EMULATED_HELP)                                                                      \
  X(kEmulatedAuthPlain, "imap.emulated", "auth_plain", "imapfront_imap_emulated_total",           \
    "kind=\"auth_plain\"", IMAPFRONT_EMULATED_HELP)                                               \
  X(kCapabilityProbes, "imap.emulated", "capability_probes", "imapfront_imap_emulated_total",     \
    "kind=\"capability_probes\"", IMAPFRONT_EMULATED_HELP)                                        \
  X(kAuthAttempts, "auth", "attempts", "imapfront_auth_attempts_total", "",                       \
    "LOGIN and AUTHENTICATE commands on login: proxy listeners")                                  \
  X(kAuthSuccesses, "auth", "successes", "imapfront_auth_successes_total", "",                    \
    "Logins at the proxy that a backend accepted")                                                \
  X(kAuthFailures, "auth", "failures", "imapfront_auth_failures_total", "",                       \
    "Logins at the proxy that a backend refused (or that no route serves)")                       \
  X(kAuthThrottled, "auth", "throttled", "imapfront_auth_throttled_total", "",                    \
    "Login attempts refused because their address failed too often")                              \
  X(kBytesClientToBackend, "bytes", "client_to_backend", "imapfront_relayed_bytes_total",         \
    "direction=\"client_to_backend\"", "Plaintext bytes relayed, by direction")                   \
  X(kBytesBackendToClient, "bytes", "backend_to_client", "imapfront_relayed_bytes_total",         \
    "direction=\"backend_to_client\"", "Plaintext bytes relayed, by direction")

enum class Counter {
#define IMAPFRONT_ENUM(id, group, key, family, label, help) id,
  IMAPFRONT_COUNTERS(IMAPFRONT_ENUM)
#undef IMAPFRONT_ENUM
      kCount
};
constexpr size_t kCounterCount = static_cast<size_t>(Counter::kCount);

// A single-writer counter: only its worker thread adds, any thread reads.
class StatCounter {
 public:
  void Add(uint64_t n) {
    value_.store(value_.load(std::memory_order_relaxed) + n, std::memory_order_release);
  }
  uint64_t Get() const { return value_.load(std::memory_order_acquire); }

 private:
  std::atomic<uint64_t> value_{0};
};

// Latency distributions: id, Prometheus family, help. Bucket bounds (in
// seconds) are in stats.cc, chosen for what each one measures.
#define IMAPFRONT_HISTOGRAMS(X)                                                  \
  X(kTlsHandshake, "imapfront_tls_handshake_seconds",                            \
    "Time from the first byte of a TLS handshake to its end")                    \
  X(kBackendConnect, "imapfront_backend_connect_seconds",                        \
    "Time to connect a backend and read its greeting (attempts that succeeded)") \
  X(kSessionDuration, "imapfront_session_duration_seconds", "Length of ended sessions")

enum class Histogram {
#define IMAPFRONT_ENUM(id, family, help) id,
  IMAPFRONT_HISTOGRAMS(IMAPFRONT_ENUM)
#undef IMAPFRONT_ENUM
      kCount
};
constexpr size_t kHistogramCount = static_cast<size_t>(Histogram::kCount);
constexpr size_t kMaxBuckets = 16;  // finite bounds; one more for +Inf

// The upper bounds of |h|'s buckets, ascending (+Inf not included).
std::span<const double> HistogramBounds(Histogram h);

// One histogram on one worker: per-bucket (not cumulative) counts and the sum
// in microseconds, each a single-writer counter like the others.
struct HistogramCounters {
  std::array<StatCounter, kMaxBuckets + 1> buckets;
  StatCounter sum_us;
};

// Session counts for the whole worker or for one route on one worker.
struct SessionCounters {
  StatCounter accepted;
  std::array<StatCounter, kCloseReasonCount> closed;
};

struct WorkerStats {
  SessionCounters sessions;
  std::array<StatCounter, kCounterCount> counters;
  std::array<HistogramCounters, kHistogramCount> histograms;

  void Add(Counter c, uint64_t n = 1) { counters[static_cast<size_t>(c)].Add(n); }
  void Observe(Histogram h, double seconds);
};

// Sums, as read at one moment.
struct SessionTotals {
  uint64_t accepted = 0;
  std::array<uint64_t, kCloseReasonCount> closed{};
  uint64_t active() const;
  void AddFrom(const SessionCounters& c);
};

struct HistogramTotals {
  std::array<uint64_t, kMaxBuckets + 1> buckets{};  // per bucket, not cumulative
  uint64_t sum_us = 0;
};

// What /metrics says about the process itself (read when scraped).
struct ProcessInfo {
  std::string version;            // imapfront's
  std::string boringssl;          // tls::LibraryVersion()
  std::string libuv;              // uv_version_string()
  double start_time_seconds = 0;  // since the Unix epoch
  double cpu_seconds = 0;         // user + system
  uint64_t resident_memory_bytes = 0;
  uint64_t open_fds = 0;
  uint64_t max_fds = 0;
};

// This process's CPU, memory and descriptors now (the rest left as given).
void ReadProcessFigures(ProcessInfo* info);

// One backend of one route (proxy/backend_state), as read at one moment.
struct BackendFigures {
  std::string route;
  std::string backend;  // "host:port" as the config writes it
  bool up = true;
  uint64_t sessions = 0;
  uint64_t connect_failures = 0;
  uint64_t checks_failed = 0;
};

struct StatsSnapshot {
  double uptime_seconds = 0;
  SessionTotals sessions;
  std::array<uint64_t, kCounterCount> counters{};
  std::array<HistogramTotals, kHistogramCount> histograms{};
  std::map<std::string, SessionTotals> routes;
  std::vector<BackendFigures> backends;  // the running config's, in its order
  ProcessInfo process;
};

// Owns every worker's counters. Route counters are created on first use and
// live as long as the process, so a session may keep a raw pointer to them.
class Stats {
 public:
  explicit Stats(size_t workers);

  WorkerStats& worker(size_t index) { return *workers_[index]; }
  SessionCounters* RouteCounters(size_t worker, const std::string& route);

  StatsSnapshot Snapshot(double uptime_seconds) const;

 private:
  std::vector<std::unique_ptr<WorkerStats>> workers_;
  mutable std::mutex routes_mu_;
  // route name -> one counter block per worker
  std::map<std::string, std::vector<std::unique_ptr<SessionCounters>>> routes_;
};

std::string StatsJson(const StatsSnapshot& s);
std::string StatsPrometheus(const StatsSnapshot& s);

}  // namespace imapfront
