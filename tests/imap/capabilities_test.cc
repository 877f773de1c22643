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
  CapabilityEdit plus;
  plus.add_literal_plus = true;
  CHECK(RewriteCapabilities("* CAPABILITY IMAP4rev1 LITERAL- IDLE\r\n", true, plus) ==
        "* CAPABILITY IMAP4rev1 IDLE LITERAL+\r\n");
  CHECK_FALSE(RewriteCapabilities("* CAPABILITY IMAP4rev1 LITERAL+\r\n", true, plus));
  CHECK(RewriteCapabilities("* OK [CAPABILITY IMAP4rev1] ready\r\n", false, plus) ==
        "* OK [CAPABILITY IMAP4rev1 LITERAL+] ready\r\n");
}

TEST_CASE("capability lists: compat's remove and add, case-insensitive, never twice") {
  CapabilityEdit edit;
  edit.remove = {"mailbox-referrals", "LOGIN-REFERRALS"};
  edit.add = {"IDLE", "X-TEST", "auth=plain"};
  CHECK(
      RewriteCapabilities("* CAPABILITY IMAP4rev1 MAILBOX-REFERRALS login-referrals AUTH=PLAIN\r\n",
                          true, edit) == "* CAPABILITY IMAP4rev1 AUTH=PLAIN IDLE X-TEST\r\n");
  CHECK(RewriteCapabilities("a1 OK [CAPABILITY IMAP4rev1 idle] Logged in\r\n", false, edit) ==
        "a1 OK [CAPABILITY IMAP4rev1 idle X-TEST auth=plain] Logged in\r\n");
  CHECK(CapabilityList("* OK [CAPABILITY IMAP4rev1 IDLE] hi\r\n", false) ==
        std::vector<std::string>{"IMAP4rev1", "IDLE"});
  CHECK_FALSE(CapabilityList("* OK hi\r\n", false));
  CHECK(HasCapability({"IMAP4rev1", "idle"}, "IDLE"));
}

TEST_CASE("capability lists: a greeting without a code gets one") {
  CHECK(WithCapabilityCode("* OK Exchange ready\r\n", "IMAP4rev1 IDLE") ==
        "* OK [CAPABILITY IMAP4rev1 IDLE] Exchange ready\r\n");
  CHECK(WithCapabilityCode("* PREAUTH\r\n", "IMAP4rev1") ==
        "* PREAUTH [CAPABILITY IMAP4rev1] ready\r\n");
  CHECK_FALSE(WithCapabilityCode("* OK [ALERT] down at noon\r\n", "IMAP4rev1"));
}

}  // namespace
}  // namespace imapfront::imap
