// End to end: login "proxy" listeners and routes[].users (SPEC "Logging in
// through imapfront") through real TLS, in front of scripted backends that
// check the LOGIN they get, record every byte and count their accepts.
#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <vector>

#include "tests/e2e/e2e_fixture.h"
#include "tests/e2e/login_backend.h"
#include "tests/support/harness.h"

namespace imapfront::testing {
namespace {

const std::string kLoginGreeting =
    "* OK [CAPABILITY IMAP4rev1 SASL-IR ID LITERAL+ AUTH=PLAIN] imapfront ready\r\n";
// LoginImap's OK as the client sees it: STARTTLS stripped.
const std::string kAliceOk = "a1 OK [CAPABILITY IMAP4rev1 IDLE UIDPLUS] Logged in\r\n";
const std::string kFailed = " NO [AUTHENTICATIONFAILED] Authentication failed\r\n";
// The one password the tests log in with, and a wrong one; neither may be
// in any log.
const std::string kPassword = "secret";
const std::string kWrong = "Wr0ng-Gue55";

// Every listener logs users in; the route's backend is |script|.
E2eOptions LoginProxy(LoginScript script = {}, std::function<void(Json&)> more = nullptr) {
  return {.backend = LoginImap(std::move(script)),
          .config =
              [more](Json& config) {
                for (Json& listener : config["listeners"]) listener["login"] = "proxy";
                config["limits"]["auth_failure_delay"] = 0;
                if (more) more(config);
              },
          .access_log = true};
}

std::unique_ptr<TlsClient> LoginGreeted(E2e& t) {
  auto client = t.Handshaken();
  REQUIRE(client->ReadUntil(kLoginGreeting));
  return client;
}

// |text| with the version in imapfront's ID answer replaced by "V".
std::string WithoutVersion(std::string text) {
  const std::string key = "\"version\" \"";
  const size_t at = text.find(key);
  if (at == std::string::npos) return text;
  const size_t from = at + key.size();
  // Built anew: GCC 12 misreads an in-place replace as an overlapping memcpy.
  return text.substr(0, from) + "V" + text.substr(text.find('"', from));
}

double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

TEST_CASE("login proxy: imapfront greets and answers CAPABILITY, NOOP, ID, LOGOUT; no backend") {
  E2e t(LoginProxy());
  auto client = LoginGreeted(t);
  REQUIRE(
      client->Send("c1 CAPABILITY\r\nc2 NOOP\r\nc3 ID (\"name\" \"test\")\r\nc4 SELECT INBOX\r\n"
                   "c5 APPEND INBOX {3}\r\nc6 STARTTLS\r\nc7 LOGOUT\r\n"));
  REQUIRE(client->ReadUntil("c7 OK LOGOUT completed\r\n"));
  CHECK(
      WithoutVersion(client->received()) ==
      kLoginGreeting +
          "* CAPABILITY IMAP4rev1 SASL-IR ID LITERAL+ AUTH=PLAIN\r\nc1 OK CAPABILITY completed\r\n"
          "c2 OK NOOP completed\r\n"
          "* ID (\"name\" \"imapfront\" \"version\" \"V\")\r\nc3 OK ID completed\r\n"
          "c4 BAD Log in first\r\n"
          "c5 BAD Log in first\r\n"
          "c6 BAD STARTTLS is not available here\r\n"
          "* BYE Logging out\r\nc7 OK LOGOUT completed\r\n");
  CHECK(client->WaitEof());
  Json stats = t.QuietStats();
  CHECK(t.backend.connections() == 0);
  CHECK(ClosedCount(stats, "logout") == 1);
  CHECK(stats["imap"]["commands"] == 7);
  CHECK(stats["auth"]["attempts"] == 0);
  CHECK(stats["routes"].empty());  // counted in a route only once logged in
  const std::vector<Json> log = ReadJsonLines(t.access_log);
  REQUIRE(log.size() == 1);
  CHECK(log[0]["login"].is_null());
  CHECK(log[0]["route"].is_null());
}

TEST_CASE("login proxy: the LOGIN line cut at every position reaches the backend re-encoded") {
  E2e t(LoginProxy());
  const std::string login = "a1 LOGIN alice \"" + kPassword + "\"\r\n";
  for (size_t cut = 1; cut < login.size(); ++cut) {
    CAPTURE(cut);
    auto client = LoginGreeted(t);
    REQUIRE(
        client->Send({login.substr(0, cut), login.substr(cut)}, TlsClient::Cut::kSendPerRecord));
    REQUIRE(client->ReadUntil(kAliceOk));
    REQUIRE(client->Send("a2 LOGOUT\r\n"));
    REQUIRE(client->ReadUntil("a2 OK LOGOUT completed\r\n"));
    CHECK(client->received() ==
          kLoginGreeting + kAliceOk + "* BYE logging out\r\na2 OK LOGOUT completed\r\n");
    CHECK(client->WaitEof());
    CHECK(t.backend.received(cut - 1) == "a1 LOGIN \"alice\" \"secret\"\r\na2 LOGOUT\r\n");
  }
  const uint64_t n = login.size() - 1;
  Json stats = t.QuietStats(n);
  CHECK(t.backend.connections() == static_cast<int>(n));
  CHECK(stats["auth"] ==
        Json({{"attempts", n}, {"successes", n}, {"failures", 0}, {"throttled", 0}}));
  CHECK(stats["routes"]["default"]["accepted"] == n);
  CHECK(ClosedCount(stats, "logout") == n);
}

TEST_CASE("login proxy: a login in the handshake's last flight, commands pipelined after it") {
  E2e t(LoginProxy());
  auto client = t.Client();
  // One send: the handshake's end, the LOGIN and what follows it.
  REQUIRE(client->Handshake("a1 LOGIN alice secret\r\na2 NOOP\r\na3 LOGOUT\r\n"));
  REQUIRE(client->ReadUntil("a3 OK LOGOUT completed\r\n"));
  CHECK(client->received() == kLoginGreeting + kAliceOk +
                                  "* OK [backend] here\r\na2 OK done\r\n"
                                  "* BYE logging out\r\na3 OK LOGOUT completed\r\n");
  REQUIRE(t.backend.WaitScriptsDone());
  CHECK(t.backend.received(0) == "a1 LOGIN \"alice\" \"secret\"\r\na2 NOOP\r\na3 LOGOUT\r\n");
}

TEST_CASE("login proxy: literal arguments, the CRLF alone in its own record, {n+} too") {
  E2e t(LoginProxy({.accounts = {{"alice", kPassword}, {"bob", "p\"w d"}}}));
  auto client = LoginGreeted(t);
  REQUIRE(client->Send("a1 LOGIN alice {6}\r\n"));
  REQUIRE(client->ReadUntil("+ Ready for literal data\r\n"));
  REQUIRE(client->Send({"secre", "t", "\r\n"}, TlsClient::Cut::kSendPerRecord));
  REQUIRE(client->ReadUntil(kAliceOk));
  CHECK(t.backend.connections() == 1);
  REQUIRE(client->Send("a2 LOGOUT\r\n"));
  REQUIRE(client->WaitEof());

  // A password that cannot be quoted goes as a synchronizing literal; the
  // client's {n+} needs no "+".
  auto second = LoginGreeted(t);
  REQUIRE(second->Send({"b1 LOGIN {3+}\r\nbob {5+}\r\np\"w d", "\r\n"},
                       TlsClient::Cut::kSendPerRecord));
  REQUIRE(second->ReadUntil("b1 OK [CAPABILITY IMAP4rev1 IDLE UIDPLUS] Logged in\r\n"));
  CHECK(second->received().find("\r\n+ ") == std::string::npos);
  REQUIRE(second->Send("b2 LOGOUT\r\n"));
  REQUIRE(second->WaitEof());
  REQUIRE(t.backend.WaitScriptsDone());
  CHECK(t.backend.received(0) == "a1 LOGIN \"alice\" \"secret\"\r\na2 LOGOUT\r\n");
  CHECK(t.backend.received(1) == "b1 LOGIN \"bob\" {5}\r\np\"w d\r\nb2 LOGOUT\r\n");
}

TEST_CASE("login proxy: AUTHENTICATE PLAIN with and without an initial response") {
  E2e t(LoginProxy());
  auto client = LoginGreeted(t);
  // "\0alice\0secret"
  REQUIRE(client->Send("p1 AUTHENTICATE PLAIN AGFsaWNlAHNlY3JldA==\r\n"));
  REQUIRE(client->ReadUntil("p1 OK [CAPABILITY IMAP4rev1 IDLE UIDPLUS] Logged in\r\n"));
  REQUIRE(client->Send("p2 LOGOUT\r\n"));
  REQUIRE(client->WaitEof());
  auto second = LoginGreeted(t);
  REQUIRE(second->Send("q1 AUTHENTICATE PLAIN\r\n"));
  REQUIRE(second->ReadUntil("+ \r\n"));
  CHECK(t.backend.connections() == 1);
  REQUIRE(second->Send("YWxpY2UAYWxpY2UAc2VjcmV0\r\n"));  // "alice\0alice\0secret"
  REQUIRE(second->ReadUntil("q1 OK [CAPABILITY"));
  REQUIRE(second->Send("q2 LOGOUT\r\n"));
  REQUIRE(second->WaitEof());
  REQUIRE(t.backend.WaitScriptsDone());
  CHECK(t.backend.received(0) == "p1 LOGIN \"alice\" \"secret\"\r\np2 LOGOUT\r\n");
  CHECK(t.backend.received(1) == "q1 LOGIN \"alice\" \"secret\"\r\nq2 LOGOUT\r\n");
  t.QuietStats(2);
  const std::vector<Json> log = ReadJsonLines(t.access_log);
  REQUIRE(log.size() == 2);
  CHECK(log[1]["user"] == "alice");
  CHECK(log[1]["login"] == "ok");
}

TEST_CASE("login proxy: users are routed by their login name to several backends") {
  ScriptedBackend fresh(LoginImap({.accounts = {{"bob@new.example", "b"}}, .name = "new"}));
  ScriptedBackend old(LoginImap({.accounts = {{"carol", "c"}}, .name = "old"}));
  E2e t(LoginProxy({.name = "alice's"}, [&](Json& config) {
    const Json alice_backends = config["routes"][0]["backends"];
    config["routes"] = {{{"name", "new"},
                         {"users", {"*@NEW.example"}},
                         {"backends", {BackendAddress(fresh.port())}}},
                        {{"name", "alice"}, {"users", {"alice"}}, {"backends", alice_backends}},
                        {{"name", "old"}, {"backends", {BackendAddress(old.port())}}}};
  }));
  struct Login {
    std::string user, password, where;
  };
  for (const Login& l : {Login{"bob@new.example", "b", "new"}, Login{"ALICE", "secret", "-"},
                         Login{"carol", "c", "old"}}) {
    CAPTURE(l.user);
    auto client = LoginGreeted(t);
    REQUIRE(client->Send("a1 LOGIN " + l.user + " " + l.password + "\r\na2 NOOP\r\n"));
    // "ALICE" is routed case-insensitively, and refused by the backend,
    // whose account is "alice".
    if (l.where == "-") {
      REQUIRE(client->ReadUntil("a1" + kFailed));
      continue;
    }
    REQUIRE(client->ReadUntil("a2 OK done\r\n"));
    CHECK(client->received().find("* OK [" + l.where + "] here\r\n") != std::string::npos);
  }
  CHECK(fresh.connections() == 1);
  CHECK(t.backend.connections() == 1);
  CHECK(old.connections() == 1);
  CHECK(t.backend.received(0).starts_with("a1 LOGIN \"ALICE\" \"secret\"\r\n"));
}

TEST_CASE("login proxy: a failure hides the backend's text, closes it, and may be retried") {
  E2e t(LoginProxy({}, [](Json& config) { config["log"]["level"] = "debug"; }));
  auto client = LoginGreeted(t);
  REQUIRE(client->Send("a1 LOGIN alice " + kWrong + "\r\n"));
  REQUIRE(client->ReadUntil("a1" + kFailed));
  CHECK(client->received().find("Backend secret text") == std::string::npos);
  REQUIRE(t.backend.WaitScriptsDone());  // imapfront closed that connection
  REQUIRE(client->Send("a2 NOOP\r\na3 LOGIN alice secret\r\n"));
  REQUIRE(client->ReadUntil("a3 OK [CAPABILITY"));
  REQUIRE(client->Send("a4 LOGOUT\r\n"));
  REQUIRE(client->WaitEof());
  Json stats = t.QuietStats();
  CHECK(t.backend.connections() == 2);
  CHECK(stats["auth"] ==
        Json({{"attempts", 2}, {"successes", 1}, {"failures", 1}, {"throttled", 0}}));
  CHECK(ClosedCount(stats, "logout") == 1);
  const std::string metrics = HttpGet(t.proxy.stats_port(), "/metrics");
  CHECK(metrics.find("\nimapfront_auth_attempts_total 2\n") != std::string::npos);
  CHECK(metrics.find("\nimapfront_auth_failures_total 1\n") != std::string::npos);
  const std::vector<Json> log = ReadJsonLines(t.access_log);
  REQUIRE(log.size() == 1);
  CHECK(log[0]["user"] == "alice");
  CHECK(log[0]["login"] == "ok");
  CHECK(log[0]["route"] == "default");
  // The password is in no log at any level, not even the wrong one.
  const std::string everything = t.proxy.Log() + ReadFile(t.access_log);
  CHECK(everything.find("event=login") != std::string::npos);
  CHECK(everything.find(kWrong) == std::string::npos);
  CHECK(everything.find(kPassword) == std::string::npos);
}

TEST_CASE("login proxy: after max_login_attempts failures, BYE and auth_failed") {
  E2e t(LoginProxy({}, [](Json& config) { config["limits"]["max_login_attempts"] = 2; }));
  auto client = LoginGreeted(t);
  REQUIRE(client->Send("a1 LOGIN alice x\r\n"));
  REQUIRE(client->ReadUntil("a1" + kFailed));
  REQUIRE(client->Send("a2 LOGIN alice y\r\n"));
  REQUIRE(client->ReadUntil("a2" + kFailed + "* BYE Too many failed logins\r\n"));
  CHECK(client->WaitEof());
  Json stats = t.QuietStats();
  CHECK(ClosedCount(stats, "auth_failed") == 1);
  CHECK(stats["auth"]["failures"] == 2);
  const std::vector<Json> log = ReadJsonLines(t.access_log);
  REQUIRE(log.size() == 1);
  CHECK(log[0]["reason"] == "auth_failed");
  CHECK(log[0]["login"] == "failed");
  CHECK(log[0]["route"].is_null());
  CHECK(t.proxy.Log().find("reason=auth_failed") != std::string::npos);
}

TEST_CASE("login proxy: failure answers wait min(2^(n-1), auth_failure_delay); success resets") {
  E2e t(LoginProxy({}, [](Json& config) {
    config["limits"]["auth_failure_delay"] = 1;
    config["limits"]["max_login_attempts"] = 10;
  }));
  auto client = LoginGreeted(t);
  auto attempt = [&](const std::string& tag, const std::string& password,
                     const std::string& answer) {
    const auto start = std::chrono::steady_clock::now();
    REQUIRE(client->Send(tag + " LOGIN alice " + password + "\r\n"));
    REQUIRE(client->ReadUntil(tag + answer));
    return Seconds(start);
  };
  CHECK(attempt("a1", "x", kFailed) < 0.8);   // the first failure: no delay
  CHECK(attempt("a2", "x", kFailed) >= 1.0);  // after one: min(2^0, 1) s
  CHECK(attempt("a3", "x", kFailed) >= 1.0);  // after two: min(2^1, 1) s
  const double ok =
      attempt("a4", kPassword, " OK [CAPABILITY IMAP4rev1 IDLE UIDPLUS] Logged in\r\n");
  CHECK(ok < 0.8);  // only failure answers are delayed
  REQUIRE(client->Send("a5 LOGOUT\r\n"));
  REQUIRE(client->WaitEof());
  // The success reset the count: a new failure from the address is not delayed.
  client = LoginGreeted(t);
  CHECK(attempt("b1", "x", kFailed) < 0.8);
}

TEST_CASE(
    "login proxy: over max_auth_failures_per_ip, refused without a backend, on every worker") {
  E2e t(LoginProxy({}, [](Json& config) {
    config["limits"]["max_auth_failures_per_ip"] = 2;
    config["limits"]["auth_failure_window"] = 60;
  }));
  auto client = LoginGreeted(t);
  REQUIRE(client->Send("a1 LOGIN alice x\r\n"));
  REQUIRE(client->ReadUntil("a1" + kFailed));
  REQUIRE(client->Send("a2 LOGIN alice y\r\n"));
  REQUIRE(client->ReadUntil("a2" + kFailed));
  REQUIRE(client->Send("a3 LOGIN alice secret\r\n"));
  REQUIRE(client->ReadUntil("a3 NO [UNAVAILABLE] Too many failed logins, try later\r\n"));
  // New connections land on either of the two workers: the record is
  // shared, so none of them reaches the backend, the right password neither.
  for (int i = 0; i < 8; ++i) {
    auto other = LoginGreeted(t);
    REQUIRE(other->Send("b1 LOGIN alice secret\r\nb2 NOOP\r\n"));
    REQUIRE(
        other->ReadUntil("b1 NO [UNAVAILABLE] Too many failed logins, try later\r\n"
                         "b2 OK NOOP completed\r\n"));
  }
  CHECK(t.backend.connections() == 2);
  client.reset();
  Json stats = t.QuietStats(9);
  CHECK(stats["auth"] ==
        Json({{"attempts", 11}, {"successes", 0}, {"failures", 2}, {"throttled", 9}}));
}

TEST_CASE("login proxy: a backend that cannot be reached leaves the session not logged in") {
  E2e t(LoginProxy({}, UnreachableBackend));
  auto client = LoginGreeted(t);
  REQUIRE(client->Send("a1 LOGIN alice secret\r\na2 NOOP\r\n"));
  REQUIRE(client->ReadUntil("a2 OK NOOP completed\r\n"));
  CHECK(client->received() ==
        kLoginGreeting + "a1 NO [UNAVAILABLE] Backend unavailable\r\na2 OK NOOP completed\r\n");
  REQUIRE(client->Send("a3 LOGOUT\r\n"));
  REQUIRE(client->WaitEof());
  Json stats = t.QuietStats();
  CHECK(ClosedCount(stats, "logout") == 1);
  CHECK(ClosedCount(stats, "backend_unavailable") == 0);
  CHECK(stats["auth"]["attempts"] == 1);
  CHECK(stats["auth"]["failures"] == 0);
}

TEST_CASE("login proxy: a login name no route serves fails like a wrong password") {
  E2e t(LoginProxy({}, [](Json& config) { config["routes"][0]["users"] = {"alice"}; }));
  auto client = LoginGreeted(t);
  REQUIRE(client->Send("a1 LOGIN mallory secret\r\n"));
  REQUIRE(client->ReadUntil("a1" + kFailed));
  REQUIRE(client->Send("a2 LOGIN alice secret\r\n"));
  REQUIRE(client->ReadUntil("a2 OK [CAPABILITY"));
  CHECK(t.backend.connections() == 1);
  client.reset();
  Json stats = t.QuietStats();
  CHECK(stats["auth"]["failures"] == 1);
  CHECK(stats["auth"]["successes"] == 1);
}

TEST_CASE("login proxy: STARTTLS first, then the login list and a login") {
  E2eOptions options = LoginProxy();
  options.starttls = true;
  E2e t(options);
  Socket s = Socket::Connect(t.plain_port);
  std::string got;
  REQUIRE(ReadPlainUntil(s, &got, kStartTlsGreeting));
  REQUIRE(s.SendAll("s1 LOGIN alice secret\r\ns2 STARTTLS\r\n"));
  REQUIRE(ReadPlainUntil(s, &got, "s2 OK Begin TLS negotiation now\r\n"));
  CHECK(got.find("s1 NO [PRIVACYREQUIRED]") != std::string::npos);
  TlsClient client(std::move(s));
  REQUIRE(client.Handshake("c1 CAPABILITY\r\n"));
  REQUIRE(client.ReadUntil("c1 OK CAPABILITY completed\r\n"));
  CHECK(client.received() ==
        "* CAPABILITY IMAP4rev1 SASL-IR ID LITERAL+ AUTH=PLAIN\r\nc1 OK CAPABILITY completed\r\n");
  CHECK(t.backend.connections() == 0);
  REQUIRE(client.Send("c2 LOGIN alice secret\r\nc3 LOGOUT\r\n"));
  REQUIRE(client.ReadUntil("c3 OK LOGOUT completed\r\n"));
  CHECK(client.received().find("c2 OK [CAPABILITY IMAP4rev1 IDLE UIDPLUS] Logged in\r\n") !=
        std::string::npos);
  REQUIRE(t.backend.WaitScriptsDone());
  CHECK(t.backend.received(0) == "c2 LOGIN \"alice\" \"secret\"\r\nc3 LOGOUT\r\n");
}

TEST_CASE("login proxy: an OK without a list is probed; the route's compat applies after login") {
  E2e t(LoginProxy({.ok_text = "Logged in", .capability = "* CAPABILITY IMAP4rev1 UIDPLUS\r\n"},
                   [](Json& config) {
                     config["routes"][0]["compat"] = {{"idle", "emulate"}, {"id", "local"}};
                   }));
  auto client = LoginGreeted(t);
  // The NOOP pipelined behind the LOGIN waits for the probe's answer.
  REQUIRE(client->Send("a1 LOGIN alice secret\r\na0 NOOP\r\n"));
  REQUIRE(client->ReadUntil("a1 OK [CAPABILITY IMAP4rev1 UIDPLUS IDLE ID] Logged in\r\n"));
  REQUIRE(client->ReadUntil("a0 OK done\r\n"));
  REQUIRE(client->Send("a2 IDLE\r\n"));
  REQUIRE(client->ReadUntil("+ idling\r\n"));
  REQUIRE(client->Send("DONE\r\na3 LOGOUT\r\n"));
  REQUIRE(client->ReadUntil("a3 OK LOGOUT completed\r\n"));
  CHECK(client->received().find("a2 OK IDLE terminated\r\n") != std::string::npos);
  REQUIRE(t.backend.WaitScriptsDone());
  const std::string received = t.backend.received(0);
  CHECK(received.starts_with(
      "a1 LOGIN \"alice\" \"secret\"\r\nimapfront1 CAPABILITY\r\na0 NOOP\r\n"));
  CHECK(received.find(" IDLE") == std::string::npos);
  CHECK(received.ends_with("a3 LOGOUT\r\n"));
}

TEST_CASE("login proxy: unauthenticated sessions end at idle_timeout, no backend contacted") {
  E2e t(LoginProxy({}, [](Json& config) { config["limits"]["idle_timeout"] = 0.3; }));
  auto client = LoginGreeted(t);
  REQUIRE(client->ReadUntil("* BYE Autologout; idle for too long\r\n"));
  CHECK(client->WaitEof());
  Json stats = t.QuietStats();
  CHECK(ClosedCount(stats, "idle_timeout") == 1);
  CHECK(t.backend.connections() == 0);
}

TEST_CASE("relay listener: the access log's login is the backend's answer to LOGIN") {
  E2e t({.access_log = true});
  auto client = t.Greeted();
  REQUIRE(client->Send("a1 LOGIN alice secret\r\na2 LOGOUT\r\n"));
  REQUIRE(client->WaitEof());
  t.QuietStats();
  const std::vector<Json> log = ReadJsonLines(t.access_log);
  REQUIRE(log.size() == 1);
  CHECK(log[0]["user"] == "alice");
  CHECK(log[0]["login"] == "ok");
}

}  // namespace
}  // namespace imapfront::testing
