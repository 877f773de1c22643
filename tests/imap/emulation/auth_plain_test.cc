// AUTHENTICATE PLAIN to LOGIN: the PLAIN message and LOGIN's spelling.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "imap/emulation/auth_plain.h"

namespace imapfront::imap {
namespace {

using namespace std::string_literals;

TEST_CASE("auth_plain: the PLAIN message has exactly two NULs and a user") {
  auto c = ParsePlainMessage("\0user\0pass"s);
  REQUIRE(c);
  CHECK(c->authzid.empty());
  CHECK(c->user == "user");
  CHECK(c->password == "pass");
  c = ParsePlainMessage("admin\0user\0"s);
  REQUIRE(c);
  CHECK(c->authzid == "admin");
  CHECK(c->password.empty());
  CHECK_FALSE(ParsePlainMessage("userpass"));
  CHECK_FALSE(ParsePlainMessage("\0user"s));
  CHECK_FALSE(ParsePlainMessage("\0\0pass"s));
  CHECK_FALSE(ParsePlainMessage("\0user\0pa\0ss"s));
  CHECK_FALSE(ParsePlainMessage(""));
}

TEST_CASE("auth_plain: LOGIN quotes printable ASCII, literals for the rest") {
  CHECK(LoginCommand("a1", "user", "p a s s") ==
        std::vector<std::string>{"a1 LOGIN \"user\" \"p a s s\"\r\n"});
  CHECK(LoginCommand("a1", "us\"er", "pass") ==
        std::vector<std::string>{"a1 LOGIN {5}\r\n", "us\"er \"pass\"\r\n"});
  CHECK(LoginCommand("a1", "user", "back\\slash") ==
        std::vector<std::string>{"a1 LOGIN \"user\" {10}\r\n", "back\\slash\r\n"});
  CHECK(LoginCommand("t", "\xc3\xa9", "\x01") ==
        std::vector<std::string>{"t LOGIN {2}\r\n", "\xc3\xa9 {1}\r\n", "\x01\r\n"});
  CHECK(LoginCommand("t", "u", "") == std::vector<std::string>{"t LOGIN \"u\" \"\"\r\n"});
}

}  // namespace
}  // namespace imapfront::imap
