#include "proxy/net/proxy_header.h"

#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>

#include <string>
#include <string_view>

namespace imapfront::net {
namespace {

using State = ProxyHeaderParser::State;

std::span<const uint8_t> Bytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

sockaddr_storage V4(const char* ip, uint16_t port) {
  sockaddr_storage ss{};
  auto* a = reinterpret_cast<sockaddr_in*>(&ss);
  a->sin_family = AF_INET;
  a->sin_port = htons(port);
  inet_pton(AF_INET, ip, &a->sin_addr);
  return ss;
}

sockaddr_storage V6(const char* ip, uint16_t port) {
  sockaddr_storage ss{};
  auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
  a->sin6_family = AF_INET6;
  a->sin6_port = htons(port);
  inet_pton(AF_INET6, ip, &a->sin6_addr);
  return ss;
}

// Feeds |stream| in pieces of |stride| bytes until the parser stops;
// returns the bytes it took in all.
size_t FeedCut(ProxyHeaderParser& p, std::string_view stream, size_t stride) {
  size_t taken = 0;
  while (taken < stream.size() && p.state() == State::kNeedMore) {
    const std::string_view piece = stream.substr(taken, stride);
    const size_t n = p.Feed(Bytes(piece));
    taken += n;
    if (n < piece.size()) break;
  }
  return taken;
}

std::string V2(uint8_t version_command, uint8_t family, std::string body) {
  std::string h("\r\n\r\n\0\r\nQUIT\n", 12);
  h.push_back(static_cast<char>(version_command));
  h.push_back(static_cast<char>(family));
  h.push_back(static_cast<char>(body.size() >> 8));
  h.push_back(static_cast<char>(body.size() & 0xff));
  return h + body;
}

const std::string kClientHello = "\x16\x03\x01\x02\x00rest-of-hello";

}  // namespace

TEST_CASE("PROXY v1 TCP4 and TCP6, at every cut, stop exactly where the ClientHello begins") {
  for (const std::string& header :
       {std::string("PROXY TCP4 192.0.2.10 198.51.100.1 51234 993\r\n"),
        std::string("PROXY TCP6 2001:db8::10 2001:db8::1 51234 993\r\n")}) {
    for (size_t stride = 1; stride <= header.size() + kClientHello.size(); ++stride) {
      CAPTURE(header);
      CAPTURE(stride);
      ProxyHeaderParser p;
      const size_t taken = FeedCut(p, header + kClientHello, stride);
      REQUIRE(p.state() == State::kDone);
      CHECK(taken == header.size());
      CHECK(p.version() == 1);
      CHECK(p.has_addresses());
      CHECK(PortOf(p.source()) == 51234);
      CHECK(PortOf(p.destination()) == 993);
      CHECK(AddressText(p.source()) ==
            (header.find("TCP4") != std::string::npos ? "192.0.2.10" : "2001:db8::10"));
    }
  }
}

TEST_CASE("PROXY v2 PROXY over IPv4 and IPv6 with TLVs skipped, at every cut") {
  const std::string tlvs = std::string(
                               "\x04\x00\x03"
                               "abc",
                               6) +
                           std::string("\x01\x00\x02h2", 5);
  const std::string v4 =
      V2(0x21, 0x11, std::string("\xc0\x00\x02\x0a\xc6\x33\x64\x01\xc8\x22\x03\xe1", 12) + tlvs);
  std::string v6_addresses(36, '\0');
  v6_addresses[0] = '\x20';
  v6_addresses[1] = '\x01';
  v6_addresses[15] = '\x07';
  v6_addresses[32] = '\x01';
  v6_addresses[33] = '\xbb';
  v6_addresses[35] = '\x8f';
  const std::string v6 = V2(0x21, 0x21, v6_addresses + tlvs);
  for (const bool is_v4 : {true, false}) {
    const std::string& header = is_v4 ? v4 : v6;
    for (size_t stride = 1; stride <= header.size() + 3; ++stride) {
      CAPTURE(stride);
      ProxyHeaderParser p;
      const size_t taken = FeedCut(p, header + kClientHello, stride);
      REQUIRE(p.state() == State::kDone);
      CHECK(taken == header.size());
      CHECK(p.version() == 2);
      CHECK(p.has_addresses());
      if (is_v4) {
        CHECK(EndpointText(p.source()) == "192.0.2.10:51234");
        CHECK(EndpointText(p.destination()) == "198.51.100.1:993");
      } else {
        CHECK(EndpointText(p.source()) == "[2001::7]:443");
        CHECK(PortOf(p.destination()) == 143);
      }
    }
  }
}

TEST_CASE("PROXY v2 LOCAL, v2 UNSPEC/UDP/UNIX and v1 UNKNOWN keep the connection's own addresses") {
  for (const std::string& header :
       {V2(0x20, 0x00, ""), V2(0x20, 0x11, std::string(12, '\x01')), V2(0x21, 0x00, "xyz"),
        V2(0x21, 0x12, std::string(12, '\x01')), V2(0x21, 0x31, std::string(216, 'u')),
        V2(0x21, 0x10, ""), V2(0x20, 0xf0, ""), std::string("PROXY UNKNOWN\r\n"),
        std::string("PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n")}) {
    ProxyHeaderParser p;
    CHECK(p.Feed(Bytes(header + "after")) == header.size());
    CHECK(p.state() == State::kDone);
    CHECK_FALSE(p.has_addresses());
  }
}

TEST_CASE("Malformed or missing headers are invalid, with a reason") {
  struct Case {
    std::string input;
    const char* why;
  };
  const Case cases[] = {
      {kClientHello, "no PROXY header"},
      {"a1 LOGIN x y\r\n", "no PROXY header"},
      {"PROXX TCP4", "v1 lines begin"},
      {"PROXY TCP4 192.0.2.10 198.51.100.1 51234 993\n", "CRLF"},
      {"PROXY TCP5 1.2.3.4 1.2.3.4 1 2\r\n", "TCP4, TCP6 or UNKNOWN"},
      {"PROXY TCP4 1.2.3.4 1.2.3.4 1 65536\r\n", "ports"},
      {"PROXY TCP4 1.2.3.4 1.2.3.4 01 2\r\n", "ports"},
      {"PROXY TCP4 1.2.3.4 1.2.3.4 1\r\n", "ports"},
      {"PROXY TCP4 1.2.3.4 1.2.3.4 1 2 3\r\n", "ports"},
      {"PROXY TCP4 2001:db8::1 1.2.3.4 1 2\r\n", "not IPv4"},
      {"PROXY TCP6 1.2.3.4 2001:db8::1 1 2\r\n", "not IPv6"},
      {"PROXY UNKNOWN " + std::string(100, 'x') + "\r\n", "107"},
      {std::string("\r\n\r\n\0\r\nQUIX\n", 12), "v2 signature"},
      {V2(0x11, 0x11, std::string(12, '\0')), "version 1"},
      {V2(0x22, 0x11, std::string(12, '\0')), "neither LOCAL nor PROXY"},
      {V2(0x21, 0x11, std::string(11, '\0')), "too short"},
      {V2(0x21, 0x21, std::string(12, '\0')), "too short"},
      {V2(0x21, 0x41, std::string(12, '\0')), "is not defined"},
      {V2(0x21, 0x13, std::string(12, '\0')), "is not defined"},
      {std::string("PROXY TCP4 1.2.3.4\0x 1.2.3.4 1 2\r\n", 34), "control byte"},
      {"PROXY TCP4 1.2.3.4 1.2.3.4 1 2\t\r\n", "control byte"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.input);
    for (size_t stride : {size_t{1}, size_t{3}, c.input.size()}) {
      ProxyHeaderParser p;
      FeedCut(p, c.input, stride);
      CHECK(p.state() == State::kInvalid);
      CHECK(p.error().find(c.why) != std::string::npos);
    }
  }
}

TEST_CASE("A v1 line of exactly 107 bytes is read; 108 is not") {
  std::string line = "PROXY UNKNOWN ";
  line += std::string(107 - line.size() - 2, 'x') + "\r\n";
  REQUIRE(line.size() == ProxyHeaderParser::kMaxV1Bytes);
  ProxyHeaderParser ok;
  CHECK(ok.Feed(Bytes(line)) == line.size());
  CHECK(ok.state() == State::kDone);
  ProxyHeaderParser too_long;
  too_long.Feed(Bytes("PROXY UNKNOWN x" + line.substr(14)));
  CHECK(too_long.state() == State::kInvalid);
}

TEST_CASE("An incomplete header waits; nothing is taken after the parser stopped") {
  ProxyHeaderParser p;
  CHECK(p.Feed(Bytes("PROXY TCP4 1.2.3.4")) == 18);
  CHECK(p.state() == State::kNeedMore);
  CHECK(p.Feed(Bytes(" 5.6.7.8 1 2\r\nTLS")) == 14);
  CHECK(p.state() == State::kDone);
  CHECK(p.Feed(Bytes("more")) == 0);
}

TEST_CASE("The encoders write what the parser reads back, v1 and v2, mixed families as TCP6") {
  struct Pair {
    sockaddr_storage source, destination;
    const char* v1;
  };
  const Pair pairs[] = {
      {V4("192.0.2.10", 51234), V4("198.51.100.1", 993),
       "PROXY TCP4 192.0.2.10 198.51.100.1 51234 993\r\n"},
      {V6("2001:db8::10", 1), V6("::1", 993), "PROXY TCP6 2001:db8::10 ::1 1 993\r\n"},
      {V4("192.0.2.10", 5), V6("::1", 993), "PROXY TCP6 ::ffff:192.0.2.10 ::1 5 993\r\n"},
  };
  for (const Pair& pair : pairs) {
    CHECK(ProxyV1Header(pair.source, pair.destination) == pair.v1);
    for (const std::string& header : {ProxyV1Header(pair.source, pair.destination),
                                      ProxyV2Header(pair.source, pair.destination)}) {
      ProxyHeaderParser p;
      CHECK(p.Feed(Bytes(header)) == header.size());
      REQUIRE(p.state() == State::kDone);
      CHECK(PortOf(p.source()) == PortOf(pair.source));
      CHECK(PortOf(p.destination()) == 993);
    }
  }
  const std::string v2 = ProxyV2Header(V4("192.0.2.10", 51234), V4("198.51.100.1", 993));
  CHECK(v2 == V2(0x21, 0x11, std::string("\xc0\x00\x02\x0a\xc6\x33\x64\x01\xc8\x22\x03\xe1", 12)));
}

}  // namespace imapfront::net
