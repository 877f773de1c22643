// End to end: how sessions end: half-closes, resets and close_notify on
// either side, handshake and idle timeouts; each counted once, with its reason.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "tests/e2e/e2e_fixture.h"
#include "tests/support/harness.h"

namespace imapfront::testing {
namespace {

TEST_CASE("client half-closes before the backend greets: its commands still get there") {
  E2e t([](BackendConnection& c) {
    c.ReadBytes(1, 300ms);  // greet late
    MiniImap(c);
  });
  auto client = t.Client();
  REQUIRE(client->Handshake("a1 LOGOUT\r\n"));
  client->SendCloseNotify();
  CHECK(client->WaitEof());
  REQUIRE(t.backend.WaitScriptsDone());
  CHECK(t.backend.received(0) == "a1 LOGOUT\r\n");
  CHECK(client->received() == kGreeting + "* BYE logging out\r\na1 OK LOGOUT completed\r\n");
  auto stats = t.QuietStats();
  CHECK(ClosedCount(stats, "logout") == 1);
}

TEST_CASE("client leaves first, then the backend resets: still client_closed") {
  E2e t([](BackendConnection& c) {
    c.Send(kGreeting);
    if (!c.ReadUntil("a1 NOOP\r\n")) return;
    c.WaitEof();
    c.socket().Reset();
  });
  auto client = t.Greeted();
  REQUIRE(client->Send("a1 NOOP\r\n"));
  client->SendCloseNotify();
  CHECK(client->WaitEof());
  REQUIRE(t.backend.WaitScriptsDone());
  auto stats = t.QuietStats();
  CHECK(ClosedCount(stats, "client_closed") == 1);
}

TEST_CASE("backend closing mid-session: its last bytes reach the client, then the end") {
  E2e t([](BackendConnection& c) {
    c.Send(kGreeting);
    if (!c.ReadUntil("a1 SELECT INBOX\r\n")) return;
    c.Send("* 3 EXISTS\r\n* BYE going down\r\n");
    c.socket().Close();
  });
  auto client = t.Handshaken();
  REQUIRE(client->Send("a1 SELECT INBOX\r\n"));
  CHECK(client->WaitEof());
  CHECK(client->received() == kGreeting + "* 3 EXISTS\r\n* BYE going down\r\n");
  auto stats = t.QuietStats();
  CHECK(ClosedCount(stats, "backend_closed") == 1);
}

TEST_CASE("client reset mid-literal: the backend sees the end, the session is counted once") {
  E2e t([](BackendConnection& c) {
    c.Send(kGreeting);
    if (!c.ReadUntil("{1000}\r\n")) return;
    c.Send("+ go\r\n");
    c.WaitEof();
  });
  {
    auto client = t.Client();
    REQUIRE(client->Handshake());
    REQUIRE(client->Send("a1 APPEND INBOX {1000}\r\n"));
    REQUIRE(client->ReadUntil("+ go"));
    REQUIRE(client->Send(std::string(100, 'z')));
    REQUIRE(WaitFor([&] { return t.backend.received(0).size() == 124; }));
    client->socket().Reset();
  }
  REQUIRE(t.backend.WaitScriptsDone());
  CHECK(t.backend.received(0) == "a1 APPEND INBOX {1000}\r\n" + std::string(100, 'z'));
  auto stats = t.QuietStats();
  CHECK(ClosedCount(stats, "client_closed") == 1);
}

TEST_CASE("backend reset mid-response: the client gets what came before, then the end") {
  E2e t([](BackendConnection& c) {
    c.Send(kGreeting);
    if (!c.ReadUntil("a1 FETCH 1 BODY[]\r\n")) return;
    c.Send("* 1 FETCH (BODY[] {100}\r\nonly part");
    std::this_thread::sleep_for(100ms);
    c.socket().Reset();
  });
  auto client = t.Handshaken();
  REQUIRE(client->Send("a1 FETCH 1 BODY[]\r\n"));
  CHECK(client->WaitEof());
  CHECK(client->received() == kGreeting + "* 1 FETCH (BODY[] {100}\r\nonly part");
  auto stats = t.QuietStats();
  CHECK(ClosedCount(stats, "backend_closed") == 1);
}

TEST_CASE("client close_notify after LOGOUT: the backend still answers, the client gets it") {
  E2e t;
  auto client = t.Greeted();
  REQUIRE(client->Send("a1 LOGOUT\r\n"));
  client->SendCloseNotify();
  CHECK(client->WaitEof());
  CHECK(client->received() == kGreeting + "* BYE logging out\r\na1 OK LOGOUT completed\r\n");
  REQUIRE(t.backend.WaitScriptsDone());
  CHECK(t.backend.received(0) == "a1 LOGOUT\r\n");
  auto stats = t.QuietStats();
  CHECK(ClosedCount(stats, "logout") == 1);
}

TEST_CASE("handshake timeout, garbage, and a bare connect are each counted once") {
  E2e t([](Json& config) {
    UnreachableBackend(config);
    config["limits"] = {{"handshake_timeout", 0.3}};
  });
  {
    Socket silent = Socket::Connect(t.port());
    char buf[16];
    CHECK(silent.ReadSome(buf, sizeof(buf), 5s) == 0);  // closed by the proxy
  }
  {
    Socket garbage = Socket::Connect(t.port());
    REQUIRE(garbage.SendAll("GET / HTTP/1.1\r\n\r\n"));
    char buf[64];
    for (int i = 0; i < 10 && garbage.ReadSome(buf, sizeof(buf), 5s) > 0; ++i) {
    }
  }
  { Socket bare = Socket::Connect(t.port()); }
  auto stats = t.QuietStats(3);
  CHECK(ClosedCount(stats, "handshake_timeout") == 1);
  CHECK(ClosedCount(stats, "tls_error") == 1);
  CHECK(ClosedCount(stats, "client_closed") == 1);
  CHECK(stats["tls"]["handshake_failures"] == 1);
}

TEST_CASE("idle timeout: BYE, close, counted") {
  E2e t(
      [](BackendConnection& c) {
        c.Send(kGreeting);
        c.WaitEof();
      },
      [](Json& config) {
        config["limits"] = {{"idle_timeout", 0.4}};
      });
  auto client = t.Handshaken();
  CHECK(client->WaitEof());
  CHECK(client->received() == kGreeting + "* BYE Autologout; idle for too long\r\n");
  REQUIRE(t.backend.WaitScriptsDone());
  auto stats = t.QuietStats();
  CHECK(ClosedCount(stats, "idle_timeout") == 1);
}

}  // namespace
}  // namespace imapfront::testing

