// End to end: the real imapfront binary between a BoringSSL client and a
// scripted backend, over real sockets on 127.0.0.1. Every test checks the
// exact bytes on both sides and the stats invariant.
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <signal.h>
#include <sys/socket.h>

#include <cstdio>
#include <map>
#include <random>
#include <sstream>
#include <string>

#include "tests/support/harness.h"

namespace imapfront::testing {
namespace {

const std::string kGreeting = "* OK [CAPABILITY IMAP4rev1 LITERAL+] test backend ready\r\n";

// A small IMAP server: greets, answers '+' to every synchronizing literal,
// "TAG OK" to every complete command, and BYE + close to LOGOUT. It reads
// commands exactly as the transcript holds them, so it also checks framing.
void MiniImap(BackendConnection& c) {
  c.Send(kGreeting);
  size_t pos = 0;   // start of the next unparsed line
  std::string tag;  // tag of the command in progress
  for (int step = 0; step < 100000; ++step) {
    std::string all = c.received();
    size_t eol = all.find("\r\n", pos);
    if (eol == std::string::npos) {
      if (!c.ReadBytes(all.size() + 1)) return;
      continue;
    }
    std::string line = all.substr(pos, eol - pos);
    if (tag.empty()) tag = line.substr(0, line.find(' '));
    size_t open = line.rfind('{');
    if (!line.empty() && line.back() == '}' && open != std::string::npos) {
      std::string size = line.substr(open + 1, line.size() - open - 2);
      bool plus = !size.empty() && size.back() == '+';
      if (plus) size.pop_back();
      if (!plus) c.Send("+ Ready for literal data\r\n");
      pos = eol + 2 + std::stoull(size);
      if (!c.ReadBytes(pos)) return;
      continue;
    }
    pos = eol + 2;
    bool logout = line.find(" LOGOUT") != std::string::npos && line.find(tag + " ") == 0;
    if (logout) {
      c.Send("* BYE logging out\r\n" + tag + " OK LOGOUT completed\r\n");
      c.socket().Close();
      return;
    }
    c.Send(tag + " OK done\r\n");
    tag.clear();
  }
}

std::string Sha256Hex(std::string_view data) {
  uint8_t digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const uint8_t*>(data.data()), data.size(), digest);
  std::string hex;
  char buf[3];
  for (uint8_t b : digest) {
    std::snprintf(buf, sizeof(buf), "%02x", b);
    hex += buf;
  }
  return hex;
}

// Stats once |accepted| connections have been accepted and every session
// has ended (bounded wait), with the invariant checked.
nlohmann::json QuietStats(Proxy& proxy, uint64_t accepted = 1) {
  nlohmann::json stats;
  WaitFor([&] {
    stats = proxy.Stats();
    return stats["connections"]["accepted"] == accepted && stats["connections"]["active"] == 0;
  });
  CHECK(stats["connections"]["accepted"] == accepted);
  CHECK(stats["connections"]["active"] == 0);
  CheckStatsInvariant(stats);
  return stats;
}

TEST_CASE("normal session: greeting, commands, responses and LOGOUT byte for byte") {
  ScriptedBackend backend(MiniImap);
  TestSetup setup;
  Proxy proxy(setup.Config({backend.port()}));
  TlsClient client(setup.port);
  REQUIRE(client.Handshake());
  REQUIRE(client.ReadUntil("ready\r\n"));
  CHECK(client.received() == kGreeting);
  REQUIRE(client.Send("a1 LOGIN user pass\r\n"));
  REQUIRE(client.ReadUntil("a1 OK"));
  REQUIRE(client.Send("a2 LOGOUT\r\n"));
  CHECK(client.WaitEof());
  CHECK(client.received() ==
        kGreeting + "a1 OK done\r\n* BYE logging out\r\na2 OK LOGOUT completed\r\n");
  REQUIRE(backend.WaitScriptsDone());
  CHECK(backend.received(0) == "a1 LOGIN user pass\r\na2 LOGOUT\r\n");
  auto stats = QuietStats(proxy);
  CHECK(ClosedCount(stats, "logout") == 1);
  CHECK(stats["routes"]["default"]["accepted"] == 1);
  CHECK(stats["tls"]["handshakes"] == 1);
  CHECK(stats["bytes"]["client_to_backend"] == 31);
}

// The APPEND at the heart of the Exchange 5.5 bug, with the client's records
// cut and sent as each case says. The backend must see every byte.
void AppendThrough(const std::vector<std::string>& literal_records, TlsClient::Cut cut) {
  ScriptedBackend backend(MiniImap);
  TestSetup setup;
  Proxy proxy(setup.Config({backend.port()}));
  TlsClient client(setup.port);
  REQUIRE(client.Handshake());
  REQUIRE(client.ReadUntil(kGreeting));
  std::string literal;
  for (const std::string& r : literal_records) literal += r;
  literal.resize(literal.size() - 2);  // the records end with the command's CRLF
  const std::string command =
      "a1 APPEND INBOX (\\Seen) {" + std::to_string(literal.size()) + "}\r\n";
  REQUIRE(client.Send({command}, cut));
  REQUIRE(client.ReadUntil("+ Ready"));
  REQUIRE(client.Send(literal_records, cut));
  REQUIRE(client.ReadUntil("a1 OK"));
  REQUIRE(client.Send({"a2 NOOP\r\n", "a3 LOGOUT\r\n"}, cut));
  CHECK(client.WaitEof());
  REQUIRE(backend.WaitScriptsDone());
  CHECK(backend.received(0) == command + literal + "\r\na2 NOOP\r\na3 LOGOUT\r\n");
  CHECK(client.received() == kGreeting +
                                 "+ Ready for literal data\r\na1 OK done\r\na2 OK done\r\n"
                                 "* BYE logging out\r\na3 OK LOGOUT completed\r\n");
  QuietStats(proxy);
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
  ScriptedBackend backend([&](BackendConnection& c) {
    // Greet late: nothing may arrive before the greeting.
    c.ReadBytes(1, 300ms);
    early_bytes = !c.received().empty();
    MiniImap(c);
  });
  TestSetup setup;
  Proxy proxy(setup.Config({backend.port()}));
  TlsClient client(setup.port);
  REQUIRE(client.Handshake("a1 CAPABILITY\r\na2 LOGOUT\r\n"));
  CHECK(client.version() == "TLSv1.3");
  CHECK(client.WaitEof());
  REQUIRE(backend.WaitScriptsDone());
  CHECK_FALSE(early_bytes.load());
  CHECK(backend.received(0) == "a1 CAPABILITY\r\na2 LOGOUT\r\n");
  CHECK(client.received() ==
        kGreeting + "a1 OK done\r\n* BYE logging out\r\na2 OK LOGOUT completed\r\n");
  QuietStats(proxy);
}

TEST_CASE("TLS 1.2 client: same exact bytes") {
  ScriptedBackend backend(MiniImap);
  TestSetup setup;
  Proxy proxy(setup.Config({backend.port()}));
  TlsClient client(setup.port, "", TLS1_2_VERSION);
  REQUIRE(client.Handshake());
  CHECK(client.version() == "TLSv1.2");
  REQUIRE(client.Send({"a1 APPEND INBOX {3+}\r\nabc", "\r\n", "a2 LOGOUT\r\n"},
                      TlsClient::Cut::kSendPerRecord));
  CHECK(client.WaitEof());
  REQUIRE(backend.WaitScriptsDone());
  CHECK(backend.received(0) == "a1 APPEND INBOX {3+}\r\nabc\r\na2 LOGOUT\r\n");
  QuietStats(proxy);
}

TEST_CASE("a 32 MiB literal arrives intact (SHA-256 compared)") {
  ScriptedBackend backend(MiniImap);
  TestSetup setup;
  Proxy proxy(setup.Config({backend.port()}));
  TlsClient client(setup.port);
  REQUIRE(client.Handshake());
  REQUIRE(client.ReadUntil(kGreeting));
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
  REQUIRE(client.Send(command));
  REQUIRE(client.ReadUntil("+ Ready"));
  constexpr size_t kPiece = 1u << 20;
  for (size_t off = 0; off < kSize; off += kPiece) {
    REQUIRE(client.Send(literal.substr(off, kPiece)));
  }
  REQUIRE(client.Send("\r\na2 LOGOUT\r\n"));
  CHECK(client.WaitEof(60s));
  REQUIRE(backend.WaitScriptsDone(60s));
  std::string got = backend.received(0);
  REQUIRE(got.size() == command.size() + kSize + 13);
  CHECK(got.substr(0, command.size()) == command);
  CHECK(Sha256Hex(std::string_view(got).substr(command.size(), kSize)) == Sha256Hex(literal));
  CHECK(got.substr(command.size() + kSize) == "\r\na2 LOGOUT\r\n");
  auto stats = QuietStats(proxy);
  CHECK(stats["bytes"]["client_to_backend"].get<uint64_t>() == command.size() + kSize + 13);
}

TEST_CASE("a 64 MiB response to a slow reader arrives intact, memory stays bounded") {
  constexpr size_t kSize = 64u << 20;
  std::string body(kSize, 'x');
  for (size_t i = 0; i < kSize; ++i) body[i] = static_cast<char>((i * 7919) >> 3);
  const std::string response = "* 1 FETCH (BODY[] {" + std::to_string(kSize) + "}\r\n" + body +
                               ")\r\na1 OK FETCH completed\r\n";
  ScriptedBackend backend([&](BackendConnection& c) {
    c.Send(kGreeting);
    if (!c.ReadUntil("a1 FETCH 1 BODY[]\r\n")) return;
    c.Send(response);
    c.WaitEof(60s);
  });
  TestSetup setup;
  Proxy proxy(setup.Config({backend.port()}));
  TlsClient client(setup.port);
  REQUIRE(client.Handshake());
  REQUIRE(client.ReadUntil(kGreeting));
  const long rss_before = RssKiB(proxy.pid());
  REQUIRE(client.Send("a1 FETCH 1 BODY[]\r\n"));
  // The client does not read: the proxy must stop reading the backend once
  // buffer_bytes are queued, holding back (not losing, not buffering) the rest.
  std::this_thread::sleep_for(700ms);
  const long rss_stalled = RssKiB(proxy.pid());
  // Without back-pressure the proxy would hold most of the 64 MiB. With it,
  // only buffer_bytes plus what passed through before the stall (allocator
  // caches; under ASan, its quarantine) show up.
  CHECK_MESSAGE(rss_stalled - rss_before < 24 * 1024,
                "RSS grew from " << rss_before << " KiB to " << rss_stalled << " KiB");
  REQUIRE(client.ReadUntil("a1 OK FETCH completed\r\n", 60s));
  CHECK(client.received().size() == kGreeting.size() + response.size());
  CHECK(Sha256Hex(client.received()) == Sha256Hex(kGreeting + response));
  client.SendCloseNotify();
  client.socket().Close();
  REQUIRE(backend.WaitScriptsDone(60s));
  auto stats = QuietStats(proxy);
  CHECK(ClosedCount(stats, "client_closed") == 1);
}

// ---- IMAP framing through TLS --------------------------------------------------

TEST_CASE("binary literal with NUL and CRLF, multi-append, IMAP counters") {
  ScriptedBackend backend(MiniImap);
  TestSetup setup;
  Proxy proxy(setup.Config({backend.port()}));
  TlsClient client(setup.port);
  REQUIRE(client.Handshake());
  REQUIRE(client.ReadUntil(kGreeting));
  const std::string binary("\0\r\n\xff", 4);
  REQUIRE(client.Send("a1 APPEND INBOX ~{4}\r\n"));
  REQUIRE(client.ReadUntil("+ Ready"));
  REQUIRE(client.Send({binary, "\r\n"}, TlsClient::Cut::kSendPerRecord));
  REQUIRE(client.ReadUntil("a1 OK done\r\n"));
  REQUIRE(client.Send("a2 APPEND INBOX {3+}\r\nxyz (\\Seen) {2}\r\n"));
  REQUIRE(client.ReadUntil("a1 OK done\r\n+ Ready"));
  REQUIRE(client.Send({"q", "q\r", "\na3 LOGOUT\r\n"}, TlsClient::Cut::kSendPerByte));
  CHECK(client.WaitEof());
  REQUIRE(backend.WaitScriptsDone());
  CHECK(backend.received(0) ==
        "a1 APPEND INBOX ~{4}\r\n" + binary +
            "\r\na2 APPEND INBOX {3+}\r\nxyz (\\Seen) {2}\r\nqq\r\na3 LOGOUT\r\n");
  auto stats = QuietStats(proxy);
  CHECK(stats["imap"]["commands"] == 3);
  CHECK(stats["imap"]["appends"] == 2);
  CHECK(stats["imap"]["literal_bytes"] == 4 + 3 + 2);
  CHECK(ClosedCount(stats, "logout") == 1);
}

TEST_CASE("AUTHENTICATE and IDLE continuations; capabilities stripped everywhere") {
  ScriptedBackend backend([](BackendConnection& c) {
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
  TestSetup setup;
  Proxy proxy(setup.Config({backend.port()}));
  TlsClient client(setup.port);
  REQUIRE(client.Handshake());
  REQUIRE(client.Send("a1 AUTHENTICATE PLAIN\r\n"));
  REQUIRE(client.ReadUntil("+ \r\n"));
  REQUIRE(client.Send("AHVzZXIAcGFzcw==\r\n"));
  REQUIRE(client.ReadUntil("Logged in\r\n"));
  REQUIRE(client.Send("a2 CAPABILITY\r\n"));
  REQUIRE(client.ReadUntil("a2 OK done\r\n"));
  REQUIRE(client.Send("a3 IDLE\r\n"));
  REQUIRE(client.ReadUntil("* 4 EXISTS\r\n"));
  REQUIRE(client.Send({"DONE\r\n", "a4 LOGOUT\r\n"}, TlsClient::Cut::kOneSend));
  CHECK(client.WaitEof());
  CHECK(client.received() ==
        "* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] ready\r\n"
        "+ \r\n"
        "a1 OK [CAPABILITY IMAP4rev1 IDLE] Logged in\r\n"
        "* CAPABILITY IMAP4rev1 IDLE\r\na2 OK done\r\n"
        "+ idling\r\n* 4 EXISTS\r\na3 OK IDLE terminated\r\n"
        "* BYE\r\na4 OK bye\r\n");
  REQUIRE(backend.WaitScriptsDone());
  CHECK(backend.received(0) ==
        "a1 AUTHENTICATE PLAIN\r\nAHVzZXIAcGFzcw==\r\na2 CAPABILITY\r\na3 IDLE\r\nDONE\r\na4 "
        "LOGOUT\r\n");
  auto stats = QuietStats(proxy);
  CHECK(stats["imap"]["commands"] == 4);
}

TEST_CASE("a synchronizing literal the backend refuses: cancelled, the next command works") {
  ScriptedBackend backend([](BackendConnection& c) {
    c.Send(kGreeting);
    if (!c.ReadUntil("a1 APPEND INBOX {5}\r\n")) return;
    c.Send("a1 NO [OVERQUOTA] mailbox full\r\n");
    if (!c.ReadUntil("a2 NOOP\r\n")) return;
    c.Send("a2 OK done\r\n");
    c.WaitEof();
  });
  TestSetup setup;
  Proxy proxy(setup.Config({backend.port()}));
  TlsClient client(setup.port);
  REQUIRE(client.Handshake());
  REQUIRE(client.Send("a1 APPEND INBOX {5}\r\n"));
  REQUIRE(client.ReadUntil("a1 NO"));
  REQUIRE(client.Send("a2 NOOP\r\n"));
  REQUIRE(client.ReadUntil("a2 OK done\r\n"));
  client.SendCloseNotify();
  REQUIRE(backend.WaitScriptsDone());
  CHECK(backend.received(0) == "a1 APPEND INBOX {5}\r\na2 NOOP\r\n");
  CHECK(client.received() == kGreeting + "a1 NO [OVERQUOTA] mailbox full\r\na2 OK done\r\n");
}

TEST_CASE("literals over max_literal_bytes: {n} gets NO [TOOBIG], {n+} is discarded with BAD") {
  ScriptedBackend backend(MiniImap);
  TestSetup setup;
  auto config = setup.Config({backend.port()});
  config["limits"] = {{"max_literal_bytes", 1000}};
  Proxy proxy(config);
  TlsClient client(setup.port);
  REQUIRE(client.Handshake());
  REQUIRE(client.ReadUntil(kGreeting));
  REQUIRE(client.Send("a1 APPEND INBOX {5000}\r\n"));
  REQUIRE(client.ReadUntil("a1 NO [TOOBIG] Literal too large\r\n"));
  REQUIRE(client.Send({"a2 APPEND INBOX {5000+}\r\n", std::string(5000, 'x'), "\r\n"},
                      TlsClient::Cut::kSendPerRecord));
  REQUIRE(client.ReadUntil("a2 BAD [TOOBIG] Literal too large\r\n"));
  REQUIRE(client.Send("a3 APPEND INBOX {1000}\r\n"));  // at the limit: allowed
  REQUIRE(client.ReadUntil("+ Ready"));
  REQUIRE(client.Send(std::string(1000, 'y') + "\r\na4 LOGOUT\r\n"));
  CHECK(client.WaitEof());
  CHECK(client.received() == kGreeting +
                                 "a1 NO [TOOBIG] Literal too large\r\n"
                                 "a2 BAD [TOOBIG] Literal too large\r\n"
                                 "+ Ready for literal data\r\na3 OK done\r\n"
                                 "* BYE logging out\r\na4 OK LOGOUT completed\r\n");
  REQUIRE(backend.WaitScriptsDone());
  CHECK(backend.received(0) ==
        "a3 APPEND INBOX {1000}\r\n" + std::string(1000, 'y') + "\r\na4 LOGOUT\r\n");
  auto stats = QuietStats(proxy);
  CHECK(ClosedCount(stats, "logout") == 1);
}

TEST_CASE(
    "a line over max_line_bytes: BYE, close, protocol_error; nothing of it reaches the backend") {
  ScriptedBackend backend(MiniImap);
  TestSetup setup;
  auto config = setup.Config({backend.port()});
  config["limits"] = {{"max_line_bytes", 1024}};
  Proxy proxy(config);
  TlsClient client(setup.port);
  REQUIRE(client.Handshake());
  REQUIRE(client.ReadUntil(kGreeting));
  REQUIRE(client.Send("a1 NOOP\r\n"));
  REQUIRE(client.ReadUntil("a1 OK done\r\n"));
  REQUIRE(client.Send("a2 SEARCH " + std::string(3000, '1') + "\r\n"));
  CHECK(client.WaitEof());
  CHECK(client.received() == kGreeting + "a1 OK done\r\n* BYE Line too long\r\n");
  REQUIRE(backend.WaitScriptsDone());
  CHECK(backend.received(0) == "a1 NOOP\r\n");
  auto stats = QuietStats(proxy);
  CHECK(ClosedCount(stats, "protocol_error") == 1);
}

TEST_CASE("emulated LITERAL+: {n+} becomes {n}, imapfront waits for '+', refusals discard") {
  std::atomic<bool> data_before_plus{false};
  ScriptedBackend backend([&](BackendConnection& c) {
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
  });
  TestSetup setup;
  auto config = setup.Config({backend.port()});
  config["routes"][0]["literal_plus"] = "emulate";
  Proxy proxy(config);
  TlsClient client(setup.port);
  REQUIRE(client.Handshake());
  REQUIRE(client.ReadUntil("old server\r\n"));
  CHECK(client.received() == "* OK [CAPABILITY IMAP4rev1 LITERAL+] old server\r\n");
  REQUIRE(client.Send("a1 APPEND INBOX {5+}\r\nhello\r\n"));
  REQUIRE(client.ReadUntil("a1 OK"));
  REQUIRE(client.Send("a2 APPEND INBOX {3+}\r\nabc\r\na3 NOOP\r\n"));
  REQUIRE(client.ReadUntil("a3 OK done\r\n"));
  client.SendCloseNotify();
  REQUIRE(backend.WaitScriptsDone());
  CHECK_FALSE(data_before_plus.load());
  CHECK(backend.received(0) ==
        "a1 APPEND INBOX {5}\r\nhello\r\na2 APPEND INBOX {3}\r\na3 NOOP\r\n");
  CHECK(client.received() ==
        "* OK [CAPABILITY IMAP4rev1 LITERAL+] old server\r\n"
        "a1 OK [APPENDUID 1 1] done\r\na2 NO [OVERQUOTA] full\r\na3 OK done\r\n");
}

TEST_CASE("STARTTLS and COMPRESS inside TLS: BAD from imapfront, never at the backend") {
  ScriptedBackend backend(MiniImap);
  TestSetup setup;
  Proxy proxy(setup.Config({backend.port()}));
  TlsClient client(setup.port);
  REQUIRE(client.Handshake());
  REQUIRE(client.ReadUntil(kGreeting));
  REQUIRE(client.Send("a1 STARTTLS\r\na2 COMPRESS DEFLATE\r\na3 NOOP\r\na4 LOGOUT\r\n"));
  CHECK(client.WaitEof());
  CHECK(client.received() == kGreeting +
                                 "a1 BAD STARTTLS is not available here\r\n"
                                 "a2 BAD COMPRESS is not available here\r\n"
                                 "a3 OK done\r\n* BYE logging out\r\na4 OK LOGOUT completed\r\n");
  REQUIRE(backend.WaitScriptsDone());
  CHECK(backend.received(0) == "a3 NOOP\r\na4 LOGOUT\r\n");
}

TEST_CASE("emulated LITERAL+: a client that sends everything and closes loses nothing") {
  ScriptedBackend backend([](BackendConnection& c) {
    c.Send("* OK [CAPABILITY IMAP4rev1] old server\r\n");
    if (!c.ReadUntil("a1 APPEND INBOX {5}\r\n")) return;
    std::this_thread::sleep_for(100ms);
    c.Send("+ go ahead\r\n");
    if (!c.ReadUntil("b1 LOGOUT\r\n")) return;
    c.Send("a1 OK done\r\n* BYE\r\nb1 OK bye\r\n");
    c.WaitEof();
  });
  TestSetup setup;
  auto config = setup.Config({backend.port()});
  config["routes"][0]["literal_plus"] = "emulate";
  Proxy proxy(config);
  TlsClient client(setup.port);
  REQUIRE(client.Handshake());
  REQUIRE(client.ReadUntil("old server\r\n"));
  REQUIRE(client.Send("a1 APPEND INBOX {5+}\r\nhello\r\nb1 LOGOUT\r\n"));
  client.SendCloseNotify();
  CHECK(client.WaitEof());
  REQUIRE(backend.WaitScriptsDone());
  CHECK(backend.received(0) == "a1 APPEND INBOX {5}\r\nhello\r\nb1 LOGOUT\r\n");
  CHECK(client.received() ==
        "* OK [CAPABILITY IMAP4rev1 LITERAL+] old server\r\n"
        "a1 OK done\r\n* BYE\r\nb1 OK bye\r\n");
  auto stats = QuietStats(proxy);
  CHECK(ClosedCount(stats, "logout") == 1);
}

TEST_CASE("routes by SNI: the named route's backend, and the default for other names or none") {
  ScriptedBackend legacy(MiniImap);
  ScriptedBackend other(MiniImap);
  TestSetup setup;
  auto config = setup.Config({other.port()});
  config["routes"] = {
      {{"name", "legacy"},
       {"sni", {"mail.example.com", "*.legacy.example"}},
       {"listeners", {"imaps"}},
       {"backends", {"127.0.0.1:" + std::to_string(legacy.port())}}},
      {{"name", "default"}, {"backends", {"127.0.0.1:" + std::to_string(other.port())}}}};
  Proxy proxy(config);
  const std::vector<std::pair<std::string, ScriptedBackend*>> cases = {
      {"mail.example.com", &legacy},
      {"imap.legacy.example", &legacy},
      {"other.example.com", &other},
      {"", &other}};
  for (const auto& [sni, backend] : cases) {
    TlsClient client(setup.port, sni);
    REQUIRE(client.Handshake("x LOGOUT\r\n"));
    CHECK(client.WaitEof());
  }
  REQUIRE(legacy.WaitScriptsDone());
  REQUIRE(other.WaitScriptsDone());
  CHECK(legacy.connections() == 2);
  CHECK(other.connections() == 2);
  auto stats = QuietStats(proxy, 4);
  CHECK(stats["routes"]["legacy"]["accepted"] == 2);
  CHECK(stats["routes"]["default"]["accepted"] == 2);
}

TEST_CASE("backend unreachable: the client gets BYE and the close is counted") {
  TestSetup setup;
  Proxy proxy(setup.Config({FreePort()}));
  TlsClient client(setup.port);
  REQUIRE(client.Handshake());
  CHECK(client.WaitEof());
  CHECK(client.received() == "* BYE [UNAVAILABLE] Backend unavailable\r\n");
  auto stats = QuietStats(proxy);
  CHECK(ClosedCount(stats, "backend_unavailable") == 1);
  CHECK(stats["routes"]["default"]["closed"]["backend_unavailable"] == 1);
}

TEST_CASE("failover: refused, then silent, then a working backend") {
  ScriptedBackend silent([](BackendConnection& c) { c.WaitEof(3s); });
  ScriptedBackend good(MiniImap);
  TestSetup setup;
  auto config = setup.Config({FreePort(), silent.port(), good.port()});
  config["limits"] = {{"backend_connect_timeout", 0.3}};
  Proxy proxy(config);
  TlsClient client(setup.port);
  REQUIRE(client.Handshake("a1 NOOP\r\n"));
  REQUIRE(client.ReadUntil("a1 OK done\r\n"));
  CHECK(client.received() == kGreeting + "a1 OK done\r\n");
  CHECK(silent.connections() == 1);
  CHECK(silent.received(0).empty());  // nothing was sent to a backend that never greeted
  REQUIRE(client.Send("a2 LOGOUT\r\n"));
  CHECK(client.WaitEof());
  REQUIRE(good.WaitScriptsDone());
  CHECK(good.received(0) == "a1 NOOP\r\na2 LOGOUT\r\n");
  QuietStats(proxy);
}

TEST_CASE("failover: a backend that greets with BYE (full) is skipped") {
  ScriptedBackend full([](BackendConnection& c) {
    c.Send("* BYE Too many connections\r\n");
    c.socket().Close();
  });
  ScriptedBackend good(MiniImap);
  TestSetup setup;
  Proxy proxy(setup.Config({full.port(), good.port()}));
  TlsClient client(setup.port);
  REQUIRE(client.Handshake("a1 LOGOUT\r\n"));
  CHECK(client.WaitEof());
  CHECK(client.received() == kGreeting + "* BYE logging out\r\na1 OK LOGOUT completed\r\n");
  REQUIRE(good.WaitScriptsDone());
  CHECK(full.received(0).empty());
  CHECK(good.received(0) == "a1 LOGOUT\r\n");
  QuietStats(proxy);
}

TEST_CASE("client half-closes before the backend greets: its commands still get there") {
  ScriptedBackend backend([](BackendConnection& c) {
    c.ReadBytes(1, 300ms);  // greet late
    MiniImap(c);
  });
  TestSetup setup;
  Proxy proxy(setup.Config({backend.port()}));
  TlsClient client(setup.port);
  REQUIRE(client.Handshake("a1 LOGOUT\r\n"));
  client.SendCloseNotify();
  CHECK(client.WaitEof());
  REQUIRE(backend.WaitScriptsDone());
  CHECK(backend.received(0) == "a1 LOGOUT\r\n");
  CHECK(client.received() == kGreeting + "* BYE logging out\r\na1 OK LOGOUT completed\r\n");
  auto stats = QuietStats(proxy);
  CHECK(ClosedCount(stats, "logout") == 1);
}

TEST_CASE("client leaves first, then the backend resets: still client_closed") {
  ScriptedBackend backend([](BackendConnection& c) {
    c.Send(kGreeting);
    if (!c.ReadUntil("a1 NOOP\r\n")) return;
    c.WaitEof();
    c.socket().Reset();
  });
  TestSetup setup;
  Proxy proxy(setup.Config({backend.port()}));
  TlsClient client(setup.port);
  REQUIRE(client.Handshake());
  REQUIRE(client.ReadUntil(kGreeting));
  REQUIRE(client.Send("a1 NOOP\r\n"));
  client.SendCloseNotify();
  CHECK(client.WaitEof());
  REQUIRE(backend.WaitScriptsDone());
  auto stats = QuietStats(proxy);
  CHECK(ClosedCount(stats, "client_closed") == 1);
}

TEST_CASE("backend closing mid-session: its last bytes reach the client, then the end") {
  ScriptedBackend backend([](BackendConnection& c) {
    c.Send(kGreeting);
    if (!c.ReadUntil("a1 SELECT INBOX\r\n")) return;
    c.Send("* 3 EXISTS\r\n* BYE going down\r\n");
    c.socket().Close();
  });
  TestSetup setup;
  Proxy proxy(setup.Config({backend.port()}));
  TlsClient client(setup.port);
  REQUIRE(client.Handshake());
  REQUIRE(client.Send("a1 SELECT INBOX\r\n"));
  CHECK(client.WaitEof());
  CHECK(client.received() == kGreeting + "* 3 EXISTS\r\n* BYE going down\r\n");
  auto stats = QuietStats(proxy);
  CHECK(ClosedCount(stats, "backend_closed") == 1);
}

TEST_CASE("client reset mid-literal: the backend sees the end, the session is counted once") {
  ScriptedBackend backend([](BackendConnection& c) {
    c.Send(kGreeting);
    if (!c.ReadUntil("{1000}\r\n")) return;
    c.Send("+ go\r\n");
    c.WaitEof();
  });
  TestSetup setup;
  Proxy proxy(setup.Config({backend.port()}));
  {
    TlsClient client(setup.port);
    REQUIRE(client.Handshake());
    REQUIRE(client.Send("a1 APPEND INBOX {1000}\r\n"));
    REQUIRE(client.ReadUntil("+ go"));
    REQUIRE(client.Send(std::string(100, 'z')));
    REQUIRE(WaitFor([&] { return backend.received(0).size() == 124; }));
    client.socket().Reset();
  }
  REQUIRE(backend.WaitScriptsDone());
  CHECK(backend.received(0) == "a1 APPEND INBOX {1000}\r\n" + std::string(100, 'z'));
  auto stats = QuietStats(proxy);
  CHECK(ClosedCount(stats, "client_closed") == 1);
}

TEST_CASE("backend reset mid-response: the client gets what came before, then the end") {
  ScriptedBackend backend([](BackendConnection& c) {
    c.Send(kGreeting);
    if (!c.ReadUntil("a1 FETCH 1 BODY[]\r\n")) return;
    c.Send("* 1 FETCH (BODY[] {100}\r\nonly part");
    std::this_thread::sleep_for(100ms);
    c.socket().Reset();
  });
  TestSetup setup;
  Proxy proxy(setup.Config({backend.port()}));
  TlsClient client(setup.port);
  REQUIRE(client.Handshake());
  REQUIRE(client.Send("a1 FETCH 1 BODY[]\r\n"));
  CHECK(client.WaitEof());
  CHECK(client.received() == kGreeting + "* 1 FETCH (BODY[] {100}\r\nonly part");
  auto stats = QuietStats(proxy);
  CHECK(ClosedCount(stats, "backend_closed") == 1);
}

TEST_CASE("client close_notify after LOGOUT: the backend still answers, the client gets it") {
  ScriptedBackend backend(MiniImap);
  TestSetup setup;
  Proxy proxy(setup.Config({backend.port()}));
  TlsClient client(setup.port);
  REQUIRE(client.Handshake());
  REQUIRE(client.ReadUntil(kGreeting));
  REQUIRE(client.Send("a1 LOGOUT\r\n"));
  client.SendCloseNotify();
  CHECK(client.WaitEof());
  CHECK(client.received() == kGreeting + "* BYE logging out\r\na1 OK LOGOUT completed\r\n");
  REQUIRE(backend.WaitScriptsDone());
  CHECK(backend.received(0) == "a1 LOGOUT\r\n");
  auto stats = QuietStats(proxy);
  CHECK(ClosedCount(stats, "logout") == 1);
}

TEST_CASE("handshake timeout, garbage, and a bare connect are each counted once") {
  TestSetup setup;
  auto config = setup.Config({FreePort()});
  config["limits"] = {{"handshake_timeout", 0.3}};
  Proxy proxy(config);
  {
    Socket silent = Socket::Connect(setup.port);
    char buf[16];
    CHECK(silent.ReadSome(buf, sizeof(buf), 5s) == 0);  // closed by the proxy
  }
  {
    Socket garbage = Socket::Connect(setup.port);
    REQUIRE(garbage.SendAll("GET / HTTP/1.1\r\n\r\n"));
    char buf[64];
    for (int i = 0; i < 10 && garbage.ReadSome(buf, sizeof(buf), 5s) > 0; ++i) {
    }
  }
  { Socket bare = Socket::Connect(setup.port); }
  auto stats = QuietStats(proxy, 3);
  CHECK(ClosedCount(stats, "handshake_timeout") == 1);
  CHECK(ClosedCount(stats, "tls_error") == 1);
  CHECK(ClosedCount(stats, "client_closed") == 1);
  CHECK(stats["tls"]["handshake_failures"] == 1);
}

TEST_CASE("idle timeout: BYE, close, counted") {
  ScriptedBackend backend([](BackendConnection& c) {
    c.Send(kGreeting);
    c.WaitEof();
  });
  TestSetup setup;
  auto config = setup.Config({backend.port()});
  config["limits"] = {{"idle_timeout", 0.4}};
  Proxy proxy(config);
  TlsClient client(setup.port);
  REQUIRE(client.Handshake());
  CHECK(client.WaitEof());
  CHECK(client.received() == kGreeting + "* BYE Autologout; idle for too long\r\n");
  REQUIRE(backend.WaitScriptsDone());
  auto stats = QuietStats(proxy);
  CHECK(ClosedCount(stats, "idle_timeout") == 1);
}

TEST_CASE("SIGTERM: open sessions get BYE, the process exits 0") {
  ScriptedBackend backend([](BackendConnection& c) {
    c.Send(kGreeting);
    c.WaitEof();
  });
  TestSetup setup;
  Proxy proxy(setup.Config({backend.port()}));
  TlsClient client(setup.port);
  REQUIRE(client.Handshake());
  REQUIRE(client.ReadUntil(kGreeting));
  CHECK(proxy.Stop() == 0);
  CHECK(client.WaitEof());
  CHECK(client.received() == kGreeting + "* BYE Server shutting down\r\n");
}

TEST_CASE(
    "SIGHUP: new sessions follow the new config, open ones keep theirs, a bad file is ignored") {
  ScriptedBackend before(MiniImap);
  ScriptedBackend after(MiniImap);
  TestSetup setup;
  Proxy proxy(setup.Config({before.port()}));
  TlsClient open_session(setup.port);
  REQUIRE(open_session.Handshake());
  REQUIRE(open_session.ReadUntil(kGreeting));

  proxy.Reload(setup.Config({after.port()}));
  REQUIRE(WaitFor([&] { return proxy.Log().find("reloaded") != std::string::npos; }));
  {
    TlsClient fresh(setup.port);
    REQUIRE(fresh.Handshake("b1 LOGOUT\r\n"));
    CHECK(fresh.WaitEof());
  }
  REQUIRE(open_session.Send("a1 NOOP\r\n"));
  REQUIRE(open_session.ReadUntil("a1 OK done\r\n"));

  auto broken = setup.Config({before.port()});
  broken["routes"][0]["backends"][0] = "127.0.0.1:0";
  proxy.Reload(broken);
  REQUIRE(
      WaitFor([&] { return proxy.Log().find("keeping the running config") != std::string::npos; }));
  CHECK(proxy.Log().find("routes[0].backends[0]") != std::string::npos);
  {
    TlsClient fresh(setup.port);
    REQUIRE(fresh.Handshake("c1 LOGOUT\r\n"));
    CHECK(fresh.WaitEof());
  }
  REQUIRE(open_session.Send("a2 LOGOUT\r\n"));
  CHECK(open_session.WaitEof());
  REQUIRE(before.WaitScriptsDone());
  REQUIRE(after.WaitScriptsDone());
  CHECK(before.connections() == 1);
  CHECK(before.received(0) == "a1 NOOP\r\na2 LOGOUT\r\n");
  CHECK(after.connections() == 2);
  CHECK(after.received(0) == "b1 LOGOUT\r\n");
  CHECK(after.received(1) == "c1 LOGOUT\r\n");
  QuietStats(proxy, 3);
}

// ---- TLS policy -------------------------------------------------------------------

TEST_CASE("TLS: 1.1 refused when the minimum is 1.2; 1.2 only when the minimum is 1.3") {
  ScriptedBackend backend(MiniImap);
  TestSetup setup;
  Proxy proxy(setup.Config({backend.port()}));
  TlsClient old(setup.port, "", TLS1_1_VERSION);
  CHECK_FALSE(old.Handshake());
  TlsClient ok(setup.port, "", TLS1_2_VERSION);
  CHECK(ok.Handshake());
  ok.SendCloseNotify();
  auto stats = QuietStats(proxy, 2);
  CHECK(ClosedCount(stats, "tls_error") == 1);

  TestSetup strict;
  auto config = strict.Config({backend.port()});
  config["tls"]["min_version"] = "1.3";
  Proxy proxy13(config);
  TlsClient tls12(strict.port, "", TLS1_2_VERSION);
  CHECK_FALSE(tls12.Handshake());
  TlsClient tls13(strict.port);
  CHECK(tls13.Handshake());
  CHECK(tls13.version() == "TLSv1.3");
}

TEST_CASE("TLS: SNI picks the certificate (exact, wildcard), no SNI gets the first") {
  ScriptedBackend backend(MiniImap);
  TestSetup setup;
  auto mail = MakeTestCert(setup.dir, "mail", {"mail.example.com"});
  auto wild = MakeTestCert(setup.dir, "wild", {"*.example.org"});
  auto config = setup.Config({backend.port()});
  config["tls"]["certificates"].push_back(
      {{"cert", mail.cert_path}, {"key", mail.key_path}, {"names", {"mail.example.com"}}});
  config["tls"]["certificates"].push_back(
      {{"cert", wild.cert_path}, {"key", wild.key_path}, {"names", {"*.example.org"}}});
  Proxy proxy(config);
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"mail.example.com", "mail.example.com"},
      {"imap.example.org", "*.example.org"},
      {"other.example.net", "localhost"},
      {"", "localhost"}};
  for (const auto& [sni, cn] : cases) {
    TlsClient client(setup.port, sni);
    REQUIRE(client.Handshake());
    CHECK_MESSAGE(client.PeerCommonName() == cn, "sni " << sni);
    client.SendCloseNotify();
  }
  QuietStats(proxy, cases.size());
}

TEST_CASE("TLS: ECDSA and RSA certificates side by side for the same names") {
  ScriptedBackend backend(MiniImap);
  TestSetup setup;
  auto ec = MakeTestCert(setup.dir, "dual-ec", {"dual.example"});
  auto rsa = MakeTestCert(setup.dir, "dual-rsa", {"dual.example"}, true);
  auto config = setup.Config({backend.port()});
  config["tls"]["certificates"].push_back(
      {{"cert", rsa.cert_path}, {"key", rsa.key_path}, {"names", {"dual.example"}}});
  config["tls"]["certificates"].push_back(
      {{"cert", ec.cert_path}, {"key", ec.key_path}, {"names", {"dual.example"}}});
  Proxy proxy(config);
  for (uint16_t version : {uint16_t{TLS1_2_VERSION}, uint16_t{TLS1_3_VERSION}}) {
    TlsClient modern(setup.port, "dual.example", version);
    REQUIRE(modern.Handshake());
    CHECK(modern.PeerKeyType() == EVP_PKEY_EC);
    modern.SendCloseNotify();
    TlsClient rsa_only(setup.port, "dual.example", version);
    rsa_only.OnlyRsa();
    REQUIRE(rsa_only.Handshake());
    CHECK(rsa_only.PeerKeyType() == EVP_PKEY_RSA);
    CHECK(rsa_only.PeerCommonName() == "dual.example");
    rsa_only.SendCloseNotify();
  }
  // Clients that name ECDSA but cannot use this certificate get the RSA one:
  // a TLS 1.2 client without ECDHE-ECDSA suites, a TLS 1.3 client whose only
  // ECDSA scheme is for another curve.
  TlsClient rsa_suites(setup.port, "dual.example", TLS1_2_VERSION);
  rsa_suites.CipherList("ECDHE-RSA-AES128-GCM-SHA256");
  REQUIRE(rsa_suites.Handshake());
  CHECK(rsa_suites.PeerKeyType() == EVP_PKEY_RSA);
  rsa_suites.SendCloseNotify();
  TlsClient p384(setup.port, "dual.example", TLS1_3_VERSION);
  p384.SignatureSchemes({SSL_SIGN_ECDSA_SECP384R1_SHA384, SSL_SIGN_RSA_PSS_RSAE_SHA256});
  REQUIRE(p384.Handshake());
  CHECK(p384.PeerKeyType() == EVP_PKEY_RSA);
  p384.SendCloseNotify();
  QuietStats(proxy, 6);
}

TEST_CASE("TLS: the certificate chain is served complete") {
  ScriptedBackend backend(MiniImap);
  TestSetup setup;
  auto chain = MakeTestChain(setup.dir, "chain.example");
  for (bool complete : {true, false}) {
    auto config = setup.Config({backend.port()});
    config["tls"]["certificates"] = {
        {{"cert", complete ? chain.chain_path : chain.leaf_only_path}, {"key", chain.key_path}}};
    Proxy proxy(config);
    TlsClient client(setup.port, "chain.example");
    client.Verify(chain.root_path, "chain.example");
    // Only the root is trusted: the intermediate must come from the server.
    CHECK(client.Handshake() == complete);
  }
}

TEST_CASE("TLS: a reconnecting client resumes its session (tickets), on any worker") {
  ScriptedBackend backend(MiniImap);
  TestSetup setup;
  Proxy proxy(setup.Config({backend.port()}));
  for (uint16_t version : {uint16_t{TLS1_2_VERSION}, uint16_t{TLS1_3_VERSION}}) {
    bssl::UniquePtr<SSL_SESSION> session;
    {
      TlsClient first(setup.port, "localhost", version);
      REQUIRE(first.Handshake());
      REQUIRE(first.ReadUntil(kGreeting));  // TLS 1.3 tickets come after the handshake
      CHECK_FALSE(first.Resumed());
      session = first.Session();
      first.SendCloseNotify();
    }
    REQUIRE(session);
    int resumed = 0;
    for (int i = 0; i < 6; ++i) {  // several connections: the kernel spreads them over workers
      TlsClient again(setup.port, "localhost", version);
      again.OfferSession(session.get());
      REQUIRE(again.Handshake());
      REQUIRE(again.ReadUntil(kGreeting));
      if (again.Resumed()) ++resumed;
      again.SendCloseNotify();
    }
    CHECK_MESSAGE(resumed == 6, "version " << version);
  }
}

// ---- connection caps -------------------------------------------------------------

const std::string kTooMany = "* BYE [UNAVAILABLE] Too many connections, try again later\r\n";

// Opens a session and waits for the backend's greeting through it.
std::unique_ptr<TlsClient> Greeted(uint16_t port, const std::string& sni = "") {
  auto client = std::make_unique<TlsClient>(port, sni);
  REQUIRE(client->Handshake());
  REQUIRE(client->ReadUntil(kGreeting));
  return client;
}

TEST_CASE("caps: global max_connections across workers; a freed slot is usable again") {
  ScriptedBackend backend(MiniImap);
  TestSetup setup;
  auto config = setup.Config({backend.port()});
  config["workers"] = 2;
  config["limits"] = {{"max_connections", 3}};
  Proxy proxy(config);
  std::vector<std::unique_ptr<TlsClient>> open;
  for (int i = 0; i < 3; ++i) open.push_back(Greeted(setup.port));
  for (int i = 0; i < 2; ++i) {
    TlsClient over(setup.port);
    REQUIRE(over.Handshake());
    CHECK(over.WaitEof());
    CHECK(over.received() == kTooMany);
  }
  CHECK(backend.connections() == 3);  // the backend never saw the refused ones
  REQUIRE(open[0]->Send("a LOGOUT\r\n"));
  CHECK(open[0]->WaitEof());
  REQUIRE(WaitFor([&] { return proxy.Stats()["connections"]["active"] == 2; }));
  auto again = Greeted(setup.port);
  CHECK(backend.connections() == 4);
  for (auto& c : open) c->SendCloseNotify();
  again->SendCloseNotify();
  auto stats = QuietStats(proxy, 6);
  CHECK(ClosedCount(stats, "limit") == 2);
}

TEST_CASE("caps: max_connections_per_ip") {
  ScriptedBackend backend(MiniImap);
  TestSetup setup;
  auto config = setup.Config({backend.port()});
  config["limits"] = {{"max_connections_per_ip", 2}};
  Proxy proxy(config);
  auto a = Greeted(setup.port);
  auto b = Greeted(setup.port);
  TlsClient over(setup.port);
  REQUIRE(over.Handshake());
  CHECK(over.WaitEof());
  CHECK(over.received() == kTooMany);
  CHECK(backend.connections() == 2);
  a->SendCloseNotify();
  b->SendCloseNotify();
  auto stats = QuietStats(proxy, 3);
  CHECK(ClosedCount(stats, "limit") == 1);
}

TEST_CASE("caps: a route's max_connections leaves other routes alone") {
  ScriptedBackend small(MiniImap);
  ScriptedBackend other(MiniImap);
  TestSetup setup;
  auto config = setup.Config({other.port()});
  config["routes"] = {
      {{"name", "small"},
       {"sni", {"small.example"}},
       {"backends", {"127.0.0.1:" + std::to_string(small.port())}},
       {"limits", {{"max_connections", 1}}}},
      {{"name", "default"}, {"backends", {"127.0.0.1:" + std::to_string(other.port())}}}};
  Proxy proxy(config);
  auto first = Greeted(setup.port, "small.example");
  TlsClient over(setup.port, "small.example");
  REQUIRE(over.Handshake());
  CHECK(over.WaitEof());
  CHECK(over.received() == kTooMany);
  auto elsewhere = Greeted(setup.port, "other.example");
  CHECK(small.connections() == 1);
  CHECK(other.connections() == 1);
  first->SendCloseNotify();
  elsewhere->SendCloseNotify();
  auto stats = QuietStats(proxy, 3);
  CHECK(stats["routes"]["small"]["closed"]["limit"] == 1);
  CHECK(stats["routes"]["small"]["accepted"] == 2);
}

// ---- access log ------------------------------------------------------------------

std::vector<nlohmann::json> ReadJsonLines(const std::string& path) {
  std::vector<nlohmann::json> lines;
  std::istringstream in(ReadFile(path));
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) lines.push_back(nlohmann::json::parse(line));
  }
  return lines;
}

