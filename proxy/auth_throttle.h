// Failed-login throttling per client address, shared by every worker (SPEC
// "Logging in through imapfront"): the n-th consecutive failure from an
// address makes its next failure answer wait min(2^(n-1), delay cap)
// seconds, a success resets n, and more than max_auth_failures_per_ip
// failures within one auth_failure_window block the address until that
// window has passed.
//
// Memory is bounded: a record lives until auth_failure_window after its
// address's last failure, and at most kMaxAddresses are kept; past that
// the record whose last failure is oldest is dropped first. Times are
// milliseconds of one monotonic clock, passed in (uv_hrtime across loops).
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <mutex>
#include <unordered_map>

#include "proxy/limits.h"

namespace imapfront {

struct ThrottlePolicy {
  double delay_cap_seconds = 15;  // limits.auth_failure_delay
  uint64_t max_failures = 0;      // limits.max_auth_failures_per_ip; 0: no block
  double window_seconds = 300;    // limits.auth_failure_window
};

class AuthThrottle {
 public:
  static constexpr size_t kMaxAddresses = 100000;  // about 100 bytes each
  explicit AuthThrottle(size_t max_addresses = kMaxAddresses) : max_(max_addresses) {}

  // Attempts from |ip| are refused without contacting a backend.
  bool Blocked(const IpKey& ip, const ThrottlePolicy& policy, uint64_t now_ms);
  // A failure from |ip|: returns how long to delay its answer, in ms.
  uint64_t Failure(const IpKey& ip, const ThrottlePolicy& policy, uint64_t now_ms);
  void Success(const IpKey& ip);
  // Records kept now (after expiring those older than |policy|'s window).
  size_t Size(const ThrottlePolicy& policy, uint64_t now_ms);

 private:
  struct Record {
    IpKey ip{};
    uint32_t consecutive = 0;      // failures since the last success
    uint32_t window_failures = 0;  // failures since window_start_ms
    uint64_t window_start_ms = 0;
    uint64_t last_failure_ms = 0;
  };
  struct KeyHash {
    size_t operator()(const IpKey& k) const;
  };
  void Expire(const ThrottlePolicy& policy, uint64_t now_ms);  // under mu_

  const size_t max_;
  std::mutex mu_;
  std::list<Record> by_age_;  // oldest last failure first
  std::unordered_map<IpKey, std::list<Record>::iterator, KeyHash> index_;
};

}  // namespace imapfront
