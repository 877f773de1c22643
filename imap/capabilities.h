// Capability lists in server responses: "* CAPABILITY ..." and the
// "[CAPABILITY ...]" response code of a status response (the greeting, a
// tagged OK after LOGIN).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace imapfront::imap {

struct CapabilityEdit {
  // Drop STARTTLS, LOGINDISABLED and COMPRESS=*: they only make sense
  // between the client and imapfront.
  bool strip_transport = true;
  // Advertise LITERAL+ (replacing LITERAL-), for emulated LITERAL+.
  bool add_literal_plus = false;
};

// |line| is a whole response line (CRLF included). |capability_response|:
// the line is "* CAPABILITY ..."; otherwise only a "[CAPABILITY ...]" code
// right after the status word is looked at. Returns the rewritten line, or
// nullopt when nothing changes. Everything but the list stays byte-exact.
std::optional<std::string> RewriteCapabilities(std::string_view line, bool capability_response,
                                               const CapabilityEdit& edit);

}  // namespace imapfront::imap
