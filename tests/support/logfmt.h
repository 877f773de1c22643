// A strict logfmt reader for the tests: a line is key=value pairs separated
// by single spaces; a value is bare (no space, '=' or '"') or double-quoted
// with \" and \\ escapes. Anything else makes the line unreadable.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace imapfront::testing {

using LogfmtFields = std::map<std::string, std::string>;

// The fields of |line|, or nullopt when it is not logfmt through to its end
// (a key twice counts as unreadable too).
inline std::optional<LogfmtFields> ParseLogfmt(std::string_view line) {
  LogfmtFields fields;
  size_t i = 0;
  while (i < line.size()) {
    const size_t eq = line.find('=', i);
    if (eq == std::string_view::npos || eq == i) return std::nullopt;
    const std::string key(line.substr(i, eq - i));
    for (char c : key) {
      const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
      if (!ok) return std::nullopt;
    }
    i = eq + 1;
    std::string value;
    if (i < line.size() && line[i] == '"') {
      ++i;
      bool closed = false;
      while (i < line.size()) {
        const char c = line[i++];
        if (c == '\\') {
          if (i >= line.size() || (line[i] != '"' && line[i] != '\\')) return std::nullopt;
          value += line[i++];
        } else if (c == '"') {
          closed = true;
          break;
        } else {
          value += c;
        }
      }
      if (!closed) return std::nullopt;
    } else {
      while (i < line.size() && line[i] != ' ') {
        const char c = line[i++];
        if (c == '=' || c == '"') return std::nullopt;
        value += c;
      }
      if (value.empty()) return std::nullopt;
    }
    if (!fields.emplace(key, value).second) return std::nullopt;
    if (i < line.size()) {
      if (line[i] != ' ' || i + 1 == line.size()) return std::nullopt;
      ++i;
    }
  }
  if (fields.empty()) return std::nullopt;
  return fields;
}

}  // namespace imapfront::testing
