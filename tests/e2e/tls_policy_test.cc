// End to end: TLS policy: minimum versions, certificates by SNI and by key
// type, complete chains, session resumption across workers.
#include <doctest/doctest.h>
#include <openssl/evp.h>

#include <string>
#include <utility>
#include <vector>

#include "tests/e2e/e2e_fixture.h"
#include "tests/support/harness.h"

namespace imapfront::testing {
namespace {

TEST_CASE("TLS: 1.1 refused when the minimum is 1.2, 1.2 only when the minimum is 1.3") {
  E2e t;
  TlsClient old(t.port(), "", TLS1_1_VERSION);
  CHECK_FALSE(old.Handshake());
  TlsClient ok(t.port(), "", TLS1_2_VERSION);
  CHECK(ok.Handshake());
  ok.SendCloseNotify();
  auto stats = t.QuietStats(2);
  CHECK(ClosedCount(stats, "tls_error") == 1);

  E2e strict([](Json& config) { config["tls"]["min_version"] = "1.3"; });
  TlsClient tls12(strict.port(), "", TLS1_2_VERSION);
  CHECK_FALSE(tls12.Handshake());
  TlsClient tls13(strict.port());
  CHECK(tls13.Handshake());
  CHECK(tls13.version() == "TLSv1.3");
}

TEST_CASE("TLS: SNI picks the certificate (exact, wildcard), no SNI gets the first") {
  const std::string dir = MakeTempDir();
  auto mail = MakeTestCert(dir, "mail", {"mail.example.com"});
  auto wild = MakeTestCert(dir, "wild", {"*.example.org"});
  E2e t([&](Json& config) {
    config["tls"]["certificates"].push_back(
        {{"cert", mail.cert_path}, {"key", mail.key_path}, {"names", {"mail.example.com"}}});
    config["tls"]["certificates"].push_back(
        {{"cert", wild.cert_path}, {"key", wild.key_path}, {"names", {"*.example.org"}}});
  });
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"mail.example.com", "mail.example.com"},
      {"imap.example.org", "*.example.org"},
      {"other.example.net", "localhost"},
      {"", "localhost"}};
  for (const auto& [sni, cn] : cases) {
    auto client = t.Handshaken(sni);
    CHECK_MESSAGE(client->PeerCommonName() == cn, "sni " << sni);
    client->SendCloseNotify();
  }
  t.QuietStats(cases.size());
}

TEST_CASE("TLS: ECDSA and RSA certificates side by side for the same names") {
  const std::string dir = MakeTempDir();
  auto ec = MakeTestCert(dir, "dual-ec", {"dual.example"});
  auto rsa = MakeTestCert(dir, "dual-rsa", {"dual.example"}, true);
  E2e t([&](Json& config) {
    config["tls"]["certificates"].push_back(
        {{"cert", rsa.cert_path}, {"key", rsa.key_path}, {"names", {"dual.example"}}});
    config["tls"]["certificates"].push_back(
        {{"cert", ec.cert_path}, {"key", ec.key_path}, {"names", {"dual.example"}}});
  });
  for (uint16_t version : {uint16_t{TLS1_2_VERSION}, uint16_t{TLS1_3_VERSION}}) {
    TlsClient modern(t.port(), "dual.example", version);
    REQUIRE(modern.Handshake());
    CHECK(modern.PeerKeyType() == EVP_PKEY_EC);
    modern.SendCloseNotify();
    TlsClient rsa_only(t.port(), "dual.example", version);
    rsa_only.OnlyRsa();
    REQUIRE(rsa_only.Handshake());
    CHECK(rsa_only.PeerKeyType() == EVP_PKEY_RSA);
    CHECK(rsa_only.PeerCommonName() == "dual.example");
    rsa_only.SendCloseNotify();
  }
  // Clients that name ECDSA but cannot use this certificate get the RSA one:
  // a TLS 1.2 client without ECDHE-ECDSA suites, a TLS 1.3 client whose only
  // ECDSA scheme is for another curve.
  TlsClient rsa_suites(t.port(), "dual.example", TLS1_2_VERSION);
  rsa_suites.CipherList("ECDHE-RSA-AES128-GCM-SHA256");
  REQUIRE(rsa_suites.Handshake());
  CHECK(rsa_suites.PeerKeyType() == EVP_PKEY_RSA);
  rsa_suites.SendCloseNotify();
  TlsClient p384(t.port(), "dual.example", TLS1_3_VERSION);
  p384.SignatureSchemes({SSL_SIGN_ECDSA_SECP384R1_SHA384, SSL_SIGN_RSA_PSS_RSAE_SHA256});
  REQUIRE(p384.Handshake());
  CHECK(p384.PeerKeyType() == EVP_PKEY_RSA);
  p384.SendCloseNotify();
  t.QuietStats(6);
}

TEST_CASE("TLS: the certificate chain is served complete") {
  auto chain = MakeTestChain(MakeTempDir(), "chain.example");
  for (bool complete : {true, false}) {
    E2e t([&](Json& config) {
      config["tls"]["certificates"] = {
          {{"cert", complete ? chain.chain_path : chain.leaf_only_path}, {"key", chain.key_path}}};
    });
    auto client = t.Client("chain.example");
    client->Verify(chain.root_path, "chain.example");
    // Only the root is trusted: the intermediate must come from the server.
    CHECK(client->Handshake() == complete);
  }
}

TEST_CASE("TLS: a reconnecting client resumes its session (tickets), on any worker") {
  E2e t;
  for (uint16_t version : {uint16_t{TLS1_2_VERSION}, uint16_t{TLS1_3_VERSION}}) {
    bssl::UniquePtr<SSL_SESSION> session;
    {
      TlsClient first(t.port(), "localhost", version);
      REQUIRE(first.Handshake());
      REQUIRE(first.ReadUntil(kGreeting));  // TLS 1.3 tickets come after the handshake
      CHECK_FALSE(first.Resumed());
      session = first.Session();
      first.SendCloseNotify();
    }
    REQUIRE(session);
    int resumed = 0;
    for (int i = 0; i < 6; ++i) {  // several connections: the kernel spreads them over workers
      TlsClient again(t.port(), "localhost", version);
      again.OfferSession(session.get());
      REQUIRE(again.Handshake());
      REQUIRE(again.ReadUntil(kGreeting));
      if (again.Resumed()) ++resumed;
      again.SendCloseNotify();
    }
    CHECK_MESSAGE(resumed == 6, "version " << version);
  }
}

}  // namespace
}  // namespace imapfront::testing
