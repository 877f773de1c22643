// The one SNI matcher: exact names and "*." wildcards, ASCII case only.
#include <doctest/doctest.h>

#include "tls/server_name.h"

namespace imapfront::tls {
namespace {

TEST_CASE("server name: ASCII case folds, nothing else does") {
  CHECK(EqualsIgnoreAsciiCase("MAIL.Example.COM", "mail.example.com"));
  CHECK(EqualsIgnoreAsciiCase("", ""));
  CHECK_FALSE(EqualsIgnoreAsciiCase("mail", "mail."));
  // x | 0x20 would equate these: "@" (0x40) and "`" (0x60), "[" and "{",
  // "]" and "}", "^" and "~", "\\" and "|", "_" and DEL.
  CHECK_FALSE(EqualsIgnoreAsciiCase("@", "`"));
  CHECK_FALSE(EqualsIgnoreAsciiCase("a[b", "a{b"));
  CHECK_FALSE(EqualsIgnoreAsciiCase("]^\\_", "}~|\x7f"));
  // Bytes above ASCII compare as they are.
  CHECK_FALSE(EqualsIgnoreAsciiCase("\xc4", "\xe4"));
  CHECK(EqualsIgnoreAsciiCase("\xc4", "\xc4"));
}

TEST_CASE("server name: exact patterns") {
  CHECK(ServerNameMatches("mail.example.com", "mail.example.com"));
  CHECK(ServerNameMatches("mail.example.com", "MAIL.example.COM"));
  CHECK_FALSE(ServerNameMatches("mail.example.com", "imap.example.com"));
  CHECK_FALSE(ServerNameMatches("mail.example.com", "a.mail.example.com"));
  CHECK_FALSE(ServerNameMatches("mail.example.com", ""));
  CHECK_FALSE(ServerNameMatches("m@il.example", "m`il.example"));
}

TEST_CASE("server name: a wildcard matches exactly one label") {
  CHECK(IsWildcardPattern("*.example.org"));
  CHECK_FALSE(IsWildcardPattern("mail.example.org"));
  CHECK(ServerNameMatches("*.example.org", "imap.example.org"));
  CHECK(ServerNameMatches("*.example.org", "IMAP.Example.Org"));
  CHECK_FALSE(ServerNameMatches("*.example.org", "example.org"));
  CHECK_FALSE(ServerNameMatches("*.example.org", ".example.org"));
  CHECK_FALSE(ServerNameMatches("*.example.org", "a.b.example.org"));
  CHECK_FALSE(ServerNameMatches("*.example.org", "imap.example.net"));
  CHECK_FALSE(ServerNameMatches("*.example.org", "imapexample.org"));
  CHECK_FALSE(ServerNameMatches("*.ex@mple.org", "a.ex`mple.org"));
  // Only a leading "*." is a wildcard; elsewhere "*" is an ordinary byte.
  CHECK_FALSE(ServerNameMatches("mail.*.org", "mail.example.org"));
  CHECK(ServerNameMatches("mail.*.org", "mail.*.org"));
}

}  // namespace
}  // namespace imapfront::tls
