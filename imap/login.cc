#include "imap/login.h"

#include <algorithm>
#include <cstdint>

#include "imap/bytes.h"
#include "imap/emulation/auth_plain.h"
#include "imap/literal.h"

namespace imapfront::imap {
namespace {

std::string_view SkipToken(std::string_view s) {
  size_t sp = s.find(' ');
  return sp == std::string_view::npos ? std::string_view() : s.substr(sp + 1);
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

std::optional<AuthenticatePlain> ParseAuthenticatePlain(std::string_view line,
                                                        Base64Decoder decode) {
  std::string_view rest = SkipToken(SkipToken(line));  // past tag and AUTHENTICATE
  std::string_view mechanism = rest.substr(0, rest.find(' '));
  if (!EqualsIgnoreCase(mechanism, "PLAIN")) return std::nullopt;
  AuthenticatePlain result;
  if (mechanism.size() == rest.size()) {
    result.response_follows = true;
  } else if (auto user = PlainAuthcid(rest.substr(mechanism.size() + 1), decode)) {
    result.user = *user;
  }
  return result;
}

std::optional<std::string> PlainAuthcid(std::string_view response, Base64Decoder decode) {
  std::string decoded;
  if (!decode || !decode(response, &decoded)) return std::nullopt;
  std::optional<PlainCredentials> plain = ParsePlainMessage(decoded);
  std::fill(decoded.begin(), decoded.end(), '\0');
  if (!plain) return std::nullopt;
  std::fill(plain->password.begin(), plain->password.end(), '\0');
  return plain->user;
}

}  // namespace imapfront::imap
