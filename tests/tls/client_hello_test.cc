// ClientHello inspection without a handshake: extension bodies as bytes,
// well-formed and malformed; then what the abilities choose.
#include "tls/client_hello.h"

#include <doctest/doctest.h>

#include <vector>

#include "tests/support/test_certs.h"
#include "tls/context.h"

namespace imapfront::tls {
namespace {

using testing::MakeTempDir;
using testing::MakeTestCert;
using Bytes = std::vector<uint8_t>;
using U16s = std::vector<uint16_t>;

std::span<const uint8_t> Span(const Bytes& b) {
  return b;
}

TEST_CASE("client hello: supported_versions, a 1-byte length then 16-bit versions") {
  CHECK(ParseSupportedVersions(Span({4, 0x03, 0x04, 0x03, 0x03})) == U16s{0x0304, 0x0303});
  CHECK(ParseSupportedVersions(Span({6, 0x7a, 0x7a, 0x03, 0x04, 0x03, 0x03})) ==
        U16s{0x7a7a, 0x0304, 0x0303});  // GREASE is just a value
  CHECK(ParseSupportedVersions(Span({0})) == U16s{});
  // Malformed: invalid, never read past.
  CHECK_FALSE(ParseSupportedVersions(Span({})));                           // no length
  CHECK_FALSE(ParseSupportedVersions(Span({6, 0x03, 0x04, 0x03, 0x03})));  // length past the end
  CHECK_FALSE(ParseSupportedVersions(Span({2, 0x03, 0x04, 0x03, 0x03})));  // trailing bytes
  CHECK_FALSE(ParseSupportedVersions(Span({3, 0x03, 0x04, 0x03})));        // odd list
}

TEST_CASE("client hello: signature_algorithms and supported_groups, a 2-byte length") {
  CHECK(ParseU16ListExtension(Span({0, 4, 0x04, 0x03, 0x08, 0x04})) == U16s{0x0403, 0x0804});
  CHECK(ParseU16ListExtension(Span({0, 0})) == U16s{});
  CHECK_FALSE(ParseU16ListExtension(Span({})));
  CHECK_FALSE(ParseU16ListExtension(Span({0})));                             // half a length
  CHECK_FALSE(ParseU16ListExtension(Span({0, 6, 0x04, 0x03, 0x08, 0x04})));  // truncated list
  CHECK_FALSE(ParseU16ListExtension(Span({1, 0, 0x04, 0x03})));              // length 256
  CHECK_FALSE(ParseU16ListExtension(Span({0, 2, 0x04, 0x03, 0x08})));        // a trailing byte
  CHECK_FALSE(ParseU16ListExtension(Span({0, 2, 0x04, 0x03, 0, 2, 0x08, 0x04})));  // two lists
  CHECK_FALSE(ParseU16ListExtension(Span({0, 3, 0x04, 0x03, 0x08})));              // odd list
}

TEST_CASE("client hello: cipher suites, no prefix") {
  CHECK(ParseCipherSuites(Span({0xc0, 0x2b, 0x13, 0x01})) == U16s{0xc02b, 0x1301});
  CHECK(ParseCipherSuites(Span({})) == U16s{});
  CHECK_FALSE(ParseCipherSuites(Span({0xc0, 0x2b, 0x13})));
}

TEST_CASE("client hello: ECDHE-ECDSA suites by BoringSSL's table") {
  for (uint16_t suite : U16s{0xc02b, 0xc02c, 0xcca9, 0xc009}) {
    CHECK_MESSAGE(IsEcdheEcdsaSuite(suite), suite);
  }
  // ECDHE-RSA, plain RSA, TLS 1.3 (any authentication), GREASE, unknown.
  for (uint16_t suite : U16s{0xc02f, 0xcca8, 0x009c, 0x1301, 0x1303, 0x0a0a, 0xffff}) {
    CHECK_FALSE_MESSAGE(IsEcdheEcdsaSuite(suite), suite);
  }
}

// The server's TLS 1.2 suites in a ClientHello's wire order.
const U16s kEnabled = {0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8};

TEST_CASE("client hello: abilities from the parts") {
  const Bytes modern_suites = {0x13, 0x01, 0xc0, 0x2b, 0xc0, 0x2f};
  const Bytes versions = {4, 0x03, 0x04, 0x03, 0x03};
  const Bytes schemes = {0, 4, 0x04, 0x03, 0x08, 0x04};
  const Bytes groups = {0, 4, 0x00, 0x1d, 0x00, 0x17};

  ClientAbilities a = ReadClientAbilities({modern_suites, versions, schemes, groups}, kEnabled);
  CHECK(a.tls13);
  CHECK(a.signature_schemes == U16s{0x0403, 0x0804});
  CHECK(a.groups == U16s{0x001d, 0x0017});
  CHECK(a.ecdsa_suite);

  // Absent extensions: no TLS 1.3, and the lists are unknown (anything goes).
  a = ReadClientAbilities({modern_suites, std::nullopt, std::nullopt, std::nullopt}, kEnabled);
  CHECK_FALSE(a.tls13);
  CHECK_FALSE(a.signature_schemes.has_value());
  CHECK_FALSE(a.groups.has_value());

  // Malformed extensions: no TLS 1.3, and the lists name nothing.
  const Bytes bad_versions = {6, 0x03, 0x04};
  const Bytes bad_list = {0, 4, 0x04, 0x03};
  a = ReadClientAbilities({modern_suites, bad_versions, bad_list, bad_list}, kEnabled);
  CHECK_FALSE(a.tls13);
  CHECK(a.signature_schemes == U16s{});
  CHECK(a.groups == U16s{});

  // TLS 1.2 only, without the server's ECDHE-ECDSA suites: ECDHE-ECDSA with
  // AES-CBC is one, but not one this server enables.
  const Bytes rsa_suites = {0xc0, 0x2f, 0xc0, 0x09};
  const Bytes tls12 = {2, 0x03, 0x03};
  a = ReadClientAbilities({rsa_suites, tls12, schemes, groups}, kEnabled);
  CHECK_FALSE(a.tls13);
  CHECK_FALSE(a.ecdsa_suite);
  a = ReadClientAbilities({rsa_suites, tls12, schemes, groups}, U16s{0xc009});
  CHECK(a.ecdsa_suite);
  const Bytes odd_suites = {0xc0, 0x2b, 0xc0};
  CHECK_FALSE(ReadClientAbilities({odd_suites, tls12, schemes, groups}, kEnabled).ecdsa_suite);
}

int KeyType(SSL_CTX* ctx) {
  bssl::UniquePtr<EVP_PKEY> key(X509_get_pubkey(SSL_CTX_get0_certificate(ctx)));
  return EVP_PKEY_id(key.get());
}

TEST_CASE("client hello: abilities choose between ECDSA and RSA certificates") {
  std::string dir = MakeTempDir();
  auto rsa = MakeTestCert(dir, "rsa", {"dual.example"}, true);
  auto ec = MakeTestCert(dir, "ec", {"dual.example"});
  std::vector<std::string> errors;
  auto ctx = ServerContext::Create({Version::kTls12,
                                    {{rsa.cert_path, rsa.key_path, {"dual.example"}, ""},
                                     {ec.cert_path, ec.key_path, {"dual.example"}, ""}}},
                                   &errors);
  REQUIRE(ctx);
  auto chosen = [&](const ClientAbilities& client) {
    return KeyType(ctx->ContextForName("dual.example", client));
  };
  CHECK(chosen({}) == EVP_PKEY_EC);
  // TLS 1.3: by signature scheme (P-256 for this key).
  CHECK(chosen({true, U16s{0x0403}, std::nullopt, false}) == EVP_PKEY_EC);
  CHECK(chosen({true, U16s{0x0503, 0x0804}, std::nullopt, true}) == EVP_PKEY_RSA);
  CHECK(chosen({true, U16s{}, std::nullopt, true}) == EVP_PKEY_RSA);
  // TLS 1.2: an ECDHE-ECDSA suite, the curve and any ECDSA scheme.
  CHECK(chosen({false, std::nullopt, std::nullopt, true}) == EVP_PKEY_EC);
  CHECK(chosen({false, U16s{0x0603}, U16s{0x0017}, true}) == EVP_PKEY_EC);
  CHECK(chosen({false, std::nullopt, std::nullopt, false}) == EVP_PKEY_RSA);
  CHECK(chosen({false, std::nullopt, U16s{0x0018}, true}) == EVP_PKEY_RSA);
  CHECK(chosen({false, U16s{0x0804}, std::nullopt, true}) == EVP_PKEY_RSA);
}

}  // namespace
}  // namespace imapfront::tls
