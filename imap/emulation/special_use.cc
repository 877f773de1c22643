#include "imap/emulation/special_use.h"

#include <charconv>
#include <cstdint>

#include "imap/bytes.h"

namespace imapfront::imap {
namespace {

// A quoted string at the start of |s| (RFC 9051 quoted): its value and
// length, or false.
bool Quoted(std::string_view s, std::string* value, size_t* length) {
  if (s.empty() || s[0] != '"') return false;
  for (size_t i = 1; i < s.size(); ++i) {
    if (s[i] == '\\') {
      if (++i == s.size()) return false;
      *value += s[i];
    } else if (s[i] == '"') {
      *length = i + 1;
      return true;
    } else if (s[i] == '\r' || s[i] == '\n') {
      return false;
    } else {
      *value += s[i];
    }
  }
  return false;
}

// A literal "{n}\r\n<n bytes>" (or "{n+}", "~{n}") at the start of |s|.
bool Literal(std::string_view s, std::string* value, size_t* length) {
  size_t i = s.starts_with('~') ? 1 : 0;
  if (i >= s.size() || s[i] != '{') return false;
  const size_t digits = ++i;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
  uint64_t n = 0;
  auto [end, ec] = std::from_chars(s.data() + digits, s.data() + i, n);
  if (ec != std::errc() || end == s.data() + digits) return false;
  if (i < s.size() && s[i] == '+') ++i;
  if (s.substr(i, 3) != "}\r\n") return false;
  i += 3;
  if (s.size() - i < n) return false;
  value->assign(s.substr(i, n));
  *length = i + n;
  return true;
}

// An atom (astring-char) at the start of |s|.
bool Atom(std::string_view s, std::string* value, size_t* length) {
  size_t i = 0;
  while (i < s.size() && s[i] != ' ' && s[i] != '\r' && s[i] != '\n' && s[i] != '(' &&
         s[i] != ')' && s[i] != '{' && s[i] != '"') {
    ++i;
  }
  if (i == 0) return false;
  value->assign(s.substr(0, i));
  *length = i;
  return true;
}

}  // namespace

std::optional<std::string> AddSpecialUse(std::string_view response, const SpecialUseMap& map) {
  // "* LIST (attributes) delimiter name ..."
  size_t word = response.find(' ', 2);
  if (!response.starts_with("* ") || word == std::string_view::npos) return std::nullopt;
  const size_t open = word + 1;
  if (open >= response.size() || response[open] != '(') return std::nullopt;
  const size_t close = response.find(')', open);
  if (close == std::string_view::npos) return std::nullopt;
  const std::string_view attributes = response.substr(open + 1, close - open - 1);
  if (attributes.find_first_of("\r\n") != std::string_view::npos) return std::nullopt;
  std::string_view rest = response.substr(close + 1);
  if (!rest.starts_with(' ')) return std::nullopt;
  rest.remove_prefix(1);
  std::string delimiter;
  size_t length = 0;
  if (EqualsIgnoreCase(rest.substr(0, 3), "NIL")) {
    length = 3;
  } else if (!Quoted(rest, &delimiter, &length)) {
    return std::nullopt;
  }
  rest.remove_prefix(length);
  if (!rest.starts_with(' ')) return std::nullopt;
  rest.remove_prefix(1);
  std::string name;
  if (!Quoted(rest, &name, &length) && !Literal(rest, &name, &length) &&
      !Atom(rest, &name, &length)) {
    return std::nullopt;
  }
  const bool inbox = EqualsIgnoreCase(name, "INBOX");
  const std::string* attribute = nullptr;
  for (const auto& [mailbox, use] : map) {
    if (mailbox == name || (inbox && EqualsIgnoreCase(mailbox, "INBOX"))) {
      attribute = &use;
      break;
    }
  }
  if (!attribute) return std::nullopt;
  // Attributes are atoms separated by spaces ("\HasNoChildren \Sent").
  std::string_view scan = attributes;
  while (!scan.empty()) {
    const size_t space = scan.find(' ');
    if (EqualsIgnoreCase(scan.substr(0, space), *attribute)) return std::nullopt;
    scan.remove_prefix(space == std::string_view::npos ? scan.size() : space + 1);
  }
  std::string out(response.substr(0, close));
  if (!attributes.empty()) out += ' ';
  out += *attribute;
  out += response.substr(close);
  return out;
}

}  // namespace imapfront::imap
