// The oldest TLS version a server accepts (config "tls.min_version"). No
// BoringSSL here, so the config can hold it without including the library.
#pragma once

namespace imapfront::tls {

// kTls10 and kTls11 are an operator's explicit opt-in for old clients.
enum class MinVersion { kTls10, kTls11, kTls12, kTls13 };

}  // namespace imapfront::tls
