// libFuzzer target: the Conversation between a client stream and the fake
// backend of tests/support/conversation_driver.h must never crash; the same
// stream fed whole or cut gives the backend and the client the same bytes;
// imapfront's own commands, sent at points the input picks, reach the
// backend as whole commands of their own and change nothing else, and
// their answers never reach the client.
//
// Input: byte 0 picks options (emulated LITERAL+, small limits), byte 1 the
// cut stride, byte 2 where own commands are sent; the rest is the client
// stream.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "tests/support/conversation_driver.h"

using namespace imapfront::imap;
using namespace imapfront::imap::testing;

namespace {

std::string WithoutOwn(std::string backend) {
  for (size_t at; (at = backend.find(kOwnPrefix)) != std::string::npos;) {
    backend.erase(at, backend.find("\r\n", at) + 2 - at);
  }
  return backend;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 3) return 0;
  ConversationOptions options;
  options.emulate_literal_plus = data[0] & 1;
  options.max_line_bytes = (data[0] & 2) ? 64 : 1024;
  options.max_literal_bytes = (data[0] & 4) ? 16 : 4096;
  const size_t stride = 1 + data[1] % 17;
  const std::string stream(reinterpret_cast<const char*>(data + 3), size - 3);
  // A client that uses imapfront's tags is out of scope here.
  if (stream.find(kOwnPrefix) != std::string::npos) return 0;

  std::vector<std::string> parts;
  for (size_t pos = 0; pos < stream.size(); pos += stride)
    parts.push_back(stream.substr(pos, stride));
  std::vector<size_t> own;
  for (size_t i = 0; i <= parts.size(); ++i) {
    if ((data[2] >> (i % 8)) & 1) own.push_back(i);
  }

  const auto whole = Play({stream}, {}, options);
  const auto cut = Play(parts, {}, options);
  if (cut->sink.backend != whole->sink.backend || cut->sink.failed != whole->sink.failed) {
    std::abort();
  }
  // What the client saw before a failure depends on when the backend
  // answered; otherwise it is the same, though imapfront's own answers
  // (refusals) may come before or after the backend's answers to earlier
  // pipelined commands, as answers to pipelined commands may.
  if (!whole->sink.failed && SortedLines(cut->sink.client) != SortedLines(whole->sink.client))
    std::abort();
  const auto with_own = Play(parts, own, options);
  if (with_own->backend.own_commands().size() != with_own->sink.own_sent) std::abort();
  if (WithoutOwn(with_own->sink.backend) != whole->sink.backend) std::abort();
  if (with_own->sink.client.find(" OK " + std::string(kOwnDone)) != std::string::npos) std::abort();
  if (with_own->sink.client.find(kOwnUntagged) != std::string::npos) std::abort();
  return 0;
}
