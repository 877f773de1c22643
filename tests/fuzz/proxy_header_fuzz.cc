// libFuzzer target: the PROXY header parser (proxy/net) never crashes,
// never takes a byte past the header's end, and comes to the same outcome
// (state, addresses, bytes taken) whether the stream comes whole, cut where
// the input says, or one byte at a time. What it reads back, the encoders
// write again as a header it reads the same.
//
// Input: byte 0 the cut stride; the rest is the connection's first bytes.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "proxy/net/proxy_header.h"

using imapfront::net::ProxyHeaderParser;

namespace {

struct Outcome {
  ProxyHeaderParser::State state;
  size_t taken;
  std::string source, destination;
  bool has_addresses;
};

Outcome Play(std::string_view stream, size_t stride) {
  ProxyHeaderParser p;
  size_t taken = 0;
  while (taken < stream.size() && p.state() == ProxyHeaderParser::State::kNeedMore) {
    const std::string_view piece = stream.substr(taken, stride);
    const size_t n = p.Feed({reinterpret_cast<const uint8_t*>(piece.data()), piece.size()});
    if (n > piece.size()) std::abort();
    taken += n;
    if (n < piece.size()) break;
  }
  Outcome o{p.state(), taken, "", "", p.has_addresses()};
  if (p.state() == ProxyHeaderParser::State::kDone && p.has_addresses()) {
    o.source = imapfront::net::EndpointText(p.source());
    o.destination = imapfront::net::EndpointText(p.destination());
    if (p.version() == 1 && taken > ProxyHeaderParser::kMaxV1Bytes) std::abort();
  }
  if (p.state() == ProxyHeaderParser::State::kInvalid && p.error().empty()) std::abort();
  return o;
}

bool Same(const Outcome& a, const Outcome& b) {
  // An invalid stream is found invalid at the same byte or later, never valid.
  if (a.state != b.state) return false;
  if (a.state == ProxyHeaderParser::State::kInvalid) return true;
  return a.taken == b.taken && a.source == b.source && a.destination == b.destination &&
         a.has_addresses == b.has_addresses;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const size_t stride = 1 + data[0] % 64;
  const std::string_view stream(reinterpret_cast<const char*>(data + 1), size - 1);
  const Outcome whole = Play(stream, stream.size() ? stream.size() : 1);
  if (!Same(whole, Play(stream, stride)) || !Same(whole, Play(stream, 1))) std::abort();
  if (whole.state == ProxyHeaderParser::State::kDone && whole.has_addresses) {
    ProxyHeaderParser p;
    p.Feed({reinterpret_cast<const uint8_t*>(stream.data()), stream.size()});
    for (const std::string& h : {imapfront::net::ProxyV1Header(p.source(), p.destination()),
                                 imapfront::net::ProxyV2Header(p.source(), p.destination())}) {
      ProxyHeaderParser again;
      if (again.Feed({reinterpret_cast<const uint8_t*>(h.data()), h.size()}) != h.size() ||
          again.state() != ProxyHeaderParser::State::kDone || !again.has_addresses()) {
        std::abort();
      }
    }
  }
  return 0;
}
