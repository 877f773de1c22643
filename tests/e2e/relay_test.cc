// End to end: the real imapfront binary between a BoringSSL client and a
// scripted backend, over real sockets on 127.0.0.1: a whole session byte for
// byte, literals however the TLS records are cut, large transfers.
#include <doctest/doctest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "tests/e2e/e2e_fixture.h"
#include "tests/support/harness.h"

namespace imapfront::testing {
namespace {

TEST_CASE("normal session: greeting, commands, responses and LOGOUT byte for byte") {
  E2e t;
  auto client = t.Greeted();
  REQUIRE(client->ReadUntil("ready\r\n"));
  CHECK(client->received() == kGreeting);
  REQUIRE(client->Send("a1 LOGIN user pass\r\n"));
  REQUIRE(client->ReadUntil("a1 OK"));
  REQUIRE(client->Send("a2 LOGOUT\r\n"));
  CHECK(client->WaitEof());
  CHECK(client->received() ==
        kGreeting + "a1 OK done\r\n* BYE logging out\r\na2 OK LOGOUT completed\r\n");
  REQUIRE(t.backend.WaitScriptsDone());
  CHECK(t.backend.received(0) == "a1 LOGIN user pass\r\na2 LOGOUT\r\n");
  auto stats = t.QuietStats();
  CHECK(ClosedCount(stats, "logout") == 1);
  CHECK(stats["routes"]["default"]["accepted"] == 1);
  CHECK(stats["tls"]["handshakes"] == 1);
  CHECK(stats["bytes"]["client_to_backend"] == 31);
}

// The APPEND at the heart of the Exchange 5.5 bug, with the client's records
// cut and sent as each case says. The backend must see every byte.
void AppendThrough(const std::vector<std::string>& literal_records, TlsClient::Cut cut) {
  E2e t;
  auto client = t.Greeted();
  std::string literal;
  for (const std::string& r : literal_records) literal += r;
  literal.resize(literal.size() - 2);  // the records end with the command's CRLF
  const std::string command =
      "a1 APPEND INBOX (\\Seen) {" + std::to_string(literal.size()) + "}\r\n";
  REQUIRE(client->Send({command}, cut));
  REQUIRE(client->ReadUntil("+ Ready"));
  REQUIRE(client->Send(literal_records, cut));
  REQUIRE(client->ReadUntil("a1 OK"));
  REQUIRE(client->Send({"a2 NOOP\r\n", "a3 LOGOUT\r\n"}, cut));
  CHECK(client->WaitEof());
  REQUIRE(t.backend.WaitScriptsDone());
  CHECK(t.backend.received(0) == command + literal + "\r\na2 NOOP\r\na3 LOGOUT\r\n");
  CHECK(client->received() == kGreeting +
                                  "+ Ready for literal data\r\na1 OK done\r\na2 OK done\r\n"
                                  "* BYE logging out\r\na3 OK LOGOUT completed\r\n");
  t.QuietStats();
}

TEST_CASE("APPEND: the literal's last byte and its CR/LF in one record") {
  AppendThrough({"Subject: hi\r\n\r\n", "hello world\r\n"}, TlsClient::Cut::kSendPerRecord);
}

TEST_CASE("APPEND: the CR/LF alone in the next record") {
  AppendThrough({"Subject: hi\r\n\r\nhello world", "\r\n"}, TlsClient::Cut::kSendPerRecord);
}

TEST_CASE("APPEND: CR and LF in separate records") {
  AppendThrough({"Subject: hi\r\n\r\nhello world", "\r", "\n"}, TlsClient::Cut::kSendPerRecord);
}

TEST_CASE("APPEND: several records coalesced into one send") {
  AppendThrough({"Subject: hi\r\n", "\r\n", "hello ", "world", "\r\n"}, TlsClient::Cut::kOneSend);
}

TEST_CASE("APPEND: every ciphertext byte in its own send") {
  AppendThrough({"Subject: hi\r\n\r\nhello world", "\r\n"}, TlsClient::Cut::kSendPerByte);
}

TEST_CASE("bytes pipelined with the handshake's last flight wait for the backend's greeting") {
  std::atomic<bool> early_bytes{false};
  E2e t([&](BackendConnection& c) {
    // Greet late: nothing may arrive before the greeting.
    c.ReadBytes(1, 300ms);
    early_bytes = !c.received().empty();
    MiniImap(c);
  });
  auto client = t.Client();
  REQUIRE(client->Handshake("a1 CAPABILITY\r\na2 LOGOUT\r\n"));
  CHECK(client->version() == "TLSv1.3");
  CHECK(client->WaitEof());
  REQUIRE(t.backend.WaitScriptsDone());
  CHECK_FALSE(early_bytes.load());
  CHECK(t.backend.received(0) == "a1 CAPABILITY\r\na2 LOGOUT\r\n");
  CHECK(client->received() ==
        kGreeting + "a1 OK done\r\n* BYE logging out\r\na2 OK LOGOUT completed\r\n");
  t.QuietStats();
}

TEST_CASE("TLS 1.2 client: same exact bytes") {
  E2e t;
  auto client = t.Handshaken("", TLS1_2_VERSION);
  CHECK(client->version() == "TLSv1.2");
  REQUIRE(client->Send({"a1 APPEND INBOX {3+}\r\nabc", "\r\n", "a2 LOGOUT\r\n"},
                       TlsClient::Cut::kSendPerRecord));
  CHECK(client->WaitEof());
  REQUIRE(t.backend.WaitScriptsDone());
  CHECK(t.backend.received(0) == "a1 APPEND INBOX {3+}\r\nabc\r\na2 LOGOUT\r\n");
  t.QuietStats();
}

TEST_CASE("a 32 MiB literal arrives intact (SHA-256 compared)") {
  E2e t;
  auto client = t.Greeted();
  constexpr size_t kSize = 32u << 20;
  std::string literal(kSize, '\0');
  uint64_t x = 88172645463325252ull;  // xorshift: bytes of every value, CR/LF included
  for (size_t i = 0; i < kSize; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    literal[i] = static_cast<char>(x);
  }
  const std::string command = "a1 APPEND INBOX {" + std::to_string(kSize) + "}\r\n";
  REQUIRE(client->Send(command));
  REQUIRE(client->ReadUntil("+ Ready"));
  constexpr size_t kPiece = 1u << 20;
  for (size_t off = 0; off < kSize; off += kPiece) {
    REQUIRE(client->Send(literal.substr(off, kPiece)));
  }
  REQUIRE(client->Send("\r\na2 LOGOUT\r\n"));
  CHECK(client->WaitEof(60s));
  REQUIRE(t.backend.WaitScriptsDone(60s));
  std::string got = t.backend.received(0);
  REQUIRE(got.size() == command.size() + kSize + 13);
  CHECK(got.substr(0, command.size()) == command);
  CHECK(Sha256Hex(std::string_view(got).substr(command.size(), kSize)) == Sha256Hex(literal));
  CHECK(got.substr(command.size() + kSize) == "\r\na2 LOGOUT\r\n");
  auto stats = t.QuietStats();
  CHECK(stats["bytes"]["client_to_backend"].get<uint64_t>() == command.size() + kSize + 13);
}

TEST_CASE("a 64 MiB response to a slow reader arrives intact, memory stays bounded") {
  constexpr size_t kSize = 64u << 20;
  std::string body(kSize, 'x');
  for (size_t i = 0; i < kSize; ++i) body[i] = static_cast<char>((i * 7919) >> 3);
  const std::string response = "* 1 FETCH (BODY[] {" + std::to_string(kSize) + "}\r\n" + body +
                               ")\r\na1 OK FETCH completed\r\n";
  E2e t([&](BackendConnection& c) {
    c.Send(kGreeting);
    if (!c.ReadUntil("a1 FETCH 1 BODY[]\r\n")) return;
    c.Send(response);
    c.WaitEof(60s);
  });
  auto client = t.Greeted();
  const long rss_before = RssKiB(t.proxy.pid());
  REQUIRE(client->Send("a1 FETCH 1 BODY[]\r\n"));
  // The client does not read: the proxy must stop reading the backend once
  // buffer_bytes are queued, holding back (not losing, not buffering) the rest.
  std::this_thread::sleep_for(700ms);
  const long rss_stalled = RssKiB(t.proxy.pid());
  // Without back-pressure the proxy would hold most of the 64 MiB. With it,
  // only buffer_bytes plus what passed through before the stall (allocator
  // caches; under ASan, its quarantine) show up.
  CHECK_MESSAGE(rss_stalled - rss_before < 24 * 1024,
                "RSS grew from " << rss_before << " KiB to " << rss_stalled << " KiB");
  REQUIRE(client->ReadUntil("a1 OK FETCH completed\r\n", 60s));
  CHECK(client->received().size() == kGreeting.size() + response.size());
  CHECK(Sha256Hex(client->received()) == Sha256Hex(kGreeting + response));
  client->SendCloseNotify();
  client->socket().Close();
  REQUIRE(t.backend.WaitScriptsDone(60s));
  auto stats = t.QuietStats();
  CHECK(ClosedCount(stats, "client_closed") == 1);
}

}  // namespace
}  // namespace imapfront::testing
