// End to end: STARTTLS listeners: what imapfront answers before TLS, what it
// discards, its timeout and its cap.
#include <doctest/doctest.h>

#include <string>

#include "tests/e2e/e2e_fixture.h"
#include "tests/support/harness.h"

namespace imapfront::testing {
namespace {

TEST_CASE("STARTTLS: greeting, capabilities, nothing but CAPABILITY/NOOP/LOGOUT/STARTTLS") {
  E2e t({.starttls = true});
  Socket s = Socket::Connect(t.plain_port);
  std::string got;
  REQUIRE(ReadPlainUntil(s, &got, "\r\n"));
  CHECK(got == kStartTlsGreeting);
  got.clear();
  REQUIRE(
      s.SendAll("a CAPABILITY\r\nb NOOP\r\nc LOGIN user secret\r\nd SELECT INBOX\r\n"
                "e AUTHENTICATE PLAIN\r\nf APPEND INBOX {5}\r\nh X {0}\r\n"
                "i X {3+}\r\nabc\r\n IDLE\r\n AUTHENTICATE PLAIN\r\ng LOGOUT\r\n"));
  REQUIRE(ReadPlainUntil(s, &got, "g OK LOGOUT completed\r\n"));
  CHECK(got ==
        "* CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED\r\na OK CAPABILITY completed\r\n"
        "b OK NOOP completed\r\n"
        "c NO [PRIVACYREQUIRED] Use STARTTLS first\r\n"
        "d BAD Only CAPABILITY, NOOP, LOGOUT and STARTTLS before STARTTLS\r\n"
        "e NO [PRIVACYREQUIRED] Use STARTTLS first\r\n"
        "f BAD Literals are not accepted before STARTTLS\r\n"
        "h BAD Literals are not accepted before STARTTLS\r\n"
        "i BAD Literals are not accepted before STARTTLS\r\n"
        "* BAD Only CAPABILITY, NOOP, LOGOUT and STARTTLS before STARTTLS\r\n"
        "* NO [PRIVACYREQUIRED] Use STARTTLS first\r\n"
        "* BYE Logging out\r\ng OK LOGOUT completed\r\n");
  char buf[16];
  CHECK(s.ReadSome(buf, sizeof(buf), kWait) == 0);
  CHECK(t.backend.connections() == 0);  // no credential, nothing, reached a backend
  auto stats = t.QuietStats();
  CHECK(ClosedCount(stats, "logout") == 1);
}

TEST_CASE("STARTTLS: bytes pipelined after STARTTLS are discarded, never executed") {
  E2e t({.starttls = true});
  Socket s = Socket::Connect(t.plain_port);
  std::string got;
  REQUIRE(ReadPlainUntil(s, &got, kStartTlsGreeting));
  got.clear();
  // The injection: a second command in the same packet as STARTTLS.
  REQUIRE(s.SendAll("a STARTTLS\r\nb LOGIN x y\r\n"));
  REQUIRE(ReadPlainUntil(s, &got, "\r\n"));
  CHECK(got == "a OK Begin TLS negotiation now\r\n");
  TlsClient client(std::move(s), "localhost");
  REQUIRE(client.Handshake());
  REQUIRE(client.Send("c CAPABILITY\r\nd LOGOUT\r\n"));
  CHECK(client.WaitEof());
  // No backend greeting (imapfront greeted already), no answer to "b".
  CHECK(client.received() == "c OK done\r\n* BYE logging out\r\nd OK LOGOUT completed\r\n");
  REQUIRE(t.backend.WaitScriptsDone());
  CHECK(t.backend.received(0) == "c CAPABILITY\r\nd LOGOUT\r\n");
  auto stats = t.QuietStats();
  CHECK(ClosedCount(stats, "logout") == 1);
  CHECK(stats["tls"]["handshakes"] == 1);
}

TEST_CASE("STARTTLS: no STARTTLS within handshake_timeout gets a BYE") {
  E2e t({.config =
             [](Json& config) {
               config["limits"] = {{"handshake_timeout", 0.4}};
             },
         .starttls = true});
  Socket s = Socket::Connect(t.plain_port);
  std::string got;
  REQUIRE(ReadPlainUntil(s, &got, "Autologout; no STARTTLS in time\r\n"));
  CHECK(got == kStartTlsGreeting + "* BYE Autologout; no STARTTLS in time\r\n");
  auto stats = t.QuietStats();
  CHECK(ClosedCount(stats, "handshake_timeout") == 1);
}

TEST_CASE("STARTTLS: over the cap, the greeting is a BYE") {
  E2e t({.config =
             [](Json& config) {
               config["limits"] = {{"max_connections", 1}};
             },
         .starttls = true});
  auto first = t.Greeted();
  Socket s = Socket::Connect(t.plain_port);
  std::string got;
  REQUIRE(ReadPlainUntil(s, &got, "\r\n"));
  CHECK(got == "* BYE [UNAVAILABLE] Too many connections, try again later\r\n");
  first->SendCloseNotify();
  auto stats = t.QuietStats(2);
  CHECK(ClosedCount(stats, "limit") == 1);
}

}  // namespace
}  // namespace imapfront::testing
