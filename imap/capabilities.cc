#include "imap/capabilities.h"

#include "imap/bytes.h"

namespace imapfront::imap {
namespace {

bool StartsWithNoCase(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && EqualsIgnoreCase(s.substr(0, prefix.size()), prefix);
}

// Where the list is in |line|: [begin, end) of the atoms.
bool FindList(std::string_view line, bool capability_response, size_t* begin, size_t* end) {
  size_t content_end = line.size();
  while (content_end > 0 && (line[content_end - 1] == '\n' || line[content_end - 1] == '\r')) {
    --content_end;
  }
  if (capability_response) {
    // "* CAPABILITY atom atom ..."
    size_t word = line.find(' ');
    if (word == std::string_view::npos) return false;
    size_t atoms = line.find(' ', word + 1);
    if (atoms == std::string_view::npos || atoms > content_end) return false;
    *begin = atoms + 1;
    *end = content_end;
    return true;
  }
  // "TAG STATUS [CAPABILITY atom atom ...] text"
  size_t status = line.find(' ');
  if (status == std::string_view::npos) return false;
  size_t code = line.find(' ', status + 1);
  if (code == std::string_view::npos) return false;
  constexpr std::string_view kCode = "[CAPABILITY ";
  if (!StartsWithNoCase(line.substr(code + 1), kCode)) return false;
  *begin = code + 1 + kCode.size();
  size_t close = line.find(']', *begin);
  if (close == std::string_view::npos || close > content_end) return false;
  *end = close;
  return true;
}

}  // namespace

std::optional<std::string> RewriteCapabilities(std::string_view line, bool capability_response,
                                               const CapabilityEdit& edit) {
  size_t begin = 0, end = 0;
  if (!FindList(line, capability_response, &begin, &end)) return std::nullopt;
  std::string list;
  bool changed = false;
  bool has_literal_plus = false;
  std::string_view atoms = line.substr(begin, end - begin);
  while (!atoms.empty()) {
    size_t space = atoms.find(' ');
    std::string_view atom = atoms.substr(0, space);
    atoms.remove_prefix(space == std::string_view::npos ? atoms.size() : space + 1);
    if (atom.empty()) continue;
    bool drop = edit.strip_transport &&
                (EqualsIgnoreCase(atom, "STARTTLS") || EqualsIgnoreCase(atom, "LOGINDISABLED") ||
                 StartsWithNoCase(atom, "COMPRESS="));
    if (edit.add_literal_plus && EqualsIgnoreCase(atom, "LITERAL-")) drop = true;
    if (EqualsIgnoreCase(atom, "LITERAL+")) has_literal_plus = true;
    if (drop) {
      changed = true;
      continue;
    }
    if (!list.empty()) list += ' ';
    list += atom;
  }
  if (edit.add_literal_plus && !has_literal_plus) {
    if (!list.empty()) list += ' ';
    list += "LITERAL+";
    changed = true;
  }
  if (!changed) return std::nullopt;
  std::string out(line.substr(0, begin));
  out += list;
  out += line.substr(end);
  return out;
}

}  // namespace imapfront::imap
