// Small pieces of IMAP syntax (RFC 9051 9) that several modules check.
#pragma once

#include <algorithm>
#include <string_view>

namespace imapfront::imap {

// tag = 1*<any ASTRING-CHAR except "+">; a command name is an atom, which
// this also accepts.
inline bool IsValidTag(std::string_view tag) {
  return !tag.empty() && std::all_of(tag.begin(), tag.end(), [](char c) {
    return c > 0x20 && c < 0x7f && std::string_view("(){%*\"\\+").find(c) == std::string_view::npos;
  });
}

// ASTRING-CHAR: an atom's characters and "]".
inline bool IsAstringChar(char c) {
  return c > 0x20 && c < 0x7f && std::string_view("(){%*\"\\").find(c) == std::string_view::npos;
}

}  // namespace imapfront::imap
