#include "proxy/limits.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace imapfront {

IpKey IpKeyOf(const sockaddr_storage& addr) {
  IpKey key{};
  if (addr.ss_family == AF_INET6) {
    std::memcpy(key.data(), &reinterpret_cast<const sockaddr_in6*>(&addr)->sin6_addr, 16);
  } else if (addr.ss_family == AF_INET) {
    key[10] = key[11] = 0xff;
    std::memcpy(key.data() + 12, &reinterpret_cast<const sockaddr_in*>(&addr)->sin_addr, 4);
  }
  return key;
}

sockaddr_storage AddressOf(const IpKey& ip, uint16_t port, bool v6) {
  sockaddr_storage addr{};
  if (v6) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&addr);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(port);
    std::memcpy(&a->sin6_addr, ip.data(), ip.size());
  } else {
    auto* a = reinterpret_cast<sockaddr_in*>(&addr);
    a->sin_family = AF_INET;
    a->sin_port = htons(port);
    std::memcpy(&a->sin_addr, ip.data() + 12, 4);
  }
  return addr;
}

size_t ConnectionCounts::KeyHash::operator()(const IpKey& k) const {
  return std::hash<std::string_view>{}({reinterpret_cast<const char*>(k.data()), k.size()});
}

uint64_t ConnectionCounts::AddIp(const IpKey& ip) {
  Shard& shard = ShardOf(ip);
  std::lock_guard<std::mutex> lock(shard.mu);
  return ++shard.counts[ip];
}

void ConnectionCounts::RemoveIp(const IpKey& ip) {
  Shard& shard = ShardOf(ip);
  std::lock_guard<std::mutex> lock(shard.mu);
  auto it = shard.counts.find(ip);
  if (it != shard.counts.end() && --it->second == 0) shard.counts.erase(it);
}

std::atomic<uint64_t>* ConnectionCounts::RouteCounter(const std::string& route) {
  std::lock_guard<std::mutex> lock(routes_mu_);
  auto& counter = routes_[route];
  if (!counter) counter = std::make_unique<std::atomic<uint64_t>>(0);
  return counter.get();
}

namespace {

uint32_t Saturated(uint64_t count) {
  return static_cast<uint32_t>(std::min<uint64_t>(count, UINT32_MAX));
}

}  // namespace

ConnectionSlot::ConnectionSlot(ConnectionCounts* counts, const sockaddr_storage& peer)
    : counts_(counts),
      ip_(IpKeyOf(peer)),
      total_(Saturated(counts->AddTotal())),
      from_ip_(Saturated(counts->AddIp(ip_))),
      ip_counted_(true) {}

ConnectionSlot::ConnectionSlot(ConnectionCounts* counts)
    : counts_(counts), ip_{}, total_(Saturated(counts->AddTotal())) {}

void ConnectionSlot::SetClient(const sockaddr_storage& client, bool count) {
  if (ip_counted_) return;  // known since the constructor
  ip_ = IpKeyOf(client);
  if (count) {
    from_ip_ = Saturated(counts_->AddIp(ip_));
    ip_counted_ = true;
  }
}

ConnectionSlot::~ConnectionSlot() {
  counts_->RemoveTotal();
  if (ip_counted_) counts_->RemoveIp(ip_);
  if (route_) route_->fetch_sub(1, std::memory_order_relaxed);
}

void ConnectionSlot::LeaveRoute() {
  if (route_) route_->fetch_sub(1, std::memory_order_relaxed);
  route_ = nullptr;
}

uint64_t ConnectionSlot::EnterRoute(const std::string& route) {
  LeaveRoute();
  route_ = counts_->RouteCounter(route);
  return route_->fetch_add(1, std::memory_order_relaxed) + 1;
}

}  // namespace imapfront
