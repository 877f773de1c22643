#include "tls/server_name.h"

#include <algorithm>

namespace imapfront::tls {
namespace {

constexpr char AsciiLower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c;
}

}  // namespace

std::string LowerServerName(std::string_view name) {
  std::string out(name);
  for (char& c : out) c = AsciiLower(c);
  return out;
}

bool EqualsIgnoreAsciiCase(std::string_view a, std::string_view b) {
  return std::ranges::equal(a, b, [](char x, char y) { return AsciiLower(x) == AsciiLower(y); });
}

bool ServerNameMatches(std::string_view pattern, std::string_view name) {
  if (!IsWildcardPattern(pattern)) return EqualsIgnoreAsciiCase(pattern, name);
  const size_t dot = name.find('.');
  return dot != std::string_view::npos && dot > 0 &&
         EqualsIgnoreAsciiCase(pattern.substr(1), name.substr(dot));
}

}  // namespace imapfront::tls
