#include "proxy/net/cidr.h"

#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>

#include <string>

namespace imapfront::net {
namespace {

sockaddr_storage Ip(const char* text) {
  sockaddr_storage ss{};
  if (inet_pton(AF_INET, text, &reinterpret_cast<sockaddr_in*>(&ss)->sin_addr) == 1) {
    ss.ss_family = AF_INET;
  } else {
    REQUIRE(inet_pton(AF_INET6, text, &reinterpret_cast<sockaddr_in6*>(&ss)->sin6_addr) == 1);
    ss.ss_family = AF_INET6;
  }
  return ss;
}

Cidr Block(const char* text) {
  std::string error;
  auto b = ParseCidr(text, &error);
  REQUIRE_MESSAGE(b, error);
  return *b;
}

}  // namespace

TEST_CASE("CIDR blocks contain what they should, IPv4 and IPv6, v4-mapped as IPv4") {
  const Cidr ten = Block("10.0.0.0/8");
  CHECK(Contains(ten, Ip("10.0.0.1")));
  CHECK(Contains(ten, Ip("10.255.255.255")));
  CHECK(Contains(ten, Ip("::ffff:10.1.2.3")));
  CHECK_FALSE(Contains(ten, Ip("11.0.0.0")));
  CHECK_FALSE(Contains(ten, Ip("::1")));
  const Cidr odd = Block("192.0.2.128/25");
  CHECK(Contains(odd, Ip("192.0.2.200")));
  CHECK_FALSE(Contains(odd, Ip("192.0.2.127")));
  const Cidr host = Block("192.0.2.7");
  CHECK(Contains(host, Ip("192.0.2.7")));
  CHECK_FALSE(Contains(host, Ip("192.0.2.8")));
  CHECK(Contains(Block("::1/128"), Ip("::1")));
  CHECK_FALSE(Contains(Block("::1/128"), Ip("127.0.0.1")));
  CHECK(Contains(Block("2001:db8::/32"), Ip("2001:db8:ffff::1")));
  CHECK_FALSE(Contains(Block("2001:db8::/33"), Ip("2001:db8:8000::1")));
  CHECK(Contains(Block("0.0.0.0/0"), Ip("203.0.113.9")));
  CHECK_FALSE(Contains(Block("0.0.0.0/0"), Ip("2001:db8::1")));
  CHECK(Contains(Block("::/0"), Ip("2001:db8::1")));
  CHECK(AnyContains({ten, host}, Ip("192.0.2.7")));
  CHECK_FALSE(AnyContains({}, Ip("192.0.2.7")));
}

TEST_CASE("Bad CIDR blocks are refused with the text named") {
  for (const char* bad : {"10.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0.0/8x", "10.0.0/8",
                          "host.example/8", "", "10.0.0.1/8", "2001:db8::1/32", "10.0.0.0/-1"}) {
    std::string error;
    CAPTURE(bad);
    CHECK_FALSE(ParseCidr(bad, &error));
    CHECK(error.find(std::string("\"") + bad) != std::string::npos);
  }
}

}  // namespace imapfront::net