TEST_CASE(
    "access log: one JSON line per session, users from LOGIN and AUTHENTICATE, no passwords") {
  ScriptedBackend backend(MiniImap);
  TestSetup setup;
  auto config = setup.Config({backend.port()});
  const std::string log_path = setup.dir + "/access.log";
  config["log"]["access_log"] = log_path;
  Proxy proxy(config);
  auto session = [&](const std::string& commands) {
    TlsClient client(setup.port, "localhost");
    REQUIRE(client.Handshake(commands));
    CHECK(client.WaitEof());
  };
  session("a1 LOGIN alice \"s3cret-one\"\r\na2 APPEND INBOX {3+}\r\nabc\r\na3 LOGOUT\r\n");
  // AUTHENTICATE PLAIN with an initial response: "\0bob\0hunter2-two".
  session("b1 AUTHENTICATE PLAIN AGJvYgBodW50ZXIyLXR3bw==\r\nb2 LOGOUT\r\n");
  session("c1 LOGIN {5+}\r\ncarol {12+}\r\nsecret-three\r\nc2 LOGOUT\r\n");
  QuietStats(proxy, 3);
  REQUIRE(WaitFor([&] { return ReadJsonLines(log_path).size() == 3; }));
  auto lines = ReadJsonLines(log_path);
  std::map<std::string, nlohmann::json> by_user;
  for (const auto& l : lines) by_user[l["user"].get<std::string>()] = l;
  REQUIRE(by_user.count("alice"));
  REQUIRE(by_user.count("bob"));
  REQUIRE(by_user.count("carol"));
  const auto& alice = by_user["alice"];
  CHECK(alice["reason"] == "logout");
  CHECK(alice["listener"] == "imaps");
  CHECK(alice["route"] == "default");
  CHECK(alice["sni"] == "localhost");
  CHECK(alice["tls_version"] == "TLSv1.3");
  CHECK(alice["cipher"].get<std::string>().size() > 0);
  CHECK(alice["commands"] == 3);
  CHECK(alice["appends"] == 1);
  CHECK(alice["bytes_in"].get<uint64_t>() > 40);
  CHECK(alice["bytes_out"].get<uint64_t>() > 40);
  CHECK(alice["duration_seconds"].get<double>() >= 0);
  CHECK(alice["client"].get<std::string>().starts_with("127.0.0.1:"));
  for (const char* key :
       {"ts", "conn", "client", "listener", "route", "sni", "tls_version", "cipher", "user",
        "duration_seconds", "bytes_in", "bytes_out", "commands", "appends", "reason"}) {
    CHECK_MESSAGE(alice.contains(key), key);
  }
  const std::string everything = ReadFile(log_path) + proxy.Log();
  for (const char* secret : {"s3cret-one", "hunter2-two", "secret-three", "aHVudGVy"}) {
    CHECK_MESSAGE(everything.find(secret) == std::string::npos, secret);
  }
}

