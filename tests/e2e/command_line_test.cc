// End to end: the command line: --version, --check-config, exit codes.
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <string>

#include "tests/e2e/e2e_fixture.h"
#include "tests/support/harness.h"

namespace imapfront::testing {
namespace {

TEST_CASE("command line: --version, --check-config, bad config, address in use") {
  TestSetup setup;
  auto version = RunCommand({IMAPFRONT_BINARY, "--version"});
  CHECK(version.exit_code == 0);
  CHECK(version.output.find("BoringSSL") != std::string::npos);
  CHECK(version.output.find("libuv") != std::string::npos);

  std::string good = setup.dir + "/good.json";
  WriteFile(good, setup.Config({143}).dump());
  auto ok = RunCommand({IMAPFRONT_BINARY, "--check-config", good});
  CHECK(ok.exit_code == 0);
  CHECK(ok.output == "config ok\n");

  auto bad_config = setup.Config({143});
  bad_config["routes"][0]["backends"][0] = "127.0.0.1:70000";
  bad_config["tls"]["certificates"][0]["key"] = setup.dir + "/missing.key";
  std::string bad = setup.dir + "/bad.json";
  WriteFile(bad, bad_config.dump());
  auto check = RunCommand({IMAPFRONT_BINARY, "--check-config", bad});
  CHECK(check.exit_code == 1);
  CHECK(check.output.find(bad + ": routes[0].backends[0]: port 70000 out of range 1..65535") !=
        std::string::npos);
  auto run_bad = RunCommand({IMAPFRONT_BINARY, "--config", bad});
  CHECK(run_bad.exit_code == 1);
  // Running, the errors are operator log lines.
  CHECK(run_bad.output.find("level=error event=config_error config=" + bad) != std::string::npos);
  CHECK(run_bad.output.find("port 70000 out of range 1..65535") != std::string::npos);

  auto wrong_key = setup.Config({143});
  wrong_key["tls"]["certificates"][0]["key"] = setup.dir + "/missing.key";
  WriteFile(bad, wrong_key.dump());
  check = RunCommand({IMAPFRONT_BINARY, "--check-config", bad});
  CHECK(check.exit_code == 1);
  CHECK(check.output.find(bad + ": tls.certificates[0].key") != std::string::npos);

  CHECK(RunCommand({IMAPFRONT_BINARY, "--bogus"}).exit_code == 1);

  auto per_ip = setup.Config({143});
  per_ip["routes"][0]["limits"] = {{"max_connections_per_ip", 3}};
  WriteFile(bad, per_ip.dump());
  check = RunCommand({IMAPFRONT_BINARY, "--check-config", bad});
  CHECK(check.exit_code == 1);
  CHECK(check.output.find(bad + ": routes[0].limits.max_connections_per_ip") != std::string::npos);

  {
    // A second imapfront on the same listen address must not share it.
    Proxy first(setup.Config({143}));
    auto second_config = setup.Config({143});
    second_config["stats"] = {{"listen", "127.0.0.1:" + std::to_string(FreePort())}};
    std::string second = setup.dir + "/second.json";
    WriteFile(second, second_config.dump());
    auto again = RunCommand({IMAPFRONT_BINARY, "--config", second});
    CHECK(again.exit_code == 2);
    CHECK(again.output.find("in use") != std::string::npos);
  }
  // A plain listener (no SO_REUSEPORT) holds the port: exit 2, naming it.
  Socket holder;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(setup.port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0);
  REQUIRE(listen(fd, 1) == 0);
  holder = Socket(fd);
  auto in_use = RunCommand({IMAPFRONT_BINARY, "--config", good});
  CHECK(in_use.exit_code == 2);
  CHECK(in_use.output.find("127.0.0.1:" + std::to_string(setup.port)) != std::string::npos);
  CHECK(in_use.output.find("in use") != std::string::npos);
}

}  // namespace
}  // namespace imapfront::testing

