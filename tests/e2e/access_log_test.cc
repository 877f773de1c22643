// End to end: the access log: one JSON line per session without secrets,
// reopened on SIGUSR1.
#include <doctest/doctest.h>
#include <signal.h>

#include <cstdio>
#include <map>
#include <string>

#include "tests/e2e/e2e_fixture.h"
#include "tests/support/harness.h"

namespace imapfront::testing {
namespace {

TEST_CASE(
    "access log: one JSON line per session, users from LOGIN and AUTHENTICATE, no passwords") {
  E2e t({.access_log = true});
  const std::string& log_path = t.access_log;
  auto session = [&](const std::string& commands) {
    auto client = t.Client("localhost");
    REQUIRE(client->Handshake(commands));
    CHECK(client->WaitEof());
  };
  session("a1 LOGIN alice \"s3cret-one\"\r\na2 APPEND INBOX {3+}\r\nabc\r\na3 LOGOUT\r\n");
  // AUTHENTICATE PLAIN with an initial response: "\0bob\0hunter2-two".
  session("b1 AUTHENTICATE PLAIN AGJvYgBodW50ZXIyLXR3bw==\r\nb2 LOGOUT\r\n");
  session("c1 LOGIN {5+}\r\ncarol {12+}\r\nsecret-three\r\nc2 LOGOUT\r\n");
  t.QuietStats(3);
  REQUIRE(WaitFor([&] { return ReadJsonLines(log_path).size() == 3; }));
  auto lines = ReadJsonLines(log_path);
  std::map<std::string, nlohmann::json> by_user;
  for (const auto& l : lines) by_user[l["user"].get<std::string>()] = l;
  REQUIRE(by_user.count("alice"));
  REQUIRE(by_user.count("bob"));
  REQUIRE(by_user.count("carol"));
  const auto& alice = by_user["alice"];
  CHECK(alice["reason"] == "logout");
  CHECK(alice["listener"] == "imaps");
  CHECK(alice["route"] == "default");
  CHECK(alice["sni"] == "localhost");
  CHECK(alice["tls_version"] == "TLSv1.3");
  CHECK(alice["cipher"].get<std::string>().size() > 0);
  CHECK(alice["commands"] == 3);
  CHECK(alice["appends"] == 1);
  CHECK(alice["bytes_in"].get<uint64_t>() > 40);
  CHECK(alice["bytes_out"].get<uint64_t>() > 40);
  CHECK(alice["duration_seconds"].get<double>() >= 0);
  CHECK(alice["client"].get<std::string>().starts_with("127.0.0.1:"));
  for (const char* key :
       {"ts", "conn", "client", "listener", "route", "sni", "tls_version", "cipher", "user",
        "duration_seconds", "bytes_in", "bytes_out", "commands", "appends", "reason"}) {
    CHECK_MESSAGE(alice.contains(key), key);
  }
  const std::string everything = ReadFile(log_path) + t.proxy.Log();
  for (const char* secret : {"s3cret-one", "hunter2-two", "secret-three", "aHVudGVy"}) {
    CHECK_MESSAGE(everything.find(secret) == std::string::npos, secret);
  }
}

TEST_CASE("access log: SIGUSR1 reopens the file (logrotate)") {
  E2e t({.access_log = true});
  const std::string& log_path = t.access_log;
  {
    auto client = t.Client();
    REQUIRE(client->Handshake("a LOGOUT\r\n"));
    CHECK(client->WaitEof());
  }
  REQUIRE(WaitFor([&] { return ReadJsonLines(log_path).size() == 1; }));
  REQUIRE(std::rename(log_path.c_str(), (log_path + ".1").c_str()) == 0);
  t.proxy.Signal(SIGUSR1);
  REQUIRE(WaitFor([&] { return t.proxy.Log().find("event=reopen ") != std::string::npos; }));
  {
    auto client = t.Client();
    REQUIRE(client->Handshake("b LOGOUT\r\n"));
    CHECK(client->WaitEof());
  }
  REQUIRE(WaitFor([&] { return ReadJsonLines(log_path).size() == 1; }));
  CHECK(ReadJsonLines(log_path + ".1").size() == 1);
}

}  // namespace
}  // namespace imapfront::testing
