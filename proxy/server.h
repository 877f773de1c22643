// The process: loads the config, binds the listeners, runs the workers and
// the stats endpoint, and handles signals (SIGTERM/SIGINT stop, SIGHUP
// reloads).
#pragma once

#include <string>
#include <vector>

#include "proxy/runtime.h"

namespace imapfront {

// Loads |path| and everything it refers to (certificates). On failure
// returns an empty Runtime and fills |errors| with "FILE: PATH: reason" lines.
Runtime LoadRuntime(const std::string& path, std::vector<std::string>* errors);

struct ServerOptions {
  std::string config_path;
  std::string version;            // imapfront's, for the start line and build_info
  double start_time_seconds = 0;  // when the process started (Unix time)
};

// Runs until SIGTERM/SIGINT. Returns the process exit code (SPEC: 0 normal
// stop, 1 bad config, 2 runtime failure).
int RunServer(ServerOptions options);

}  // namespace imapfront
