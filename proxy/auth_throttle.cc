#include "proxy/auth_throttle.h"

#include <algorithm>
#include <cmath>
#include <string_view>

namespace imapfront {
namespace {

uint64_t Ms(double seconds) {
  return static_cast<uint64_t>(std::ceil(seconds * 1000));
}

}  // namespace

size_t AuthThrottle::KeyHash::operator()(const IpKey& k) const {
  return std::hash<std::string_view>{}({reinterpret_cast<const char*>(k.data()), k.size()});
}

void AuthThrottle::Expire(const ThrottlePolicy& policy, uint64_t now_ms) {
  const uint64_t window = Ms(policy.window_seconds);
  while (!by_age_.empty() && now_ms - by_age_.front().last_failure_ms >= window) {
    index_.erase(by_age_.front().ip);
    by_age_.pop_front();
  }
}

bool AuthThrottle::Blocked(const IpKey& ip, const ThrottlePolicy& policy, uint64_t now_ms) {
  if (policy.max_failures == 0) return false;
  std::lock_guard<std::mutex> lock(mu_);
  Expire(policy, now_ms);
  auto it = index_.find(ip);
  if (it == index_.end()) return false;
  const Record& r = *it->second;
  return now_ms - r.window_start_ms < Ms(policy.window_seconds) &&
         r.window_failures >= policy.max_failures;
}

uint64_t AuthThrottle::Failure(const IpKey& ip, const ThrottlePolicy& policy, uint64_t now_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  Expire(policy, now_ms);
  Record record;
  if (auto it = index_.find(ip); it != index_.end()) {
    record = *it->second;
    by_age_.erase(it->second);
    index_.erase(it);
  } else if (by_age_.size() >= max_) {
    index_.erase(by_age_.front().ip);
    by_age_.pop_front();
  }
  record.ip = ip;
  // min(2^(n-1), cap) after the n-th consecutive failure; none after none.
  uint64_t delay_ms = 0;
  if (record.consecutive > 0) {
    const double doubling =
        std::ldexp(1.0, static_cast<int>(std::min<uint32_t>(record.consecutive - 1, 62)));
    delay_ms = Ms(std::min(doubling, policy.delay_cap_seconds));
  }
  ++record.consecutive;
  if (record.window_failures == 0 || now_ms - record.window_start_ms >= Ms(policy.window_seconds)) {
    record.window_start_ms = now_ms;
    record.window_failures = 0;
  }
  ++record.window_failures;
  record.last_failure_ms = now_ms;
  by_age_.push_back(record);
  index_[ip] = std::prev(by_age_.end());
  return delay_ms;
}

// The delay starts again from nothing; the block's count stays, so that
// one good password among many guesses does not lift it.
void AuthThrottle::Success(const IpKey& ip) {
  std::lock_guard<std::mutex> lock(mu_);
  if (auto it = index_.find(ip); it != index_.end()) it->second->consecutive = 0;
}

size_t AuthThrottle::Size(const ThrottlePolicy& policy, uint64_t now_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  Expire(policy, now_ms);
  return by_age_.size();
}

}  // namespace imapfront
