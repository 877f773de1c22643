// The PROXY protocol header (HAProxy's specification, versions 1 and 2):
// a pure parser that is fed any cut of a connection's first bytes and
// stops exactly at the header's end, and the encoders for the headers
// imapfront sends its backends.
//
// Why here and not in imap/: the header is no IMAP; it is the network
// edge's, in front of TLS. proxy/net/ holds such codecs, pure as imap/ is
// (no libuv, no sockets, no clocks), so they are fuzzed and unit tested
// alone; proxy/ carries them out on sockets.
#pragma once

#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace imapfront::net {

class ProxyHeaderParser {
 public:
  enum class State {
    kNeedMore,  // feed more bytes
    kDone,      // the header ended; see source()/destination()/has_addresses()
    kInvalid,   // not a PROXY header, or a malformed one; see error()
  };

  // v1 lines are at most 107 bytes, CRLF included.
  static constexpr size_t kMaxV1Bytes = 107;

  // Takes bytes until the header ends (or is found invalid); returns how
  // many were taken. Whatever follows the header is not taken.
  size_t Feed(std::span<const uint8_t> bytes);
  State state() const { return state_; }
  const std::string& error() const { return error_; }

  // kDone: |has_addresses| is false for a v2 LOCAL header (a balancer's own
  // health check), v1 UNKNOWN and a v2 PROXY of anything but TCP over IPv4
  // or IPv6 (UNSPEC, UDP, UNIX): the connection's own addresses stand. Otherwise the client's
  // (source) and the address it connected to (destination), TCP over IPv4 or IPv6.
  bool has_addresses() const { return has_addresses_; }
  const sockaddr_storage& source() const { return source_; }
  const sockaddr_storage& destination() const { return destination_; }
  int version() const { return version_; }

 private:
  size_t FeedV1(std::span<const uint8_t> bytes);
  size_t FeedV2(std::span<const uint8_t> bytes);
  void ParseV1Line();
  void ParseV2Addresses();
  void Fail(std::string why);

  State state_ = State::kNeedMore;
  int version_ = 0;  // 0: not known yet
  std::string error_;
  // The bytes kept: the v1 line, or v2's fixed part and address block
  // (at most 16 + 36); the TLVs after them are only counted.
  std::string kept_;
  size_t v2_length_ = 0;  // the v2 length field: bytes after the fixed 16
  size_t v2_seen_ = 0;    // of those, taken so far
  bool has_addresses_ = false;
  sockaddr_storage source_{};
  sockaddr_storage destination_{};
};

// Headers for a backend connection: the client's address as the source,
// the address it reached imapfront on as the destination. Both AF_INET or
// AF_INET6; when the families differ, IPv4 is written v4-mapped as TCP6.
std::string ProxyV1Header(const sockaddr_storage& source, const sockaddr_storage& destination);
std::string ProxyV2Header(const sockaddr_storage& source, const sockaddr_storage& destination);

// "1.2.3.4" / "2001:db8::1" and the port, for logs and the ID command.
std::string AddressText(const sockaddr_storage& address);
uint16_t PortOf(const sockaddr_storage& address);
// "1.2.3.4:993" / "[2001:db8::1]:993".
std::string EndpointText(const sockaddr_storage& address);

}  // namespace imapfront::net
