#include "proxy/net/cidr.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>

namespace imapfront::net {
namespace {

std::array<uint8_t, 16> Mapped(const sockaddr_storage& address) {
  std::array<uint8_t, 16> out{};
  if (address.ss_family == AF_INET6) {
    std::memcpy(out.data(), &reinterpret_cast<const sockaddr_in6*>(&address)->sin6_addr, 16);
  } else {
    out[10] = out[11] = 0xff;
    std::memcpy(out.data() + 12, &reinterpret_cast<const sockaddr_in*>(&address)->sin_addr, 4);
  }
  return out;
}

bool PrefixMatches(const std::array<uint8_t, 16>& a, const std::array<uint8_t, 16>& b,
                   unsigned prefix) {
  const unsigned whole = prefix / 8;
  if (std::memcmp(a.data(), b.data(), whole) != 0) return false;
  const unsigned bits = prefix % 8;
  if (bits == 0) return true;
  const uint8_t mask = static_cast<uint8_t>(0xff << (8 - bits));
  return (a[whole] & mask) == (b[whole] & mask);
}

// "\"TEXT\"WHY", built by appending: GCC 12 misreads operator+ chains on a
// literal as overlapping copies (-Wrestrict) when inlined.
std::string Named(std::string_view text, std::string_view why) {
  std::string out;
  out.reserve(text.size() + why.size() + 2);
  out += '"';
  out.append(text);
  out += '"';
  out.append(why);
  return out;
}

}  // namespace

std::optional<Cidr> ParseCidr(std::string_view text, std::string* error) {
  const size_t slash = text.find('/');
  const std::string host(text.substr(0, slash));
  Cidr block;
  bool v4 = false;
  in_addr a4{};
  in6_addr a6{};
  if (inet_pton(AF_INET, host.c_str(), &a4) == 1) {
    v4 = true;
    block.address[10] = block.address[11] = 0xff;
    std::memcpy(block.address.data() + 12, &a4, 4);
  } else if (inet_pton(AF_INET6, host.c_str(), &a6) == 1) {
    std::memcpy(block.address.data(), &a6, 16);
  } else {
    *error = Named(text, " is not an IPv4 or IPv6 address or CIDR block");
    return std::nullopt;
  }
  const unsigned max = v4 ? 32 : 128;
  unsigned length = max;
  if (slash != std::string_view::npos) {
    const std::string_view digits = text.substr(slash + 1);
    bool ok = !digits.empty() && digits.size() <= 3;
    unsigned n = 0;
    for (char c : digits) {
      ok = ok && c >= '0' && c <= '9';
      n = n * 10 + static_cast<unsigned>(c - '0');
    }
    if (!ok || n > max) {
      *error = Named(text, ": the prefix length must be 0 to ");
      error->append(std::to_string(max));
      return std::nullopt;
    }
    length = n;
  }
  block.prefix = v4 ? 96 + length : length;
  std::array<uint8_t, 16> masked{};
  for (unsigned i = 0; i < block.prefix; ++i) {
    masked[i / 8] |= static_cast<uint8_t>(block.address[i / 8] & (0x80 >> (i % 8)));
  }
  if (masked != block.address) {
    *error = Named(text, " has bits set past its prefix length (write the block's first address)");
    return std::nullopt;
  }
  return block;
}

bool Contains(const Cidr& block, const sockaddr_storage& address) {
  if (address.ss_family != AF_INET && address.ss_family != AF_INET6) return false;
  return PrefixMatches(block.address, Mapped(address), block.prefix);
}

bool AnyContains(const std::vector<Cidr>& blocks, const sockaddr_storage& address) {
  for (const Cidr& b : blocks) {
    if (Contains(b, address)) return true;
  }
  return false;
}

}  // namespace imapfront::net
