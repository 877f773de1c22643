// routes[].forward_client "id" (Dovecot's convention): the ID command
// (RFC 2971) that tells a backend which client imapfront serves, sent with
// a tag of imapfront's own before any client byte (Conversation's
// SendBeforeClient, or BackendLogin's first command).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace imapfront::imap {

struct ClientOrigin {
  std::string ip;  // the client's ("1.2.3.4", "2001:db8::1")
  uint16_t port = 0;
  std::string local_ip;  // where it reached imapfront
  uint16_t local_port = 0;
  uint64_t session = 0;  // imapfront's conn id
};

// ID ("x-originating-ip" "IP" "x-originating-port" "PORT" "x-connected-ip"
// "IP" "x-connected-port" "PORT" "x-session-id" "CONN"), without tag and CRLF.
std::string ForwardIdCommand(const ClientOrigin& origin);

}  // namespace imapfront::imap
