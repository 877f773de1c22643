// imapfront's command line (SPEC "Command line").
#include <uv.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <ctime>

#include "proxy/config_warnings.h"
#include "proxy/log.h"
#include "proxy/server.h"
#include "tls/context.h"

namespace {

constexpr const char* kFooter = R"(Signals:
  SIGHUP    reload the config file, certificates, keys and OCSP responses (a
            bad one is logged and the old config kept)
  SIGUSR1   reopen the access log files (after logrotate)
  SIGTERM, SIGINT
            stop accepting, end idle sessions with "* BYE", let commands in
            progress finish for up to limits.shutdown_grace, exit 0

Exit codes:
  0  normal stop; --check-config: the file is valid (warnings may be printed)
  1  bad config or bad usage
  2  runtime failure (a listen address in use, an access log that cannot be
     opened)

Stats endpoint (stats.listen, default 127.0.0.1:9100):
  /healthz  200 "ok"
  /stats    the counters as JSON
  /metrics  Prometheus text format

The operator log goes to stderr as logfmt lines (ts= level= event= ...).
Reference: man 8 imapfront, man 5 imapfront.json.
)";

}  // namespace

int main(int argc, char** argv) {
  timespec started{};
  clock_gettime(CLOCK_REALTIME, &started);
  CLI::App app{"imapfront: a TLS-terminating IMAP proxy for plaintext-only IMAP servers"};
  app.footer(kFooter);
  app.get_formatter()->column_width(28);
  std::string config_path;
  std::string check_path;
  bool version = false;
  auto* run =
      app.add_option("-c,--config", config_path, "Run with this config file, in the foreground")
          ->type_name("FILE");
  auto* check = app.add_option("-t,--check-config", check_path,
                               "Validate this config file (certificates included), print "
                               "warnings, exit")
                    ->type_name("FILE");
  auto* ver = app.add_flag("-V,--version", version, "Print the versions and exit");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : 1;  // SPEC: bad usage exits 1
  }
  // One action at a time (checked here rather than with CLI11's excludes(),
  // which would print "Excludes: ..." on every line of --help).
  if (run->count() + check->count() + ver->count() > 1) {
    std::fprintf(stderr, "imapfront: use only one of --config, --check-config, --version\n");
    return 1;
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
    for (const std::string& w : imapfront::ConfigWarnings(runtime, imapfront::ResolveCheck::kNow)) {
      std::fprintf(stderr, "warning: %s\n", w.c_str());
    }
    std::printf("config ok\n");
    return 0;
  }
  if (config_path.empty()) {
    std::fprintf(stderr, "%s", app.help().c_str());
    return 1;
  }
  imapfront::DetectJournal();
  return imapfront::RunServer({.config_path = config_path,
                               .version = IMAPFRONT_VERSION,
                               .start_time_seconds = static_cast<double>(started.tv_sec) +
                                                     static_cast<double>(started.tv_nsec) / 1e9});
}
