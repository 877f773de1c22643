// Failed-login throttling: the doubling delay and its cap, the reset on
// success, the block within a window, and the bound on remembered addresses.
#include "proxy/auth_throttle.h"

#include <doctest/doctest.h>

#include <vector>

namespace imapfront {
namespace {

IpKey Ip(uint32_t n) {
  IpKey k{};
  k[10] = k[11] = 0xff;
  k[12] = static_cast<uint8_t>(n >> 24);
  k[13] = static_cast<uint8_t>(n >> 16);
  k[14] = static_cast<uint8_t>(n >> 8);
  k[15] = static_cast<uint8_t>(n);
  return k;
}

TEST_CASE("throttle: the n-th consecutive failure delays the next by min(2^(n-1), cap)") {
  AuthThrottle t;
  const ThrottlePolicy policy{.delay_cap_seconds = 5, .max_failures = 0, .window_seconds = 300};
  std::vector<uint64_t> delays;
  for (int i = 0; i < 6; ++i) delays.push_back(t.Failure(Ip(1), policy, 1000 + i));
  CHECK(delays == std::vector<uint64_t>{0, 1000, 2000, 4000, 5000, 5000});
  CHECK(t.Failure(Ip(2), policy, 2000) == 0);  // per address
  t.Success(Ip(1));
  CHECK(t.Failure(Ip(1), policy, 3000) == 0);
  CHECK(t.Failure(Ip(1), policy, 3001) == 1000);
  // A cap of 0: no delay at all.
  CHECK(t.Failure(Ip(1), {.delay_cap_seconds = 0, .window_seconds = 300}, 3002) == 0);
}

TEST_CASE("throttle: over max failures within the window, blocked until it has passed") {
  AuthThrottle t;
  const ThrottlePolicy policy{.delay_cap_seconds = 0, .max_failures = 3, .window_seconds = 10};
  CHECK_FALSE(t.Blocked(Ip(1), policy, 0));
  t.Failure(Ip(1), policy, 0);
  t.Failure(Ip(1), policy, 1000);
  CHECK_FALSE(t.Blocked(Ip(1), policy, 1500));
  t.Failure(Ip(1), policy, 2000);
  CHECK(t.Blocked(Ip(1), policy, 2000));
  CHECK(t.Blocked(Ip(1), policy, 9999));
  CHECK_FALSE(t.Blocked(Ip(2), policy, 2000));
  // A success does not lift the block.
  t.Success(Ip(1));
  CHECK(t.Blocked(Ip(1), policy, 5000));
  CHECK_FALSE(t.Blocked(Ip(1), policy, 10000));
  // Off when max_failures is 0.
  CHECK_FALSE(t.Blocked(Ip(3), {.max_failures = 0}, 0));
}

TEST_CASE("throttle: records expire a window after their last failure; at most the bound") {
  AuthThrottle t(1000);
  const ThrottlePolicy policy{.delay_cap_seconds = 15, .max_failures = 2, .window_seconds = 60};
  for (uint32_t i = 0; i < 5000; ++i) t.Failure(Ip(i), policy, i);
  CHECK(t.Size(policy, 5000) == 1000);
  // The oldest went first: the newest are still known.
  t.Failure(Ip(4999), policy, 5001);
  CHECK(t.Blocked(Ip(4999), policy, 5002));
  CHECK(t.Failure(Ip(0), policy, 5003) == 0);  // forgotten: a fresh record
  CHECK(t.Size(policy, 5003) == 1000);
  CHECK(t.Size(policy, 60000 + 5003) == 0);
}

}  // namespace
}  // namespace imapfront
