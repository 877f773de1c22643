#include "imap/emulation/auth_plain.h"

#include <algorithm>

namespace imapfront::imap {
namespace {

// Printable ASCII without the two characters a quoted string must escape.
bool Quotable(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return c >= 0x20 && c <= 0x7e && c != '"' && c != '\\'; });
}

}  // namespace

std::optional<PlainCredentials> ParsePlainMessage(std::string_view message) {
  const size_t first = message.find('\0');
  if (first == std::string_view::npos) return std::nullopt;
  const size_t second = message.find('\0', first + 1);
  if (second == std::string_view::npos) return std::nullopt;
  if (message.find('\0', second + 1) != std::string_view::npos) return std::nullopt;
  PlainCredentials c;
  c.authzid.assign(message.substr(0, first));
  c.user.assign(message.substr(first + 1, second - first - 1));
  c.password.assign(message.substr(second + 1));
  if (c.user.empty()) return std::nullopt;
  return c;
}

std::vector<std::string> LoginCommand(std::string_view tag, std::string_view user,
                                      std::string_view password) {
  std::vector<std::string> pieces;
  pieces.reserve(3);  // no copies of the password left behind by a reallocation
  std::string piece(tag);
  piece += " LOGIN ";
  auto argument = [&](std::string_view value, std::string_view after) {
    if (Quotable(value)) {
      piece += '"';
      piece += value;
      piece += '"';
    } else {
      piece += '{';
      piece += std::to_string(value.size());
      piece += "}\r\n";
      pieces.push_back(std::move(piece));
      piece.assign(value);
    }
    piece += after;
  };
  argument(user, " ");
  argument(password, "\r\n");
  pieces.push_back(std::move(piece));
  return pieces;
}

}  // namespace imapfront::imap
