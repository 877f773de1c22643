// ClientHello inspection: what the client can verify, so that the server can
// pick a certificate it will accept. Extension bodies are read with CBS; a
// malformed list (an inner length that does not fit, trailing bytes, an odd
// number of bytes) is invalid and never read past. BoringSSL rejects such a
// ClientHello later in the handshake anyway; here it only must not count.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "tls/boringssl.h"

namespace imapfront::tls {

// What a ClientHello says the client can verify. The defaults describe a
// client that can verify anything.
struct ClientAbilities {
  bool tls13 = true;  // offers TLS 1.3 (supported_versions)
  // nullopt: the client did not say (the extension is absent): any will do.
  // A list, possibly empty: only these (empty also when the list is malformed).
  std::optional<std::vector<uint16_t>> signature_schemes;
  std::optional<std::vector<uint16_t>> groups;
  bool ecdsa_suite = true;  // TLS 1.2: offers an ECDHE-ECDSA suite this server enables
};

// The parts of a ClientHello that ClientAbilities come from, as raw bytes:
// the cipher_suites field's contents (no length prefix) and the bodies of
// three extensions (nullopt when the client did not send it).
struct ClientHelloParts {
  std::span<const uint8_t> cipher_suites;
  std::optional<std::span<const uint8_t>> supported_versions;
  std::optional<std::span<const uint8_t>> signature_algorithms;
  std::optional<std::span<const uint8_t>> supported_groups;
};

// The body of supported_versions (RFC 8446 4.2.1): a list of 16-bit
// versions behind a 1-byte length. nullopt when malformed.
std::optional<std::vector<uint16_t>> ParseSupportedVersions(std::span<const uint8_t> body);

// The body of signature_algorithms or supported_groups: a list of 16-bit
// values behind a 2-byte length. nullopt when malformed.
std::optional<std::vector<uint16_t>> ParseU16ListExtension(std::span<const uint8_t> body);

// The cipher_suites field's contents: 16-bit ids, no prefix. nullopt when
// the length is odd.
std::optional<std::vector<uint16_t>> ParseCipherSuites(std::span<const uint8_t> suites);

// A TLS 1.2 suite with ECDHE key exchange and ECDSA authentication, by
// BoringSSL's cipher table (unknown ids are not).
bool IsEcdheEcdsaSuite(uint16_t suite);

// What the client can verify. |enabled_suites|: the suites this server may
// choose; an ECDHE-ECDSA suite counts only if it is one of them.
ClientAbilities ReadClientAbilities(const ClientHelloParts& hello,
                                    std::span<const uint16_t> enabled_suites);

// The parts of the ClientHello a select-certificate callback sees.
ClientHelloParts PartsOf(const SSL_CLIENT_HELLO* hello);

}  // namespace imapfront::tls
