#include "imap/greeting.h"

#include <cstring>
#include <string_view>

#include "imap/bytes.h"

namespace imapfront::imap {
namespace {

bool StartsWithWord(std::string_view head, std::string_view word) {
  if (head.size() <= word.size()) return false;
  if (!EqualsIgnoreCase(head.substr(0, word.size()), word)) return false;
  char next = head[word.size()];
  return next == ' ' || next == '\r' || next == '\n';
}

}  // namespace

GreetingScanner::Kind GreetingScanner::Classify() const {
  std::string_view head(head_, length_ < sizeof(head_) ? length_ : sizeof(head_));
  if (!head.starts_with("* ")) return Kind::kInvalid;
  head.remove_prefix(2);
  if (StartsWithWord(head, "OK")) return Kind::kOk;
  if (StartsWithWord(head, "PREAUTH")) return Kind::kPreauth;
  if (StartsWithWord(head, "BYE")) return Kind::kBye;
  return Kind::kInvalid;
}

size_t GreetingScanner::Feed(std::span<const uint8_t> bytes) {
  if (done()) return 0;
  const void* lf = std::memchr(bytes.data(), '\n', bytes.size());
  size_t take =
      lf ? static_cast<size_t>(static_cast<const uint8_t*>(lf) - bytes.data()) + 1 : bytes.size();
  for (size_t i = 0; i < take && length_ + i < sizeof(head_); ++i) {
    head_[length_ + i] = static_cast<char>(bytes[i]);
  }
  length_ += take;
  if (lf) {
    kind_ = Classify();
  } else if (length_ > max_line_bytes_) {
    kind_ = Kind::kInvalid;
  }
  return take;
}

}  // namespace imapfront::imap
