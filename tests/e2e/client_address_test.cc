// End to end: SPEC "Client addresses: PROXY protocol in, client address
// out". A balancer's PROXY header (v1, v2) in front of real TLS, cut at
// every byte or coalesced with the ClientHello; what untrusted, missing or
// malformed headers get (nothing); the forwarded address in the caps, the
// throttle and the logs; and routes[].forward_client toward scripted
// backends that record the PROXY headers and ID commands they receive.
#include <doctest/doctest.h>

#include <string>
#include <thread>
#include <vector>

#include "tests/e2e/e2e_fixture.h"
#include "tests/e2e/login_backend.h"
#include "tests/support/harness.h"

namespace imapfront::testing {
namespace {

const std::string kV1 = "PROXY TCP4 192.0.2.10 198.51.100.1 51234 993\r\n";
const std::string kV1Six = "PROXY TCP6 2001:db8::10 2001:db8::1 40000 993\r\n";
// v2 PROXY TCP4 192.0.2.10:51234 -> 198.51.100.1:993, with a TLV (skipped).
const std::string kV2(
    "\r\n\r\n\0\r\nQUIT\n\x21\x11\x00\x12"
    "\xc0\x00\x02\x0a\xc6\x33\x64\x01\xc8\x22\x03\xe1"
    "\x04\x00\x03xyz",
    34);
const std::string kV2Local("\r\n\r\n\0\r\nQUIT\n\x20\x00\x00\x00", 16);
// The start of a TLS ClientHello record, as a client sends it first.
const std::string kHelloStart("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11);
const std::string kV2Signature("\r\n\r\n\0\r\nQUIT\n", 12);

// The listener takes PROXY headers from 127.0.0.1 (where the tests are).
std::function<void(Json&)> Balanced(std::vector<std::string> trusted = {"127.0.0.0/8"},
                                    std::function<void(Json&)> more = nullptr) {
  return [trusted, more](Json& config) {
    config["trusted_proxies"] = trusted;
    for (Json& listener : config["listeners"]) listener["proxy_protocol"] = true;
    if (more) more(config);
  };
}

// A TLS client whose connection starts with |header|: its first |cut| bytes
// in a send() of their own, the rest in front of the ClientHello.
std::unique_ptr<TlsClient> BehindBalancer(uint16_t port, const std::string& header,
                                          size_t cut = 0) {
  Socket s = Socket::Connect(port);
  REQUIRE(s.valid());
  if (cut > 0) {
    REQUIRE(s.SendAll(header.substr(0, cut)));
    // Apart in time, so that imapfront reads the cut as it is.
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  auto client = std::make_unique<TlsClient>(std::move(s));
  client->Preface(header.substr(cut));
  return client;
}

// The connection is closed (FIN or RST) with not a byte sent.
void CheckClosedSilently(Socket& s) {
  char buf[64];
  const ssize_t n = s.ReadSome(buf, sizeof(buf), kWait);
  CHECK_MESSAGE(n == 0, "read " << n << " bytes instead of the end");
}

// A backend behind forward_client proxy_v1/v2: skips the PROXY header its
// connection starts with (if any), then plays MiniImap.
void HeaderImap(BackendConnection& c) {
  c.Send(kGreeting);  // at once: a health check waits for it
  if (!c.ReadBytes(1)) return;
  size_t skip = 0;
  if (c.received()[0] == 'P') {
    if (!c.ReadUntil("\r\n")) return;
    skip = c.received().find("\r\n") + 2;
  } else if (c.received()[0] == '\r') {
    if (!c.ReadBytes(16)) return;
    const std::string head = c.received();
    skip = 16 + ((static_cast<uint8_t>(head[14]) << 8) | static_cast<uint8_t>(head[15]));
    if (!c.ReadBytes(skip)) return;
  }
  MiniImapFrom(c, skip, false);
}

std::string AccessClients(const std::string& path) {
  std::string out;
  for (const Json& line : ReadJsonLines(path)) out += line["client"].get<std::string>() + ",";
  return out;
}

}  // namespace

TEST_CASE(
    "proxy_protocol: v1 and v2 headers cut at every byte, or coalesced with the "
    "ClientHello; the header's source is the client in every log") {
  E2e t(E2eOptions{.config = Balanced(), .access_log = true});
  size_t sessions = 0;
  std::string expected;
  for (const std::string* header : {&kV1, &kV2, &kV1Six}) {
    for (size_t cut = 0; cut <= header->size(); ++cut) {
      CAPTURE(cut);
      auto client = BehindBalancer(t.port(), *header, cut);
      REQUIRE(client->Handshake());
      REQUIRE(client->ReadUntil(kGreeting));
      REQUIRE(client->Send("a1 LOGOUT\r\n"));
      REQUIRE(client->WaitEof());
      ++sessions;
      expected += header == &kV1Six ? "[2001:db8::10]:40000," : "192.0.2.10:51234,";
    }
  }
  // Each byte of the header in a send() of its own, then the ClientHello.
  {
    Socket s = Socket::Connect(t.port());
    for (char c : kV2) {
      REQUIRE(s.SendAll(std::string(1, c)));
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    TlsClient client(std::move(s));
    REQUIRE(client.Handshake());
    REQUIRE(client.ReadUntil(kGreeting));
    ++sessions;
    expected += "192.0.2.10:51234,";
  }
  Json stats = t.QuietStats(sessions);
  CHECK(AccessClients(t.access_log) == expected);
  const std::string log = t.proxy.Log();
  CHECK(log.find("event=session_start conn=") != std::string::npos);
  CHECK(log.find("client=192.0.2.10:51234 listener=imaps") != std::string::npos);
  CHECK(log.find("event=proxy_header ") != std::string::npos);
  CHECK(log.find("proxy=127.0.0.1:") != std::string::npos);
  CHECK(ClosedCount(stats, "protocol_error") == 0);
}

TEST_CASE("proxy_protocol: on a STARTTLS listener the header comes before imapfront's greeting") {
  E2e t(E2eOptions{.config = Balanced(), .access_log = true, .starttls = true});
  Socket s = Socket::Connect(t.plain_port);
  char buf[256];
  // Nothing is said before the header: the client is not known yet.
  CHECK(s.ReadSome(buf, sizeof(buf), std::chrono::milliseconds(300)) == -1);
  REQUIRE(s.SendAll(kV1.substr(0, 9)));
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  REQUIRE(s.SendAll(kV1.substr(9)));
  std::string got;
  REQUIRE(ReadPlainUntil(s, &got, kStartTlsGreeting));
  CHECK(got == kStartTlsGreeting);
  REQUIRE(s.SendAll("s1 STARTTLS\r\n"));
  REQUIRE(ReadPlainUntil(s, &got, "s1 OK"));
  TlsClient client(std::move(s));
  REQUIRE(client.Handshake());
  REQUIRE(client.Send("a1 LOGOUT\r\n"));
  REQUIRE(client.WaitEof());
  t.QuietStats(1);
  CHECK(AccessClients(t.access_log) == "192.0.2.10:51234,");
}

TEST_CASE(
    "proxy_protocol: untrusted peers, missing and malformed headers are closed without a "
    "byte, protocol_error, no backend") {
  SUBCASE("a peer outside trusted_proxies") {
    E2e t(E2eOptions{.config = Balanced({"10.0.0.0/8", "::1/128"})});
    Socket s = Socket::Connect(t.port());
    REQUIRE(s.SendAll(kV1 + kHelloStart));
    CheckClosedSilently(s);
    Json stats = t.QuietStats(1);
    CHECK(ClosedCount(stats, "protocol_error") == 1);
    CHECK(t.backend.connections() == 0);
    CHECK(t.proxy.Log().find("event=proxy_untrusted") != std::string::npos);
  }
  SUBCASE("headers that are not, or not well formed") {
    E2e t(E2eOptions{.config = Balanced()});
    const std::vector<std::string> bad = {
        "",  // the ClientHello first: no header at all
        "PROXY TCP4 192.0.2.10 198.51.100.1 51234\r\n",
        "PROXY TCP4 192.0.2.10 198.51.100.1 51234 993\n",
        "PROXY TCP4 2001:db8::1 198.51.100.1 51234 993\r\n",
        "PROXY UNKNOWN " + std::string(120, 'x') + "\r\n",
        std::string("\r\n\r\n\0\r\nQUIT\n\x21\x11\x00\x04\x01\x02\x03\x04", 20),
        std::string("\r\n\r\n\0\r\nQUIT\n\x23\x11\x00\x00", 16),
    };
    for (const std::string& header : bad) {
      CAPTURE(header);
      Socket s = Socket::Connect(t.port());
      REQUIRE(s.SendAll(header + kHelloStart));
      CheckClosedSilently(s);
    }
    // A balancer's port check: connect, a header, nothing else, and gone.
    Socket raw = Socket::Connect(t.port());
    REQUIRE(raw.SendAll("GET / HTTP/1.0\r\n\r\n"));
    CheckClosedSilently(raw);
    Json stats = t.QuietStats(bad.size() + 1);
    CHECK(ClosedCount(stats, "protocol_error") == bad.size() + 1);
    CHECK(t.backend.connections() == 0);
    CHECK(t.proxy.Log().find("event=proxy_header_invalid") != std::string::npos);
  }
}

TEST_CASE("proxy_protocol: a header still incomplete at handshake_timeout ends as such") {
  E2e t(E2eOptions{.config = Balanced({"127.0.0.1/32"}, [](Json& config) {
                     config["limits"]["handshake_timeout"] = 0.3;
                   })});
  Socket s = Socket::Connect(t.port());
  REQUIRE(s.SendAll(kV1.substr(0, 20)));
  CheckClosedSilently(s);
  Json stats = t.QuietStats(1);
  CHECK(ClosedCount(stats, "handshake_timeout") == 1);
  CHECK(t.backend.connections() == 0);
}

TEST_CASE("proxy_protocol: a v2 LOCAL header keeps the connection's own address") {
  E2e t(E2eOptions{.config = Balanced(), .access_log = true});
  auto client = BehindBalancer(t.port(), kV2Local, 3);
  REQUIRE(client->Handshake());
  REQUIRE(client->ReadUntil(kGreeting));
  client.reset();
  t.QuietStats(1);
  const std::string clients = AccessClients(t.access_log);
  CHECK(clients.starts_with("127.0.0.1:"));
}

TEST_CASE("proxy_protocol: the per-IP cap counts the forwarded address, never the balancer's") {
  E2e t(E2eOptions{.config = Balanced({"127.0.0.1/32"}, [](Json& config) {
                     config["limits"]["max_connections_per_ip"] = 1;
                   })});
  const std::string a = "PROXY TCP4 192.0.2.1 127.0.0.1 1000 993\r\n";
  const std::string b = "PROXY TCP4 192.0.2.2 127.0.0.1 1000 993\r\n";
  // Two clients through one balancer: both served.
  auto first = BehindBalancer(t.port(), a);
  REQUIRE(first->Handshake());
  REQUIRE(first->ReadUntil(kGreeting));
  auto second = BehindBalancer(t.port(), b);
  REQUIRE(second->Handshake());
  REQUIRE(second->ReadUntil(kGreeting));
  // The first client again: over its cap.
  auto again = BehindBalancer(t.port(), a);
  REQUIRE(again->Handshake());
  REQUIRE(again->ReadUntil(kTooMany));
  REQUIRE(again->WaitEof());
  first.reset();
  second.reset();
  again.reset();
  Json stats = t.QuietStats(3);
  CHECK(ClosedCount(stats, "limit") == 1);
  CHECK(t.backend.connections() == 2);
}

TEST_CASE("proxy_protocol: failed logins are throttled per forwarded address") {
  const std::string kFailed = " NO [AUTHENTICATIONFAILED] Authentication failed\r\n";
  const std::string kLoginGreeting =
      "* OK [CAPABILITY IMAP4rev1 SASL-IR ID LITERAL+ AUTH=PLAIN] imapfront ready\r\n";
  E2e t(E2eOptions{.backend = LoginImap(), .config = Balanced({"127.0.0.1/32"}, [](Json& config) {
                                             config["listeners"][0]["login"] = "proxy";
                                             config["limits"]["auth_failure_delay"] = 0;
                                             config["limits"]["max_auth_failures_per_ip"] = 1;
                                             config["limits"]["auth_failure_window"] = 60;
                                           })});
  auto mallory = BehindBalancer(t.port(), "PROXY TCP4 203.0.113.66 127.0.0.1 1 993\r\n");
  REQUIRE(mallory->Handshake());
  REQUIRE(mallory->ReadUntil(kLoginGreeting));
  // More than one failure is a block: a1 fails, a2 (the right password too) is refused.
  REQUIRE(mallory->Send("a1 LOGIN alice x\r\na2 LOGIN alice secret\r\n"));
  REQUIRE(mallory->ReadUntil("a2 NO [UNAVAILABLE] Too many failed logins, try later\r\n"));
  // Another client behind the same balancer is not blocked.
  auto alice = BehindBalancer(t.port(), "PROXY TCP4 198.51.100.7 127.0.0.1 2 993\r\n");
  REQUIRE(alice->Handshake());
  REQUIRE(alice->ReadUntil(kLoginGreeting));
  REQUIRE(alice->Send("b1 LOGIN alice secret\r\n"));
  REQUIRE(alice->ReadUntil("b1 OK "));
  CHECK(mallory->received().find("a1" + kFailed) != std::string::npos);
  mallory.reset();
  alice.reset();
  Json stats = t.QuietStats(2);
  CHECK(stats["auth"]["throttled"] == 1);
  CHECK(stats["auth"]["failures"] == 1);
  CHECK(stats["auth"]["successes"] == 1);
  CHECK(t.backend.connections() == 2);  // mallory's a1 and alice's b1
  CHECK(t.proxy.Log().find("event=login conn=") != std::string::npos);
  CHECK(t.proxy.Log().find("client=203.0.113.66:1 listener=imaps user=alice result=throttled") !=
        std::string::npos);
}

TEST_CASE(
    "forward_client proxy_v1/proxy_v2: every backend connection starts with the header; "
    "health checks get none") {
  for (const char* mode : {"proxy_v1", "proxy_v2"}) {
    CAPTURE(mode);
    E2e t(HeaderImap, Balanced({"127.0.0.1/32"}, [mode](Json& config) {
            config["routes"][0]["forward_client"] = mode;
            config["routes"][0]["health_check"] = {{"interval", 60}, {"timeout", 2}};
          }));
    // The checker's first check comes at start: its connection is 0.
    REQUIRE(WaitFor([&] { return t.backend.received(0).find("LOGOUT") != std::string::npos; }));
    CHECK(t.backend.received(0) == "imapfront1 LOGOUT\r\n");
    // Behind a balancer: the forwarded client; the listener's address.
    auto client = BehindBalancer(t.port(), kV1, 7);
    REQUIRE(client->Handshake("a1 NOOP\r\n"));
    REQUIRE(client->ReadUntil("a1 OK done\r\n"));
    REQUIRE(client->Send("a2 LOGOUT\r\n"));
    REQUIRE(client->WaitEof());
    const std::string local = "127.0.0.1 51234 " + std::to_string(t.port());
    const std::string received = t.backend.received(1);
    if (std::string(mode) == "proxy_v1") {
      std::string v1 = "PROXY TCP4 192.0.2.10 ";
      v1.append(local).append("\r\na1 NOOP\r\na2 LOGOUT\r\n");
      CHECK(received == v1);
    } else {
      std::string v2 = kV2Signature;
      v2.append("\x21\x11\x00\x0c\xc0\x00\x02\x0a\x7f\x00\x00\x01\xc8\x22", 14);
      v2.push_back(static_cast<char>(t.port() >> 8));
      v2.push_back(static_cast<char>(t.port() & 0xff));
      CHECK(received == v2 + "a1 NOOP\r\na2 LOGOUT\r\n");
    }
    t.QuietStats(1);
  }
}

TEST_CASE(
    "forward_client proxy_v1 without an inbound header: the peer's address, before LOGIN "
    "on a login proxy listener") {
  E2e t(E2eOptions{.backend = HeaderImap, .config = [](Json& config) {
                     config["routes"][0]["forward_client"] = "proxy_v1";
                   }});
  auto client = t.Greeted();
  REQUIRE(client->Send("a1 LOGOUT\r\n"));
  REQUIRE(client->WaitEof());
  t.QuietStats(1);
  const std::string received = t.backend.received(0);
  CHECK(received.starts_with("PROXY TCP4 127.0.0.1 127.0.0.1 "));
  std::string tail = " ";
  tail.append(std::to_string(t.port())).append("\r\na1 LOGOUT\r\n");
  CHECK(received.find(tail) != std::string::npos);
}

TEST_CASE(
    "forward_client id: the ID goes before any client byte, at every cut of the client's "
    "first command, and its answer is swallowed whatever it is") {
  // Greets late, answers the ID with data and a BAD, then plays MiniImap.
  auto script = [](BackendConnection& c) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    c.Send(kGreeting);
    if (!c.ReadUntil(")\r\n")) return;
    const std::string id_line = c.received().substr(0, c.received().find("\r\n") + 2);
    c.Send(
        "* ID (\"name\" \"legacy\" \"note\" {3}\r\nabc)\r\n* OK noted\r\n"
        "imapfront1 BAD ID not here\r\n");
    // MiniImapFrom greets again; a real one would not: skip its greeting by
    // reading on from the ID line with our own loop.
    for (size_t pos = id_line.size(); pos < 100000;) {
      const std::string all = c.received();
      const size_t eol = all.find("\r\n", pos);
      if (eol == std::string::npos) {
        if (!c.ReadBytes(all.size() + 1)) return;
        continue;
      }
      const std::string line = all.substr(pos, eol - pos);
      pos = eol + 2;
      const std::string tag = line.substr(0, line.find(' '));
      if (line.find(" LOGOUT") != std::string::npos) {
        c.Send("* BYE bye\r\n" + tag + " OK LOGOUT completed\r\n");
        return;
      }
      if (line.ends_with("{5}")) {
        c.Send("+ go\r\n");
        if (!c.ReadBytes(pos + 5 + 2)) return;
        pos += 7;
      }
      c.Send(tag + " OK done\r\n");
    }
  };
  E2e t(script, Balanced({"127.0.0.1/32"},
                         [](Json& config) { config["routes"][0]["forward_client"] = "id"; }));
  const std::string command = "a1 APPEND INBOX {5}\r\nhello\r\na2 LOGOUT\r\n";
  const std::vector<TlsClient::Cut> cuts = {
      TlsClient::Cut::kOneSend, TlsClient::Cut::kSendPerRecord, TlsClient::Cut::kSendPerByte};
  int sessions = 0;
  for (size_t split = 0; split <= command.size(); split += 4) {
    for (TlsClient::Cut cut : cuts) {
      CAPTURE(split);
      auto client = BehindBalancer(t.port(), kV1);
      // The first part in the handshake's last flight (before the backend
      // greeted), the rest as |cut| says.
      REQUIRE(client->Handshake(command.substr(0, split)));
      std::vector<std::string> pieces;
      for (size_t i = split; i < command.size(); i += 3) pieces.push_back(command.substr(i, 3));
      if (!pieces.empty()) REQUIRE(client->Send(pieces, cut));
      REQUIRE(client->ReadUntil("a2 OK LOGOUT completed\r\n"));
      REQUIRE(client->WaitEof());
      const std::string seen = client->received();
      CHECK(seen == kGreeting + "+ go\r\na1 OK done\r\n* BYE bye\r\na2 OK LOGOUT completed\r\n");
      const std::string got = t.backend.received(static_cast<size_t>(sessions));
      const std::string id =
          "imapfront1 ID (\"x-originating-ip\" \"192.0.2.10\" \"x-originating-port\" \"51234\" "
          "\"x-connected-ip\" \"127.0.0.1\" \"x-connected-port\" \"" +
          std::to_string(t.port()) + "\" \"x-session-id\" \"";
      CHECK(got.starts_with(id));
      CHECK(got.substr(got.find(")\r\n") + 3) == command);
      ++sessions;
      if (split == 0 || split == command.size()) break;  // one cut is enough there
    }
  }
  t.QuietStats(static_cast<uint64_t>(sessions));
}

TEST_CASE("forward_client id on a login proxy listener: the ID goes before imapfront's LOGIN") {
  E2e t(E2eOptions{.backend = LoginImap(), .config = Balanced({"127.0.0.1/32"}, [](Json& config) {
                                             config["listeners"][0]["login"] = "proxy";
                                             config["routes"][0]["forward_client"] = "id";
                                           })});
  auto client = BehindBalancer(t.port(), kV2, 16);
  REQUIRE(client->Handshake("a1 LOGIN alice secret\r\n"));
  REQUIRE(client->ReadUntil("a1 OK "));
  REQUIRE(client->Send("a2 LOGOUT\r\n"));
  REQUIRE(client->WaitEof());
  t.QuietStats(1);
  const std::string got = t.backend.received(0);
  CHECK(got.starts_with("imapfront1 ID (\"x-originating-ip\" \"192.0.2.10\" "));
  CHECK(got.find(")\r\na1 LOGIN \"alice\" \"secret\"\r\n") != std::string::npos);
  CHECK(client->received().find("* ID") == std::string::npos);
  CHECK(client->received().find("imapfront1") == std::string::npos);
}

}  // namespace imapfront::testing
