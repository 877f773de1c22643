#include "proxy/config/socket_address.h"

#include <arpa/inet.h>
#include <netdb.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <system_error>

#include "proxy/config/messages.h"

namespace imapfront {
namespace {

using config::Quote;

struct HostPort {
  std::string_view host;
  std::string_view port;
  bool bracketed = false;
};

bool SplitHostPort(std::string_view text, HostPort* out, std::string* error) {
  if (text.starts_with('[')) {
    const size_t close = text.find(']');
    if (close == std::string_view::npos) {
      *error = Quote(text) + ": missing \"]\" after the IPv6 address";
      return false;
    }
    out->host = text.substr(1, close - 1);
    out->bracketed = true;
    text.remove_prefix(close + 1);
    if (!text.starts_with(':')) {
      *error = "missing \":port\" after \"]\"";
      return false;
    }
    out->port = text.substr(1);
    return true;
  }
  const size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) {
    *error = Quote(text) + " has no port (expected host:port)";
    return false;
  }
  out->host = text.substr(0, colon);
  out->port = text.substr(colon + 1);
  if (out->host.find(':') != std::string_view::npos) {
    *error = "IPv6 addresses need brackets, as in \"[::1]:993\"";
    return false;
  }
  return true;
}

bool ParsePort(std::string_view text, uint16_t* port, std::string* error) {
  const bool digits =
      !text.empty() && std::ranges::all_of(text, [](char c) { return c >= '0' && c <= '9'; });
  if (!digits) {
    *error = "port " + Quote(text) + " is not a number";
    return false;
  }
  uint64_t value = 0;
  const std::errc ec = std::from_chars(text.data(), text.data() + text.size(), value).ec;
  if (ec != std::errc() || value < 1 || value > 65535) {
    *error = "port " + std::string(text) + " out of range 1..65535";
    return false;
  }
  *port = static_cast<uint16_t>(value);
  return true;
}

// inet_pton only: "10.0.0.5" unbracketed, "::1" bracketed.
bool ParseNumericHost(const std::string& host, bool bracketed, SocketAddress* out) {
  if (bracketed) {
    sockaddr_in6 sin6{};
    if (inet_pton(AF_INET6, host.c_str(), &sin6.sin6_addr) != 1) return false;
    sin6.sin6_family = AF_INET6;
    std::memcpy(&out->addr, &sin6, sizeof(sin6));
    out->addr_len = sizeof(sin6);
    return true;
  }
  sockaddr_in sin{};
  if (inet_pton(AF_INET, host.c_str(), &sin.sin_addr) != 1) return false;
  sin.sin_family = AF_INET;
  std::memcpy(&out->addr, &sin, sizeof(sin));
  out->addr_len = sizeof(sin);
  return true;
}

// The first address getaddrinfo gives for |host|.
bool ResolveHost(const std::string& host, SocketAddress* out, std::string* error) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* result = nullptr;
  const int rc = getaddrinfo(host.c_str(), nullptr, &hints, &result);
  if (rc != 0 || result == nullptr) {
    const std::string why = rc == EAI_SYSTEM ? std::generic_category().message(errno)
                            : rc != 0        ? gai_strerror(rc)
                                             : "no address";
    *error = "cannot resolve " + Quote(host) + ": " + why;
    return false;
  }
  const bool fits = result->ai_addrlen <= sizeof(out->addr);
  if (fits) {
    std::memcpy(&out->addr, result->ai_addr, result->ai_addrlen);
    out->addr_len = result->ai_addrlen;
  }
  freeaddrinfo(result);
  if (!fits) *error = "cannot resolve " + Quote(host) + ": address too long";
  return fits;
}

}  // namespace

void SetPort(sockaddr_storage* addr, uint16_t port) {
  if (addr->ss_family == AF_INET) {
    reinterpret_cast<sockaddr_in*>(addr)->sin_port = htons(port);
  } else if (addr->ss_family == AF_INET6) {
    reinterpret_cast<sockaddr_in6*>(addr)->sin6_port = htons(port);
  }
}

std::optional<BackendAddress> ParseBackendAddress(std::string_view text, std::string* error) {
  HostPort parts;
  BackendAddress backend;
  if (!SplitHostPort(text, &parts, error) || !ParsePort(parts.port, &backend.port, error)) {
    return std::nullopt;
  }
  if (parts.host.empty()) {
    *error = "missing host in " + Quote(text);
    return std::nullopt;
  }
  backend.text = std::string(text);
  backend.host = std::string(parts.host);
  SocketAddress address;
  address.text = backend.text;
  if (ParseNumericHost(backend.host, parts.bracketed, &address)) {
    SetPort(&address.addr, backend.port);
    backend.numeric = std::move(address);
  } else if (parts.bracketed) {
    *error = Quote(backend.host) + " is not an IPv6 address";
    return std::nullopt;
  }
  return backend;
}

std::optional<SocketAddress> ParseSocketAddress(std::string_view text, std::string* error) {
  std::optional<BackendAddress> parsed = ParseBackendAddress(text, error);
  if (!parsed) {
    if (error->starts_with("missing host")) *error += " (for all addresses use 0.0.0.0 or [::])";
    return std::nullopt;
  }
  if (!parsed->numeric) {
    *error = Quote(parsed->host) + " is not an IP address (host names are not allowed here)";
    return std::nullopt;
  }
  return std::move(parsed->numeric);
}

std::optional<SocketAddress> ResolveNow(const BackendAddress& backend, std::string* error) {
  if (backend.numeric) return backend.numeric;
  SocketAddress address;
  address.text = backend.text;
  if (!ResolveHost(backend.host, &address, error)) return std::nullopt;
  SetPort(&address.addr, backend.port);
  return address;
}

bool SameAddress(const SocketAddress& a, const SocketAddress& b) {
  return a.addr_len == b.addr_len && std::memcmp(&a.addr, &b.addr, a.addr_len) == 0;
}

}  // namespace imapfront
