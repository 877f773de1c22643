#include "proxy/net/proxy_header.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstring>
#include <string_view>

namespace imapfront::net {
namespace {

constexpr std::string_view kV1Prefix = "PROXY ";
constexpr std::string_view kV2Signature{"\r\n\r\n\0\r\nQUIT\n", 12};
constexpr size_t kV2Fixed = 16;
constexpr size_t kV2Inet = 12;   // two IPv4 addresses and two ports
constexpr size_t kV2Inet6 = 36;  // two IPv6 addresses and two ports

std::string_view Token(std::string_view* rest) {
  const size_t end = rest->find(' ');
  const std::string_view token = rest->substr(0, end);
  rest->remove_prefix(end == std::string_view::npos ? rest->size() : end + 1);
  return token;
}

// A v1 port: 0..65535 in decimal, without a sign or leading zeros.
bool ParsePort(std::string_view text, uint16_t* port) {
  if (text.empty() || text.size() > 5 || (text.size() > 1 && text[0] == '0')) return false;
  uint32_t n = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    n = n * 10 + static_cast<uint32_t>(c - '0');
  }
  if (n > 65535) return false;
  *port = static_cast<uint16_t>(n);
  return true;
}

bool ParseIp(int family, std::string_view text, uint16_t port, sockaddr_storage* out) {
  const std::string s(text);
  *out = {};
  if (family == AF_INET) {
    auto* a = reinterpret_cast<sockaddr_in*>(out);
    a->sin_family = AF_INET;
    a->sin_port = htons(port);
    return inet_pton(AF_INET, s.c_str(), &a->sin_addr) == 1;
  }
  auto* a = reinterpret_cast<sockaddr_in6*>(out);
  a->sin6_family = AF_INET6;
  a->sin6_port = htons(port);
  return inet_pton(AF_INET6, s.c_str(), &a->sin6_addr) == 1;
}

uint16_t Be16(const char* p) {
  return static_cast<uint16_t>((static_cast<uint8_t>(p[0]) << 8) | static_cast<uint8_t>(p[1]));
}

// |address| as IPv6 (IPv4 v4-mapped).
in6_addr AsV6(const sockaddr_storage& address) {
  in6_addr out{};
  if (address.ss_family == AF_INET6) {
    out = reinterpret_cast<const sockaddr_in6*>(&address)->sin6_addr;
  } else {
    out.s6_addr[10] = out.s6_addr[11] = 0xff;
    std::memcpy(out.s6_addr + 12, &reinterpret_cast<const sockaddr_in*>(&address)->sin_addr, 4);
  }
  return out;
}

std::string V6Text(const in6_addr& a) {
  char text[INET6_ADDRSTRLEN] = "";
  inet_ntop(AF_INET6, &a, text, sizeof(text));
  return text;
}

}  // namespace

void ProxyHeaderParser::Fail(std::string why) {
  state_ = State::kInvalid;
  error_ = std::move(why);
  kept_.clear();
}

size_t ProxyHeaderParser::Feed(std::span<const uint8_t> bytes) {
  if (state_ != State::kNeedMore || bytes.empty()) return 0;
  if (version_ == 0) {
    if (bytes[0] == 'P') {
      version_ = 1;
    } else if (bytes[0] == '\r') {
      version_ = 2;
    } else {
      Fail(
          "no PROXY header (the connection's first byte is neither v1's \"P\" nor v2's "
          "signature)");
      return 0;
    }
  }
  return version_ == 1 ? FeedV1(bytes) : FeedV2(bytes);
}

size_t ProxyHeaderParser::FeedV1(std::span<const uint8_t> bytes) {
  size_t used = 0;
  while (used < bytes.size()) {
    const char c = static_cast<char>(bytes[used++]);
    kept_.push_back(c);
    const size_t n = kept_.size();
    if ((c < 0x20 && c != '\r' && c != '\n') || c == 0x7f) {
      Fail("PROXY v1 line holds a control byte");
      return used;
    }
    if (n <= kV1Prefix.size() && kept_[n - 1] != kV1Prefix[n - 1]) {
      Fail("not a PROXY header (v1 lines begin \"PROXY \")");
      return used;
    }
    if (c == '\n') {
      if (n < 2 || kept_[n - 2] != '\r') {
        Fail("PROXY v1 line does not end in CRLF");
        return used;
      }
      ParseV1Line();
      return used;
    }
    if (n >= kMaxV1Bytes) {
      Fail("PROXY v1 line longer than 107 bytes");
      return used;
    }
  }
  return used;
}

