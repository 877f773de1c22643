// SPECIAL-USE for a backend without it (compat.special_use, RFC 6154): the
// configured attribute is added to the LIST and LSUB responses of the
// mailboxes the route maps.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace imapfront::imap {

using SpecialUseMap = std::vector<std::pair<std::string, std::string>>;

// |response|: a whole untagged LIST or LSUB response (literals included,
// CRLF at the end). When its mailbox name (atom, quoted string or literal)
// is a key of |map| (exactly; INBOX in any case) and its attribute list does
// not have the mapped attribute yet, returns the response with the
// attribute appended to the list; otherwise nullopt. Nothing else changes.
std::optional<std::string> AddSpecialUse(std::string_view response, const SpecialUseMap& map);

}  // namespace imapfront::imap
