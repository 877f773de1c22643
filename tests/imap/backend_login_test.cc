// The backend's side of a login at the proxy: what imapfront sends, when it
// waits, and what it makes of the answers, at every cut of the backend's
// bytes.
#include "imap/backend_login.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "imap/bytes.h"

namespace imapfront::imap {
namespace {

struct Run {
  std::string sent;  // everything imapfront sent the backend
  BackendLogin::State state = BackendLogin::State::kWaiting;
  std::string ok_line;
  std::vector<std::string> capabilities;
  std::string rest;  // backend bytes after the exchange
};

Run Play(std::string_view tag, std::string_view user, std::string_view password,
         const std::string& backend, size_t cut) {
  BackendLogin login(tag, user, password, 1024);
  Run run;
  run.sent += login.output();
  login.OutputSent();
  CHECK(login.output().empty());
  for (std::string_view part :
       {std::string_view(backend).substr(0, cut), std::string_view(backend).substr(cut)}) {
    if (login.state() != BackendLogin::State::kWaiting) {
      run.rest += part;
      continue;
    }
    const size_t used = login.Feed(AsBytes(part));
    run.rest += part.substr(used);
    run.sent += login.output();
    login.OutputSent();
  }
  run.state = login.state();
  run.ok_line = login.ok_line();
  run.capabilities = login.capabilities();
  return run;
}

TEST_CASE("backend login: quoted LOGIN, an OK with a capability code, the rest left over") {
  const std::string backend = "a1 OK [CAPABILITY IMAP4rev1 IDLE] Logged in\r\n* 3 EXISTS\r\n";
  for (size_t cut = 0; cut <= backend.size(); ++cut) {
    CAPTURE(cut);
    Run r = Play("a1", "alice", "secret", backend, cut);
    CHECK(r.sent == "a1 LOGIN \"alice\" \"secret\"\r\n");
    CHECK(r.state == BackendLogin::State::kLoggedIn);
    CHECK(r.ok_line == "a1 OK [CAPABILITY IMAP4rev1 IDLE] Logged in\r\n");
    CHECK(r.capabilities == std::vector<std::string>{"IMAP4rev1", "IDLE"});
    CHECK(r.rest == "* 3 EXISTS\r\n");
  }
}

// As a real backend answers: each line only after what it answers was sent;
// each line cut at |cut| (or whole, when shorter).
Run PlayLines(std::string_view tag, std::string_view user, std::string_view password,
              const std::vector<std::string>& lines, size_t cut) {
  BackendLogin login(tag, user, password, 1024);
  Run run;
  for (const std::string& line : lines) {
    run.sent += login.output();
    login.OutputSent();
    const size_t at = std::min(cut, line.size());
    for (std::string_view part :
         {std::string_view(line).substr(0, at), std::string_view(line).substr(at)}) {
      if (part.empty()) continue;
      CHECK(login.state() == BackendLogin::State::kWaiting);
      CHECK(login.Feed(AsBytes(part)) == part.size());
    }
  }
  run.sent += login.output();
  run.state = login.state();
  run.ok_line = login.ok_line();
  run.capabilities = login.capabilities();
  return run;
}

TEST_CASE("backend login: literals wait for each +, an OK without a list gets a probe") {
  const std::vector<std::string> backend = {"+ go on\r\n", "+ go on\r\n", "a1 OK Logged in\r\n",
                                            "* CAPABILITY IMAP4rev1 UIDPLUS\r\n",
                                            "imapfront1 OK done\r\n"};
  for (size_t cut = 0; cut <= 32; ++cut) {
    CAPTURE(cut);
    Run r = PlayLines("a1", "b\"ob", "p\\w", backend, cut);
    CHECK(r.sent == "a1 LOGIN {4}\r\nb\"ob {3}\r\np\\w\r\nimapfront1 CAPABILITY\r\n");
    CHECK(r.state == BackendLogin::State::kLoggedIn);
    CHECK(r.ok_line == "a1 OK [CAPABILITY IMAP4rev1 UIDPLUS] Logged in\r\n");
  }
  // Whatever was not sent when the exchange ends is never sent (the
  // password least of all): a NO before the literal is invited.
  Run r = PlayLines("a1", "u", "p\"w", {"a1 NO [AUTHENTICATIONFAILED] no\r\n"}, 3);
  CHECK(r.sent == "a1 LOGIN \"u\" {3}\r\n");
  CHECK(r.state == BackendLogin::State::kRefused);
}

TEST_CASE("backend login: an untagged CAPABILITY before the OK spares the probe") {
  Run r = Play("imapfront1", "u", "p",
               "* CAPABILITY IMAP4rev1 X\r\n* OK [ALERT] hello\r\nimapfront1 OK [ALERT] hi\r\n", 7);
  CHECK(r.sent == "imapfront1 LOGIN \"u\" \"p\"\r\n");
  CHECK(r.state == BackendLogin::State::kLoggedIn);
  CHECK(r.ok_line == "imapfront1 OK [CAPABILITY IMAP4rev1 X] Logged in\r\n");
  // The probe's tag differs from the client's.
  r = Play("imapfront1", "u", "p", "imapfront1 OK in\r\nimapfront2 OK done\r\n", 18);
  CHECK(r.sent == "imapfront1 LOGIN \"u\" \"p\"\r\nimapfront2 CAPABILITY\r\n");
  CHECK(r.ok_line == "imapfront1 OK [CAPABILITY IMAP4rev1] in\r\n");
}

TEST_CASE("backend login: NO and BAD are refusals; other answers are broken") {
  CHECK(Play("a", "u", "p", "* NO hint\r\na NO [AUTHENTICATIONFAILED] wrong\r\n", 5).state ==
        BackendLogin::State::kRefused);
  CHECK(Play("a", "u", "p", "a bad what\r\n", 2).state == BackendLogin::State::kRefused);
  CHECK(Play("a", "u", "p", "b OK other tag\r\n", 2).state == BackendLogin::State::kBroken);
  CHECK(Play("a", "u", "p", "+ nothing to send\r\n", 2).state == BackendLogin::State::kBroken);
  CHECK(Play("a", "u", "p", "* OK {5}\r\n", 2).state == BackendLogin::State::kBroken);
  CHECK(Play("a", "u", "p", std::string(2000, 'x'), 2).state == BackendLogin::State::kBroken);
  CHECK(Play("a", "u", "p", "a PREAUTH odd\r\n", 2).state == BackendLogin::State::kBroken);
}

TEST_CASE(
    "backend login: a first command (forward_client id) goes before LOGIN, its answer "
    "swallowed whatever it is, at every cut") {
  // As a real backend answers: the LOGIN's OK only after the LOGIN came.
  const std::string id_answer =
      "* ID (\"name\" \"Dovecot\")\r\nimapfront1 NO [UNKNOWN] no ID here\r\n";
  const std::string login_answer = "a1 OK [CAPABILITY IMAP4rev1 IDLE] Logged in\r\n* 3 EXISTS\r\n";
  const std::string backend = id_answer + login_answer;
  for (size_t cut = 0; cut <= id_answer.size(); ++cut) {
    CAPTURE(cut);
    BackendLogin login("a1", "bob", "secret", 1024, "ID (\"x-originating-ip\" \"192.0.2.1\")");
    std::string sent = login.output();
    login.OutputSent();
    CHECK(sent == "imapfront1 ID (\"x-originating-ip\" \"192.0.2.1\")\r\n");
    std::string rest;
    const size_t end = std::min(cut, id_answer.size());
    for (std::string_view part : {std::string_view(backend).substr(0, end),
                                  std::string_view(backend).substr(end, id_answer.size() - end),
                                  std::string_view(login_answer)}) {
      if (login.state() != BackendLogin::State::kWaiting) {
        rest += part;
        continue;
      }
      const size_t used = login.Feed(AsBytes(part));
      rest += part.substr(used);
      sent += login.output();
      login.OutputSent();
    }
    CHECK(sent ==
          "imapfront1 ID (\"x-originating-ip\" \"192.0.2.1\")\r\na1 LOGIN \"bob\" \"secret\"\r\n");
    CHECK(login.state() == BackendLogin::State::kLoggedIn);
    CHECK(login.ok_line() == "a1 OK [CAPABILITY IMAP4rev1 IDLE] Logged in\r\n");
    CHECK(rest == "* 3 EXISTS\r\n");
  }
  // The client's tag is imapfront1: the first command takes another.
  BackendLogin other("imapfront1", "bob", "pw", 1024, "ID NIL");
  CHECK(other.output() == "imapfront2 ID NIL\r\n");
  // A "+" before the first command's answer is no IMAP.
  BackendLogin broken("a1", "bob", "pw", 1024, "ID NIL");
  broken.Feed(AsBytes("+ go on\r\n"));
  CHECK(broken.state() == BackendLogin::State::kBroken);
}

}  // namespace
}  // namespace imapfront::imap