TEST_CASE("access log: SIGUSR1 reopens the file (logrotate)") {
  ScriptedBackend backend(MiniImap);
  TestSetup setup;
  auto config = setup.Config({backend.port()});
  const std::string log_path = setup.dir + "/access.log";
  config["log"]["access_log"] = log_path;
  Proxy proxy(config);
  {
    TlsClient client(setup.port);
    REQUIRE(client.Handshake("a LOGOUT\r\n"));
    CHECK(client.WaitEof());
  }
  REQUIRE(WaitFor([&] { return ReadJsonLines(log_path).size() == 1; }));
  REQUIRE(std::rename(log_path.c_str(), (log_path + ".1").c_str()) == 0);
  proxy.Signal(SIGUSR1);
  REQUIRE(WaitFor([&] { return proxy.Log().find("access log reopened") != std::string::npos; }));
  {
    TlsClient client(setup.port);
    REQUIRE(client.Handshake("b LOGOUT\r\n"));
    CHECK(client.WaitEof());
  }
  REQUIRE(WaitFor([&] { return ReadJsonLines(log_path).size() == 1; }));
  CHECK(ReadJsonLines(log_path + ".1").size() == 1);
}

// ---- STARTTLS -------------------------------------------------------------------

// A config with the implicit-TLS listener and a STARTTLS one on |plain_port|.
nlohmann::json WithStartTls(nlohmann::json config, uint16_t plain_port) {
  config["listeners"].push_back({{"name", "imap"},
                                 {"listen", "127.0.0.1:" + std::to_string(plain_port)},
                                 {"mode", "starttls"}});
  return config;
}

