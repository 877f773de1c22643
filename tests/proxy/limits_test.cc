// proxy/limits: the live connection counts behind the caps of SPEC
// (limits.max_connections globally and per route, max_connections_per_ip).
#include "proxy/limits.h"

#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace imapfront {
namespace {

sockaddr_storage V4(const std::string& ip, uint16_t port = 993) {
  sockaddr_storage ss{};
  auto* a = reinterpret_cast<sockaddr_in*>(&ss);
  a->sin_family = AF_INET;
  a->sin_port = htons(port);
  REQUIRE(inet_pton(AF_INET, ip.c_str(), &a->sin_addr) == 1);
  return ss;
}

sockaddr_storage V6(const std::string& ip, uint16_t port = 993) {
  sockaddr_storage ss{};
  auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
  a->sin6_family = AF_INET6;
  a->sin6_port = htons(port);
  REQUIRE(inet_pton(AF_INET6, ip.c_str(), &a->sin6_addr) == 1);
  return ss;
}

uint16_t PortOfForTest(const sockaddr_storage& addr) {
  return ntohs(addr.ss_family == AF_INET6 ? reinterpret_cast<const sockaddr_in6*>(&addr)->sin6_port
                                          : reinterpret_cast<const sockaddr_in*>(&addr)->sin_port);
}

// How many connections |counts| holds in all, without changing it.
uint64_t Total(ConnectionCounts& counts) {
  uint64_t n = counts.AddTotal() - 1;
  counts.RemoveTotal();
  return n;
}

// How many connections |counts| holds from |peer|'s address, unchanged.
uint64_t FromIp(ConnectionCounts& counts, const sockaddr_storage& peer) {
  const IpKey key = IpKeyOf(peer);
  uint64_t n = counts.AddIp(key) - 1;
  counts.RemoveIp(key);
  return n;
}

TEST_CASE("IpKeyOf: IPv4 as v4-mapped IPv6, IPv6 as is, the port left out") {
  const IpKey v4 = IpKeyOf(V4("192.0.2.1", 1));
  const IpKey expected_v4 = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 1};
  CHECK(v4 == expected_v4);
  CHECK(IpKeyOf(V4("192.0.2.1", 2)) == v4);
  CHECK(IpKeyOf(V6("::ffff:192.0.2.1", 3)) == v4);
  CHECK(IpKeyOf(V4("192.0.2.2")) != v4);
  CHECK(IpKeyOf(V4("1.0.2.1")) != v4);

  const IpKey v6 = IpKeyOf(V6("2001:db8::1"));
  IpKey expected_v6{};
  REQUIRE(inet_pton(AF_INET6, "2001:db8::1", expected_v6.data()) == 1);
  CHECK(v6 == expected_v6);
  CHECK(IpKeyOf(V6("2001:db8::2")) != v6);
  CHECK(IpKeyOf(V6("2001:db8::1", 4)) == v6);
  // Not the v4-mapped form: another address.
  CHECK(IpKeyOf(V6("::192.0.2.1")) != v4);
}

TEST_CASE("AddressOf: IpKeyOf's inverse, the port and the family restored") {
  for (const sockaddr_storage& addr :
       {V4("192.0.2.1", 51234), V6("2001:db8::7", 993), V6("::ffff:192.0.2.1", 1), V6("::1", 2)}) {
    const bool v6 = addr.ss_family == AF_INET6;
    const sockaddr_storage back = AddressOf(IpKeyOf(addr), PortOfForTest(addr), v6);
    REQUIRE(back.ss_family == addr.ss_family);
    if (v6) {
      const auto* a = reinterpret_cast<const sockaddr_in6*>(&addr);
      const auto* b = reinterpret_cast<const sockaddr_in6*>(&back);
      CHECK(std::memcmp(&a->sin6_addr, &b->sin6_addr, 16) == 0);
      CHECK(a->sin6_port == b->sin6_port);
    } else {
      const auto* a = reinterpret_cast<const sockaddr_in*>(&addr);
      const auto* b = reinterpret_cast<const sockaddr_in*>(&back);
      CHECK(a->sin_addr.s_addr == b->sin_addr.s_addr);
      CHECK(a->sin_port == b->sin_port);
    }
  }
}

