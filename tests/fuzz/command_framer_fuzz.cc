// libFuzzer target: the command framer must never crash, and feeding the
// same stream whole, cut where the input says, or one byte at a time must
// give the same events and the same bytes for the server.
//
// Input: byte 0 picks options (emulated LITERAL+, small limits), byte 1 the
// cut stride; the server's answers ('+' or tagged) come from byte 2's bits;
// the rest is the client stream.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "tests/support/framer_driver.h"

using namespace imapfront::imap;
using namespace imapfront::imap::testing;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 3) return 0;
  CommandFramerOptions options;
  options.emulate_literal_plus = data[0] & 1;
  options.max_line_bytes = (data[0] & 2) ? 64 : 1024;
  options.max_literal_bytes = (data[0] & 4) ? 16 : 4096;
  const size_t stride = 1 + data[1] % 17;
  std::string server;
  for (int i = 0; i < 64; ++i) server += ((data[2] >> (i % 8)) & 1) ? '+' : 'T';
  const std::string stream(reinterpret_cast<const char*>(data + 3), size - 3);

  const CommandRun whole = RunCommands({stream}, options, server);
  std::vector<size_t> cuts;
  for (size_t pos = stride; pos < stream.size(); pos += stride) cuts.push_back(pos);
  const CommandRun strided = RunCommands(Split(stream, cuts), options, server);
  if (strided.events != whole.events || strided.forwarded != whole.forwarded) std::abort();
  if (stream.size() <= 512) {
    std::vector<size_t> every;
    for (size_t pos = 1; pos < stream.size(); ++pos) every.push_back(pos);
    const CommandRun bytes = RunCommands(Split(stream, every), options, server);
    if (bytes.events != whole.events || bytes.forwarded != whole.forwarded) std::abort();
  }
  return 0;
}
