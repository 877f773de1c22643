#include "tests/support/test_ocsp.h"

#include <openssl/base.h>
#ifndef OPENSSL_IS_BORINGSSL
#error "tests must use BoringSSL too"
#endif
#include <openssl/bio.h>
#include <openssl/bytestring.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include <ctime>
#include <stdexcept>
#include <vector>

#include "tests/support/test_certs.h"

namespace imapfront::testing {
namespace {

constexpr uint8_t kOcspBasic[] = {0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x01};
constexpr uint8_t kSha1[] = {0x2b, 0x0e, 0x03, 0x02, 0x1a};
constexpr uint8_t kSha256[] = {0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01};
constexpr uint8_t kEcdsaSha256[] = {0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02};
constexpr unsigned kContext = CBS_ASN1_CONTEXT_SPECIFIC;
constexpr unsigned kExplicit = CBS_ASN1_CONTEXT_SPECIFIC | CBS_ASN1_CONSTRUCTED;

void Check(int ok) {
  if (!ok) throw std::runtime_error("building an OCSP response failed");
}

void Add(CBB* parent, unsigned tag, const uint8_t* data, size_t len) {
  CBB child;
  Check(CBB_add_asn1(parent, &child, tag));
  Check(CBB_add_bytes(&child, data, len));
  Check(CBB_flush(parent));
}

void AddTime(CBB* parent, long offset) {
  const time_t t = std::time(nullptr) + offset;
  tm parts{};
  gmtime_r(&t, &parts);
  char text[32];
  const size_t n = std::strftime(text, sizeof(text), "%Y%m%d%H%M%SZ", &parts);
  Add(parent, CBS_ASN1_GENERALIZEDTIME, reinterpret_cast<const uint8_t*>(text), n);
}

std::vector<uint8_t> Digest(bool sha256, const uint8_t* data, size_t len) {
  std::vector<uint8_t> out(sha256 ? SHA256_DIGEST_LENGTH : SHA_DIGEST_LENGTH);
  if (sha256) {
    SHA256(data, len, out.data());
  } else {
    SHA1(data, len, out.data());
  }
  return out;
}

}  // namespace

std::vector<bssl::UniquePtr<X509>> ReadCertificates(const std::string& path) {
  const std::string pem = ReadFile(path);
  bssl::UniquePtr<BIO> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  std::vector<bssl::UniquePtr<X509>> out;
  while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    out.emplace_back(cert);
  }
  if (out.empty()) throw std::runtime_error("no certificate in " + path);
  return out;
}