// Reads plaintext from |s| until |needle| shows up (bounded).
bool ReadPlainUntil(Socket& s, std::string* got, std::string_view needle) {
  char buf[4096];
  for (int i = 0; i < 1000 && got->find(needle) == std::string::npos; ++i) {
    ssize_t n = s.ReadSome(buf, sizeof(buf), kWait);
    if (n <= 0) return false;
    got->append(buf, static_cast<size_t>(n));
  }
  return got->find(needle) != std::string::npos;
}

const std::string kStartTlsGreeting =
    "* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] imapfront ready\r\n";

TEST_CASE("STARTTLS: greeting, capabilities, nothing but CAPABILITY/NOOP/LOGOUT/STARTTLS") {
  ScriptedBackend backend(MiniImap);
  TestSetup setup;
  const uint16_t plain_port = FreePort();
  Proxy proxy(WithStartTls(setup.Config({backend.port()}), plain_port));
  Socket s = Socket::Connect(plain_port);
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
  CHECK(backend.connections() == 0);  // no credential, nothing, reached a backend
  auto stats = QuietStats(proxy);
  CHECK(ClosedCount(stats, "logout") == 1);
}

TEST_CASE("STARTTLS: bytes pipelined after STARTTLS are discarded, never executed") {
  ScriptedBackend backend(MiniImap);
  TestSetup setup;
  const uint16_t plain_port = FreePort();
  Proxy proxy(WithStartTls(setup.Config({backend.port()}), plain_port));
  Socket s = Socket::Connect(plain_port);
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
  REQUIRE(backend.WaitScriptsDone());
  CHECK(backend.received(0) == "c CAPABILITY\r\nd LOGOUT\r\n");
  auto stats = QuietStats(proxy);
  CHECK(ClosedCount(stats, "logout") == 1);
  CHECK(stats["tls"]["handshakes"] == 1);
}

