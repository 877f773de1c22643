// Checking an OCSP response (RFC 6960) before it is stapled: the file an
// operator names in tls.certificates[].ocsp must be a successful response
// about this certificate that has not expired. Its signature is the client's
// to verify; what can go wrong on our side is a stale or mixed-up file.
#pragma once

#include <cstdint>
#include <ctime>
#include <span>
#include <string>

#include "tls/boringssl.h"

namespace imapfront::tls {

// "" when |der| is a successful OCSP response with a SingleResponse for
// |leaf| (serial number and issuer name hash; also the issuer key hash when
// |issuer| is known) whose status is good and whose nextUpdate, if any, is
// after |now|. Otherwise what is wrong, e.g. "is about another certificate".
std::string CheckOcspResponse(std::span<const uint8_t> der, X509* leaf, X509* issuer, time_t now);

}  // namespace imapfront::tls
