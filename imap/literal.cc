#include "imap/literal.h"

namespace imapfront::imap {

std::string_view StripLineEnding(std::string_view line) {
  if (line.ends_with('\n')) line.remove_suffix(1);
  if (line.ends_with('\r')) line.remove_suffix(1);
  return line;
}

std::string ToSyncLiteral(std::string_view line) {
  std::string_view content = StripLineEnding(line);
  if (!content.ends_with("+}")) return std::string(line);
  std::string sync(content.substr(0, content.size() - 2));
  sync += '}';
  sync += line.substr(content.size());
  return sync;
}

std::optional<LiteralHeader> ParseLiteralHeader(std::string_view line) {
  if (!line.ends_with('}')) return std::nullopt;
  size_t end = line.size() - 1;  // at '}'
  LiteralHeader h;
  if (end > 0 && line[end - 1] == '+') {
    h.non_sync = true;
    --end;
  }
  size_t digits_end = end;
  while (end > 0 && line[end - 1] >= '0' && line[end - 1] <= '9') --end;
  const size_t digits = digits_end - end;
  if (digits == 0 || digits > 19 || end == 0 || line[end - 1] != '{') return std::nullopt;
  for (size_t i = end; i < digits_end; ++i) {
    h.size = h.size * 10 + static_cast<uint64_t>(line[i] - '0');
  }
  size_t start = end - 1;  // at '{'
  if (start > 0 && line[start - 1] == '~') {
    h.binary = true;
    --start;
  }
  h.header_length = line.size() - start;
  return h;
}

}  // namespace imapfront::imap
