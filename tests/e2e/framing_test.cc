// End to end: IMAP framing through TLS: binary and refused literals, size
// limits, continuations, emulated LITERAL+, commands only imapfront answers.
#include <doctest/doctest.h>

#include <atomic>
#include <string>

#include "tests/e2e/e2e_fixture.h"
#include "tests/support/harness.h"

namespace imapfront::testing {
namespace {

TEST_CASE("binary literal with NUL and CRLF, multi-append, IMAP counters") {
  E2e t;
  auto client = t.Greeted();
  const std::string binary("\0\r\n\xff", 4);
  REQUIRE(client->Send("a1 APPEND INBOX ~{4}\r\n"));
  REQUIRE(client->ReadUntil("+ Ready"));
  REQUIRE(client->Send({binary, "\r\n"}, TlsClient::Cut::kSendPerRecord));
  REQUIRE(client->ReadUntil("a1 OK done\r\n"));
  REQUIRE(client->Send("a2 APPEND INBOX {3+}\r\nxyz (\\Seen) {2}\r\n"));
  REQUIRE(client->ReadUntil("a1 OK done\r\n+ Ready"));
  REQUIRE(client->Send({"q", "q\r", "\na3 LOGOUT\r\n"}, TlsClient::Cut::kSendPerByte));
  CHECK(client->WaitEof());
  REQUIRE(t.backend.WaitScriptsDone());
  CHECK(t.backend.received(0) ==
        "a1 APPEND INBOX ~{4}\r\n" + binary +
            "\r\na2 APPEND INBOX {3+}\r\nxyz (\\Seen) {2}\r\nqq\r\na3 LOGOUT\r\n");
  auto stats = t.QuietStats();
  CHECK(stats["imap"]["commands"] == 3);
  CHECK(stats["imap"]["appends"] == 2);
  CHECK(stats["imap"]["literal_bytes"] == 4 + 3 + 2);
  CHECK(ClosedCount(stats, "logout") == 1);
}

TEST_CASE("AUTHENTICATE and IDLE continuations, capabilities stripped everywhere") {
  E2e t([](BackendConnection& c) {
    c.Send("* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED AUTH=PLAIN] ready\r\n");
    if (!c.ReadUntil("a1 AUTHENTICATE PLAIN\r\n")) return;
    c.Send("+ \r\n");
    if (!c.ReadUntil("AHVzZXIAcGFzcw==\r\n")) return;
    c.Send("a1 OK [CAPABILITY IMAP4rev1 IDLE COMPRESS=DEFLATE] Logged in\r\n");
    if (!c.ReadUntil("a2 CAPABILITY\r\n")) return;
    c.Send("* CAPABILITY IMAP4rev1 STARTTLS IDLE\r\na2 OK done\r\n");
    if (!c.ReadUntil("a3 IDLE\r\n")) return;
    c.Send("+ idling\r\n* 4 EXISTS\r\n");
    if (!c.ReadUntil("DONE\r\n")) return;
    c.Send("a3 OK IDLE terminated\r\n");
    if (!c.ReadUntil("a4 LOGOUT\r\n")) return;
    c.Send("* BYE\r\na4 OK bye\r\n");
    c.socket().Close();
  });
  auto client = t.Handshaken();
  REQUIRE(client->Send("a1 AUTHENTICATE PLAIN\r\n"));
  REQUIRE(client->ReadUntil("+ \r\n"));
  REQUIRE(client->Send("AHVzZXIAcGFzcw==\r\n"));
  REQUIRE(client->ReadUntil("Logged in\r\n"));
  REQUIRE(client->Send("a2 CAPABILITY\r\n"));
  REQUIRE(client->ReadUntil("a2 OK done\r\n"));
  REQUIRE(client->Send("a3 IDLE\r\n"));
  REQUIRE(client->ReadUntil("* 4 EXISTS\r\n"));
  REQUIRE(client->Send({"DONE\r\n", "a4 LOGOUT\r\n"}, TlsClient::Cut::kOneSend));
  CHECK(client->WaitEof());
  CHECK(client->received() ==
        "* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] ready\r\n"
        "+ \r\n"
        "a1 OK [CAPABILITY IMAP4rev1 IDLE] Logged in\r\n"
        "* CAPABILITY IMAP4rev1 IDLE\r\na2 OK done\r\n"
        "+ idling\r\n* 4 EXISTS\r\na3 OK IDLE terminated\r\n"
        "* BYE\r\na4 OK bye\r\n");
  REQUIRE(t.backend.WaitScriptsDone());
  CHECK(t.backend.received(0) ==
        "a1 AUTHENTICATE PLAIN\r\nAHVzZXIAcGFzcw==\r\na2 CAPABILITY\r\na3 IDLE\r\nDONE\r\na4 "
        "LOGOUT\r\n");
  auto stats = t.QuietStats();
  CHECK(stats["imap"]["commands"] == 4);
}

TEST_CASE("a synchronizing literal the backend refuses: cancelled, the next command works") {
  E2e t([](BackendConnection& c) {
    c.Send(kGreeting);
    if (!c.ReadUntil("a1 APPEND INBOX {5}\r\n")) return;
    c.Send("a1 NO [OVERQUOTA] mailbox full\r\n");
    if (!c.ReadUntil("a2 NOOP\r\n")) return;
    c.Send("a2 OK done\r\n");
    c.WaitEof();
  });
  auto client = t.Handshaken();
  REQUIRE(client->Send("a1 APPEND INBOX {5}\r\n"));
  REQUIRE(client->ReadUntil("a1 NO"));
  REQUIRE(client->Send("a2 NOOP\r\n"));
  REQUIRE(client->ReadUntil("a2 OK done\r\n"));
  client->SendCloseNotify();
  REQUIRE(t.backend.WaitScriptsDone());
  CHECK(t.backend.received(0) == "a1 APPEND INBOX {5}\r\na2 NOOP\r\n");
  CHECK(client->received() == kGreeting + "a1 NO [OVERQUOTA] mailbox full\r\na2 OK done\r\n");
}

TEST_CASE("literals over max_literal_bytes: {n} gets NO [TOOBIG], {n+} is discarded with BAD") {
  E2e t([](Json& config) { config["limits"] = {{"max_literal_bytes", 1000}}; });
  auto client = t.Greeted();
  REQUIRE(client->Send("a1 APPEND INBOX {5000}\r\n"));
  REQUIRE(client->ReadUntil("a1 NO [TOOBIG] Literal too large\r\n"));
  REQUIRE(client->Send({"a2 APPEND INBOX {5000+}\r\n", std::string(5000, 'x'), "\r\n"},
                       TlsClient::Cut::kSendPerRecord));
  REQUIRE(client->ReadUntil("a2 BAD [TOOBIG] Literal too large\r\n"));
  REQUIRE(client->Send("a3 APPEND INBOX {1000}\r\n"));  // at the limit: allowed
  REQUIRE(client->ReadUntil("+ Ready"));
  REQUIRE(client->Send(std::string(1000, 'y') + "\r\na4 LOGOUT\r\n"));
  CHECK(client->WaitEof());
  CHECK(client->received() == kGreeting +
                                  "a1 NO [TOOBIG] Literal too large\r\n"
                                  "a2 BAD [TOOBIG] Literal too large\r\n"
                                  "+ Ready for literal data\r\na3 OK done\r\n"
                                  "* BYE logging out\r\na4 OK LOGOUT completed\r\n");
  REQUIRE(t.backend.WaitScriptsDone());
  CHECK(t.backend.received(0) ==
        "a3 APPEND INBOX {1000}\r\n" + std::string(1000, 'y') + "\r\na4 LOGOUT\r\n");
  auto stats = t.QuietStats();
  CHECK(ClosedCount(stats, "logout") == 1);
}

TEST_CASE(
    "a line over max_line_bytes: BYE, close, protocol_error, nothing of it reaches the backend") {
  E2e t([](Json& config) { config["limits"] = {{"max_line_bytes", 1024}}; });
  auto client = t.Greeted();
  REQUIRE(client->Send("a1 NOOP\r\n"));
  REQUIRE(client->ReadUntil("a1 OK done\r\n"));
  REQUIRE(client->Send("a2 SEARCH " + std::string(3000, '1') + "\r\n"));
  CHECK(client->WaitEof());
  CHECK(client->received() == kGreeting + "a1 OK done\r\n* BYE Line too long\r\n");
  REQUIRE(t.backend.WaitScriptsDone());
  CHECK(t.backend.received(0) == "a1 NOOP\r\n");
  auto stats = t.QuietStats();
  CHECK(ClosedCount(stats, "protocol_error") == 1);
}

TEST_CASE("emulated LITERAL+: {n+} becomes {n}, imapfront waits for '+', refusals discard") {
  std::atomic<bool> data_before_plus{false};
  E2e t(
      [&](BackendConnection& c) {
        c.Send("* OK [CAPABILITY IMAP4rev1 LITERAL-] old server\r\n");
        if (!c.ReadUntil("a1 APPEND INBOX {5}\r\n")) return;
        std::this_thread::sleep_for(200ms);
        data_before_plus = c.received() != "a1 APPEND INBOX {5}\r\n";
        c.Send("+ go ahead\r\n");
        if (!c.ReadUntil("hello\r\n")) return;
        c.Send("a1 OK [APPENDUID 1 1] done\r\n");
        if (!c.ReadUntil("a2 APPEND INBOX {3}\r\n")) return;
        c.Send("a2 NO [OVERQUOTA] full\r\n");
        if (!c.ReadUntil("a3 NOOP\r\n")) return;
        c.Send("a3 OK done\r\n");
        c.WaitEof();
      },
      [](Json& config) { config["routes"][0]["literal_plus"] = "emulate"; });
  auto client = t.Handshaken();
  REQUIRE(client->ReadUntil("old server\r\n"));
  CHECK(client->received() == "* OK [CAPABILITY IMAP4rev1 LITERAL+] old server\r\n");
  REQUIRE(client->Send("a1 APPEND INBOX {5+}\r\nhello\r\n"));
  REQUIRE(client->ReadUntil("a1 OK"));
  REQUIRE(client->Send("a2 APPEND INBOX {3+}\r\nabc\r\na3 NOOP\r\n"));
  REQUIRE(client->ReadUntil("a3 OK done\r\n"));
  client->SendCloseNotify();
  REQUIRE(t.backend.WaitScriptsDone());
  CHECK_FALSE(data_before_plus.load());
  CHECK(t.backend.received(0) ==
        "a1 APPEND INBOX {5}\r\nhello\r\na2 APPEND INBOX {3}\r\na3 NOOP\r\n");
  CHECK(client->received() ==
        "* OK [CAPABILITY IMAP4rev1 LITERAL+] old server\r\n"
        "a1 OK [APPENDUID 1 1] done\r\na2 NO [OVERQUOTA] full\r\na3 OK done\r\n");
}

TEST_CASE("STARTTLS and COMPRESS inside TLS: BAD from imapfront, never at the backend") {
  E2e t;
  auto client = t.Greeted();
  REQUIRE(client->Send("a1 STARTTLS\r\na2 COMPRESS DEFLATE\r\na3 NOOP\r\na4 LOGOUT\r\n"));
  CHECK(client->WaitEof());
  CHECK(client->received() == kGreeting +
                                  "a1 BAD STARTTLS is not available here\r\n"
                                  "a2 BAD COMPRESS is not available here\r\n"
                                  "a3 OK done\r\n* BYE logging out\r\na4 OK LOGOUT completed\r\n");
  REQUIRE(t.backend.WaitScriptsDone());
  CHECK(t.backend.received(0) == "a3 NOOP\r\na4 LOGOUT\r\n");
}

TEST_CASE("emulated LITERAL+: a client that sends everything and closes loses nothing") {
  E2e t(
      [](BackendConnection& c) {
        c.Send("* OK [CAPABILITY IMAP4rev1] old server\r\n");
        if (!c.ReadUntil("a1 APPEND INBOX {5}\r\n")) return;
        std::this_thread::sleep_for(100ms);
        c.Send("+ go ahead\r\n");
        if (!c.ReadUntil("b1 LOGOUT\r\n")) return;
        c.Send("a1 OK done\r\n* BYE\r\nb1 OK bye\r\n");
        c.WaitEof();
      },
      [](Json& config) { config["routes"][0]["literal_plus"] = "emulate"; });
  auto client = t.Handshaken();
  REQUIRE(client->ReadUntil("old server\r\n"));
  REQUIRE(client->Send("a1 APPEND INBOX {5+}\r\nhello\r\nb1 LOGOUT\r\n"));
  client->SendCloseNotify();
  CHECK(client->WaitEof());
  REQUIRE(t.backend.WaitScriptsDone());
  CHECK(t.backend.received(0) == "a1 APPEND INBOX {5}\r\nhello\r\nb1 LOGOUT\r\n");
  CHECK(client->received() ==
        "* OK [CAPABILITY IMAP4rev1 LITERAL+] old server\r\n"
        "a1 OK done\r\n* BYE\r\nb1 OK bye\r\n");
  auto stats = t.QuietStats();
  CHECK(ClosedCount(stats, "logout") == 1);
}

}  // namespace
}  // namespace imapfront::testing
