// Capability lists in server responses: "* CAPABILITY ..." and the
// "[CAPABILITY ...]" response code of a status response (the greeting, a
// tagged OK after LOGIN).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace imapfront::imap {

struct CapabilityEdit {
  // Drop STARTTLS, LOGINDISABLED and COMPRESS=*: they only make sense
  // between the client and imapfront.
  bool strip_transport = true;
  // Advertise LITERAL+ (replacing LITERAL-), for emulated LITERAL+.
  bool add_literal_plus = false;
  // Names dropped from every list (compared case-insensitively), then names
  // appended unless the list has them: what imapfront emulates and the
  // route's capabilities.add. Empty for a route without compat.
  std::vector<std::string> remove = {};
  std::vector<std::string> add = {};
};

// |line| is a whole response line (CRLF included). |capability_response|:
// the line is "* CAPABILITY ..."; otherwise only a "[CAPABILITY ...]" code
// right after the status word is looked at. Returns the rewritten line, or
// nullopt when nothing changes. Everything but the list stays byte-exact.
std::optional<std::string> RewriteCapabilities(std::string_view line, bool capability_response,
                                               const CapabilityEdit& edit);

// The capability names of such a line, as sent; nullopt when it has no list.
std::optional<std::vector<std::string>> CapabilityList(std::string_view line,
                                                       bool capability_response);

// |names| has |name|, compared case-insensitively.
bool HasCapability(const std::vector<std::string>& names, std::string_view name);

// A greeting ("* OK text", "* PREAUTH text") given the code
// "[CAPABILITY |list|]" when it has no response code; nullopt when it has one.
std::optional<std::string> WithCapabilityCode(std::string_view greeting, std::string_view list);

}  // namespace imapfront::imap
