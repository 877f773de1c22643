// libFuzzer target: the response framer must never crash, must pass on every
// byte exactly once and in order (also when the stream ends in a partial
// line), and must give the same events for the same stream whole, cut where
// the input says, or one byte at a time.
//
// Input: byte 0 picks the hold limit, byte 1 the cut stride; the rest is the
// server stream (a CRLF is added at its end).
#include <cstdint>
#include <cstdlib>
#include <string>

#include "tests/support/framer_driver.h"

using namespace imapfront::imap;
using namespace imapfront::imap::testing;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const size_t max_held = (data[0] & 1) ? 16 : 1024;
  const size_t stride = 1 + data[1] % 17;
  // A final CRLF ends any held partial line, so every byte must come out.
  const std::string stream =
      std::string(reinterpret_cast<const char*>(data + 2), size - 2) + "\r\n";

  std::string passed;
  const auto whole = RunResponses({stream}, max_held, &passed);
  if (passed != stream) std::abort();
  std::vector<size_t> cuts;
  for (size_t pos = stride; pos < stream.size(); pos += stride) cuts.push_back(pos);
  if (RunResponses(Split(stream, cuts), max_held, &passed) != whole || passed != stream) {
    std::abort();
  }
  // Without the final CRLF, a stream that ends (Finish) still passes on every
  // byte, a partial last line included.
  const std::string cut_short = stream.substr(0, stream.size() - 2);
  std::vector<size_t> short_cuts;
  for (size_t pos : cuts) {
    if (pos < cut_short.size()) short_cuts.push_back(pos);
  }
  RunResponses(Split(cut_short, short_cuts), max_held, &passed, /*finish=*/true);
  if (passed != cut_short) std::abort();
  if (stream.size() <= 512) {
    std::vector<size_t> every;
    for (size_t pos = 1; pos < stream.size(); ++pos) every.push_back(pos);
    if (RunResponses(Split(stream, every), max_held, &passed) != whole || passed != stream) {
      std::abort();
    }
  }
  return 0;
}
