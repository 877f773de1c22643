// libFuzzer target: routes[].compat in the Conversation, against the legacy
// backend of tests/support/compat_driver.h (BAD to anything it did not
// advertise). For any client stream: no crash; the stream fed whole or cut
// (with the poll timer firing at every cut) gives the client the same bytes
// and the backend the same bytes apart from imapfront's own commands; the
// backend never receives IDLE, UNSELECT or ID, imapfront's own commands
// always arrive as whole commands, and no literal data goes before its "+".
//
// Input: byte 0 picks options (pipelining off, a greeting with a CAPABILITY
// code, polls), byte 1 the cut stride; the rest is the client stream.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "tests/support/compat_driver.h"

using namespace imapfront::imap;
using namespace imapfront::imap::testing;

namespace {

std::string WithoutOwn(const std::string& stream) {
  std::string out;
  size_t pos = 0;
  while (pos < stream.size()) {
    size_t end = stream.find('\n', pos);  // a client line may end in a bare LF
    end = end == std::string::npos ? stream.size() : end + 1;
    if (stream.compare(pos, kOwnPrefix.size(), kOwnPrefix) != 0) out.append(stream, pos, end - pos);
    pos = end;
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  CompatOptions compat;
  compat.emulate_idle = compat.emulate_unselect = compat.local_id = compat.emulate_auth_plain =
      true;
  compat.special_use = {{"Sent", "\\Sent"}, {"INBOX", "\\Important"}};
  compat.pipelining = !(data[0] & 1);
  const std::string greeting =
      (data[0] & 2) ? "* OK [CAPABILITY IMAP4rev1 LITERAL+] ready\r\n" : "* OK legacy ready\r\n";
  const bool polls = data[0] & 4;
  const size_t stride = 1 + data[1] % 17;
  const std::string stream(reinterpret_cast<const char*>(data + 2), size - 2);
  // A client that uses imapfront's tags is out of scope here.
  if (stream.find(kOwnPrefix) != std::string::npos) return 0;

  std::vector<std::string> parts;
  for (size_t pos = 0; pos < stream.size(); pos += stride)
    parts.push_back(stream.substr(pos, stride));
  auto whole = PlayCompat({stream}, compat, greeting, polls);
  auto cut = PlayCompat(parts, compat, greeting, polls);
  // Emulated commands are answered in order at any cut; imapfront's other
  // answers (a literal over the limit, STARTTLS inside TLS) go out as soon
  // as they can, so with those only the same lines are asked for.
  const std::string& client = whole->sink.client;
  const bool unordered = client.find("[TOOBIG]") != std::string::npos ||
                         client.find(" is not available here") != std::string::npos;
  if (unordered ? SortedLines(client) != SortedLines(cut->sink.client)
                : client != cut->sink.client) {
    std::abort();
  }
  if (WithoutOwn(whole->backend_seen) != WithoutOwn(cut->backend_seen)) std::abort();
  for (const auto* run : {whole.get(), cut.get()}) {
    for (const std::string& v : run->backend.violations) {
      if (v == "data before +" || v.starts_with(kOwnPrefix)) std::abort();
    }
    for (const std::string& name : run->backend.violation_names) {
      if (name == "IDLE" || name == "UNSELECT" || name == "ID") std::abort();
    }
  }
  return 0;
}
