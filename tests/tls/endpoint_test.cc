// The TLS endpoint over borrowed buffers: every cut of the ciphertext, several
// records in one feed, bytes left inside the library after a read,
// close_notify, garbage.
#include <doctest/doctest.h>

#include <string>
#include <utility>

#include "tests/support/test_certs.h"
#include "tls/context.h"
#include "tls/endpoint.h"

namespace imapfront::tls {
namespace {

using testing::MakeTempDir;
using testing::MakeTestCert;

std::span<const uint8_t> Bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

struct StringSink : CiphertextSink {
  std::string bytes;
  void OnCiphertext(std::span<const uint8_t> b) override {
    bytes.append(reinterpret_cast<const char*>(b.data()), b.size());
  }
  std::string Take() { return std::exchange(bytes, {}); }
};

// Feeds |ciphertext| and drains the endpoint completely, with an output
// buffer of |out_size| bytes. Returns the plaintext; *status is the status
// that ended the drain.
std::string FeedAndDrain(Endpoint& e, const std::string& ciphertext, size_t out_size,
                         Endpoint::Status* status) {
  e.Feed(Bytes(ciphertext));
  std::string plain;
  std::string buf(out_size, '\0');
  for (int i = 0; i < 1000000; ++i) {
    auto r = e.Read({reinterpret_cast<uint8_t*>(buf.data()), buf.size()});
    *status = r.status;
    if (r.status != Endpoint::Status::kData) break;
    plain.append(buf.data(), r.bytes);
  }
  return plain;
}

// A connected client/server pair; the handshake has completed.
struct Pair {
  std::shared_ptr<const ServerContext> server_ctx;
  bssl::UniquePtr<SSL_CTX> client_ctx{SSL_CTX_new(TLS_method())};
  StringSink to_client, to_server;
  std::unique_ptr<Endpoint> server, client;

  int tickets = 0;  // sessions the server gave the client (NewSessionTicket)

  explicit Pair(uint16_t max_version = TLS1_3_VERSION) {
    std::string dir = MakeTempDir();
    auto cert = MakeTestCert(dir, "server", {"mail.example.com"});
    std::vector<std::string> errors;
    server_ctx = ServerContext::Create({Version::kTls12, {{cert.cert_path, cert.key_path, {}, ""}}},
                                       &errors);
    REQUIRE(server_ctx);
    SSL_CTX_set_max_proto_version(client_ctx.get(), max_version);
    SSL_CTX_set_session_cache_mode(client_ctx.get(), SSL_SESS_CACHE_CLIENT);
    SSL_CTX_sess_set_new_cb(client_ctx.get(), [](SSL* ssl, SSL_SESSION*) {
      ++static_cast<Pair*>(SSL_get_app_data(ssl))->tickets;
      return 0;  // not kept
    });
    server = std::make_unique<Endpoint>(server_ctx->NewSession(), &to_client);
    bssl::UniquePtr<SSL> c(SSL_new(client_ctx.get()));
    SSL_set_connect_state(c.get());
    SSL_set_tlsext_host_name(c.get(), "mail.example.com");
    SSL_set_app_data(c.get(), this);
    client = std::make_unique<Endpoint>(std::move(c), &to_server);
    Endpoint::Status s;
    for (int round = 0; round < 10 && !(server->handshake_done() && client->handshake_done());
         ++round) {
      FeedAndDrain(*client, to_client.Take(), 100, &s);
      FeedAndDrain(*server, to_server.Take(), 100, &s);
    }
    REQUIRE(server->handshake_done());
    REQUIRE(client->handshake_done());
    // Let the client take the server's last flight (tickets in TLS 1.3).
    FeedAndDrain(*client, to_client.Take(), 100, &s);
  }

