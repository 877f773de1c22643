#include "tls/client_hello.h"

#include <algorithm>

namespace imapfront::tls {
namespace {

// All of |list| as 16-bit values; false if a byte is left over.
bool ReadU16s(CBS* list, std::vector<uint16_t>* out) {
  while (CBS_len(list) > 0) {
    uint16_t value = 0;
    if (!CBS_get_u16(list, &value)) return false;
    out->push_back(value);
  }
  return true;
}

// A list of 16-bit values behind a length prefix of |prefix_bytes| (1 or 2)
// that must take the whole of |body|.
std::optional<std::vector<uint16_t>> ParsePrefixedU16s(std::span<const uint8_t> body,
                                                       int prefix_bytes) {
  CBS cbs;
  CBS_init(&cbs, body.data(), body.size());
  CBS list;
  const bool framed = prefix_bytes == 1 ? CBS_get_u8_length_prefixed(&cbs, &list)
                                        : CBS_get_u16_length_prefixed(&cbs, &list);
  std::vector<uint16_t> values;
  if (!framed || CBS_len(&cbs) != 0 || !ReadU16s(&list, &values)) return std::nullopt;
  return values;
}

bool Contains(std::span<const uint16_t> list, uint16_t value) {
  return std::ranges::find(list, value) != list.end();
}

std::optional<std::span<const uint8_t>> Extension(const SSL_CLIENT_HELLO* hello, uint16_t type) {
  const uint8_t* data = nullptr;
  size_t len = 0;
  if (!SSL_early_callback_ctx_extension_get(hello, type, &data, &len)) return std::nullopt;
  return std::span<const uint8_t>(data, len);
}

}  // namespace

std::optional<std::vector<uint16_t>> ParseSupportedVersions(std::span<const uint8_t> body) {
  return ParsePrefixedU16s(body, 1);
}

std::optional<std::vector<uint16_t>> ParseU16ListExtension(std::span<const uint8_t> body) {
  return ParsePrefixedU16s(body, 2);
}

std::optional<std::vector<uint16_t>> ParseCipherSuites(std::span<const uint8_t> suites) {
  CBS cbs;
  CBS_init(&cbs, suites.data(), suites.size());
  std::vector<uint16_t> ids;
  if (!ReadU16s(&cbs, &ids)) return std::nullopt;
  return ids;
}

bool IsEcdheEcdsaSuite(uint16_t suite) {
  const SSL_CIPHER* cipher = SSL_get_cipher_by_value(suite);
  return cipher != nullptr && SSL_CIPHER_get_kx_nid(cipher) == NID_kx_ecdhe &&
         SSL_CIPHER_get_auth_nid(cipher) == NID_auth_ecdsa;
}

ClientAbilities ReadClientAbilities(const ClientHelloParts& hello,
                                    std::span<const uint16_t> enabled_suites) {
  ClientAbilities client;
  // Absent or malformed: no TLS 1.3 (the handshake is TLS 1.2 or fails).
  const auto versions =
      hello.supported_versions ? ParseSupportedVersions(*hello.supported_versions) : std::nullopt;
  client.tls13 = versions && Contains(*versions, TLS1_3_VERSION);
  // Absent: the client did not say, so anything. Malformed: nothing.
  if (hello.signature_algorithms) {
    client.signature_schemes =
        ParseU16ListExtension(*hello.signature_algorithms).value_or(std::vector<uint16_t>{});
  }
  if (hello.supported_groups) {
    client.groups =
        ParseU16ListExtension(*hello.supported_groups).value_or(std::vector<uint16_t>{});
  }
  const auto suites = ParseCipherSuites(hello.cipher_suites);
  client.ecdsa_suite = suites && std::ranges::any_of(*suites, [&](uint16_t suite) {
                         return IsEcdheEcdsaSuite(suite) && Contains(enabled_suites, suite);
                       });
  return client;
}

ClientHelloParts PartsOf(const SSL_CLIENT_HELLO* hello) {
  return {std::span<const uint8_t>(hello->cipher_suites, hello->cipher_suites_len),
          Extension(hello, TLSEXT_TYPE_supported_versions),
          Extension(hello, TLSEXT_TYPE_signature_algorithms),
          Extension(hello, TLSEXT_TYPE_supported_groups)};
}

}  // namespace imapfront::tls
