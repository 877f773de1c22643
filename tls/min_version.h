// The oldest TLS version a server accepts (config "tls.min_version"). No
// BoringSSL here, so the config can hold it without including the library.
#pragma once

namespace imapfront::tls {

enum class MinVersion { kTls12, kTls13 };

}  // namespace imapfront::tls
