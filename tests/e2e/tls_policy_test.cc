// End to end: TLS policy: minimum versions, certificates by SNI and by key
// type, complete chains, session resumption across workers.
#include <doctest/doctest.h>
#include <openssl/evp.h>

#include <string>
#include <utility>
#include <vector>

#include "tests/e2e/e2e_fixture.h"
#include "tests/support/harness.h"
#include "tests/support/test_ocsp.h"

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

TEST_CASE("TLS: 1.2 suites in the server's order, whatever the client prefers") {
  E2e t;  // an ECDSA certificate
  const std::vector<std::pair<const char*, std::string>> cases = {
      {"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES128-GCM-SHA256",
       "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"},
      {"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305",
       "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"},
      {"ECDHE-ECDSA-AES256-GCM-SHA384", "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"}};
  for (const auto& [offer, chosen] : cases) {
    TlsClient client(t.port(), "", TLS1_2_VERSION);
    client.CipherList(offer);
    REQUIRE(client.Handshake());
    CHECK_MESSAGE(client.cipher() == chosen, offer);
    client.SendCloseNotify();
  }
  // CBC suites only exist for an operator who opted into TLS 1.0/1.1.
  TlsClient cbc(t.port(), "", TLS1_2_VERSION);
  cbc.CipherList("ECDHE-ECDSA-AES128-SHA");
  CHECK_FALSE(cbc.Handshake());
  auto stats = t.QuietStats(cases.size() + 1);
  CHECK(stats["tls"]["versions"]["TLSv1.2"] == cases.size());
  CHECK(stats["tls"]["versions"]["TLSv1.3"] == 0);
}

TEST_CASE("TLS: min_version 1.0 is an opt-in: old clients served, a warning at start and reload") {
  E2e t([](Json& config) { config["tls"]["min_version"] = "1.0"; });
  // logfmt escapes the quotes around the value.
  const std::string warning = R"(tls.min_version: \"1.0\" lets clients use TLS 1.0 and 1.1 )";
  CHECK(t.proxy.Log().find("level=warn event=config_warning") != std::string::npos);
  CHECK(t.proxy.Log().find(warning) != std::string::npos);
  for (uint16_t version : {uint16_t{TLS1_VERSION}, uint16_t{TLS1_1_VERSION}}) {
    TlsClient old(t.port(), "", version);
    REQUIRE(old.Handshake("a1 LOGOUT\r\n"));
    CHECK(old.cipher() == "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA");
    CHECK(old.ReadUntil("a1 OK"));
    CHECK(old.WaitEof());
  }
  auto modern = t.Greeted();
  CHECK(modern->version() == "TLSv1.3");
  modern->SendCloseNotify();
  auto stats = t.QuietStats(3);
  CHECK(stats["tls"]["versions"] ==
        Json({{"TLSv1.3", 1}, {"TLSv1.2", 0}, {"TLSv1.1", 1}, {"TLSv1", 1}}));
  const std::string metrics = HttpGet(t.proxy.stats_port(), "/metrics");
  CHECK(metrics.find("imapfront_tls_version_handshakes_total{version=\"TLSv1\"} 1\n") !=
        std::string::npos);

  Json config = Json::parse(ReadFile(t.proxy.config_path()));
  config["tls"]["min_version"] = "1.1";
  t.proxy.Reload(config);
  REQUIRE(WaitFor([&] { return t.proxy.Log().find("event=reload ") != std::string::npos; }));
  CHECK(WaitFor([&] {
    return t.proxy.Log().find(R"(tls.min_version: \"1.1\" lets clients use TLS 1.1 )") !=
           std::string::npos;
  }));
  // The workers take the new config just after the log line: retry (bounded).
  uint64_t attempts = 0;
  CHECK(WaitFor([&] {
    ++attempts;
    TlsClient ten(t.port(), "", TLS1_VERSION);
    const bool served = ten.Handshake();
    if (served) ten.SendCloseNotify();
    return !served;
  }));
  TlsClient eleven(t.port(), "", TLS1_1_VERSION);
  CHECK(eleven.Handshake());
  eleven.SendCloseNotify();
  t.QuietStats(3 + attempts + 1);
}