std::string MakeOcspResponse(const std::string& chain_path, const std::string& out_path,
                             const OcspSpec& spec) {
  const auto certs = ReadCertificates(chain_path);
  X509* leaf = certs[0].get();
  X509* issuer = certs.size() > 1 ? certs[1].get() : leaf;

  uint8_t* name_der = nullptr;
  const int name_len = i2d_X509_NAME(X509_get_issuer_name(leaf), &name_der);
  Check(name_len > 0);
  const auto name_hash = Digest(spec.sha256, name_der, static_cast<size_t>(name_len));
  OPENSSL_free(name_der);
  const ASN1_BIT_STRING* key = X509_get0_pubkey_bitstr(issuer);
  const auto key_hash =
      Digest(spec.sha256, ASN1_STRING_get0_data(key), static_cast<size_t>(ASN1_STRING_length(key)));
  bssl::UniquePtr<ASN1_INTEGER> serial(ASN1_INTEGER_dup(X509_get0_serialNumber(leaf)));
  if (spec.other_serial) ASN1_INTEGER_set(serial.get(), ASN1_INTEGER_get(serial.get()) + 1);
  uint8_t* serial_der = nullptr;
  const int serial_len = i2d_ASN1_INTEGER(serial.get(), &serial_der);
  Check(serial_len > 0);

  bssl::ScopedCBB cbb;
  Check(CBB_init(cbb.get(), 512));
  CBB response, status, bytes_tag, bytes, octets, basic, tbs, responder, responses, single, cert_id,
      algorithm, next, signature_algorithm;
  Check(CBB_add_asn1(cbb.get(), &response, CBS_ASN1_SEQUENCE));
  Check(CBB_add_asn1(&response, &status, CBS_ASN1_ENUMERATED));
  Check(CBB_add_u8(&status, static_cast<uint8_t>(spec.response_status)));
  Check(CBB_add_asn1(&response, &bytes_tag, kExplicit | 0));
  Check(CBB_add_asn1(&bytes_tag, &bytes, CBS_ASN1_SEQUENCE));
  Add(&bytes, CBS_ASN1_OBJECT, kOcspBasic, sizeof(kOcspBasic));
  Check(CBB_add_asn1(&bytes, &octets, CBS_ASN1_OCTETSTRING));
  Check(CBB_add_asn1(&octets, &basic, CBS_ASN1_SEQUENCE));
  Check(CBB_add_asn1(&basic, &tbs, CBS_ASN1_SEQUENCE));
  Check(CBB_add_asn1(&tbs, &responder, kExplicit | 2));  // byKey
  Add(&responder, CBS_ASN1_OCTETSTRING, key_hash.data(), key_hash.size());
  AddTime(&tbs, 0);  // producedAt
  Check(CBB_add_asn1(&tbs, &responses, CBS_ASN1_SEQUENCE));
  Check(CBB_add_asn1(&responses, &single, CBS_ASN1_SEQUENCE));
  Check(CBB_add_asn1(&single, &cert_id, CBS_ASN1_SEQUENCE));
  Check(CBB_add_asn1(&cert_id, &algorithm, CBS_ASN1_SEQUENCE));
  Add(&algorithm, CBS_ASN1_OBJECT, spec.sha256 ? kSha256 : kSha1,
      spec.sha256 ? sizeof(kSha256) : sizeof(kSha1));
  Check(CBB_add_asn1(&algorithm, &next, CBS_ASN1_NULL));
  Check(CBB_flush(&cert_id));
  Add(&cert_id, CBS_ASN1_OCTETSTRING, name_hash.data(), name_hash.size());
  Add(&cert_id, CBS_ASN1_OCTETSTRING, key_hash.data(), key_hash.size());
  Check(CBB_add_bytes(&cert_id, serial_der, static_cast<size_t>(serial_len)));
  OPENSSL_free(serial_der);
  Check(CBB_flush(&single));
  switch (spec.status) {
    case OcspSpec::Status::kGood:
      Add(&single, kContext | 0, nullptr, 0);
      break;
    case OcspSpec::Status::kRevoked: {
      CBB revoked;
      Check(CBB_add_asn1(&single, &revoked, kExplicit | 1));
      AddTime(&revoked, -60);
      Check(CBB_flush(&single));
      break;
    }
    case OcspSpec::Status::kUnknown:
      Add(&single, kContext | 2, nullptr, 0);
      break;
  }
  AddTime(&single, spec.this_update);
  if (spec.next_update) {
    Check(CBB_add_asn1(&single, &next, kExplicit | 0));
    AddTime(&next, *spec.next_update);
    Check(CBB_flush(&single));
  }
  Check(CBB_flush(&basic));
  Check(CBB_add_asn1(&basic, &signature_algorithm, CBS_ASN1_SEQUENCE));
  Add(&signature_algorithm, CBS_ASN1_OBJECT, kEcdsaSha256, sizeof(kEcdsaSha256));
  const uint8_t filler[] = {0x00, 0x30, 0x00};  // BIT STRING: no unused bits, "signature"
  Add(&basic, CBS_ASN1_BITSTRING, filler, sizeof(filler));
  uint8_t* der = nullptr;
  size_t der_len = 0;
  Check(CBB_finish(cbb.get(), &der, &der_len));
  std::string out(reinterpret_cast<const char*>(der), der_len);
  OPENSSL_free(der);
  WriteFile(out_path, out);
  return out;
}

}  // namespace imapfront::testing