TEST_CASE("STARTTLS: no STARTTLS within handshake_timeout gets a BYE") {
  ScriptedBackend backend(MiniImap);
  TestSetup setup;
  const uint16_t plain_port = FreePort();
  auto config = WithStartTls(setup.Config({backend.port()}), plain_port);
  config["limits"] = {{"handshake_timeout", 0.4}};
  Proxy proxy(config);
  Socket s = Socket::Connect(plain_port);
  std::string got;
  REQUIRE(ReadPlainUntil(s, &got, "Autologout; no STARTTLS in time\r\n"));
  CHECK(got == kStartTlsGreeting + "* BYE Autologout; no STARTTLS in time\r\n");
  auto stats = QuietStats(proxy);
  CHECK(ClosedCount(stats, "handshake_timeout") == 1);
}

TEST_CASE("STARTTLS: over the cap, the greeting is a BYE") {
  ScriptedBackend backend(MiniImap);
  TestSetup setup;
  const uint16_t plain_port = FreePort();
  auto config = WithStartTls(setup.Config({backend.port()}), plain_port);
  config["limits"] = {{"max_connections", 1}};
  Proxy proxy(config);
  auto first = Greeted(setup.port);
  Socket s = Socket::Connect(plain_port);
  std::string got;
  REQUIRE(ReadPlainUntil(s, &got, "\r\n"));
  CHECK(got == "* BYE [UNAVAILABLE] Too many connections, try again later\r\n");
  first->SendCloseNotify();
  auto stats = QuietStats(proxy, 2);
  CHECK(ClosedCount(stats, "limit") == 1);
}