  // The client's ciphertext for |pieces|, one TLS record (at least) each.
  std::string Records(const std::vector<std::string>& pieces) {
    for (const std::string& p : pieces) REQUIRE(client->Write(Bytes(p)));
    return to_server.Take();
  }
};

const std::vector<std::string> kAppend = {"a1 APPEND INBOX {11}\r\n", "hello world", "\r\n",
                                          "a2 NOOP\r\n"};
const std::string kAppendText = "a1 APPEND INBOX {11}\r\nhello world\r\na2 NOOP\r\n";

TEST_CASE("handshake reports version, cipher and SNI") {
  Pair p;
  CHECK(std::string(p.server->version()) == "TLSv1.3");
  CHECK(std::string(p.server->cipher()).size() > 0);
  CHECK(std::string(p.server->server_name()) == "mail.example.com");
}

TEST_CASE("a TLS 1.3 handshake sends one session ticket, not BoringSSL's default two") {
  Pair p;
  // The tickets go out with the server's first write (the greeting).
  REQUIRE(p.server->Write(Bytes("* OK ready\r\n")));
  Endpoint::Status s;
  CHECK(FeedAndDrain(*p.client, p.to_client.Take(), 100, &s) == "* OK ready\r\n");
  CHECK(p.tickets == 1);
}

TEST_CASE("the handshake configuration is shed once the handshake is done") {
  Pair p;
  // A shed SSL has no certificate of its own left to hand out (Debian's
  // BoringSSL is a release build: a debug build asserts in this call).
  CHECK(SSL_get_certificate(p.server->ssl()) == nullptr);
  std::string ct = p.Records(kAppend);
  Endpoint::Status s;
  CHECK(FeedAndDrain(*p.server, ct, 100, &s) == kAppendText);
}

TEST_CASE("several records in one feed all come out") {
  Pair p;
  std::string ct = p.Records(kAppend);
  Endpoint::Status s;
  CHECK(FeedAndDrain(*p.server, ct, 65536, &s) == kAppendText);
  CHECK(s == Endpoint::Status::kWantInput);
  CHECK(p.server->unread_input() == 0);
}

TEST_CASE("ciphertext cut at every byte position gives the same plaintext") {
  for (uint16_t version : {uint16_t{TLS1_2_VERSION}, uint16_t{TLS1_3_VERSION}}) {
    Pair p(version);
    std::string ct = p.Records(kAppend);
    // One byte per feed: every record boundary and every byte inside a
    // record is a cut.
    Endpoint::Status s;
    std::string plain;
    for (size_t i = 0; i < ct.size(); ++i) {
      plain += FeedAndDrain(*p.server, ct.substr(i, 1), 65536, &s);
      REQUIRE(s == Endpoint::Status::kWantInput);
      REQUIRE(p.server->unread_input() == 0);
    }
    CHECK(plain == kAppendText);
  }
}

TEST_CASE("every two-way cut of the stream gives the same plaintext") {
  Pair reference;
  const size_t length = reference.Records(kAppend).size();
  for (size_t cut = 0; cut <= length; ++cut) {
    Pair p;
    std::string ct = p.Records(kAppend);
    REQUIRE(ct.size() == length);
    Endpoint::Status s;
    std::string plain = FeedAndDrain(*p.server, ct.substr(0, cut), 65536, &s);
    REQUIRE(s == Endpoint::Status::kWantInput);
    plain += FeedAndDrain(*p.server, ct.substr(cut), 65536, &s);
    REQUIRE(s == Endpoint::Status::kWantInput);
    CHECK(plain == kAppendText);
  }
}

TEST_CASE("plaintext buffered inside the library is delivered without more input") {
  Pair p;
  std::string ct = p.Records(kAppend);
  // A 3-byte output buffer: most of each record stays inside BoringSSL after
  // a read. Draining must deliver it all before asking for more input.
  Endpoint::Status s;
  CHECK(FeedAndDrain(*p.server, ct, 3, &s) == kAppendText);
  CHECK(s == Endpoint::Status::kWantInput);
}

TEST_CASE("a literal's CR/LF alone in its own record") {
  Pair p;
  std::string first = p.Records({"a1 APPEND INBOX {5}\r\n", "hello"});
  std::string crlf = p.Records({"\r\n"});
  Endpoint::Status s;
  CHECK(FeedAndDrain(*p.server, first, 65536, &s) == "a1 APPEND INBOX {5}\r\nhello");
  CHECK(FeedAndDrain(*p.server, crlf, 65536, &s) == "\r\n");
  CHECK(s == Endpoint::Status::kWantInput);
}

TEST_CASE("close_notify after data: data first, then kClosed") {
  Pair p;
  std::string ct = p.Records({"a LOGOUT\r\n"});
  p.client->SendCloseNotify();
  ct += p.to_server.Take();
  Endpoint::Status s;
  CHECK(FeedAndDrain(*p.server, ct, 65536, &s) == "a LOGOUT\r\n");
  CHECK(s == Endpoint::Status::kClosed);
}

TEST_CASE("server to client: large writes arrive whole") {
  Pair p;
  std::string big(100000, 'x');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('a' + i % 26);
  REQUIRE(p.server->Write(Bytes(big)));
  Endpoint::Status s;
  CHECK(FeedAndDrain(*p.client, p.to_client.Take(), 4096, &s) == big);
}

TEST_CASE("garbage instead of a ClientHello is an error with a reason") {
  std::string dir = MakeTempDir();
  auto cert = MakeTestCert(dir, "server", {"localhost"});
  std::vector<std::string> errors;
  auto ctx =
      ServerContext::Create({Version::kTls12, {{cert.cert_path, cert.key_path, {}, ""}}}, &errors);
  REQUIRE(ctx);
  StringSink sink;
  Endpoint server(ctx->NewSession(), &sink);
  Endpoint::Status s;
  FeedAndDrain(server, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 100, &s);
  CHECK(s == Endpoint::Status::kError);
  CHECK(!server.error().empty());
}

TEST_CASE("context errors name the certificate entry") {
  std::string dir = MakeTempDir();
  auto a = MakeTestCert(dir, "a", {"a.example"});
  auto b = MakeTestCert(dir, "b", {"b.example"});
  std::vector<std::string> errors;
  auto ctx = ServerContext::Create({Version::kTls12,
                                    {{a.cert_path, a.key_path, {}, ""},
                                     {a.cert_path, b.key_path, {}, ""},
                                     {dir + "/none.pem", a.key_path, {}, ""}}},
                                   &errors);
  CHECK(!ctx);
  REQUIRE(errors.size() == 2);
  CHECK(errors[0].find("tls.certificates[1].key") == 0);
  CHECK(errors[0].find("does not match") != std::string::npos);
  CHECK(errors[1].find("tls.certificates[2].cert") == 0);
}

TEST_CASE("SNI selects the certificate: exact, wildcard, default") {
  std::string dir = MakeTempDir();
  auto a = MakeTestCert(dir, "a", {"default.example"});
  auto b = MakeTestCert(dir, "b", {"mail.example.com"});
  auto c = MakeTestCert(dir, "c", {"*.example.org"});
  std::vector<std::string> errors;
  auto ctx = ServerContext::Create({Version::kTls12,
                                    {{a.cert_path, a.key_path, {}, ""},
                                     {b.cert_path, b.key_path, {"mail.example.com"}, ""},
                                     {c.cert_path, c.key_path, {"*.example.org"}, ""}}},
                                   &errors);
  REQUIRE(ctx);
  SSL_CTX* def = ctx->ContextForName("");
  CHECK(ctx->ContextForName("MAIL.example.com") != def);
  CHECK(ctx->ContextForName("imap.example.org") != def);
  CHECK(ctx->ContextForName("imap.example.org") != ctx->ContextForName("mail.example.com"));
  CHECK(ctx->ContextForName("a.b.example.org") == def);
  CHECK(ctx->ContextForName("other.example") == def);
}

TEST_CASE("certificates without names are selected by their subjectAltName, else their CN") {
  std::string dir = MakeTempDir();
  auto a = MakeTestCert(dir, "a", {"default.example"});
  auto b = MakeTestCert(dir, "b", {"Mail.Example.com", "*.example.net"});
  auto c = MakeTestCert(dir, "c", {"cn-only.example"}, false, /*san=*/false);
  std::vector<std::string> errors;
  auto ctx = ServerContext::Create({Version::kTls12,
                                    {{a.cert_path, a.key_path, {}, ""},
                                     {b.cert_path, b.key_path, {}, ""},
                                     {c.cert_path, c.key_path, {}, ""},
                                     {a.cert_path, a.key_path, {"given.example"}, ""}}},
                                   &errors);
  REQUIRE(ctx);
  const auto names = ctx->CertificateNames();
  REQUIRE(names.size() == 4);
  CHECK(names[0] == std::vector<std::string>{"default.example"});
  CHECK(names[1] == std::vector<std::string>{"mail.example.com", "*.example.net"});
  CHECK(names[2] == std::vector<std::string>{"cn-only.example"});
  CHECK(names[3] == std::vector<std::string>{"given.example"});  // as configured, not the SAN
  SSL_CTX* def = ctx->ContextForName("");
  CHECK(ctx->ContextForName("mail.example.com") != def);
  CHECK(ctx->ContextForName("imap.example.net") == ctx->ContextForName("mail.example.com"));
  CHECK(ctx->ContextForName("cn-only.example") != def);
  CHECK(ctx->ContextForName("cn-only.example") != ctx->ContextForName("mail.example.com"));
  CHECK(ctx->ContextForName("given.example") != def);
  CHECK(ctx->NeverSelected().empty());
}

TEST_CASE("NeverSelected: certificates no client can be given") {
  std::string dir = MakeTempDir();
  auto a = MakeTestCert(dir, "a", {"a.example"});
  auto a_again = MakeTestCert(dir, "a2", {"a.example"});
  auto a_rsa = MakeTestCert(dir, "ar", {"a.example"}, /*rsa=*/true);
  auto b = MakeTestCert(dir, "b", {"b.example"});
  std::vector<std::string> errors;
  auto ctx =
      ServerContext::Create({Version::kTls12,
                             {{a.cert_path, a.key_path, {}, ""},
                              {a_again.cert_path, a_again.key_path, {}, ""},  // shadowed by 0
                              {a_rsa.cert_path, a_rsa.key_path, {}, ""},      // RSA: a fallback
                              {b.cert_path, b.key_path, {"b.example", "a.example"}, ""},
                              {b.cert_path, b.key_path, {"b.example"}, ""}}},  // shadowed by 3
                            &errors);
  REQUIRE(ctx);
  CHECK(ctx->NeverSelected() == std::vector<size_t>{1, 4});
}

}  // namespace
}  // namespace imapfront::tls
