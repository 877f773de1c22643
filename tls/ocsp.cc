#include "tls/ocsp.h"

#include <openssl/bytestring.h>
#include <openssl/sha.h>

#include <optional>
#include <vector>

namespace imapfront::tls {
namespace {

// 1.3.6.1.5.5.7.48.1.1, id-pkix-ocsp-basic
constexpr uint8_t kOcspBasic[] = {0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x01};
// 1.3.14.3.2.26 (SHA-1) and 2.16.840.1.101.3.4.2.1 (SHA-256)
constexpr uint8_t kSha1[] = {0x2b, 0x0e, 0x03, 0x02, 0x1a};
constexpr uint8_t kSha256[] = {0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01};

constexpr time_t kClockSkewSeconds = 300;

constexpr unsigned kContext0 = CBS_ASN1_CONTEXT_SPECIFIC | CBS_ASN1_CONSTRUCTED | 0;
constexpr unsigned kContext1 = CBS_ASN1_CONTEXT_SPECIFIC | CBS_ASN1_CONSTRUCTED | 1;
constexpr unsigned kContext2 = CBS_ASN1_CONTEXT_SPECIFIC | CBS_ASN1_CONSTRUCTED | 2;

bool Equals(const CBS& cbs, std::span<const uint8_t> bytes) {
  return CBS_mem_equal(&cbs, bytes.data(), bytes.size());
}

// The hash of |data| with the CertID's algorithm.
std::optional<std::vector<uint8_t>> Hash(const CBS& algorithm, std::span<const uint8_t> data) {
  if (Equals(algorithm, kSha1)) {
    std::vector<uint8_t> out(SHA_DIGEST_LENGTH, 0);
    SHA1(data.data(), data.size(), out.data());
    return out;
  }
  if (Equals(algorithm, kSha256)) {
    std::vector<uint8_t> out(SHA256_DIGEST_LENGTH, 0);
    SHA256(data.data(), data.size(), out.data());
    return out;
  }
  return std::nullopt;
}

// The time in a GeneralizedTime element against |now|: -1 not after it, 1
// after it, 0 unreadable.
int After(const CBS& generalized_time_element, time_t now) {
  const uint8_t* p = CBS_data(&generalized_time_element);
  bssl::UniquePtr<ASN1_GENERALIZEDTIME> t(
      d2i_ASN1_GENERALIZEDTIME(nullptr, &p, static_cast<long>(CBS_len(&generalized_time_element))));
  if (!t) return 0;
  const int cmp = X509_cmp_time(t.get(), &now);
  return cmp == 0 ? 0 : (cmp < 0 ? -1 : 1);
}

struct Leaf {
  std::vector<uint8_t> serial;          // the DER INTEGER
  std::vector<uint8_t> issuer_name;     // the DER Name
  std::span<const uint8_t> issuer_key;  // the issuer's public key bits, if known
};

// What a SingleResponse says about |leaf|: "" (good), a reason, or nullopt
// when it is about another certificate.
std::optional<std::string> CheckSingle(CBS single, const Leaf& leaf, time_t now) {
  CBS cert_id, algorithm_id, algorithm, name_hash, key_hash, serial;
  if (!CBS_get_asn1(&single, &cert_id, CBS_ASN1_SEQUENCE) ||
      !CBS_get_asn1(&cert_id, &algorithm_id, CBS_ASN1_SEQUENCE) ||
      !CBS_get_asn1(&algorithm_id, &algorithm, CBS_ASN1_OBJECT) ||
      !CBS_get_asn1(&cert_id, &name_hash, CBS_ASN1_OCTETSTRING) ||
      !CBS_get_asn1(&cert_id, &key_hash, CBS_ASN1_OCTETSTRING) ||
      !CBS_get_asn1_element(&cert_id, &serial, CBS_ASN1_INTEGER)) {
    return "is not an OCSP response (a CertID does not parse)";
  }
  if (!Equals(serial, leaf.serial)) return std::nullopt;
  const auto name = Hash(algorithm, leaf.issuer_name);
  if (!name) return "uses a CertID hash other than SHA-1 or SHA-256";
  if (!Equals(name_hash, *name)) return std::nullopt;
  if (!leaf.issuer_key.empty() && !Equals(key_hash, *Hash(algorithm, leaf.issuer_key))) {
    return std::nullopt;
  }
  unsigned status_tag = 0;
  CBS status, this_update, next_update;
  int has_next = 0;
  if (!CBS_get_any_asn1(&single, &status, &status_tag) ||
      !CBS_get_asn1_element(&single, &this_update, CBS_ASN1_GENERALIZEDTIME) ||
      !CBS_get_optional_asn1(&single, &next_update, &has_next, kContext0)) {
    return "is not an OCSP response (a SingleResponse does not parse)";
  }
  if (status_tag == (CBS_ASN1_CONTEXT_SPECIFIC | CBS_ASN1_CONSTRUCTED | 1)) {
    return "says the certificate is revoked";
  }
  if (status_tag != (CBS_ASN1_CONTEXT_SPECIFIC | 0)) {
    return "says the certificate's status is unknown";
  }
  if (After(this_update, now) == 0) return "has an unreadable thisUpdate";
  // A clock or a file gone wrong: a response from more than 5 minutes ahead.
  if (After(this_update, now + kClockSkewSeconds) > 0) {
    return "has a thisUpdate in the future (check the clock)";
  }
  if (has_next) {
    CBS next;
    if (!CBS_get_asn1_element(&next_update, &next, CBS_ASN1_GENERALIZEDTIME)) {
      return "has an unreadable nextUpdate";
    }
    const int after = After(next, now);
    if (after == 0) return "has an unreadable nextUpdate";
    if (after < 0) return "has expired (its nextUpdate has passed)";
  }
  return std::string();
}

}  // namespace

std::string CheckOcspResponse(std::span<const uint8_t> der, X509* leaf_cert, X509* issuer,
                              time_t now) {
  Leaf leaf;
  {
    uint8_t* out = nullptr;
    const int n = i2d_ASN1_INTEGER(X509_get0_serialNumber(leaf_cert), &out);
    if (n <= 0) return "cannot be checked: the certificate's serial number does not encode";
    leaf.serial.assign(out, out + n);
    OPENSSL_free(out);
    out = nullptr;
    const int m = i2d_X509_NAME(X509_get_issuer_name(leaf_cert), &out);
    if (m <= 0) return "cannot be checked: the certificate's issuer name does not encode";
    leaf.issuer_name.assign(out, out + m);
    OPENSSL_free(out);
  }
  if (issuer) {
    const ASN1_BIT_STRING* key = X509_get0_pubkey_bitstr(issuer);
    if (key) {
      leaf.issuer_key = {ASN1_STRING_get0_data(key), static_cast<size_t>(ASN1_STRING_length(key))};
    }
  }

  CBS input, response, status, bytes_wrapper, bytes, type, octets;
  CBS_init(&input, der.data(), der.size());
  int has_bytes = 0;
  if (!CBS_get_asn1(&input, &response, CBS_ASN1_SEQUENCE) || CBS_len(&input) != 0 ||
      !CBS_get_asn1(&response, &status, CBS_ASN1_ENUMERATED) || CBS_len(&status) != 1) {
    return "is not an OCSP response (DER OCSPResponse expected)";
  }
  if (CBS_data(&status)[0] != 0) {
    return "is not a successful OCSP response (responseStatus " +
           std::to_string(CBS_data(&status)[0]) + ")";
  }
  if (!CBS_get_optional_asn1(&response, &bytes_wrapper, &has_bytes, kContext0) || !has_bytes ||
      !CBS_get_asn1(&bytes_wrapper, &bytes, CBS_ASN1_SEQUENCE) ||
      !CBS_get_asn1(&bytes, &type, CBS_ASN1_OBJECT) ||
      !CBS_get_asn1(&bytes, &octets, CBS_ASN1_OCTETSTRING)) {
    return "is not an OCSP response (responseBytes missing)";
  }
  if (!Equals(type, kOcspBasic)) return "is not a basic OCSP response";
  CBS basic, tbs, version, responder, produced_at, responses;
  int has_version = 0;
  unsigned responder_tag = 0;
  if (!CBS_get_asn1(&octets, &basic, CBS_ASN1_SEQUENCE) ||
      !CBS_get_asn1(&basic, &tbs, CBS_ASN1_SEQUENCE) ||
      !CBS_get_optional_asn1(&tbs, &version, &has_version, kContext0) ||
      !CBS_get_any_asn1(&tbs, &responder, &responder_tag) ||
      (responder_tag != kContext1 && responder_tag != kContext2) ||
      !CBS_get_asn1(&tbs, &produced_at, CBS_ASN1_GENERALIZEDTIME) ||
      !CBS_get_asn1(&tbs, &responses, CBS_ASN1_SEQUENCE)) {
    return "is not an OCSP response (ResponseData does not parse)";
  }
  while (CBS_len(&responses) > 0) {
    CBS single;
    if (!CBS_get_asn1(&responses, &single, CBS_ASN1_SEQUENCE)) {
      return "is not an OCSP response (responses do not parse)";
    }
    if (std::optional<std::string> verdict = CheckSingle(single, leaf, now)) return *verdict;
  }
  return "is about another certificate (no response for its serial number and issuer)";
}

}  // namespace imapfront::tls
