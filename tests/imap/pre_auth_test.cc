// What imapfront answers before STARTTLS: the same answers for every cut of
// the client's bytes, nothing after an accepted STARTTLS.
#include <doctest/doctest.h>

#include <string>

#include "imap/bytes.h"
#include "imap/pre_auth.h"

namespace imapfront::imap {
namespace {

// Feeds |input| cut at |cut|; returns all answers and the last outcome.
StartTlsGate::Result FeedCut(const std::string& input, size_t cut, size_t max_line = 1024) {
  StartTlsGate gate(max_line);
  StartTlsGate::Result total;
  for (std::string_view part :
       {std::string_view(input).substr(0, cut), std::string_view(input).substr(cut)}) {
    if (total.outcome != StartTlsGate::Outcome::kMore) break;
    StartTlsGate::Result r = gate.Feed(AsBytes(part));
    total.answers += r.answers;
    total.commands += r.commands;
    total.outcome = r.outcome;
  }
  return total;
}

TEST_CASE("before STARTTLS: the greeting names the capabilities") {
  CHECK(StartTlsGate::Greeting() ==
        "* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] imapfront ready\r\n");
}

TEST_CASE("before STARTTLS: every command answered, the same at every cut") {
  const std::string input =
      "c1 capability\r\n"
      "c2 NOOP\r\n"
      "c3 LOGIN user pass\r\n"
      "c4 AUTHENTICATE PLAIN\r\n"
      "c5 SELECT INBOX\r\n"
      "c6 APPEND INBOX {3}\r\n"
      "c7 APPEND INBOX {3+}\r\nabc\r\n"
      " NOOP\r\n"
      "c8 STARTTLS\r\n"
      "c9 LOGIN dropped after starttls\r\n";
  const std::string expected =
      "* CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED\r\nc1 OK CAPABILITY completed\r\n"
      "c2 OK NOOP completed\r\n"
      "c3 NO [PRIVACYREQUIRED] Use STARTTLS first\r\n"
      "c4 NO [PRIVACYREQUIRED] Use STARTTLS first\r\n"
      "c5 BAD Only CAPABILITY, NOOP, LOGOUT and STARTTLS before STARTTLS\r\n"
      "c6 BAD Literals are not accepted before STARTTLS\r\n"
      "c7 BAD Literals are not accepted before STARTTLS\r\n"
      "* OK NOOP completed\r\n"
      "c8 OK Begin TLS negotiation now\r\n";
  for (size_t cut = 0; cut <= input.size(); ++cut) {
    CAPTURE(cut);
    StartTlsGate::Result r = FeedCut(input, cut);
    CHECK(r.answers == expected);
    CHECK(r.outcome == StartTlsGate::Outcome::kStartTls);
    CHECK(r.commands == 9);
  }
}

TEST_CASE("before STARTTLS: LOGOUT ends, a long line ends") {
  StartTlsGate::Result r = FeedCut("a LOGOUT\r\nb NOOP\r\n", 3);
  CHECK(r.answers == "* BYE Logging out\r\na OK LOGOUT completed\r\n");
  CHECK(r.outcome == StartTlsGate::Outcome::kLogout);
  r = FeedCut("a NOOP\r\nb " + std::string(100, 'x') + "\r\n", 5, 32);
  CHECK(r.answers == "a OK NOOP completed\r\n");
  CHECK(r.outcome == StartTlsGate::Outcome::kLineTooLong);
}

}  // namespace
}  // namespace imapfront::imap
