// End to end: the command line: --version, --check-config, exit codes.
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>

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