TEST_CASE("TLS: each certificate staples its own OCSP response, after SNI chose it") {
  const std::string dir = MakeTempDir();
  auto local = MakeTestChain(dir, "localhost");
  auto mail = MakeTestChain(dir, "mail.example");
  auto plain = MakeTestCert(dir, "plain", {"plain.example"});
  const std::string local_ocsp = MakeOcspResponse(local.chain_path, dir + "/local.der");
  const std::string mail_ocsp = MakeOcspResponse(mail.chain_path, dir + "/mail.der");
  E2e t([&](Json& config) {
    config["tls"]["certificates"] = {
        {{"cert", local.chain_path}, {"key", local.key_path}, {"ocsp", dir + "/local.der"}},
        {{"cert", mail.chain_path}, {"key", mail.key_path}, {"ocsp", dir + "/mail.der"}},
        {{"cert", plain.cert_path}, {"key", plain.key_path}}};
  });
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", local_ocsp}, {"mail.example", mail_ocsp}, {"plain.example", ""}};
  for (const auto& [sni, staple] : cases) {
    for (uint16_t version : {uint16_t{TLS1_2_VERSION}, uint16_t{TLS1_3_VERSION}}) {
      TlsClient client(t.port(), sni, version);
      client.RequestOcsp();
      REQUIRE(client.Handshake());
      CHECK_MESSAGE(client.OcspResponse() == staple, "sni ", sni, " version ", version);
      client.SendCloseNotify();
    }
  }
  t.QuietStats(2 * cases.size());
}

TEST_CASE("TLS: an OCSP response is stapled, re-read on SIGHUP, and a bad one refused by name") {
  const std::string dir = MakeTempDir();
  auto chain = MakeTestChain(dir, "localhost");
  const std::string ocsp = dir + "/localhost.ocsp.der";
  const std::string first = MakeOcspResponse(chain.chain_path, ocsp);
  auto with_chain = [&](Json& config) {
    config["tls"]["certificates"][0] = {
        {"cert", chain.chain_path}, {"key", chain.key_path}, {"ocsp", ocsp}};
  };
  E2e t(with_chain);
  {
    TlsClient client(t.port());
    client.RequestOcsp();
    REQUIRE(client.Handshake());
    CHECK(client.OcspResponse() == first);
    client.SendCloseNotify();
  }
  {
    TlsClient unasked(t.port());  // a client that does not ask gets none
    REQUIRE(unasked.Handshake());
    CHECK(unasked.OcspResponse().empty());
    unasked.SendCloseNotify();
  }
  // The updater wrote a fresh response: SIGHUP staples it.
  const std::string second = MakeOcspResponse(chain.chain_path, ocsp, {.sha256 = true});
  REQUIRE(second != first);
  const Json config = Json::parse(ReadFile(t.proxy.config_path()));
  t.proxy.Reload(config);
  REQUIRE(WaitFor([&] { return t.proxy.Log().find("event=reload ") != std::string::npos; }));
  // The workers take the new config just after the log line: retry (bounded).
  uint64_t attempts = 0;
  CHECK(WaitFor([&] {
    ++attempts;
    TlsClient client(t.port());
    client.RequestOcsp();
    if (!client.Handshake()) return false;
    client.SendCloseNotify();
    return client.OcspResponse() == second;
  }));
  // An expired one is refused, naming the file; the running staple stays.
  MakeOcspResponse(chain.chain_path, ocsp, {.this_update = -7200, .next_update = -60});
  t.proxy.Reload(config);
  REQUIRE(WaitFor([&] { return t.proxy.Log().find("event=reload_refused") != std::string::npos; }));
  CHECK(t.proxy.Log().find("tls.certificates[0].ocsp: " + ocsp + " has expired") !=
        std::string::npos);
  {
    TlsClient client(t.port());
    client.RequestOcsp();
    REQUIRE(client.Handshake());
    CHECK(client.OcspResponse() == second);
    client.SendCloseNotify();
  }
  CommandResult check = RunCommand({IMAPFRONT_BINARY, "--check-config", t.proxy.config_path()});
  CHECK(check.exit_code == 1);
  CHECK(check.output.find(ocsp + " has expired (its nextUpdate has passed) (" + chain.chain_path +
                          ")") != std::string::npos);
  t.QuietStats(3 + attempts);
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
