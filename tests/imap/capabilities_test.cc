// Capability list rewriting.
#include <doctest/doctest.h>

#include <random>
#include <string>
#include <vector>

#include "imap/capabilities.h"
#include "tests/support/framer_driver.h"

namespace imapfront::imap {
namespace {

using namespace testing;

TEST_CASE("capability lists lose STARTTLS, LOGINDISABLED, COMPRESS=*; the rest is byte-exact") {
  const CapabilityEdit strip;
  CHECK(RewriteCapabilities("* CAPABILITY IMAP4rev1 STARTTLS AUTH=PLAIN LOGINDISABLED\r\n", true,
                            strip) == "* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n");
  CHECK(
      RewriteCapabilities("* OK [CAPABILITY IMAP4rev1 starttls COMPRESS=DEFLATE IDLE] Hi there\r\n",
                          false, strip) == "* OK [CAPABILITY IMAP4rev1 IDLE] Hi there\r\n");
  CHECK(RewriteCapabilities("a1 OK [CAPABILITY IMAP4rev1 COMPRESS=DEFLATE] Logged in\r\n", false,
                            strip) == "a1 OK [CAPABILITY IMAP4rev1] Logged in\r\n");
  CHECK_FALSE(RewriteCapabilities("* CAPABILITY IMAP4rev1 IDLE\r\n", true, strip));
  CHECK_FALSE(RewriteCapabilities("a1 OK [READ-WRITE] STARTTLS done\r\n", false, strip));
  CHECK_FALSE(RewriteCapabilities("* OK STARTTLS is great\r\n", false, strip));
  const CapabilityEdit plus{.add_literal_plus = true};
  CHECK(RewriteCapabilities("* CAPABILITY IMAP4rev1 LITERAL- IDLE\r\n", true, plus) ==
        "* CAPABILITY IMAP4rev1 IDLE LITERAL+\r\n");
  CHECK_FALSE(RewriteCapabilities("* CAPABILITY IMAP4rev1 LITERAL+\r\n", true, plus));
  CHECK(RewriteCapabilities("* OK [CAPABILITY IMAP4rev1] ready\r\n", false, plus) ==
        "* OK [CAPABILITY IMAP4rev1 LITERAL+] ready\r\n");
}

}  // namespace
}  // namespace imapfront::imap
