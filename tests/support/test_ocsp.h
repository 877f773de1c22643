// OCSP responses (RFC 6960) made at test time with BoringSSL's CBB, for the
// certificates of test_certs.h. The signature is filler: imapfront does not
// verify it (clients do), so only the structure and the CertID matter.
#pragma once

#include <openssl/x509.h>

#include <optional>
#include <string>
#include <vector>

namespace imapfront::testing {

struct OcspSpec {
  enum class Status { kGood, kRevoked, kUnknown };
  Status status = Status::kGood;
  int response_status = 0;                      // 0 successful, 1 malformedRequest, ...
  long this_update = -3600;                     // seconds from now
  std::optional<long> next_update = 7 * 86400;  // seconds from now; nullopt: none
  bool sha256 = false;                          // CertID hashes with SHA-256 instead of SHA-1
  bool other_serial = false;                    // the CertID names serial + 1
};

// The certificates of a PEM file, in order (throws if there is none).
std::vector<bssl::UniquePtr<X509>> ReadCertificates(const std::string& pem_path);

// A DER OCSPResponse about the first certificate of the PEM file |chain_path|,
// issued by the second one in it (or, for a file with one certificate, by
// itself). Written to |out_path|; also returned.
std::string MakeOcspResponse(const std::string& chain_path, const std::string& out_path,
                             const OcspSpec& spec = {});

}  // namespace imapfront::testing
