#include "imap/login.h"

#include <cstdint>

#include "imap/bytes.h"
#include "imap/literal.h"

namespace imapfront::imap {
namespace {

std::string_view SkipToken(std::string_view s) {
  size_t sp = s.find(' ');
  return sp == std::string_view::npos ? std::string_view() : s.substr(sp + 1);
}

int Base64Value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

std::optional<std::string> Base64Decode(std::string_view in) {
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    if (c == '=') break;
    int v = Base64Value(c);
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  return out;
}

}  // namespace

std::optional<LoginUser> ParseLoginUser(std::string_view line) {
  std::string_view rest = SkipToken(SkipToken(line));  // past tag and LOGIN
  if (rest.empty()) return std::nullopt;
  LoginUser result;
  if (rest.front() == '"') {
    for (size_t i = 1; i < rest.size(); ++i) {
      if (rest[i] == '\\' && i + 1 < rest.size()) {
        result.user += rest[++i];
      } else if (rest[i] == '"') {
        return result;
      } else {
        result.user += rest[i];
      }
    }
    return std::nullopt;
  }
  std::string_view atom = rest.substr(0, rest.find(' '));
  if (atom.size() == rest.size()) {
    // The only argument left: a literal header means the user follows.
    auto literal = ParseLiteralHeader(atom);
    if (literal && literal->header_length == atom.size()) {
      result.in_literal = true;
      return result;
    }
  }
  result.user.assign(atom);
  return result;
}

std::optional<AuthenticatePlain> ParseAuthenticatePlain(std::string_view line) {
  std::string_view rest = SkipToken(SkipToken(line));  // past tag and AUTHENTICATE
  std::string_view mechanism = rest.substr(0, rest.find(' '));
  if (!EqualsIgnoreCase(mechanism, "PLAIN")) return std::nullopt;
  AuthenticatePlain result;
  if (mechanism.size() == rest.size()) {
    result.response_follows = true;
  } else if (auto user = PlainAuthcid(rest.substr(mechanism.size() + 1))) {
    result.user = *user;
  }
  return result;
}

std::optional<std::string> PlainAuthcid(std::string_view response) {
  auto decoded = Base64Decode(response);
  if (!decoded) return std::nullopt;
  size_t first = decoded->find('\0');
  if (first == std::string::npos) return std::nullopt;
  size_t second = decoded->find('\0', first + 1);
  if (second == std::string::npos) return std::nullopt;
  return decoded->substr(first + 1, second - first - 1);
}

}  // namespace imapfront::imap
