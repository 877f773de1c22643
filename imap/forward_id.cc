#include "imap/forward_id.h"

namespace imapfront::imap {
namespace {

// IP addresses and numbers hold no '"' or '\\'; anything else is dropped
// rather than trusted into a quoted string.
std::string Quoted(std::string_view value) {
  std::string out = "\"";
  for (char c : value) {
    const bool safe = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                      c == '.' || c == ':' || c == '-';
    if (safe) out += c;
  }
  return out + "\"";
}

}  // namespace

std::string ForwardIdCommand(const ClientOrigin& origin) {
  return "ID (\"x-originating-ip\" " + Quoted(origin.ip) + " \"x-originating-port\" " +
         Quoted(std::to_string(origin.port)) + " \"x-connected-ip\" " + Quoted(origin.local_ip) +
         " \"x-connected-port\" " + Quoted(std::to_string(origin.local_port)) +
         " \"x-session-id\" " + Quoted(std::to_string(origin.session)) + ")";
}

}  // namespace imapfront::imap
