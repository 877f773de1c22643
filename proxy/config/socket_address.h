// Socket addresses as the config writes them: "127.0.0.1:993", "[::1]:993",
// "mail.internal:143".
#pragma once

#include <netinet/in.h>
#include <stdint.h>
#include <sys/socket.h>

#include <optional>
#include <string>
#include <string_view>

namespace imapfront {

// A resolved "host:port".
struct SocketAddress {
  std::string text;  // as written in the config
  sockaddr_storage addr{};
  socklen_t addr_len = 0;

  const sockaddr* sa() const { return reinterpret_cast<const sockaddr*>(&addr); }
};

// Parses "ip:port" / "[v6]:port" (listeners, stats.listen: no host
// names). On failure returns nullopt and sets |error|.
std::optional<SocketAddress> ParseSocketAddress(std::string_view text, std::string* error);

// Sets the port of an IPv4 or IPv6 address.
void SetPort(sockaddr_storage* addr, uint16_t port);

// A backend as the config names it. An IP literal is parsed once; a host
// name is resolved when a session connects (proxy/resolver), so a name that
// does not resolve at startup is no reason to refuse to start.
struct BackendAddress {
  std::string text;  // "host:port" as written
  std::string host;  // the host part, without brackets
  uint16_t port = 0;
  std::optional<SocketAddress> numeric;  // set when host is an IP literal
};

// Parses "host:port" / "[v6]:port" without resolving anything.
std::optional<BackendAddress> ParseBackendAddress(std::string_view text, std::string* error);

// Resolves |host| now (blocking getaddrinfo: for --check-config and startup
// warnings, never on a worker loop). The first address, with |port|.
std::optional<SocketAddress> ResolveNow(const BackendAddress& backend, std::string* error);

// The same family, address and port (however each was written).
bool SameAddress(const SocketAddress& a, const SocketAddress& b);

}  // namespace imapfront
