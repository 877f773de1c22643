// TLS protocol versions: the oldest one a server accepts (config
// "tls.min_version") and the one a handshake negotiated. No BoringSSL here,
// so the config and the counters can name them without the library.
#pragma once

#include <cstddef>
#include <cstdint>

namespace imapfront::tls {

// In order; kTls10 and kTls11 only ever as an operator's explicit opt-in.
enum class Version { kTls10, kTls11, kTls12, kTls13 };
constexpr size_t kVersionCount = 4;

// Their protocol numbers on the wire (TLS1_VERSION .. TLS1_3_VERSION), by Version.
constexpr uint16_t kWireVersions[kVersionCount] = {0x0301, 0x0302, 0x0303, 0x0304};

}  // namespace imapfront::tls