namespace imapfront::testing {
namespace {

constexpr const char* kServerClosedBye = "* BYE [UNAVAILABLE] Server closed the connection\r\n";

// What the backend says to "a1 SELECT INBOX" before it dies: responses with
// a literal (holding a CRLF and a tagged-looking line) and a tagged answer.
const std::vector<std::string> kAnswers = {
    "* 3 EXISTS\r\n",
    "* 1 FETCH (BODY[] {11}\r\na1 OK x\r\nz)\r\n",
    "a1 OK done\r\n",
};

TEST_CASE(
    "backend dies: a BYE where one may go (between responses), none inside a response, "
    "at every cut") {
  std::string answers;
  std::vector<size_t> boundaries = {0};
  for (const std::string& a : kAnswers) boundaries.push_back(answers.append(a).size());
  std::atomic<size_t> next_cut{0};
  E2e t([&](BackendConnection& c) {
    const size_t cut = next_cut.fetch_add(1);
    c.Send(kGreeting);
    if (!c.ReadUntil("a1 SELECT INBOX\r\n")) return;
    c.Send(answers.substr(0, cut));
    c.socket().Close();  // the process died: its kernel sends FIN
  });
  for (size_t cut = 0; cut <= answers.size(); ++cut) {
    CAPTURE(cut);
    auto client = t.Greeted();
    REQUIRE(client->Send("a1 SELECT INBOX\r\n"));
    CHECK(client->WaitEof());
    const bool between = std::find(boundaries.begin(), boundaries.end(), cut) != boundaries.end();
    CHECK(client->received() ==
          kGreeting + answers.substr(0, cut) + (between ? kServerClosedBye : ""));
  }
  auto stats = t.QuietStats(answers.size() + 1);
  CHECK(ClosedCount(stats, "backend_closed") == answers.size() + 1);
}

TEST_CASE("backend closes after the client ended the session: no BYE for the client") {
  E2e t([](BackendConnection& c) {
    c.Send(kGreeting);
    if (!c.ReadUntil("a1 NOOP\r\n")) return;
    c.Send("a1 OK done\r\n");
    c.WaitEof();         // the client's end, passed on
    c.socket().Close();  // and the backend follows, without a BYE
  });
  auto client = t.Greeted();
  REQUIRE(client->Send("a1 NOOP\r\n"));
  REQUIRE(client->ReadUntil("a1 OK done\r\n"));
  client->SendCloseNotify();
  CHECK(client->WaitEof());
  CHECK(client->received() == kGreeting + "a1 OK done\r\n");
  auto stats = t.QuietStats();
  CHECK(ClosedCount(stats, "client_closed") == 1);
}

TEST_CASE(
    "backend dies: no BYE of imapfront's after the backend's own, and one after a reset "
    "between responses") {
  std::atomic<int> n{0};
  E2e t([&](BackendConnection& c) {
    const int i = n.fetch_add(1);
    c.Send(kGreeting);
    if (!c.ReadUntil("a1 NOOP\r\n")) return;
    if (i == 0) {
      c.Send("* BYE shutting down\r\n");
      c.socket().Close();
    } else {
      c.Send("a1 OK done\r\n");
      std::this_thread::sleep_for(100ms);  // the answer is read before the reset
      c.socket().Reset();
    }
  });
  {
    auto client = t.Greeted();
    REQUIRE(client->Send("a1 NOOP\r\n"));
    CHECK(client->WaitEof());
    CHECK(client->received() == kGreeting + "* BYE shutting down\r\n");
  }
  {
    auto client = t.Greeted();
    REQUIRE(client->Send("a1 NOOP\r\n"));
    CHECK(client->WaitEof());
    CHECK(client->received() == kGreeting + "a1 OK done\r\n" + kServerClosedBye);
  }
  auto stats = t.QuietStats(2);
  CHECK(ClosedCount(stats, "backend_closed") == 2);
}

}  // namespace
}  // namespace imapfront::testing
