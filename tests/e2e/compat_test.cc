// End to end: routes[].compat (SPEC "Legacy backends") through real TLS, in
// front of a scripted legacy server that answers BAD to anything it did not
// advertise and records every byte it receives.
#include <doctest/doctest.h>

#include <csignal>
#include <string>
#include <thread>
#include <vector>

#include "tests/e2e/e2e_fixture.h"
#include "tests/e2e/legacy_backend.h"
#include "tests/support/harness.h"

namespace imapfront::testing {
namespace {

// Every emulation on, the referrals removed; polls every |poll| seconds.
Json AllCompat(double poll = 30) {
  return {{"idle", "emulate"},
          {"idle_poll_interval", poll},
          {"unselect", "emulate"},
          {"id", "local"},
          {"auth_plain", "emulate"},
          {"special_use",
           {{"Sent Items", "\\Sent"},
            {"Deleted Items", "\\Trash"},
            {"INBOX", "\\Important"},
            {"Drafts", "\\Drafts"}}},  // already there: not added twice
          {"capabilities",
           {{"remove", {"MAILBOX-REFERRALS", "login-referrals"}}, {"add", {"X-Imapfront"}}}}};
}

E2eOptions Legacy(LegacyScript script = {}, Json compat = AllCompat(),
                  std::function<void(Json&)> more = nullptr) {
  return {.backend = LegacyImap(std::move(script)), .config = [compat, more](Json& config) {
            config["routes"][0]["compat"] = compat;
            if (more) more(config);
          }};
}

const std::string kLegacyGreeting = "* OK [CAPABILITY " + kLegacyClientList +
                                    "] Microsoft Exchange Server 2003 IMAP4rev1 server ready\r\n";

std::unique_ptr<TlsClient> LegacyGreeted(E2e& t) {
  auto client = t.Handshaken();
  REQUIRE(client->ReadUntil("server ready\r\n"));
  return client;
}

// What the legacy server must never receive.
void CheckNothingUnadvertised(const std::string& received) {
  for (const char* command :
       {" IDLE", " UNSELECT", " ID ", " ID\r", " AUTHENTICATE", " CLOSE", "\r\nDONE\r\n"}) {
    CHECK_MESSAGE(received.find(command) == std::string::npos, command);
  }
}

size_t Count(const std::string& haystack, const std::string& needle) {
  size_t n = 0;
  for (size_t at = haystack.find(needle); at != std::string::npos;
       at = haystack.find(needle, at + 1))
    ++n;
  return n;
}

TEST_CASE(
    "compat: the probe learns the capabilities first; clients see the edited list everywhere") {
  E2e t(Legacy());
  auto client = LegacyGreeted(t);
  CHECK(client->received() == kLegacyGreeting);
  REQUIRE(client->Send("a1 CAPABILITY\r\na2 LOGIN user pass\r\n"));
  REQUIRE(client->ReadUntil("a2 OK"));
  REQUIRE(client->ReadUntil("\r\n", 2s));
  CHECK(client->received() == kLegacyGreeting + "* CAPABILITY " + kLegacyClientList +
                                  "\r\na1 OK CAPABILITY completed\r\na2 OK [CAPABILITY " +
                                  kLegacyClientList + "] LOGIN completed\r\n");
  // The probe went first, with imapfront's tag; nothing of it reached the client.
  CHECK(t.backend.received(0).starts_with("imapfront1 CAPABILITY\r\na1 CAPABILITY\r\n"));
  CHECK(client->received().find("imapfront") == std::string::npos);
  client->SendCloseNotify();
  auto stats = t.QuietStats();
  CHECK(stats["imap"]["emulated"]["capability_probes"] == 1);
}

TEST_CASE("compat: commands pipelined in the handshake, cut per byte, wait for the probe") {
  E2e t(Legacy());
  auto client = t.Client();
  REQUIRE(client->Handshake());
  REQUIRE(client->Send({"a1 ID NIL\r\n", "a2 NOOP\r\n", "a3 LOGOUT\r\n"},
                       TlsClient::Cut::kSendPerByte));
  CHECK(client->WaitEof());
  const std::string& seen = client->received();
  CHECK(seen.starts_with(kLegacyGreeting + "* ID (\"name\" \"imapfront\" \"version\" \""));
  CHECK(
      seen.ends_with("\")\r\na1 OK ID completed\r\na2 OK NOOP completed\r\n"
                     "* BYE Microsoft Exchange Server 2003 IMAP4rev1 server signing off\r\n"
                     "a3 OK LOGOUT completed\r\n"));
  CHECK(t.backend.received(0) == "imapfront1 CAPABILITY\r\na2 NOOP\r\na3 LOGOUT\r\n");
}

TEST_CASE("compat: after STARTTLS the probe still goes first; CAPABILITY shows the edited list") {
  E2eOptions options = Legacy();
  options.starttls = true;
  E2e t(options);
  Socket s = Socket::Connect(t.plain_port);
  std::string got;
  REQUIRE(ReadPlainUntil(s, &got, kStartTlsGreeting));
  REQUIRE(s.SendAll("a STARTTLS\r\n"));
  REQUIRE(ReadPlainUntil(s, &got, "a OK"));
  TlsClient client(std::move(s), "localhost");
  REQUIRE(client.Handshake("b CAPABILITY\r\nc IDLE\r\n"));
  REQUIRE(client.ReadUntil("+ idling\r\n"));
  REQUIRE(client.Send("DONE\r\n"));
  REQUIRE(client.ReadUntil("c OK IDLE terminated\r\n"));
  CHECK(client.received().starts_with("* CAPABILITY " + kLegacyClientList +
                                      "\r\nb OK CAPABILITY completed\r\n+ idling\r\n"));
  CHECK(t.backend.received(0).starts_with("imapfront1 CAPABILITY\r\nb CAPABILITY\r\n"));
  CheckNothingUnadvertised(t.backend.received(0));
  client.SendCloseNotify();
}

TEST_CASE("compat: a greeting with a CAPABILITY code needs no probe; what the backend has passes") {
  LegacyScript modern;
  modern.greeting = "* OK [CAPABILITY IMAP4rev1 IDLE ID] modern server ready\r\n";
  E2e t(Legacy(modern));
  auto client = LegacyGreeted(t);
  CHECK(client->received() ==
        "* OK [CAPABILITY IMAP4rev1 IDLE ID UNSELECT AUTH=PLAIN SASL-IR SPECIAL-USE X-Imapfront] "
        "modern "
        "server "
        "ready\r\n");
  REQUIRE(client->Send("a1 ID NIL\r\na2 IDLE\r\n"));
  REQUIRE(client->ReadUntil("a2 BAD"));  // the scripted server only pretends to have them
  CHECK(t.backend.received(0) == "a1 ID NIL\r\na2 IDLE\r\n");
  client->SendCloseNotify();
  auto stats = t.QuietStats();
  CHECK(stats["imap"]["emulated"]["capability_probes"] == 0);
  CHECK(stats["imap"]["emulated"]["id"] == 0);
  CHECK(stats["imap"]["emulated"]["idle"] == 0);
}

TEST_CASE("compat: emulated IDLE polls with NOOP, relays what comes, answers DONE after the poll") {
  LegacyScript script;
  script.poll_untagged = {"", "* 4 EXISTS\r\n", "* 2 EXPUNGE\r\n* 3 FETCH (FLAGS (\\Seen))\r\n"};
  script.poll_delay = 150ms;
  E2e t(Legacy(script, AllCompat(0.2)));
  auto client = LegacyGreeted(t);
  REQUIRE(client->Send("a1 IDLE\r\n"));
  REQUIRE(client->ReadUntil("+ idling\r\n"));
  REQUIRE(client->ReadUntil("* 3 FETCH (FLAGS (\\Seen))\r\n"));
  // DONE, cut per byte, while a poll may be outstanding.
  REQUIRE(client->Send({"DONE\r\n"}, TlsClient::Cut::kSendPerByte));
  REQUIRE(client->ReadUntil("a1 OK IDLE terminated\r\n"));
  REQUIRE(client->Send("a2 NOOP\r\n"));
  REQUIRE(client->ReadUntil("a2 OK NOOP completed\r\n"));
  const std::string seen = client->received().substr(kLegacyGreeting.size());
  CHECK(
      seen.starts_with("+ idling\r\n* 4 EXISTS\r\n* 2 EXPUNGE\r\n* 3 FETCH (FLAGS (\\Seen))\r\n"));
  CHECK(seen.ends_with("a1 OK IDLE terminated\r\na2 OK NOOP completed\r\n"));
  CHECK(seen.find("imapfront") == std::string::npos);
  const std::string received = t.backend.received(0);
  CheckNothingUnadvertised(received);
  CHECK(Count(received, " NOOP\r\n") >= 4);  // three polls at least, and a2
  CHECK(received.ends_with("a2 NOOP\r\n"));
  client->SendCloseNotify();
  auto stats = t.QuietStats();
  CHECK(stats["imap"]["emulated"]["idle"] == 1);
}

TEST_CASE("compat: polls are not activity; idle_timeout ends an emulated IDLE") {
  E2e t(Legacy({}, AllCompat(0.1), [](Json& c) { c["limits"] = {{"idle_timeout", 0.8}}; }));
  auto client = LegacyGreeted(t);
  const auto start = std::chrono::steady_clock::now();
  REQUIRE(client->Send("a1 IDLE\r\n"));
  REQUIRE(client->ReadUntil("+ idling\r\n"));
  CHECK(client->WaitEof(5s));
  CHECK(std::chrono::steady_clock::now() - start < 4s);
  CHECK(client->received().ends_with("+ idling\r\n* BYE Autologout; idle for too long\r\n"));
  CHECK(Count(t.backend.received(0), " NOOP\r\n") >= 3);
  auto stats = t.QuietStats();
  CHECK(ClosedCount(stats, "idle_timeout") == 1);
}

TEST_CASE(
    "compat: an emulated IDLE is quiet for max_lifetime; the BYE waits for the poll's answer") {
  LegacyScript script;
  script.poll_untagged = {"* 1 EXISTS\r\n", "* 2 EXISTS\r\n", "* 3 EXISTS\r\n", "* 4 EXISTS\r\n"};
  script.poll_delay = 300ms;
  E2e t(Legacy(script, AllCompat(0.05), [](Json& c) {
    c["limits"] = {{"max_lifetime", 0.5}, {"lifetime_grace", 20}};
  }));
  auto client = LegacyGreeted(t);
  const auto start = std::chrono::steady_clock::now();
  REQUIRE(client->Send("a1 IDLE\r\n"));
  CHECK(client->WaitEof());
  CHECK(std::chrono::steady_clock::now() - start < 5s);  // not the grace
  const std::string seen = client->received().substr(kLegacyGreeting.size());
  CHECK(seen.starts_with("+ idling\r\n* 1 EXISTS\r\n"));
  CHECK(seen.ends_with(" EXISTS\r\n* BYE Session lifetime reached; please reconnect\r\n"));
  // The session ended after a poll's tagged answer, never with one outstanding.
  const std::string received = t.backend.received(0);
  const size_t polls = Count(received, " NOOP\r\n");
  CHECK(Count(seen, " EXISTS\r\n") == polls);
  auto stats = t.QuietStats();
  CHECK(ClosedCount(stats, "lifetime") == 1);
}

TEST_CASE("compat: SIGTERM ends an emulated IDLE at once, between polls") {
  E2e t(Legacy({}, AllCompat(0.05), [](Json& c) { c["limits"] = {{"shutdown_grace", 20}}; }));
  auto client = LegacyGreeted(t);
  REQUIRE(client->Send("a1 IDLE\r\n"));
  REQUIRE(client->ReadUntil("+ idling\r\n"));
  REQUIRE(WaitFor([&] { return Count(t.backend.received(0), " NOOP\r\n") >= 2; }));
  const auto start = std::chrono::steady_clock::now();
  t.proxy.Signal(SIGTERM);
  CHECK(client->WaitEof());
  CHECK(std::chrono::steady_clock::now() - start < 5s);
  CHECK(client->received() == kLegacyGreeting + "+ idling\r\n* BYE Server shutting down\r\n");
  CHECK(t.proxy.WaitExit() == 0);
}

TEST_CASE("compat: a backend BYE during an emulated IDLE is relayed and counted as today") {
  LegacyScript script;
  script.poll_untagged = {"", "* BYE Server going down\r\n"};
  E2e t(Legacy(script, AllCompat(0.1)));
  auto client = LegacyGreeted(t);
  REQUIRE(client->Send("a1 IDLE\r\n"));
  REQUIRE(client->ReadUntil("* BYE Server going down\r\n"));
  // The scripted server goes on; the client ends the session.
  client->SendCloseNotify();
  auto stats = t.QuietStats();
  CHECK(ClosedCount(stats, "client_closed") == 1);
}

TEST_CASE("compat: UNSELECT is a SELECT that fails; the backend never gets UNSELECT or CLOSE") {
  E2e t(Legacy());
  auto client = LegacyGreeted(t);
  REQUIRE(client->Send("a1 SELECT INBOX\r\na2 UNSELECT\r\na3 NOOP\r\n"));
  REQUIRE(client->ReadUntil("a3 OK NOOP completed\r\n"));
  CHECK(client->received() ==
        kLegacyGreeting +
            "* 3 EXISTS\r\n* FLAGS (\\Seen)\r\na1 OK [READ-WRITE] SELECT "
            "completed\r\na2 OK UNSELECT completed\r\na3 OK NOOP completed\r\n");
  CHECK(t.backend.received(0) ==
        "imapfront1 CAPABILITY\r\na1 SELECT INBOX\r\n"
        "imapfront2 SELECT \"imapfront/unselect/no-such-mailbox\"\r\na3 NOOP\r\n");
  client->SendCloseNotify();
  auto stats = t.QuietStats();
  CHECK(stats["imap"]["emulated"]["unselect"] == 1);
}

TEST_CASE("compat: an UNSELECT whose SELECT does not fail is answered NO") {
  LegacyScript script;
  script.no_such_mailbox = "OK [READ-WRITE] SELECT completed";
  E2e t(Legacy(script));
  auto client = LegacyGreeted(t);
  REQUIRE(client->Send("a1 UNSELECT\r\n"));
  REQUIRE(client->ReadUntil("a1 NO [READ-WRITE] SELECT completed\r\n"));
  client->SendCloseNotify();
}

TEST_CASE("compat: ID is answered by imapfront; the backend never gets it") {
  E2e t(Legacy());
  auto client = LegacyGreeted(t);
  REQUIRE(client->Send("a1 ID (\"name\" \"Thunderbird\" \"version\" \"128.0\")\r\n"));
  REQUIRE(client->ReadUntil("a1 OK ID completed\r\n"));
  const std::string seen = client->received().substr(kLegacyGreeting.size());
  CHECK(seen.starts_with("* ID (\"name\" \"imapfront\" \"version\" \""));
  CHECK(seen.ends_with("\")\r\na1 OK ID completed\r\n"));
  CHECK(t.backend.received(0) == "imapfront1 CAPABILITY\r\n");
  client->SendCloseNotify();
  auto stats = t.QuietStats();
  CHECK(stats["imap"]["emulated"]["id"] == 1);
}

TEST_CASE("compat: AUTHENTICATE PLAIN becomes LOGIN; the user is logged, the password nowhere") {
  E2eOptions options = Legacy();
  options.access_log = true;
  auto config = options.config;
  options.config = [config](Json& c) {
    config(c);
    c["log"]["level"] = "debug";
  };
  E2e t(options);
  auto session = [&](const std::vector<std::string>& pieces, const std::string& until) {
    auto client = LegacyGreeted(t);
    REQUIRE(client->Send(pieces, TlsClient::Cut::kSendPerRecord));
    REQUIRE(client->ReadUntil(until));
    client->SendCloseNotify();
    CHECK(client->WaitEof());
    return client->received().substr(kLegacyGreeting.size());
  };
  // SASL-IR, "\0alice\0s3cret-one": quoted strings.
  CHECK(session({"a1 AUTHENTICATE PLAIN AGFsaWNlAHMzY3JldC1vbmU=\r\n"}, "a1 OK") ==
        "a1 OK [CAPABILITY " + kLegacyClientList + "] LOGIN completed\r\n");
  // Without: imapfront's "+ ", then the response; "bob\0bob\0pa\"ss-two": a literal.
  CHECK(session({"b1 AUTHENTICATE PLAIN\r\n", "Ym9iAGJvYgBwYSJzcy10d28=\r\n"}, "b1 OK") ==
        "+ \r\nb1 OK [CAPABILITY " + kLegacyClientList + "] LOGIN completed\r\n");
  CHECK(session({"c1 AUTHENTICATE PLAIN\r\n", "*\r\n"}, "c1 BAD") ==
        "+ \r\nc1 BAD AUTHENTICATE cancelled\r\n");
  CHECK(session({"d1 AUTHENTICATE PLAIN AGFsaWNlAHMzY3JldC1vbmU\r\n"}, "d1 BAD") ==
        "d1 BAD Invalid base64 in AUTHENTICATE response\r\n");
  CHECK(session({"e1 AUTHENTICATE PLAIN YWxpY2VzM2NyZXQ=\r\n"}, "e1 BAD") ==
        "e1 BAD Malformed PLAIN message\r\n");
  // "admin\0alice\0s3cret-one"
  CHECK(session({"f1 AUTHENTICATE PLAIN YWRtaW4AYWxpY2UAczNjcmV0LW9uZQ==\r\n"}, "f1 NO") ==
        "f1 NO [AUTHORIZATIONFAILED] Authorization identity must be the user\r\n");
  t.QuietStats(6);
  CHECK(t.backend.received(0) == "imapfront1 CAPABILITY\r\na1 LOGIN \"alice\" \"s3cret-one\"\r\n");
  CHECK(t.backend.received(1) == "imapfront1 CAPABILITY\r\nb1 LOGIN \"bob\" {9}\r\npa\"ss-two\r\n");
  for (int i = 0; i < 6; ++i) CheckNothingUnadvertised(t.backend.received(i));
  REQUIRE(WaitFor([&] { return ReadJsonLines(t.access_log).size() == 6; }));
  std::vector<std::string> users;
  for (const Json& line : ReadJsonLines(t.access_log)) {
    users.push_back(line["user"].is_string() ? line["user"].get<std::string>() : "");
  }
  CHECK(std::count(users.begin(), users.end(), "alice") == 2);  // a1 and f1
  CHECK(std::count(users.begin(), users.end(), "bob") == 1);
  const std::string everything = ReadFile(t.access_log) + t.proxy.Log();
  for (const char* secret : {"s3cret-one", "pa\"ss-two", "pa\\\"ss-two", "czNjcmV0"}) {
    CHECK_MESSAGE(everything.find(secret) == std::string::npos, secret);
  }
}

TEST_CASE("compat: SPECIAL-USE attributes in LIST and LSUB; everything else byte for byte") {
  E2e t(Legacy());
  auto client = LegacyGreeted(t);
  REQUIRE(client->Send({"a1 LIST \"\" *\r\n", "a2 LSUB \"\" *\r\n"}, TlsClient::Cut::kSendPerByte));
  REQUIRE(client->ReadUntil("a2 OK LSUB completed\r\n"));
  std::string expected;
  for (const char* kind : {"LIST", "LSUB"}) {
    const std::string r = std::string("* ") + kind + " ";
    expected += r + "(\\HasNoChildren \\Sent) \"/\" \"Sent Items\"\r\n" + r +
                "(\\Trash) \"/\" {13}\r\nDeleted Items\r\n" + r +
                "(\\HasNoChildren \\Important) \"/\" Inbox\r\n" + r +
                "(\\HasNoChildren) \"/\" Notes\r\n" + r + "(\\Drafts) \"/\" Drafts\r\n" +
                (kind[1] == 'I' ? "a1" : "a2") + " OK " + kind + " completed\r\n";
  }
  CHECK(client->received() == kLegacyGreeting + expected);
  client->SendCloseNotify();
}

TEST_CASE("compat: pipelining false: one command at a time reaches the backend") {
  LegacyScript script;
  script.answer_delay = 40ms;
  auto run = [&](bool pipelining) {
    Json compat = AllCompat(0.05);
    compat["pipelining"] = pipelining;
    E2e t(Legacy(script, compat));
    auto client = LegacyGreeted(t);
    // A sync literal, an emulated AUTHENTICATE exchange and an IDLE with
    // its DONE, all pipelined in one send.
    REQUIRE(
        client->Send("a1 NOOP\r\na2 APPEND INBOX {3+}\r\nabc\r\na3 AUTHENTICATE PLAIN "
                     "AGFsaWNlAHMzY3JldC1vbmU=\r\n"
                     "a4 SELECT INBOX\r\na5 IDLE\r\nDONE\r\na6 UNSELECT\r\na7 NOOP\r\n"));
    REQUIRE(client->ReadUntil("a7 OK NOOP completed\r\n"));
    const std::string seen = client->received().substr(kLegacyGreeting.size());
    for (const char* answer : {"a1 OK", "a2 OK", "a3 OK", "a4 OK", "+ idling", "a5 OK IDLE",
                               "a6 OK UNSELECT", "a7 OK"}) {
      CHECK_MESSAGE(seen.find(answer) != std::string::npos, answer);
    }
    CheckNothingUnadvertised(t.backend.received(0));
    client->SendCloseNotify();
    t.QuietStats();
    return script.pipelined->exchange(0);
  };
  CHECK(run(true) > 0);  // the detector sees pipelining when it is allowed
  CHECK(run(false) == 0);
}

TEST_CASE("compat: /stats imap.emulated and /metrics imapfront_imap_emulated_total{kind}") {
  E2e t(Legacy());
  auto client = LegacyGreeted(t);
  REQUIRE(client->Send("a1 ID NIL\r\na2 ID NIL\r\na3 UNSELECT\r\n"));
  REQUIRE(client->ReadUntil("a3 OK"));
  client->SendCloseNotify();
  auto stats = t.QuietStats();
  CHECK(stats["imap"]["emulated"] ==
        Json{{"idle", 0}, {"unselect", 1}, {"id", 2}, {"auth_plain", 0}, {"capability_probes", 1}});
  const std::string metrics = HttpGet(t.proxy.stats_port(), "/metrics");
  CHECK(metrics.find("# TYPE imapfront_imap_emulated_total counter\n") != std::string::npos);
  CHECK(metrics.find("imapfront_imap_emulated_total{kind=\"id\"} 2\n") != std::string::npos);
  CHECK(metrics.find("imapfront_imap_emulated_total{kind=\"unselect\"} 1\n") != std::string::npos);
  CHECK(metrics.find("imapfront_imap_emulated_total{kind=\"capability_probes\"} 1\n") !=
        std::string::npos);
}

TEST_CASE("compat: without compat nothing is probed and nothing changes") {
  E2e t(E2eOptions{.backend = LegacyImap()});
  auto client = LegacyGreeted(t);
  CHECK(client->received() == "* OK Microsoft Exchange Server 2003 IMAP4rev1 server ready\r\n");
  REQUIRE(client->Send("a1 ID NIL\r\n"));
  REQUIRE(client->ReadUntil("a1 BAD"));
  CHECK(t.backend.received(0) == "a1 ID NIL\r\n");
  client->SendCloseNotify();
}

TEST_CASE("compat: config errors name the JSON path of the bad key or value") {
  TestSetup setup;
  Json config = setup.Config({143});
  config["routes"][0]["compat"] = {
      {"idle", "yes"},
      {"idle_poll_interval", 0.01},
      {"id", "emulate"},
      {"pipelining", "no"},
      {"special_use", {{"Sent", "\\Outbox"}, {"INBOX", "\\Sent"}, {"inbox", "\\Trash"}}},
      {"capabilities", {{"add", {"BAD ATOM", "STARTTLS"}}, {"drop", {}}}},
      {"unselet", "emulate"}};
  const std::string path = setup.dir + "/compat.json";
  WriteFile(path, config.dump());
  auto check = RunCommand({IMAPFRONT_BINARY, "--check-config", path});
  CHECK(check.exit_code == 1);
  const std::string p = path + ": routes[0].compat.";
  for (const std::string& error :
       {p + "idle: \"yes\" is not", p + "idle_poll_interval: must be at least 0.05 seconds",
        p + "id: \"emulate\" is not", p + "pipelining: must be true or false",
        p + "special_use.Sent: \"\\Outbox\" is not", p + "capabilities.add[0]: \"BAD ATOM\" is not",
        p + "special_use.inbox: INBOX is named twice",
        p + "capabilities.add[1]: \"STARTTLS\" belongs", p + "capabilities.drop", p + "unselet"}) {
    CHECK_MESSAGE(check.output.find(error) != std::string::npos, error);
  }
}

}  // namespace
}  // namespace imapfront::testing
