// Backend host names, resolved when a session connects (SPEC "Operating
// it"): on libuv's thread pool, so a worker loop never blocks on DNS, and
// cached per worker (an answer for 30 s, a failure for 1 s). Sessions that
// want a name already being looked up wait for the same lookup.
#pragma once

#include <sys/socket.h>
#include <uv.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

namespace imapfront {

struct ResolveResult {
  sockaddr_storage addr{};  // with the port asked for
  socklen_t addr_len = 0;   // 0: failed, see |error|
  std::string error;

  bool ok() const { return addr_len > 0; }
  const sockaddr* sa() const { return reinterpret_cast<const sockaddr*>(&addr); }
};

// A lookup a session is waiting for. It belongs to the session; the session
// cancels it (Resolver::Cancel) before it goes away or gives up.
struct ResolveWait {
  void (*done)(ResolveWait* wait, const ResolveResult& result) = nullptr;
  void* data = nullptr;
  uint16_t port = 0;
  // Owned by the Resolver while waiting.
  ResolveWait* next = nullptr;
  ResolveWait* prev = nullptr;
  struct ResolverLookup* lookup = nullptr;
};

class Resolver;

// One name being looked up, and who waits for it.
struct ResolverLookup {
  uv_getaddrinfo_t req{};
  Resolver* owner = nullptr;
  std::string host;
  ResolveWait* waiters = nullptr;
};

class Resolver {
 public:
  static constexpr uint64_t kAnswerTtlMs = 30000;
  static constexpr uint64_t kFailureTtlMs = 1000;

  explicit Resolver(uv_loop_t* loop, uint64_t answer_ttl_ms = kAnswerTtlMs,
                    uint64_t failure_ttl_ms = kFailureTtlMs)
      : loop_(loop), answer_ttl_ms_(answer_ttl_ms), failure_ttl_ms_(failure_ttl_ms) {}
  ~Resolver();
  Resolver(const Resolver&) = delete;
  Resolver& operator=(const Resolver&) = delete;

  // Answers from the cache (returns true and fills |result|), or starts or
  // joins a lookup and returns false: |wait->done| is then called on the
  // loop, later, unless the wait is cancelled first.
  bool Lookup(const std::string& host, ResolveWait* wait, ResolveResult* result);
  void Cancel(ResolveWait* wait);
  // Cancels the lookups not yet started on the thread pool (one running
  // cannot be), so that a stopping loop need not wait for a slow resolver.
  void CancelLookups();

  size_t lookups_in_flight() const { return lookups_.size(); }

 private:
  struct Cached {
    ResolveResult result;  // port 0
    uint64_t expires_ms = 0;
  };
  static void OnResolved(uv_getaddrinfo_t* req, int status, addrinfo* res);
  void Finish(ResolverLookup* lookup, ResolveResult result);

  uv_loop_t* loop_;
  uint64_t answer_ttl_ms_;
  uint64_t failure_ttl_ms_;
  std::unordered_map<std::string, Cached> cache_;
  std::unordered_map<std::string, std::unique_ptr<ResolverLookup>> lookups_;
};

}  // namespace imapfront
