// Framer throughput: prints MB/s for large transcripts fed in 64 KiB chunks,
// each next to a memcpy of the same bytes in the same run (memory speed).
// Literal data is only counted, so it should run near memcpy speed; command
// and response lines should run at hundreds of MB/s or better.
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "imap/command_framer.h"
#include "imap/response_framer.h"

namespace {

using namespace imapfront::imap;
using Clock = std::chrono::steady_clock;
constexpr size_t kChunk = 65536;

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

std::span<const uint8_t> Bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

double MemcpySeconds(const std::string& stream) {
  std::vector<uint8_t> sink(kChunk);
  auto t = Clock::now();
  for (size_t off = 0; off < stream.size(); off += kChunk) {
    size_t n = std::min(kChunk, stream.size() - off);
    std::memcpy(sink.data(), stream.data() + off, n);
    asm volatile("" : : "r"(sink.data()) : "memory");
  }
  return Seconds(t);
}

double CommandSeconds(const std::string& stream, uint64_t* events) {
  CommandFramer framer({.max_literal_bytes = 1ull << 40});
  auto t = Clock::now();
  for (size_t off = 0; off < stream.size(); off += kChunk) {
    auto input = Bytes(stream).subspan(off, std::min(kChunk, stream.size() - off));
    while (!input.empty()) {
      CommandStep step = framer.Next(input);
      input = input.subspan(step.consumed);
      if (step.kind == CommandStep::Kind::kLine && step.command_end) {
        framer.OnServerTagged(framer.tag());
      }
      ++*events;
    }
  }
  return Seconds(t);
}

struct CountingVisitor : ResponseVisitor {
  uint64_t bytes = 0, lines = 0;
  void OnResponseBytes(std::span<const uint8_t> b) override { bytes += b.size(); }
  void OnResponseLine(const ResponseLine& l) override { bytes += l.bytes.size(), ++lines; }
};

double ResponseSeconds(const std::string& stream, uint64_t* lines) {
  ResponseFramer framer(65536);
  CountingVisitor v;
  auto t = Clock::now();
  for (size_t off = 0; off < stream.size(); off += kChunk) {
    framer.Feed(Bytes(stream).subspan(off, std::min(kChunk, stream.size() - off)), v);
  }
  *lines = v.lines;
  return Seconds(t);
}

std::string Repeat(const std::string& unit, size_t total) {
  std::string s;
  s.reserve(total + unit.size());
  while (s.size() < total) s += unit;
  return s;
}

void Report(const char* what, const std::string& stream, double seconds, double memcpy_seconds) {
  const double mb = static_cast<double>(stream.size()) / 1e6;
  std::printf("%-44s %9.0f MB/s   memcpy %9.0f MB/s   ratio %.2f\n", what, mb / seconds,
              mb / memcpy_seconds, memcpy_seconds / seconds);
}

}  // namespace

int main() {
  const std::string literal(16u << 20, 'x');
  const std::string appends = Repeat(
      "a1 APPEND INBOX (\\Seen) {" + std::to_string(literal.size()) + "+}\r\n" + literal + "\r\n",
      128u << 20);
  const std::string commands = Repeat("a00001 UID FETCH 1:* (FLAGS INTERNALDATE)\r\n", 64u << 20);
  const std::string body(65536, 'y');
  const std::string fetches =
      Repeat("* 1 FETCH (UID 7 BODY[] {" + std::to_string(body.size()) + "}\r\n" + body + ")\r\n",
             128u << 20);
  const std::string short_responses =
      Repeat("* 12345 FETCH (UID 12345 FLAGS (\\Seen \\Answered))\r\n", 64u << 20);
  const std::string tagged = Repeat("a00001 OK [READ-WRITE] SELECT completed\r\n", 64u << 20);

  std::printf("imapfront framer benchmark (64 KiB feeds)\n");
  uint64_t n = 0;
  Report("commands: APPEND with 16 MiB literals", appends, CommandSeconds(appends, &n),
         MemcpySeconds(appends));
  Report("commands: short command lines", commands, CommandSeconds(commands, &n),
         MemcpySeconds(commands));
  Report("responses: FETCH with 64 KiB literals", fetches, ResponseSeconds(fetches, &n),
         MemcpySeconds(fetches));
  Report("responses: short untagged FETCH lines", short_responses,
         ResponseSeconds(short_responses, &n), MemcpySeconds(short_responses));
  Report("responses: tagged status lines (held)", tagged, ResponseSeconds(tagged, &n),
         MemcpySeconds(tagged));
  return 0;
}
