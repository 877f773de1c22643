// End to end: many sessions, and hundreds with random faults: every one
// counted exactly once, every log line whole.
#include <doctest/doctest.h>

#include <atomic>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/e2e/e2e_fixture.h"
#include "tests/support/harness.h"

namespace imapfront::testing {
namespace {

TEST_CASE("many sessions on several workers: each counted exactly once") {
  E2e t;
  constexpr int kSessions = 40;
  for (int i = 0; i < kSessions; ++i) {
    auto client = t.Client();
    // Built with += : GCC 12 misreads "a" + std::string as an overlapping
    // memcpy in Release builds (-Wrestrict, a known false positive).
    std::string logout = "a";
    logout += std::to_string(i);
    logout += " LOGOUT\r\n";
    REQUIRE(client->Handshake(logout));
    CHECK(client->WaitEof());
  }
  REQUIRE(t.backend.WaitScriptsDone());
  auto stats = t.QuietStats(kSessions);
  CHECK(stats["routes"]["default"]["accepted"] == kSessions);
  CHECK(ClosedCount(stats, "logout") == kSessions);
}

TEST_CASE("stress: hundreds of sessions with random faults, every one counted exactly once") {
  // The backend fails some sessions on purpose: reset after the greeting,
  // or no greeting at all.
  std::atomic<int> backend_faults{0};
  E2e t(
      [&](BackendConnection& c) {
        thread_local std::mt19937 rng(std::random_device{}());
        const auto roll = rng() % 20;
        if (roll == 0) {
          ++backend_faults;
          c.WaitEof(2s);  // silent: the proxy's connect timeout ends it
          return;
        }
        if (roll == 1) {
          ++backend_faults;
          c.Send(kGreeting);
          c.socket().Reset();
          return;
        }
        MiniImap(c);
      },
      [](Json& config) {
        // Debug lines and access log lines share stderr: each must stay whole.
        config["log"]["level"] = "debug";
        config["limits"] = {
            {"handshake_timeout", 0.5}, {"backend_connect_timeout", 0.3}, {"idle_timeout", 3}};
      });

  constexpr int kThreads = 4;
  constexpr auto kDuration = 4s;
  std::atomic<int> sessions{0}, faults{0};
  const auto deadline = std::chrono::steady_clock::now() + kDuration;
  std::vector<std::thread> threads;
  for (int k = 0; k < kThreads; ++k) {
    threads.emplace_back([&, k] {
      std::mt19937 rng(1000 + k);
      for (int i = 0; i < 10000 && std::chrono::steady_clock::now() < deadline; ++i) {
        ++sessions;
        const auto action = rng() % 8;
        if (action == 0) {  // connect and vanish
          ++faults;
          Socket s = Socket::Connect(t.port());
          s.Reset();
          continue;
        }
        if (action == 1) {  // garbage instead of a ClientHello
          ++faults;
          Socket s = Socket::Connect(t.port());
          s.SendAll(i % 2 ? "GET / HTTP/1.0\r\n\r\n" : "\x16\x03\x01 partial record", 1s);
          char buf[64];
          s.ReadSome(buf, sizeof(buf), 1s);
          continue;
        }
        auto client = t.Client();
        if (!client->Handshake()) continue;
        if (action == 2) {  // reset mid-literal
          ++faults;
          client->Send("a1 APPEND INBOX {100+}\r\n" + std::string(50, 'x'));
          client->socket().Reset();
          continue;
        }
        if (action == 3) {  // close_notify mid-command, then leave
          ++faults;
          client->Send("a1 APPEND INBOX {100+}\r\nxyz");
          client->SendCloseNotify();
          client->socket().Close();
          continue;
        }
        client->Send("a1 LOGIN user pass\r\na2 APPEND INBOX {10+}\r\n0123456789\r\na3 LOGOUT\r\n");
        client->WaitEof(5s);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  REQUIRE(t.backend.WaitScriptsDone(15s));
  auto stats = t.QuietStats(static_cast<uint64_t>(sessions.load()));
  uint64_t closed = 0;
  for (const auto& [reason, count] : stats["closed"].items()) closed += count.get<uint64_t>();
  CHECK(closed == static_cast<uint64_t>(sessions.load()));
  MESSAGE("stress: " << sessions.load() << " sessions in " << kDuration.count() << " s, "
                     << faults.load() << " client faults, " << backend_faults.load()
                     << " backend faults; closed " << stats["closed"].dump());
  CHECK(sessions.load() > 150);
  CHECK(t.proxy.Stop() == 0);
  std::istringstream log(t.proxy.Log());
  std::string line;
  size_t json_lines = 0;
  for (int i = 0; i < 1000000 && std::getline(log, line); ++i) {
    if (line.starts_with("{")) {
      CHECK_NOTHROW(nlohmann::json::parse(line));
      ++json_lines;
    } else {
      CHECK_MESSAGE(line.find("{\"") == std::string::npos, line);
    }
  }
  CHECK(json_lines == static_cast<size_t>(sessions.load()));
}

}  // namespace
}  // namespace imapfront::testing
