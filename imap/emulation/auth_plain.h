// AUTHENTICATE PLAIN for a backend that only has LOGIN (compat.auth_plain):
// the client's SASL PLAIN message (RFC 4616) becomes "TAG LOGIN user
// password" (RFC 9051 6.2.3), each argument a quoted string when it can be
// one, else a synchronizing literal.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace imapfront::imap {

struct PlainCredentials {
  std::string authzid;  // empty: the same as user
  std::string user;
  std::string password;
};

// |message|: the decoded PLAIN response, "[authzid] NUL authcid NUL passwd".
// Null when it is not of that form or the user is empty.
std::optional<PlainCredentials> ParsePlainMessage(std::string_view message);

// "TAG LOGIN user password\r\n" in pieces: every piece but the last ends
// with a synchronizing literal header, after which the server's "+" must be
// awaited before the next piece.
std::vector<std::string> LoginCommand(std::string_view tag, std::string_view user,
                                      std::string_view password);

}  // namespace imapfront::imap
