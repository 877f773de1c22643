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
  X(kLimit, "limit")                            \
  X(kShutdown, "shutdown")

enum class CloseReason {
#define IMAPFRONT_ENUM(id, name) id,
  IMAPFRONT_CLOSE_REASONS(IMAPFRONT_ENUM)
#undef IMAPFRONT_ENUM
      kCount
};
constexpr size_t kCloseReasonCount = static_cast<size_t>(CloseReason::kCount);
const char* CloseReasonName(CloseReason reason);

// Counters beyond sessions: id, JSON group, JSON key, Prometheus help.
#define IMAPFRONT_COUNTERS(X)                                                                 \
  X(kTlsHandshakes, "tls", "handshakes", "TLS handshakes completed")                          \
  X(kTlsHandshakeFailures, "tls", "handshake_failures", "TLS handshakes that failed")         \
  X(kImapCommands, "imap", "commands", "IMAP commands relayed")                               \
  X(kImapAppends, "imap", "appends", "IMAP APPEND commands relayed")                          \
  X(kImapLiteralBytes, "imap", "literal_bytes", "IMAP literal bytes relayed")                 \
  X(kBytesClientToBackend, "bytes", "client_to_backend", "Plaintext bytes client to backend") \
  X(kBytesBackendToClient, "bytes", "backend_to_client", "Plaintext bytes backend to client")

enum class Counter {
#define IMAPFRONT_ENUM(id, group, key, help) id,
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

// Session counts for the whole worker or for one route on one worker.
struct SessionCounters {
  StatCounter accepted;
  std::array<StatCounter, kCloseReasonCount> closed;
};

struct WorkerStats {
  SessionCounters sessions;
  std::array<StatCounter, kCounterCount> counters;

  void Add(Counter c, uint64_t n = 1) { counters[static_cast<size_t>(c)].Add(n); }
};

// Sums, as read at one moment.
struct SessionTotals {
  uint64_t accepted = 0;
  std::array<uint64_t, kCloseReasonCount> closed{};
  uint64_t active() const;
  void AddFrom(const SessionCounters& c);
};

struct StatsSnapshot {
  double uptime_seconds = 0;
  SessionTotals sessions;
  std::array<uint64_t, kCounterCount> counters{};
  std::map<std::string, SessionTotals> routes;
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
