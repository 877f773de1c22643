// The JSON document -> Config, section by section, collecting every error
// with its JSON path (SPEC.md, "Configuration").
#pragma once

#include <string>
#include <vector>

#include "proxy/config/config.h"
#include "proxy/config/json_reader.h"

namespace imapfront::config {

// |file| names the file in every message. Duplicate keys and a syntax error
// in |document| are errors too.
ConfigResult Validate(const JsonDocument& document, const std::string& file);

// Every key the validator accepts, as a path: "tls.certificates[].cert",
// "routes[].health_check.rise"; objects too ("tls", "routes[].compat").
// routes[].limits takes the keys of limits and is listed once; the members
// of routes[].compat.special_use are mailbox names, not keys. The config
// reference (deploy/man/imapfront.json.5.scd) describes exactly these.
std::vector<std::string> KnownKeyPaths();

}  // namespace imapfront::config
