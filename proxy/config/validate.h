// The JSON document -> Config, section by section, collecting every error
// with its JSON path (SPEC.md, "Configuration").
#pragma once

#include <string>

#include "proxy/config/config.h"
#include "proxy/config/json_reader.h"

namespace imapfront::config {

// |file| names the file in every message. Duplicate keys and a syntax error
// in |document| are errors too.
ConfigResult Validate(const JsonDocument& document, const std::string& file);

}  // namespace imapfront::config
