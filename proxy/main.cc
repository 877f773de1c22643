// imapfront's command line (SPEC "Command line").
#include <uv.h>

#include <CLI/CLI.hpp>
#include <cstdio>

#include "proxy/server.h"
#include "tls/context.h"

int main(int argc, char** argv) {
  CLI::App app{"imapfront: a TLS-terminating IMAP proxy for plaintext-only IMAP servers"};
  std::string config_path;
  std::string check_path;
  bool version = false;
  auto* run =
      app.add_option("--config", config_path, "Run with this config file, in the foreground");
  auto* check = app.add_option("--check-config", check_path,
                               "Validate this config file (certificates included) and exit");
  auto* ver = app.add_flag("--version", version, "Print the version and exit");
  run->excludes(check)->excludes(ver);
  check->excludes(ver);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : 1;  // SPEC: bad usage exits 1
  }
  if (version) {
    std::printf("imapfront %s\nTLS: %s\nlibuv: %s\n", IMAPFRONT_VERSION,
                imapfront::tls::LibraryVersion().c_str(), uv_version_string());
    return 0;
  }
  if (!check_path.empty()) {
    std::vector<std::string> errors;
    imapfront::Runtime runtime = imapfront::LoadRuntime(check_path, &errors);
    if (!runtime.config) {
      for (const std::string& e : errors) std::fprintf(stderr, "%s\n", e.c_str());
      return 1;
    }
    std::printf("config ok\n");
    return 0;
  }
  if (config_path.empty()) {
    std::fprintf(stderr, "%s", app.help().c_str());
    return 1;
  }
  return imapfront::RunServer(config_path);
}