// ---- lifetime and shutdown ------------------------------------------------------

TEST_CASE("lifetime: an APPEND still trickling in completes before the BYE") {
  ScriptedBackend backend(MiniImap);
  TestSetup setup;
  auto config = setup.Config({backend.port()});
  config["limits"] = {{"max_lifetime", 0.4}, {"lifetime_grace", 20}};
  Proxy proxy(config);
  TlsClient client(setup.port);
  REQUIRE(client.Handshake());
  REQUIRE(client.ReadUntil(kGreeting));
  REQUIRE(client.Send("a1 APPEND INBOX {40}\r\n"));
  REQUIRE(client.ReadUntil("+ Ready"));
  for (int i = 0; i < 10; ++i) {  // 2 s: well past the lifetime
    REQUIRE(client.Send("abcd"));
    std::this_thread::sleep_for(200ms);
  }
  CHECK(client.received().find("BYE") == std::string::npos);
  REQUIRE(client.Send("\r\n"));
  CHECK(client.WaitEof());
  CHECK(client.received() == kGreeting +
                                 "+ Ready for literal data\r\na1 OK done\r\n"
                                 "* BYE Session lifetime reached; please reconnect\r\n");
  REQUIRE(backend.WaitScriptsDone());
  std::string literal;
  for (int i = 0; i < 10; ++i) literal += "abcd";
  CHECK(backend.received(0) == "a1 APPEND INBOX {40}\r\n" + literal + "\r\n");
  auto stats = QuietStats(proxy);
  CHECK(ClosedCount(stats, "lifetime") == 1);
}

