// How config errors are written: JSON paths ("routes[0].limits.idle_timeout"),
// operator text quoted safely, and did-you-mean suggestions for typos.
#pragma once

#include <span>
#include <string>
#include <string_view>

namespace imapfront::config {

// "path.key", or "key" at the root.
std::string Join(const std::string& path, std::string_view key);
// "path[i]".
std::string Index(const std::string& path, size_t i);

// Operator-written text, quoted; control bytes are shown as \xHH.
std::string Quote(std::string_view text);

// " (did you mean "idle_timeout"?)" when |key| looks like a typo of a known
// key (at most two edits away), else "".
std::string Suggestion(std::string_view key, std::span<const std::string_view> known);

// "A", "A or B", "A, B or C", each quoted.
std::string Alternatives(std::span<const std::string_view> names);

}  // namespace imapfront::config
