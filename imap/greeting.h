// Finds the end of an IMAP server greeting (RFC 9051 7.1: "* OK", "* PREAUTH"
// or "* BYE", one line, no literals) in a backend stream cut anywhere.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace imapfront::imap {

class GreetingScanner {
 public:
  enum class Kind { kIncomplete, kOk, kPreauth, kBye, kInvalid };

  explicit GreetingScanner(size_t max_line_bytes) : max_line_bytes_(max_line_bytes) {}

  // Scans |bytes|, the next part of the stream. Returns how many of them
  // belong to the greeting (all of them while it is incomplete).
  size_t Feed(std::span<const uint8_t> bytes);

  // kIncomplete until the greeting's LF has been fed; kInvalid if the line
  // is not a greeting or is longer than the limit.
  Kind kind() const { return kind_; }
  bool done() const { return kind_ != Kind::kIncomplete; }

 private:
  Kind Classify() const;

  size_t max_line_bytes_;
  size_t length_ = 0;
  // The first bytes of the line, enough to tell "* PREAUTH" from "* OK".
  char head_[10] = {};
  Kind kind_ = Kind::kIncomplete;
};

}  // namespace imapfront::imap
