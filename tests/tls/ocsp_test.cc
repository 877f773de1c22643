// OCSP responses checked before stapling: tls/ocsp.h, and the context that
// staples them (tls.certificates[].ocsp).
#include "tls/ocsp.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "tests/support/test_certs.h"
#include "tests/support/test_ocsp.h"
#include "tls/context.h"

namespace imapfront::tls {
namespace {

using testing::MakeOcspResponse;
using testing::MakeTempDir;
using testing::MakeTestChain;
using testing::OcspSpec;

struct Chain {
  bssl::UniquePtr<X509> leaf, issuer;
};

Chain Load(const std::string& path) {
  auto certs = testing::ReadCertificates(path);
  REQUIRE(certs.size() == 2);  // leaf, intermediate
  return {std::move(certs[0]), std::move(certs[1])};
}

std::vector<uint8_t> Bytes(const std::string& s) {
  return {s.begin(), s.end()};
}

std::string Verdict(const std::string& der, const Chain& c, bool with_issuer = true) {
  const std::vector<uint8_t> bytes = Bytes(der);
  return CheckOcspResponse(bytes, c.leaf.get(), with_issuer ? c.issuer.get() : nullptr,
                           std::time(nullptr));
}

TEST_CASE("OCSP: a good response about the certificate passes, with SHA-1 or SHA-256 CertIDs") {
  const std::string dir = MakeTempDir();
  auto chain = MakeTestChain(dir, "mail.example");
  const Chain c = Load(chain.chain_path);
  CHECK(Verdict(MakeOcspResponse(chain.chain_path, dir + "/a.der"), c) == "");
  CHECK(Verdict(MakeOcspResponse(chain.chain_path, dir + "/b.der", {.sha256 = true}), c) == "");
  CHECK(Verdict(MakeOcspResponse(chain.chain_path, dir + "/c.der", {.next_update = std::nullopt}),
                c) == "");
  // Without the issuer only the name hash and serial can be compared.
  CHECK(Verdict(MakeOcspResponse(chain.chain_path, dir + "/d.der"), c, false) == "");
}

TEST_CASE("OCSP: revoked, unknown, expired, unsuccessful and foreign responses are refused") {
  const std::string dir = MakeTempDir();
  auto chain = MakeTestChain(dir, "mail.example");
  // Same names and serial, another issuer key.
  auto other = MakeTestChain(MakeTempDir(), "mail.example");
  const Chain c = Load(chain.chain_path);
  using S = OcspSpec::Status;
  CHECK(Verdict(MakeOcspResponse(chain.chain_path, dir + "/r.der", {.status = S::kRevoked}), c) ==
        "says the certificate is revoked");
  CHECK(Verdict(MakeOcspResponse(chain.chain_path, dir + "/u.der", {.status = S::kUnknown}), c) ==
        "says the certificate's status is unknown");
  CHECK(Verdict(MakeOcspResponse(chain.chain_path, dir + "/e.der",
                                 {.this_update = -7200, .next_update = -60}),
                c) == "has expired (its nextUpdate has passed)");
  CHECK(Verdict(MakeOcspResponse(chain.chain_path, dir + "/f.der", {.this_update = 3600}), c) ==
        "has a thisUpdate in the future (check the clock)");
  CHECK(Verdict(MakeOcspResponse(chain.chain_path, dir + "/g.der", {.this_update = 60}), c) ==
        "");  // within the clock skew allowed
  CHECK(Verdict(MakeOcspResponse(chain.chain_path, dir + "/t.der", {.response_status = 6}), c) ==
        "is not a successful OCSP response (responseStatus 6)");
  const std::string foreign =
      "is about another certificate (no response for its serial number and issuer)";
  CHECK(Verdict(MakeOcspResponse(chain.chain_path, dir + "/s.der", {.other_serial = true}), c) ==
        foreign);
  CHECK(Verdict(MakeOcspResponse(other.chain_path, dir + "/o.der"), c) == foreign);
}

TEST_CASE("OCSP: anything that is not a DER OCSPResponse is refused, at every truncation") {
  const std::string dir = MakeTempDir();
  auto chain = MakeTestChain(dir, "mail.example");
  const Chain c = Load(chain.chain_path);
  const std::string good = MakeOcspResponse(chain.chain_path, dir + "/a.der");
  REQUIRE(Verdict(good, c) == "");
  CHECK(Verdict("", c).starts_with("is not an OCSP response"));
  CHECK(Verdict("-----BEGIN OCSP RESPONSE-----", c).starts_with("is not an OCSP response"));
  CHECK(Verdict(good + "x", c).starts_with("is not an OCSP response"));
  for (size_t n = 0; n < good.size(); ++n) {
    CHECK_MESSAGE(Verdict(good.substr(0, n), c) != "", n);
  }
}

TEST_CASE("OCSP: the context staples the file, and names the file and certificate when it is bad") {
  const std::string dir = MakeTempDir();
  auto chain = MakeTestChain(dir, "mail.example");
  auto other = MakeTestChain(dir, "other.example");
  MakeOcspResponse(chain.chain_path, dir + "/good.der");
  MakeOcspResponse(other.chain_path, dir + "/foreign.der");
  std::vector<std::string> errors;
  auto ok = ServerContext::Create(
      {Version::kTls12, {{chain.chain_path, chain.key_path, {}, dir + "/good.der"}}}, &errors);
  CHECK(ok);
  CHECK(errors.empty());
  auto bad = ServerContext::Create({Version::kTls12,
                                    {{chain.chain_path, chain.key_path, {}, dir + "/foreign.der"},
                                     {chain.chain_path, chain.key_path, {}, dir + "/missing.der"}}},
                                   &errors);
  CHECK_FALSE(bad);
  REQUIRE(errors.size() == 2);
  CHECK(errors[0] == "tls.certificates[0].ocsp: " + dir +
                         "/foreign.der is about another certificate (no response for its serial "
                         "number and issuer) (" +
                         chain.chain_path + ")");
  CHECK(errors[1] ==
        "tls.certificates[1].ocsp: cannot read " + dir + "/missing.der: No such file or directory");
}

}  // namespace
}  // namespace imapfront::tls
