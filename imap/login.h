// The user name a client logs in with, for the access log: from LOGIN's
// first argument (atom, quoted string or literal) or from an AUTHENTICATE
// PLAIN response (RFC 4616). Passwords are never returned.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace imapfront::imap {

// Strict base64 (RFC 4648, padded, no whitespace): true and |*out| set, or
// false. The owner passes BoringSSL's; imap/ links nothing.
using Base64Decoder = bool (*)(std::string_view in, std::string* out);

struct LoginUser {
  std::string user;         // when the line holds it
  bool in_literal = false;  // the user name is the literal that follows this line
};

// |line|: "tag LOGIN user password" without its CRLF.
std::optional<LoginUser> ParseLoginUser(std::string_view line);

struct AuthenticatePlain {
  std::string user;               // from the initial response (SASL-IR), if any
  bool response_follows = false;  // no initial response: the next line has it
};

// |line|: "tag AUTHENTICATE mechanism [initial-response]" without its CRLF.
// Null unless the mechanism is PLAIN.
std::optional<AuthenticatePlain> ParseAuthenticatePlain(std::string_view line,
                                                        Base64Decoder decode);

// |response|: a base64 SASL PLAIN response ("authzid NUL authcid NUL
// password"); returns the authentication identity. Null also without
// |decode|.
std::optional<std::string> PlainAuthcid(std::string_view response, Base64Decoder decode);

}  // namespace imapfront::imap
