// Base64 through BoringSSL (EVP_DecodeBase64): strict RFC 4648, padded, no
// whitespace. imap/ takes it as a function (imap::Base64Decoder).
#pragma once

#include <string>
#include <string_view>

namespace imapfront::tls {

// True and |*out| set when |in| is valid base64.
bool DecodeBase64(std::string_view in, std::string* out);

}  // namespace imapfront::tls