TEST_CASE("ConnectionCounts: the total counts up and down") {
  ConnectionCounts counts;
  CHECK(counts.AddTotal() == 1);
  CHECK(counts.AddTotal() == 2);
  CHECK(counts.AddTotal() == 3);
  counts.RemoveTotal();
  CHECK(Total(counts) == 2);
  CHECK(counts.AddTotal() == 3);
  counts.RemoveTotal();
  counts.RemoveTotal();
  counts.RemoveTotal();
  CHECK(Total(counts) == 0);
}

TEST_CASE("ConnectionCounts: one count per address, IPv4 and its v4-mapped IPv6 form are one") {
  ConnectionCounts counts;
  const IpKey a = IpKeyOf(V4("203.0.113.5"));
  const IpKey a_mapped = IpKeyOf(V6("::ffff:203.0.113.5"));
  const IpKey b = IpKeyOf(V4("203.0.113.6"));
  const IpKey c = IpKeyOf(V6("2001:db8::5"));
  CHECK(counts.AddIp(a) == 1);
  CHECK(counts.AddIp(a) == 2);
  CHECK(counts.AddIp(a_mapped) == 3);
  CHECK(counts.AddIp(b) == 1);
  CHECK(counts.AddIp(c) == 1);
  CHECK(counts.AddIp(c) == 2);
  counts.RemoveIp(a_mapped);
  CHECK(counts.AddIp(a) == 3);
  counts.RemoveIp(c);
  counts.RemoveIp(c);
  CHECK(counts.AddIp(c) == 1);  // back from zero
  // Per-IP counts are not the total.
  CHECK(Total(counts) == 0);
}

TEST_CASE("ConnectionCounts: removing an address it does not hold changes nothing") {
  ConnectionCounts counts;
  const IpKey a = IpKeyOf(V4("198.51.100.1"));
  const IpKey b = IpKeyOf(V4("198.51.100.2"));
  counts.RemoveIp(a);  // never added: no underflow
  CHECK(counts.AddIp(a) == 1);
  CHECK(counts.AddIp(b) == 1);
  counts.RemoveIp(b);
  counts.RemoveIp(b);  // one too many: still zero, a untouched
  CHECK(counts.AddIp(b) == 1);
  CHECK(counts.AddIp(a) == 2);
}

TEST_CASE("ConnectionCounts: a route counter per name, created at zero, the same on every call") {
  ConnectionCounts counts;
  std::atomic<uint64_t>* a = counts.RouteCounter("legacy");
  REQUIRE(a != nullptr);
  CHECK(a->load() == 0);
  CHECK(counts.RouteCounter("legacy") == a);
  std::atomic<uint64_t>* b = counts.RouteCounter("default");
  CHECK(b != a);
  a->fetch_add(2);
  CHECK(b->load() == 0);
  // Many more routes later, the first pointer still points at its counter.
  for (int i = 0; i < 200; ++i) counts.RouteCounter("route" + std::to_string(i))->fetch_add(1);
  CHECK(counts.RouteCounter("legacy") == a);
  CHECK(a->load() == 2);
  CHECK(counts.RouteCounter("route7")->load() == 1);
}

TEST_CASE("ConnectionSlot: joins the total and its address, its destructor leaves both") {
  ConnectionCounts counts;
  {
    ConnectionSlot a(&counts, V4("10.0.0.1", 50000));
    CHECK(a.total() == 1);
    CHECK(a.from_ip() == 1);
    ConnectionSlot b(&counts, V6("::ffff:10.0.0.1", 50001));  // the same client address
    CHECK(b.total() == 2);
    CHECK(b.from_ip() == 2);
    ConnectionSlot c(&counts, V6("2001:db8::7"));
    CHECK(c.total() == 3);
    CHECK(c.from_ip() == 1);
    // The values are those at the slot's birth, not live ones.
    CHECK(a.total() == 1);
    CHECK(Total(counts) == 3);
    CHECK(FromIp(counts, V4("10.0.0.1")) == 2);
  }
  CHECK(Total(counts) == 0);
  CHECK(FromIp(counts, V4("10.0.0.1")) == 0);
  CHECK(FromIp(counts, V6("2001:db8::7")) == 0);
}

