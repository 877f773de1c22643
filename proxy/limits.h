// Live connection counts shared by every worker, for the caps of SPEC:
// limits.max_connections (whole process and per route) and
// limits.max_connections_per_ip. A Session holds a ConnectionSlot, so each
// connection is counted from accept to its last close callback, exactly once.
#pragma once

#include <sys/socket.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

namespace imapfront {

// An IPv4 or IPv6 address (IPv4 as v4-mapped IPv6), without the port.
using IpKey = std::array<uint8_t, 16>;
IpKey IpKeyOf(const sockaddr_storage& addr);
// The inverse, with the port: an AF_INET6 address when |v6|, else AF_INET
// (from the key's v4-mapped form).
sockaddr_storage AddressOf(const IpKey& ip, uint16_t port, bool v6);

class ConnectionCounts {
 public:
  // Each returns the count after the change.
  uint64_t AddTotal() { return total_.fetch_add(1, std::memory_order_relaxed) + 1; }
  void RemoveTotal() { total_.fetch_sub(1, std::memory_order_relaxed); }
  uint64_t AddIp(const IpKey& ip);
  void RemoveIp(const IpKey& ip);
  // A counter per route name, created on first use; the pointer stays valid.
  std::atomic<uint64_t>* RouteCounter(const std::string& route);

 private:
  struct KeyHash {
    size_t operator()(const IpKey& k) const;
  };
  struct Shard {
    std::mutex mu;
    std::unordered_map<IpKey, uint32_t, KeyHash> counts;
  };
  Shard& ShardOf(const IpKey& ip) { return shards_[KeyHash{}(ip) % shards_.size()]; }

  std::atomic<uint64_t> total_{0};
  std::array<Shard, 16> shards_;
  std::mutex routes_mu_;
  std::map<std::string, std::unique_ptr<std::atomic<uint64_t>>> routes_;
};

// One connection's place in the counts; releases it when destroyed.
class ConnectionSlot {
 public:
  // Joins the total and |peer|'s address.
  ConnectionSlot(ConnectionCounts* counts, const sockaddr_storage& peer);
  // Joins the total only: the client's address is not known yet (a
  // listener with proxy_protocol reads it from the PROXY header first).
  explicit ConnectionSlot(ConnectionCounts* counts);
  ~ConnectionSlot();
  ConnectionSlot(const ConnectionSlot&) = delete;
  ConnectionSlot& operator=(const ConnectionSlot&) = delete;

  // The counts when this connection joined them.
  uint64_t total() const { return total_; }
  uint64_t from_ip() const { return from_ip_; }
  // The client's address is now known (once, for the second constructor):
  // it joins that address's count when |count| (false for a balancer's own
  // connection, which is never capped).
  void SetClient(const sockaddr_storage& client, bool count);
  // Joins |route|'s count; returns the count after.
  uint64_t EnterRoute(const std::string& route);
  // Leaves the route's count again (a login at the proxy that failed).
  void LeaveRoute();
  const IpKey& ip() const { return ip_; }

 private:
  ConnectionCounts* counts_;
  std::atomic<uint64_t>* route_ = nullptr;
  IpKey ip_;
  // Counts of open connections (each holds a descriptor): 32 bits suffice,
  // and saturate rather than wrap.
  uint32_t total_;
  uint32_t from_ip_ = 0;
  bool ip_counted_ = false;
};

}  // namespace imapfront
