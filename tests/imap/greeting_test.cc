#include <doctest/doctest.h>

#include <string>

#include "imap/greeting.h"

namespace imapfront::imap {
namespace {

std::span<const uint8_t> Bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

using Kind = GreetingScanner::Kind;

Kind Scan(const std::string& stream, size_t cut, size_t* consumed) {
  GreetingScanner g(1024);
  *consumed = g.Feed(Bytes(stream.substr(0, cut)));
  if (!g.done()) *consumed += g.Feed(Bytes(stream.substr(cut)));
  return g.kind();
}

TEST_CASE("greeting kinds, at every cut, and the bytes after it are left alone") {
  struct Case {
    std::string greeting;
    Kind kind;
  };
  for (const Case& c :
       {Case{"* OK [CAPABILITY IMAP4rev1] ready\r\n", Kind::kOk}, Case{"* ok ready\r\n", Kind::kOk},
        Case{"* PREAUTH logged in\r\n", Kind::kPreauth}, Case{"* BYE too busy\r\n", Kind::kBye},
        Case{"* OK\r\n", Kind::kOk}, Case{"HTTP/1.1 400 Bad\r\n", Kind::kInvalid},
        Case{"* OKAY\r\n", Kind::kInvalid}, Case{"+ go\r\n", Kind::kInvalid}}) {
    const std::string stream = c.greeting + "* 1 EXISTS\r\n";
    for (size_t cut = 0; cut <= stream.size(); ++cut) {
      size_t consumed = 0;
      CHECK(Scan(stream, cut, &consumed) == c.kind);
      CHECK(consumed == c.greeting.size());
    }
  }
}

TEST_CASE("an endless first line is invalid once past the limit") {
  GreetingScanner g(100);
  std::string chunk(60, 'x');
  CHECK(g.Feed(Bytes("* OK " + chunk)) == 65);
  CHECK(!g.done());
  g.Feed(Bytes(chunk));
  CHECK(g.kind() == Kind::kInvalid);
}

TEST_CASE("an incomplete greeting stays incomplete") {
  GreetingScanner g(100);
  CHECK(g.Feed(Bytes("* OK hel")) == 8);
  CHECK(g.kind() == Kind::kIncomplete);
}

}  // namespace
}  // namespace imapfront::imap
