// SNI names and the patterns that select them: one matcher for the
// certificates (tls/context.cc) and the routes (proxy/config/).
#pragma once

#include <string>
#include <string_view>

namespace imapfront::tls {

// ASCII case-insensitive equality: only 'A'..'Z' fold to 'a'..'z' (DNS names
// are ASCII; "@" and "`", "[" and "{" stay different).
bool EqualsIgnoreAsciiCase(std::string_view a, std::string_view b);

// |name| with 'A'..'Z' folded, the form that EqualsIgnoreAsciiCase compares.
std::string LowerServerName(std::string_view name);

// "*.example.com": a wildcard for exactly one more label.
inline bool IsWildcardPattern(std::string_view pattern) {
  return pattern.starts_with("*.");
}

// Whether |name| (from a ClientHello) is served by |pattern|: an exact name,
// or a wildcard that matches "a.example.com" but neither "example.com" nor
// "a.b.example.com". Case-insensitive.
bool ServerNameMatches(std::string_view pattern, std::string_view name);

}  // namespace imapfront::tls