namespace imapfront::testing {
namespace {

TEST_CASE("command line: --help lists options, signals, exit codes and stats paths; -t and -c") {
  const auto help = RunCommand({IMAPFRONT_BINARY, "--help"});
  CHECK(help.exit_code == 0);
  for (const char* want :
       {"-c,--config FILE", "-t,--check-config FILE", "--version", "SIGHUP", "SIGUSR1", "SIGTERM",
        "Exit codes:", "  2  runtime failure", "/healthz", "/stats", "/metrics"}) {
    CHECK_MESSAGE(help.output.find(want) != std::string::npos, want, "\n", help.output);
  }
  CHECK(help.output.find("Excludes") == std::string::npos);

  TestSetup setup;
  const std::string file = setup.dir + "/imapfront.json";
  WriteFile(file, setup.Config({143}).dump());
  const auto check = RunCommand({IMAPFRONT_BINARY, "-t", file});
  CHECK(check.exit_code == 0);
  CHECK(check.output == "config ok\n");
  {
    // -c runs it: stats.listen is the harness's; the log's start line shows.
    Json config = setup.Config({143});
    const uint16_t stats = FreePort();
    config["stats"] = {{"listen", "127.0.0.1:" + std::to_string(stats)}};
    WriteFile(file, config.dump());
    const pid_t pid = fork();
    if (pid == 0) {
      const int null = open("/dev/null", O_WRONLY);
      dup2(null, 2);
      execl(IMAPFRONT_BINARY, IMAPFRONT_BINARY, "-c", file.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    CHECK(WaitFor([&] { return HttpGet(stats, "/healthz").find("ok") != std::string::npos; }));
    kill(pid, SIGTERM);
    int status = 0;
    CHECK(WaitFor([&] { return waitpid(pid, &status, WNOHANG) == pid; }));
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
  }
}

TEST_CASE(
    "--check-config warns, exit 0: an SNI no certificate covers, a certificate never "
    "selected, a listener where clients without SNI match no route, a name that does not "
    "resolve") {
  TestSetup setup;
  // A certificate without names: selected by its subjectAltName (localhost).
  Json config = setup.Config({143});
  config["tls"]["certificates"][0].erase("names");
  config["tls"]["certificates"].push_back(
      {{"cert", setup.cert.cert_path}, {"key", setup.cert.key_path}});  // the same again
  config["routes"] = {{{"name", "named"},
                       {"sni", {"localhost", "mail.example.org"}},
                       {"backends", {"127.0.0.1:143", "no-such-host.invalid:143"}}}};
  const std::string file = setup.dir + "/warn.json";
  WriteFile(file, config.dump());
  const auto check = RunCommand({IMAPFRONT_BINARY, "--check-config", file});
  CHECK(check.exit_code == 0);
  CHECK_MESSAGE(check.output.ends_with("config ok\n"), check.output);
  const std::string prefix = "warning: " + file + ": ";
  for (const std::string& want : {
           prefix + "routes[0].sni[1]: no certificate covers \"mail.example.org\"",
           prefix + "tls.certificates[1]: can never be selected",
           prefix + "listeners[0]: a client without SNI on \"imaps\" matches no route",
           prefix + "routes[0].backends[1]: cannot resolve \"no-such-host.invalid\"",
       }) {
    CHECK_MESSAGE(check.output.find(want) != std::string::npos, want, "\n", check.output);
  }
  // localhost is covered by the SAN of a certificate without "names".
  CHECK(check.output.find("\"localhost\"") == std::string::npos);
  // The four warnings and "config ok", nothing else.
  CHECK(std::count(check.output.begin(), check.output.end(), '\n') == 5);

  // The same file runs (the unresolvable name is no reason not to start).
  Proxy proxy(config);
  CHECK(proxy.running());
}

TEST_CASE(
    "--check-config warns about the network edges: trusted_proxies no listener reads, "
    "health checks of a route that sends PROXY headers") {
  TestSetup setup;
  Json config = setup.Config({143});
  config["trusted_proxies"] = {"10.0.0.0/8"};
  config["routes"][0]["forward_client"] = "proxy_v2";
  config["routes"][0]["health_check"] = {{"interval", 5}};
  const std::string file = setup.dir + "/edges.json";
  WriteFile(file, config.dump());
  const auto check = RunCommand({IMAPFRONT_BINARY, "--check-config", file});
  CHECK(check.exit_code == 0);
  const std::string prefix = "warning: " + file + ": ";
  for (const std::string& want : {
           prefix + "trusted_proxies: no listener has \"proxy_protocol\": true",
           prefix + "routes[0].health_check: checks connect without a PROXY header",
       }) {
    CHECK_MESSAGE(check.output.find(want) != std::string::npos, want, "\n", check.output);
  }
  CHECK(std::count(check.output.begin(), check.output.end(), '\n') == 3);
  // A listener that reads the header and a route without checks: no warning.
  config["listeners"][0]["proxy_protocol"] = true;
  config["routes"][0].erase("health_check");
  WriteFile(file, config.dump());
  CHECK(RunCommand({IMAPFRONT_BINARY, "--check-config", file}).output == "config ok\n");
}

}  // namespace
}  // namespace imapfront::testing
