// CIDR blocks ("10.0.0.0/8", "2001:db8::/32", or one address) and whether
// an address lies in one: for top-level trusted_proxies. Pure: addresses
// are parsed with inet_pton, nothing is resolved.
#pragma once

#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace imapfront::net {

struct Cidr {
  // IPv4 as v4-mapped IPv6 (::ffff:a.b.c.d), so one comparison serves both;
  // |prefix| counts in those 128 bits (an IPv4 /8 is 104 here).
  std::array<uint8_t, 16> address{};
  unsigned prefix = 128;
};

// "ADDRESS/LENGTH" or "ADDRESS" (a single host). nullopt and |error| set
// when it is not one, or when bits are set past the prefix ("10.1.0.0/8":
// probably a typo for a wider or narrower block, so named, not guessed).
std::optional<Cidr> ParseCidr(std::string_view text, std::string* error);

// |address| (AF_INET or AF_INET6; a v4-mapped IPv6 address counts as its
// IPv4 address) lies in |block|.
bool Contains(const Cidr& block, const sockaddr_storage& address);
bool AnyContains(const std::vector<Cidr>& blocks, const sockaddr_storage& address);

}  // namespace imapfront::net