TEST_CASE("ConnectionSlot: EnterRoute counts per route, the destructor leaves the route too") {
  ConnectionCounts counts;
  std::atomic<uint64_t>* small = counts.RouteCounter("small");
  std::atomic<uint64_t>* other = counts.RouteCounter("other");
  {
    ConnectionSlot a(&counts, V4("10.0.0.1"));
    ConnectionSlot b(&counts, V4("10.0.0.2"));
    ConnectionSlot c(&counts, V4("10.0.0.3"));
    ConnectionSlot no_route(&counts, V4("10.0.0.4"));
    CHECK(a.EnterRoute("small") == 1);
    CHECK(b.EnterRoute("small") == 2);
    CHECK(c.EnterRoute("other") == 1);
    CHECK(small->load() == 2);
    CHECK(other->load() == 1);
    {
      ConnectionSlot d(&counts, V4("10.0.0.5"));
      CHECK(d.EnterRoute("small") == 3);
    }
    CHECK(small->load() == 2);
    CHECK(other->load() == 1);
  }
  CHECK(small->load() == 0);
  CHECK(other->load() == 0);
  CHECK(Total(counts) == 0);
}

TEST_CASE("ConnectionSlot: many addresses, IPv4 and IPv6, and many slots from one address") {
  ConnectionCounts counts;
  std::vector<std::unique_ptr<ConnectionSlot>> slots;
  for (int i = 0; i < 1000; ++i) {
    const std::string v4 = "10.1." + std::to_string(i / 256) + "." + std::to_string(i % 256);
    slots.push_back(std::make_unique<ConnectionSlot>(&counts, V4(v4)));
    CHECK(slots.back()->from_ip() == 1);
    char v6[64];
    std::snprintf(v6, sizeof(v6), "2001:db8::%x", i + 1);
    slots.push_back(std::make_unique<ConnectionSlot>(&counts, V6(v6)));
    CHECK(slots.back()->from_ip() == 1);
    CHECK(slots.back()->total() == static_cast<uint64_t>(2 * i + 2));
  }
  for (int i = 0; i < 100; ++i) {
    // Alternating the two spellings of one address.
    slots.push_back(std::make_unique<ConnectionSlot>(
        &counts, i % 2 ? V4("192.0.2.200") : V6("::ffff:192.0.2.200")));
    CHECK(slots.back()->from_ip() == static_cast<uint64_t>(i + 1));
  }
  CHECK(Total(counts) == 2100);
  CHECK(FromIp(counts, V4("10.1.3.7")) == 1);
  CHECK(FromIp(counts, V6("2001:db8::3e8")) == 1);
  slots.resize(2000);  // the 100 from one address leave
  CHECK(FromIp(counts, V4("192.0.2.200")) == 0);
  CHECK(Total(counts) == 2000);
  slots.clear();
  CHECK(Total(counts) == 0);
  CHECK(FromIp(counts, V4("10.1.3.7")) == 0);
  CHECK(FromIp(counts, V6("2001:db8::3e8")) == 0);
}

TEST_CASE("ConnectionSlot: slots born and dying on several threads at once leave zero") {
  ConnectionCounts counts;
  std::vector<std::thread> threads;
  for (int k = 0; k < 4; ++k) {
    threads.emplace_back([&counts, k] {
      for (int i = 0; i < 2000; ++i) {
        ConnectionSlot slot(&counts, V4("10.2." + std::to_string(k) + "." + std::to_string(i % 8)));
        slot.EnterRoute(i % 2 ? "a" : "b");
      }
    });
  }
  for (std::thread& t : threads) t.join();
  CHECK(Total(counts) == 0);
  CHECK(FromIp(counts, V4("10.2.0.0")) == 0);
  CHECK(counts.RouteCounter("a")->load() == 0);
  CHECK(counts.RouteCounter("b")->load() == 0);
}

}  // namespace
}  // namespace imapfront
