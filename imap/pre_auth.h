// What imapfront answers by itself on a STARTTLS listener before TLS
// (SPEC "On the wire"): CAPABILITY, NOOP, LOGOUT and STARTTLS; LOGIN and
// AUTHENTICATE are refused with PRIVACYREQUIRED, everything else (literals
// included) with BAD. No backend is involved, so no credential and no
// backend byte ever crosses in plaintext.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "imap/command_framer.h"

namespace imapfront::imap {

class StartTlsGate {
 public:
  // The capabilities before TLS, in the greeting and in CAPABILITY.
  static constexpr std::string_view kCapabilities = "IMAP4rev1 STARTTLS LOGINDISABLED";
  static std::string Greeting();

  explicit StartTlsGate(size_t max_line_bytes);

  enum class Outcome {
    kMore,         // all input taken; nothing else to do
    kStartTls,     // the client's STARTTLS was accepted: the bytes after it are dropped
    kLogout,       // the client logged out: end the session
    kLineTooLong,  // "* BYE Line too long" and end
  };
  struct Result {
    Outcome outcome = Outcome::kMore;
    std::string answers;    // for the client, in order
    uint64_t commands = 0;  // commands answered
  };

  // Plaintext from the client. Whatever follows an accepted STARTTLS in
  // |bytes| is dropped, never executed (CVE-2011-0411).
  Result Feed(std::span<const uint8_t> bytes);

 private:
  void Answer(const CommandStep& step, Result& result);
  void Reset();

  size_t max_line_bytes_;
  std::optional<CommandFramer> commands_;
};

}  // namespace imapfront::imap
