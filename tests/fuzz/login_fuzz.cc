// libFuzzer target: the not-authenticated state at the proxy (LoginGate)
// and the backend's LOGIN exchange (BackendLogin) never crash, and give the
// same answers and attempts whether the client's stream comes whole, cut
// where the input says, or one byte at a time.
//
// Input: byte 0 the cut stride; byte 1 picks which machine is fed; the rest
// is the client's (or the backend's) stream.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "imap/backend_login.h"
#include "imap/bytes.h"
#include "imap/login_gate.h"
#include "tls/base64.h"

using namespace imapfront::imap;

namespace {

std::string PlayGate(std::string_view stream, size_t stride) {
  LoginGate gate(
      {.max_line_bytes = 256, .version = "v", .decode_base64 = &imapfront::tls::DecodeBase64});
  std::string out;
  for (size_t from = 0; from < stream.size(); from += stride) {
    std::string_view part = stream.substr(from, stride);
    for (int guard = 0; guard < 100000; ++guard) {
      LoginGate::Result r = gate.Feed(AsBytes(part));
      out += r.answers;
      part.remove_prefix(r.consumed);
      if (r.outcome == LoginGate::Outcome::kAttempt) {
        const LoginAttempt& a = gate.attempt();
        out += "<" + a.tag + "|" + a.user + "|" + a.password + ">";
        gate.EndAttempt();
        continue;
      }
      if (r.outcome != LoginGate::Outcome::kMore) return out + "<END>";
      if (part.empty()) break;
    }
  }
  return out;
}

std::string PlayBackend(std::string_view stream, size_t stride) {
  BackendLogin login("a1", "user", "pass word", 128);
  std::string out = login.output();
  login.OutputSent();
  for (size_t from = 0; from < stream.size(); from += stride) {
    std::string_view part = stream.substr(from, stride);
    const size_t used = login.Feed(AsBytes(part));
    out += login.output();
    login.OutputSent();
    if (login.state() != BackendLogin::State::kWaiting) {
      out += "<" + std::to_string(static_cast<int>(login.state())) + "|" + login.ok_line() + "|" +
             std::string(part.substr(used)) + std::string(stream.substr(from + part.size())) + ">";
      return out;
    }
    if (used != part.size()) std::abort();
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const size_t stride = 1 + data[0] % 23;
  const std::string_view stream(reinterpret_cast<const char*>(data + 2), size - 2);
  if (data[1] & 1) {
    // What is sent depends on the cuts (nothing is sent once the exchange
    // has ended inside a read), so only crashes and the bytes taken count.
    (void)PlayBackend(stream, stride);
    return 0;
  }
  const std::string whole = PlayGate(stream, stream.size() + 1);
  if (PlayGate(stream, stride) != whole) std::abort();
  if (stream.size() <= 512 && PlayGate(stream, 1) != whole) std::abort();
  return 0;
}