void ProxyHeaderParser::ParseV1Line() {
  std::string_view rest(kept_);
  rest.remove_prefix(kV1Prefix.size());
  rest.remove_suffix(2);  // CRLF
  const std::string_view protocol = Token(&rest);
  if (protocol == "UNKNOWN") {
    // The balancer does not know (or will not say): the connection's own
    // addresses stand, whatever follows.
    state_ = State::kDone;
    kept_.clear();
    return;
  }
  int family = 0;
  if (protocol == "TCP4") {
    family = AF_INET;
  } else if (protocol == "TCP6") {
    family = AF_INET6;
  } else {
    Fail("PROXY v1 protocol \"" + std::string(protocol) + "\" is not TCP4, TCP6 or UNKNOWN");
    return;
  }
  const std::string_view src = Token(&rest);
  const std::string_view dst = Token(&rest);
  const std::string_view sport = Token(&rest);
  const std::string_view dport = rest;
  uint16_t sp = 0, dp = 0;
  if (dport.find(' ') != std::string_view::npos || !ParsePort(sport, &sp) ||
      !ParsePort(dport, &dp)) {
    Fail("PROXY v1 line has no valid ports (\"PROXY TCP4 SRC DST SPORT DPORT\")");
    return;
  }
  if (!ParseIp(family, src, sp, &source_) || !ParseIp(family, dst, dp, &destination_)) {
    Fail(std::string("PROXY v1 addresses are not ") + (family == AF_INET ? "IPv4" : "IPv6"));
    return;
  }
  has_addresses_ = true;
  state_ = State::kDone;
  kept_.clear();
}

size_t ProxyHeaderParser::FeedV2(std::span<const uint8_t> bytes) {
  size_t used = 0;
  while (used < bytes.size() && kept_.size() < kV2Fixed) {
    kept_.push_back(static_cast<char>(bytes[used++]));
    const size_t n = kept_.size();
    if (n <= kV2Signature.size() && kept_[n - 1] != kV2Signature[n - 1]) {
      Fail("not a PROXY header (no v2 signature)");
      return used;
    }
    if (n == kV2Fixed) {
      const uint8_t version_command = static_cast<uint8_t>(kept_[12]);
      if (version_command >> 4 != 2) {
        Fail("PROXY v2 header of version " + std::to_string(version_command >> 4));
        return used;
      }
      if ((version_command & 0x0f) > 1) {
        Fail("PROXY v2 command " + std::to_string(version_command & 0x0f) +
             " is neither LOCAL nor PROXY");
        return used;
      }
      v2_length_ = Be16(kept_.data() + 14);
    }
  }
  if (kept_.size() < kV2Fixed) return used;
  // The address block is kept (up to its largest form); TLVs are skipped.
  const size_t want = std::min(v2_length_, kV2Inet6);
  const size_t take = std::min(bytes.size() - used, v2_length_ - v2_seen_);
  const size_t keep = v2_seen_ < want ? std::min(take, want - v2_seen_) : 0;
  kept_.append(reinterpret_cast<const char*>(bytes.data() + used), keep);
  v2_seen_ += take;
  used += take;
  if (v2_seen_ == v2_length_) ParseV2Addresses();
  return used;
}

