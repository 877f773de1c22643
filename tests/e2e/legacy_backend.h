// A scripted legacy IMAP server for the routes[].compat tests: an
// Exchange-2003-like capability list, IMAP4rev1 commands only, BAD to
// anything it does not advertise (IDLE, UNSELECT, ID, AUTHENTICATE, CLOSE,
// DONE). Like every scripted backend it records each byte it receives.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "tests/support/harness.h"

namespace imapfront::testing {

struct LegacyScript {
  std::string greeting = "* OK Microsoft Exchange Server 2003 IMAP4rev1 server ready\r\n";
  std::string capabilities =
      "IMAP4 IMAP4rev1 LOGIN-REFERRALS MAILBOX-REFERRALS NAMESPACE LITERAL+ UIDPLUS CHILDREN";
  // What imapfront's n-th NOOP is answered with before its tagged OK.
  std::vector<std::string> poll_untagged;
  // Time between that untagged part and the tagged OK of a NOOP of imapfront's.
  Duration poll_delay = Duration(0);
  // Before each answer: a client that pipelined sends its next command meanwhile.
  Duration answer_delay = Duration(0);
  // The answer to the SELECT of a mailbox that cannot exist.
  std::string no_such_mailbox = "NO Mailbox does not exist";
  // Commands that began before the previous one was answered, over all connections.
  std::shared_ptr<std::atomic<int>> pipelined = std::make_shared<std::atomic<int>>(0);
};

ScriptedBackend::Script LegacyImap(LegacyScript script = {});

// The capability list the legacy server advertises, as a client sees it
// through a route with "capabilities.remove" of the two referral names,
// "capabilities.add" of X-Imapfront and every emulation on.
inline const std::string kLegacyClientList =
    "IMAP4 IMAP4rev1 NAMESPACE LITERAL+ UIDPLUS CHILDREN IDLE UNSELECT ID AUTH=PLAIN SASL-IR "
    "SPECIAL-USE X-Imapfront";

}  // namespace imapfront::testing
