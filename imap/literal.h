// Literal headers at the end of an IMAP line: {n}, {n+} (RFC 7888) and the
// binary ~{n}, ~{n+} (RFC 3516). A quoted string cannot contain CR or LF, so
// a line whose last bytes before its CRLF are "{digits}" ends with a literal
// header, whatever came before.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace imapfront::imap {

struct LiteralHeader {
  uint64_t size = 0;
  bool non_sync = false;     // {n+}: the client sends the data without waiting
  bool binary = false;       // ~{n}
  size_t header_length = 0;  // bytes of "~{n+}" in the line, CRLF excluded

  bool operator==(const LiteralHeader&) const = default;
};

// |line| without its line ending. Sizes beyond 19 digits are not literals
// (no IMAP peer sends them; the line then fails as a command at the server).
std::optional<LiteralHeader> ParseLiteralHeader(std::string_view line);

// |line| (a whole line ending in "{n+}" and its CRLF) with the literal made
// synchronizing: "{n}", for a server without LITERAL+.
std::string ToSyncLiteral(std::string_view line);

// |line| with its CR LF (or bare LF) removed.
std::string_view StripLineEnding(std::string_view line);

}  // namespace imapfront::imap
