#include "imap/capabilities.h"

#include <algorithm>

#include "imap/bytes.h"

namespace imapfront::imap {
namespace {

bool StartsWithNoCase(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && EqualsIgnoreCase(s.substr(0, prefix.size()), prefix);
}

size_t ContentEnd(std::string_view line) {
  size_t end = line.size();
  while (end > 0 && (line[end - 1] == '\n' || line[end - 1] == '\r')) --end;
  return end;
}

// Where the list is in |line|: [begin, end) of the atoms.
bool FindList(std::string_view line, bool capability_response, size_t* begin, size_t* end) {
  const size_t content_end = ContentEnd(line);
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

template <typename F>
void ForEachAtom(std::string_view atoms, F&& f) {
  while (!atoms.empty()) {
    size_t space = atoms.find(' ');
    std::string_view atom = atoms.substr(0, space);
    atoms.remove_prefix(space == std::string_view::npos ? atoms.size() : space + 1);
    if (!atom.empty()) f(atom);
  }
}

bool Listed(const std::vector<std::string>& names, std::string_view name) {
  return std::any_of(names.begin(), names.end(),
                     [&](const std::string& n) { return EqualsIgnoreCase(n, name); });
}

}  // namespace

bool HasCapability(const std::vector<std::string>& names, std::string_view name) {
  return Listed(names, name);
}

std::optional<std::string> RewriteCapabilities(std::string_view line, bool capability_response,
                                               const CapabilityEdit& edit) {
  size_t begin = 0, end = 0;
  if (!FindList(line, capability_response, &begin, &end)) return std::nullopt;
  std::string list;
  bool changed = false;
  bool has_literal_plus = false;
  std::vector<std::string_view> kept;
  ForEachAtom(line.substr(begin, end - begin), [&](std::string_view atom) {
    bool drop = edit.strip_transport &&
                (EqualsIgnoreCase(atom, "STARTTLS") || EqualsIgnoreCase(atom, "LOGINDISABLED") ||
                 StartsWithNoCase(atom, "COMPRESS="));
    if (edit.add_literal_plus && EqualsIgnoreCase(atom, "LITERAL-")) drop = true;
    if (Listed(edit.remove, atom)) drop = true;
    if (EqualsIgnoreCase(atom, "LITERAL+")) has_literal_plus = true;
    if (drop) {
      changed = true;
      return;
    }
    kept.push_back(atom);
    if (!list.empty()) list += ' ';
    list += atom;
  });
  auto append = [&](std::string_view name) {
    if (std::any_of(kept.begin(), kept.end(),
                    [&](std::string_view k) { return EqualsIgnoreCase(k, name); })) {
      return;
    }
    kept.push_back(name);
    if (!list.empty()) list += ' ';
    list += name;
    changed = true;
  };
  if (edit.add_literal_plus && !has_literal_plus) append("LITERAL+");
  for (const std::string& name : edit.add) append(name);
  if (!changed) return std::nullopt;
  std::string out(line.substr(0, begin));
  out += list;
  out += line.substr(end);
  return out;
}

std::optional<std::vector<std::string>> CapabilityList(std::string_view line,
                                                       bool capability_response) {
  size_t begin = 0, end = 0;
  if (!FindList(line, capability_response, &begin, &end)) return std::nullopt;
  std::vector<std::string> names;
  ForEachAtom(line.substr(begin, end - begin),
              [&](std::string_view atom) { names.emplace_back(atom); });
  return names;
}

std::optional<std::string> WithCapabilityCode(std::string_view greeting, std::string_view list) {
  // "* OK text": the text starts after the second space.
  const size_t status = greeting.find(' ');
  if (status == std::string_view::npos) return std::nullopt;
  const size_t content_end = ContentEnd(greeting);
  size_t text = greeting.find(' ', status + 1);
  std::string out;
  if (text == std::string_view::npos || text >= content_end) {
    // No text at all ("* OK"): the code needs one after it.
    out.assign(greeting.substr(0, content_end));
    out += " [CAPABILITY ";
    out += list;
    out += "] ready";
    out += greeting.substr(content_end);
    return out;
  }
  if (greeting.substr(text + 1).starts_with('[')) return std::nullopt;
  out.assign(greeting.substr(0, text + 1));
  out += "[CAPABILITY ";
  out += list;
  out += "] ";
  out += greeting.substr(text + 1);
  return out;
}

}  // namespace imapfront::imap