TEST_CASE("lifetime: an IDLE session is ended at its lifetime") {
  ScriptedBackend backend([](BackendConnection& c) {
    c.Send(kGreeting);
    if (!c.ReadUntil("a1 IDLE\r\n")) return;
    c.Send("+ idling\r\n");
    c.WaitEof();
  });
  TestSetup setup;
  auto config = setup.Config({backend.port()});
  config["limits"] = {{"max_lifetime", 0.5}, {"lifetime_grace", 20}};
  Proxy proxy(config);
  TlsClient client(setup.port);
  auto start = std::chrono::steady_clock::now();
  REQUIRE(client.Handshake());
  REQUIRE(client.Send("a1 IDLE\r\n"));
  REQUIRE(client.ReadUntil("+ idling\r\n"));
  CHECK(client.WaitEof());
  auto elapsed = std::chrono::steady_clock::now() - start;
  CHECK(elapsed >= 450ms);
  CHECK(elapsed < 5s);  // not the grace: an IDLE is not a command in progress
  CHECK(client.received() ==
        kGreeting + "+ idling\r\n* BYE Session lifetime reached; please reconnect\r\n");
  auto stats = QuietStats(proxy);
  CHECK(ClosedCount(stats, "lifetime") == 1);
}

TEST_CASE("lifetime grace: a command that never finishes is cut at the grace's end") {
  ScriptedBackend backend(MiniImap);
  TestSetup setup;
  auto config = setup.Config({backend.port()});
  config["limits"] = {{"max_lifetime", 0.3}, {"lifetime_grace", 0.5}};
  Proxy proxy(config);
  TlsClient client(setup.port);
  auto start = std::chrono::steady_clock::now();
  REQUIRE(client.Handshake());
  REQUIRE(client.Send("a1 APPEND INBOX {100}\r\n"));
  REQUIRE(client.ReadUntil("+ Ready"));
  REQUIRE(client.Send("only part"));
  CHECK(client.WaitEof());
  CHECK(std::chrono::steady_clock::now() - start >= 750ms);
  CHECK(client.received().ends_with("* BYE Session lifetime reached; please reconnect\r\n"));
  auto stats = QuietStats(proxy);
  CHECK(ClosedCount(stats, "lifetime") == 1);
}

TEST_CASE("SIGTERM: idle sessions end at once, a command in progress finishes first") {
  ScriptedBackend backend(MiniImap);
  TestSetup setup;
  auto config = setup.Config({backend.port()});
  config["limits"] = {{"shutdown_grace", 20}};
  const std::string log_path = setup.dir + "/access.log";
  config["log"]["access_log"] = log_path;
  Proxy proxy(config);
  TlsClient idle(setup.port);
  REQUIRE(idle.Handshake());
  REQUIRE(idle.ReadUntil(kGreeting));
  TlsClient busy(setup.port);
  REQUIRE(busy.Handshake());
  REQUIRE(busy.Send("a1 APPEND INBOX {8}\r\n"));
  REQUIRE(busy.ReadUntil("+ Ready"));
  REQUIRE(busy.Send("1234"));
  REQUIRE(WaitFor([&] { return backend.received(1).size() + backend.received(0).size() > 24; }));
  proxy.Signal(SIGTERM);
  CHECK(idle.WaitEof());
  CHECK(idle.received() == kGreeting + "* BYE Server shutting down\r\n");
  // logrotate's SIGUSR1 and a reload's SIGHUP during the grace must not
  // kill the process.
  proxy.Signal(SIGUSR1);
  proxy.Signal(SIGHUP);
  std::this_thread::sleep_for(300ms);
  REQUIRE(busy.Send("5678\r\n"));
  CHECK(busy.WaitEof());
  CHECK(busy.received() == kGreeting +
                               "+ Ready for literal data\r\na1 OK done\r\n"
                               "* BYE Server shutting down\r\n");
  CHECK(proxy.WaitExit() == 0);
  // The stats endpoint is gone with the process; the access log tells.
  auto lines = ReadJsonLines(log_path);
  REQUIRE(lines.size() == 2);
  CHECK(lines[0]["reason"] == "shutdown");
  CHECK(lines[1]["reason"] == "shutdown");
  CHECK(lines[0]["commands"] == 0);  // the idle one ended first
  CHECK(lines[1]["appends"] == 1);
}

TEST_CASE("SIGHUP: listeners added and removed; open sessions on a removed one go on") {
  ScriptedBackend backend(MiniImap);
  TestSetup setup;
  Proxy proxy(setup.Config({backend.port()}));
  auto open = Greeted(setup.port);

  const uint16_t new_port = FreePort();
  auto moved = setup.Config({backend.port()});
  moved["listeners"] = {{{"name", "imaps2"},
                         {"listen", "127.0.0.1:" + std::to_string(new_port)},
                         {"mode", "implicit_tls"}}};
  proxy.Reload(moved);
  REQUIRE(WaitFor([&] { return proxy.Log().find("reloaded") != std::string::npos; }));
  auto fresh = Greeted(new_port);
  // Every worker closes its socket for the old port; then it refuses.
  CHECK(WaitFor([&] { return !Socket::Connect(setup.port).valid(); }));
  REQUIRE(open->Send("a1 NOOP\r\n"));
  CHECK(open->ReadUntil("a1 OK done\r\n"));

  // A listener on an address someone else holds: the reload is refused whole.
  Socket holder;
  const uint16_t taken = FreePort();
  {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(taken);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0);
    REQUIRE(listen(fd, 1) == 0);
    holder = Socket(fd);
  }
  auto clash = moved;
  clash["listeners"].push_back({{"name", "clash"},
                                {"listen", "127.0.0.1:" + std::to_string(taken)},
                                {"mode", "implicit_tls"}});
  proxy.Reload(clash);
  REQUIRE(
      WaitFor([&] { return proxy.Log().find("keeping the running config") != std::string::npos; }));
  auto still = Greeted(new_port);
  open->SendCloseNotify();
  fresh->SendCloseNotify();
  still->SendCloseNotify();
  QuietStats(proxy, 3);
}