void ProxyHeaderParser::ParseV2Addresses() {
  const uint8_t command = static_cast<uint8_t>(kept_[12]) & 0x0f;
  const uint8_t family = static_cast<uint8_t>(kept_[13]);
  const char* block = kept_.data() + kV2Fixed;
  const size_t block_size = kept_.size() - kV2Fixed;
  if (command == 1 && ((family >> 4) > 3 || (family & 0x0f) > 2)) {
    // Not a family (UNSPEC, INET, INET6, UNIX) and transport (UNSPEC,
    // STREAM, DGRAM) of the specification: rejected, as it says (LOCAL
    // ignores the family altogether).
    Fail("PROXY v2 family/transport 0x" + std::string(1, "0123456789abcdef"[family >> 4]) +
         std::string(1, "0123456789abcdef"[family & 15]) + " is not defined");
    return;
  }
  const bool tcp = family == 0x11 || family == 0x21;
  if (command == 0 || !tcp) {
    // LOCAL (the balancer's own connection), or PROXY for what is not TCP
    // over IPv4/IPv6 (an unspecified family, UDP, a UNIX socket): the
    // connection's own addresses stand, as the specification's receiver does.
    state_ = State::kDone;
    kept_.clear();
    return;
  }
  if (family == 0x11 && block_size >= kV2Inet) {
    auto* s = reinterpret_cast<sockaddr_in*>(&source_);
    auto* d = reinterpret_cast<sockaddr_in*>(&destination_);
    s->sin_family = d->sin_family = AF_INET;
    std::memcpy(&s->sin_addr, block, 4);
    std::memcpy(&d->sin_addr, block + 4, 4);
    std::memcpy(&s->sin_port, block + 8, 2);
    std::memcpy(&d->sin_port, block + 10, 2);
  } else if (family == 0x21 && block_size >= kV2Inet6) {
    auto* s = reinterpret_cast<sockaddr_in6*>(&source_);
    auto* d = reinterpret_cast<sockaddr_in6*>(&destination_);
    s->sin6_family = d->sin6_family = AF_INET6;
    std::memcpy(&s->sin6_addr, block, 16);
    std::memcpy(&d->sin6_addr, block + 16, 16);
    std::memcpy(&s->sin6_port, block + 32, 2);
    std::memcpy(&d->sin6_port, block + 34, 2);
  } else {
    Fail("PROXY v2 address block too short for its family");
    return;
  }
  has_addresses_ = true;
  state_ = State::kDone;
  kept_.clear();
}

std::string AddressText(const sockaddr_storage& address) {
  char text[INET6_ADDRSTRLEN] = "";
  if (address.ss_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&address)->sin_addr, text,
              sizeof(text));
  } else if (address.ss_family == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&address)->sin6_addr, text,
              sizeof(text));
  }
  return text;
}

uint16_t PortOf(const sockaddr_storage& address) {
  if (address.ss_family == AF_INET) {
    return ntohs(reinterpret_cast<const sockaddr_in*>(&address)->sin_port);
  }
  if (address.ss_family == AF_INET6) {
    return ntohs(reinterpret_cast<const sockaddr_in6*>(&address)->sin6_port);
  }
  return 0;
}

std::string EndpointText(const sockaddr_storage& address) {
  const std::string ip = AddressText(address);
  const std::string port = std::to_string(PortOf(address));
  return address.ss_family == AF_INET6 ? "[" + ip + "]:" + port : ip + ":" + port;
}

std::string ProxyV1Header(const sockaddr_storage& source, const sockaddr_storage& destination) {
  const bool v4 = source.ss_family == AF_INET && destination.ss_family == AF_INET;
  const std::string src = v4 ? AddressText(source) : V6Text(AsV6(source));
  const std::string dst = v4 ? AddressText(destination) : V6Text(AsV6(destination));
  return std::string("PROXY ") + (v4 ? "TCP4 " : "TCP6 ") + src + " " + dst + " " +
         std::to_string(PortOf(source)) + " " + std::to_string(PortOf(destination)) + "\r\n";
}

std::string ProxyV2Header(const sockaddr_storage& source, const sockaddr_storage& destination) {
  const bool v4 = source.ss_family == AF_INET && destination.ss_family == AF_INET;
  std::string out(kV2Signature);
  out.push_back('\x21');  // version 2, PROXY
  out.push_back(v4 ? '\x11' : '\x21');
  const size_t length = v4 ? kV2Inet : kV2Inet6;
  out.push_back(static_cast<char>(length >> 8));
  out.push_back(static_cast<char>(length & 0xff));
  auto append = [&](const void* p, size_t n) { out.append(static_cast<const char*>(p), n); };
  if (v4) {
    append(&reinterpret_cast<const sockaddr_in*>(&source)->sin_addr, 4);
    append(&reinterpret_cast<const sockaddr_in*>(&destination)->sin_addr, 4);
  } else {
    const in6_addr s = AsV6(source), d = AsV6(destination);
    append(&s, 16);
    append(&d, 16);
  }
  const uint16_t sport = htons(PortOf(source)), dport = htons(PortOf(destination));
  append(&sport, 2);
  append(&dport, 2);
  return out;
}

}  // namespace imapfront::net
