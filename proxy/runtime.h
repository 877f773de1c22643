// One loaded configuration with what was built from it. Sessions hold the
// Runtime they started under, so a reload never changes a running session.
#pragma once

#include <memory>

#include "proxy/access_log.h"
#include "proxy/config/config.h"
#include "tls/context.h"

namespace imapfront {

struct Runtime {
  std::shared_ptr<const Config> config;
  std::shared_ptr<const tls::ServerContext> tls;
  std::shared_ptr<AccessLog> access_log;  // opened by the server, not by --check-config
};

}  // namespace imapfront