TEST_CASE("many sessions on several workers: each counted exactly once") {
  ScriptedBackend backend(MiniImap);
  TestSetup setup;
  Proxy proxy(setup.Config({backend.port()}));
  constexpr int kSessions = 40;
  for (int i = 0; i < kSessions; ++i) {
    TlsClient client(setup.port);
    REQUIRE(client.Handshake("a" + std::to_string(i) + " LOGOUT\r\n"));
    CHECK(client.WaitEof());
  }
  REQUIRE(backend.WaitScriptsDone());
  auto stats = QuietStats(proxy, kSessions);
  CHECK(stats["routes"]["default"]["accepted"] == kSessions);
  CHECK(ClosedCount(stats, "logout") == kSessions);
}

TEST_CASE("stress: hundreds of sessions with random faults; every one counted exactly once") {
  // The backend fails some sessions on purpose: reset after the greeting,
  // or no greeting at all.
  std::atomic<int> backend_faults{0};
  ScriptedBackend backend([&](BackendConnection& c) {
    thread_local std::mt19937 rng(std::random_device{}());
    const auto roll = rng() % 20;
    if (roll == 0) {
      ++backend_faults;
      c.WaitEof(2s);  // silent: the proxy's connect timeout ends it
      return;
    }
    if (roll == 1) {
      ++backend_faults;
      c.Send(kGreeting);
      c.socket().Reset();
      return;
    }
    MiniImap(c);
  });
  TestSetup setup;
  auto config = setup.Config({backend.port()});
  // Debug lines and access log lines share stderr: each must stay whole.
  config["log"]["level"] = "debug";
  config["limits"] = {
      {"handshake_timeout", 0.5}, {"backend_connect_timeout", 0.3}, {"idle_timeout", 3}};
  Proxy proxy(config);

  constexpr int kThreads = 4;
  constexpr auto kDuration = 4s;
  std::atomic<int> sessions{0}, faults{0};
  const auto deadline = std::chrono::steady_clock::now() + kDuration;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(1000 + t);
      for (int i = 0; i < 10000 && std::chrono::steady_clock::now() < deadline; ++i) {
        ++sessions;
        const auto action = rng() % 8;
        if (action == 0) {  // connect and vanish
          ++faults;
          Socket s = Socket::Connect(setup.port);
          s.Reset();
          continue;
        }
        if (action == 1) {  // garbage instead of a ClientHello
          ++faults;
          Socket s = Socket::Connect(setup.port);
          s.SendAll(i % 2 ? "GET / HTTP/1.0\r\n\r\n" : "\x16\x03\x01 partial record", 1s);
          char buf[64];
          s.ReadSome(buf, sizeof(buf), 1s);
          continue;
        }
        TlsClient client(setup.port);
        if (!client.Handshake()) continue;
        if (action == 2) {  // reset mid-literal
          ++faults;
          client.Send("a1 APPEND INBOX {100+}\r\n" + std::string(50, 'x'));
          client.socket().Reset();
          continue;
        }
        if (action == 3) {  // close_notify mid-command, then leave
          ++faults;
          client.Send("a1 APPEND INBOX {100+}\r\nxyz");
          client.SendCloseNotify();
          client.socket().Close();
          continue;
        }
        client.Send("a1 LOGIN user pass\r\na2 APPEND INBOX {10+}\r\n0123456789\r\na3 LOGOUT\r\n");
        client.WaitEof(5s);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  REQUIRE(backend.WaitScriptsDone(15s));
  auto stats = QuietStats(proxy, static_cast<uint64_t>(sessions.load()));
  uint64_t closed = 0;
  for (const auto& [reason, count] : stats["closed"].items()) closed += count.get<uint64_t>();
  CHECK(closed == static_cast<uint64_t>(sessions.load()));
  MESSAGE("stress: " << sessions.load() << " sessions in " << kDuration.count() << " s, "
                     << faults.load() << " client faults, " << backend_faults.load()
                     << " backend faults; closed " << stats["closed"].dump());
  CHECK(sessions.load() > 150);
  CHECK(proxy.Stop() == 0);
  std::istringstream log(proxy.Log());
  std::string line;
  size_t json_lines = 0;
  for (int i = 0; i < 1000000 && std::getline(log, line); ++i) {
    if (line.starts_with("{")) {
      CHECK_NOTHROW(nlohmann::json::parse(line));
      ++json_lines;
    } else {
      CHECK_MESSAGE(line.find("{\"") == std::string::npos, line);
    }
  }
  CHECK(json_lines == static_cast<size_t>(sessions.load()));
}

TEST_CASE("stats endpoint: /healthz, /metrics, 404") {
  TestSetup setup;
  Proxy proxy(setup.Config({FreePort()}));
  CHECK(HttpGet(proxy.stats_port(), "/healthz").find("HTTP/1.1 200 OK") == 0);
  std::string metrics = HttpGet(proxy.stats_port(), "/metrics");
  CHECK(metrics.find("HTTP/1.1 200 OK") == 0);
  CHECK(metrics.find("# TYPE imapfront_connections_closed_total counter") != std::string::npos);
  CHECK(metrics.find("imapfront_connections_closed_total{reason=\"tls_error\"} 0") !=
        std::string::npos);
  CHECK(metrics.find("imapfront_connections_accepted_total 0") != std::string::npos);
  CHECK(HttpGet(proxy.stats_port(), "/nope").find("HTTP/1.1 404") == 0);

  // A request whose first segment fills the server's read buffer exactly.
  Socket s = Socket::Connect(proxy.stats_port());
  std::string head = "GET /healthz HTTP/1.1\r\nX-Pad: ";
  head += std::string(2048 - head.size(), 'p');
  REQUIRE(s.SendAll(head));
  std::this_thread::sleep_for(100ms);
  REQUIRE(s.SendAll("\r\n\r\n"));
  char buf[512];
  ssize_t n = s.ReadSome(buf, sizeof(buf), 5s);
  REQUIRE(n > 0);
  CHECK(std::string(buf, static_cast<size_t>(n)).find("HTTP/1.1 200 OK") == 0);
}

TEST_CASE("command line: --version, --check-config, bad config, address in use") {
  TestSetup setup;
  auto version = RunCommand({IMAPFRONT_BINARY, "--version"});
  CHECK(version.exit_code == 0);
  CHECK(version.output.find("BoringSSL") != std::string::npos);
  CHECK(version.output.find("libuv") != std::string::npos);

  std::string good = setup.dir + "/good.json";
  WriteFile(good, setup.Config({143}).dump());
  auto ok = RunCommand({IMAPFRONT_BINARY, "--check-config", good});
  CHECK(ok.exit_code == 0);
  CHECK(ok.output == "config ok\n");

  auto bad_config = setup.Config({143});
  bad_config["routes"][0]["backends"][0] = "127.0.0.1:70000";
  bad_config["tls"]["certificates"][0]["key"] = setup.dir + "/missing.key";
  std::string bad = setup.dir + "/bad.json";
  WriteFile(bad, bad_config.dump());
  auto check = RunCommand({IMAPFRONT_BINARY, "--check-config", bad});
  CHECK(check.exit_code == 1);
  CHECK(check.output.find(bad + ": routes[0].backends[0]: port 70000 out of range 1..65535") !=
        std::string::npos);
  auto run_bad = RunCommand({IMAPFRONT_BINARY, "--config", bad});
  CHECK(run_bad.exit_code == 1);

  auto wrong_key = setup.Config({143});
  wrong_key["tls"]["certificates"][0]["key"] = setup.dir + "/missing.key";
  WriteFile(bad, wrong_key.dump());
  check = RunCommand({IMAPFRONT_BINARY, "--check-config", bad});
  CHECK(check.exit_code == 1);
  CHECK(check.output.find(bad + ": tls.certificates[0].key") != std::string::npos);

  CHECK(RunCommand({IMAPFRONT_BINARY, "--bogus"}).exit_code == 1);

  auto per_ip = setup.Config({143});
  per_ip["routes"][0]["limits"] = {{"max_connections_per_ip", 3}};
  WriteFile(bad, per_ip.dump());
  check = RunCommand({IMAPFRONT_BINARY, "--check-config", bad});
  CHECK(check.exit_code == 1);
  CHECK(check.output.find(bad + ": routes[0].limits.max_connections_per_ip") != std::string::npos);

  {
    // A second imapfront on the same listen address must not share it.
    Proxy first(setup.Config({143}));
    auto second_config = setup.Config({143});
    second_config["stats"] = {{"listen", "127.0.0.1:" + std::to_string(FreePort())}};
    std::string second = setup.dir + "/second.json";
    WriteFile(second, second_config.dump());
    auto again = RunCommand({IMAPFRONT_BINARY, "--config", second});
    CHECK(again.exit_code == 2);
    CHECK(again.output.find("in use") != std::string::npos);
  }
  // A plain listener (no SO_REUSEPORT) holds the port: exit 2, naming it.
  Socket holder;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(setup.port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0);
  REQUIRE(listen(fd, 1) == 0);
  holder = Socket(fd);
  auto in_use = RunCommand({IMAPFRONT_BINARY, "--config", good});
  CHECK(in_use.exit_code == 2);
  CHECK(in_use.output.find("127.0.0.1:" + std::to_string(setup.port)) != std::string::npos);
  CHECK(in_use.output.find("in use") != std::string::npos);
}

}  // namespace
}  // namespace imapfront::testing
