// The Conversation: a client transcript with every construct against a fake
// backend, with imapfront's own command inserted at every cut. The backend
// must see the client's bytes unchanged with the own command at a command
// boundary only, and the client must see exactly what it sees without it.
#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "imap/conversation.h"
#include "tests/support/conversation_driver.h"
#include "tls/base64.h"

namespace imapfront::imap {
namespace {

using namespace testing;

// One client command per entry, each complete.
const std::vector<std::string> kCommands = {
    "a1 LOGIN {4}\r\nuser \"pass\"\r\n",              // sync literal in LOGIN
    "a2 APPEND INBOX {5}\r\nhel\r\n\r\n",             // CRLF inside the literal
    "a3 APPEND INBOX {3+}\r\nabc\r\n",                // non-synchronizing
    "a4 AUTHENTICATE PLAIN\r\nAHVzZXIAcGFzcw==\r\n",  // SASL exchange
    "a5 IDLE\r\nDONE\r\n",                            // IDLE
    "a6 SELECT INBOX\r\n",                            // answered with a FETCH literal
    "a7 APPEND INBOX {2}\r\nxy {3}\r\nz\r\n\r\n",     // two literals in one command
    "a8 NOOP\r\n",
};

std::string Transcript() {
  std::string all;
  for (const std::string& c : kCommands) all += c;
  return all;
}

// Where a command of imapfront's may go: before the first command and after
// each one.
std::vector<size_t> Boundaries() {
  std::vector<size_t> at = {0};
  size_t pos = 0;
  for (const std::string& c : kCommands) at.push_back(pos += c.size());
  return at;
}

bool Contains(const std::vector<size_t>& v, size_t x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

// Takes imapfront's own command out of |backend|; returns where it was.
size_t RemoveOwn(std::string& backend) {
  const size_t at = backend.find(kOwnPrefix);
  if (at == std::string::npos) return at;
  const size_t end = backend.find("\r\n", at);
  backend.erase(at, end + 2 - at);
  return at;
}

TEST_CASE("conversation: without own commands the backend gets the client's bytes unchanged") {
  const std::string all = Transcript();
  auto p = Play({all}, {});
  CHECK(p->sink.backend == all);
  CHECK(p->sink.commands == kCommands.size());
  CHECK(p->held.empty());
  CHECK_FALSE(p->sink.failed);
  // The client sees the greeting (STARTTLS stripped), the '+'s and answers.
  CHECK(p->sink.client.starts_with("* OK [CAPABILITY IMAP4rev1] fake ready\r\n"));
  CHECK(p->sink.client.find("a8 OK done\r\n") != std::string::npos);
  CHECK(p->sink.client.find("* 1 FETCH (BODY[] {9}\r\nfake\r\nx y)\r\n") != std::string::npos);
}

TEST_CASE("conversation: an own command at every cut lands only between client commands") {
  const std::string all = Transcript();
  const auto baseline = Play({all}, {});
  const std::vector<size_t> boundaries = Boundaries();
  for (size_t cut = 0; cut <= all.size(); ++cut) {
    CAPTURE(cut);
    for (bool bytewise : {false, true}) {
      CAPTURE(bytewise);
      std::vector<std::string> parts;
      size_t own_at = 0;
      if (bytewise) {
        for (char c : all) parts.emplace_back(1, c);
        own_at = cut;
      } else {
        parts = {all.substr(0, cut), all.substr(cut)};
        own_at = 1;
      }
      auto p = Play(parts, {own_at});
      // The backend saw it as a command of its own, once.
      REQUIRE(p->backend.own_commands().size() == 1);
      CHECK(p->backend.own_commands()[0] == "imapfront1 NOOP\r\n");
      CHECK(p->sink.own_sent == 1);
      CHECK(p->completed == 1);
      // Nothing else changed at the backend, and it went at a boundary, no
      // earlier than the last one before the cut (a partial line the
      // framer still held had not been sent, so it may go before that).
      std::string backend = p->sink.backend;
      const size_t at = RemoveOwn(backend);
      CHECK(backend == all);
      CHECK(Contains(boundaries, at));
      size_t last_before_cut = 0;
      for (size_t b : boundaries) {
        if (b <= cut) last_before_cut = b;
      }
      CHECK(at >= last_before_cut);
      // The client sees exactly what it sees without it.
      CHECK(p->sink.client == baseline->sink.client);
      CHECK(p->held.empty());
    }
  }
}

TEST_CASE("conversation: own commands wait for the greeting") {
  RecordingSink sink;
  Conversation conv({}, &sink);
  int completed = 0;
  conv.Send("NOOP", std::make_unique<CountingCommand>(&completed));
  CHECK(conv.OnClientBytes(AsBytes("a1 NOOP\r\n")) == 9);
  // Client bytes before the greeting are passed on (the owner holds them
  // until the backend has greeted); imapfront's own are not.
  CHECK(sink.backend == "a1 NOOP\r\n");
  CHECK(conv.own_queued() == 1);
  conv.OnBackendGreeting(AsBytes("* OK hi\r\n"), false);
  CHECK(sink.backend == "a1 NOOP\r\nimapfront1 NOOP\r\n");
  CHECK(sink.client.empty());  // not relayed after STARTTLS
  conv.OnBackendBytes(AsBytes("a1 OK done\r\n* OK own-poll\r\nimapfront1 OK own-noop-done\r\n"));
  CHECK(sink.client == "a1 OK done\r\n");
  CHECK(completed == 1);
  CHECK(conv.own_in_flight() == 0);
}

TEST_CASE("conversation: untagged data while an own command is in flight reaches the client") {
  RecordingSink sink;
  Conversation conv({}, &sink);
  conv.OnBackendGreeting(AsBytes("* OK hi\r\n"), true);

  // A rule that relays every untagged response and keeps the tagged one.
  class Relaying : public OwnCommand {
   public:
    explicit Relaying(std::string* tagged) : tagged_(tagged) {}
    void Completed(const ResponseLine& line) override {
      *tagged_ = std::string(AsText(line.bytes));
    }

   private:
    std::string* tagged_;
  };
  std::string tagged;
  conv.Send("NOOP", std::make_unique<Relaying>(&tagged));
  CHECK(sink.backend == "imapfront1 NOOP\r\n");
  const std::string untagged =
      "* 4 EXISTS\r\n* 2 EXPUNGE\r\n* 3 FETCH (FLAGS (\\Seen))\r\n* OK still here\r\n";
  const std::string answers = untagged + "imapfront1 OK NOOP completed\r\n";
  conv.OnBackendBytes(AsBytes(answers.substr(0, 20)));
  conv.OnBackendBytes(AsBytes(answers.substr(20)));
  CHECK(sink.client == "* OK hi\r\n" + untagged);
  CHECK(tagged == "imapfront1 OK NOOP completed\r\n");
  CHECK(conv.own_in_flight() == 0);
}

TEST_CASE("conversation: imapfront's own answers never land inside a backend response") {
  RecordingSink sink;
  Conversation conv({}, &sink);
  conv.OnBackendGreeting(AsBytes("* OK hi\r\n"), true);
  sink.client.clear();
  // A FETCH response is half relayed when the client sends STARTTLS.
  conv.OnBackendBytes(AsBytes("* 1 FETCH (BODY[] {10}\r\n01234"));
  CHECK(conv.mid_response());
  CHECK(conv.OnClientBytes(AsBytes("b1 STARTTLS\r\n")) == 13);
  CHECK(sink.backend.empty());
  CHECK(conv.pending_answer_bytes() > 0);
  CHECK(sink.client == "* 1 FETCH (BODY[] {10}\r\n01234");
  conv.OnBackendBytes(AsBytes("56789)\r\n"));
  CHECK(sink.client ==
        "* 1 FETCH (BODY[] {10}\r\n0123456789)\r\nb1 BAD STARTTLS is not available here\r\n");
  CHECK(conv.pending_answer_bytes() == 0);
}

TEST_CASE("conversation: the client waits for '+', and resumes after it") {
  RecordingSink sink;
  Conversation conv({}, &sink);
  conv.OnBackendGreeting(AsBytes("* OK hi\r\n"), true);
  const std::string cmd = "a1 APPEND INBOX {3}\r\nabc\r\n";
  const size_t taken = conv.OnClientBytes(AsBytes(cmd));
  CHECK(taken == 21);  // up to the literal header
  CHECK(conv.client_blocked());
  CHECK_FALSE(conv.TakeResume());
  conv.OnBackendBytes(AsBytes("+ go\r\n"));
  CHECK(conv.TakeResume());
  CHECK_FALSE(conv.TakeResume());  // reading clears it
  CHECK(conv.OnClientBytes(AsBytes(cmd).subspan(taken)) == cmd.size() - taken);
  CHECK(sink.backend == cmd);
  CHECK(conv.CommandInProgress());
  conv.OnBackendBytes(AsBytes("a1 OK done\r\n"));
  CHECK_FALSE(conv.CommandInProgress());
}

TEST_CASE("conversation: how a login went, from the tagged answer to the LOGIN only") {
  for (const char* answer : {"a1 OK in\r\n", "a1 NO wrong\r\n"}) {
    RecordingSink sink;
    Conversation conv({}, &sink);
    conv.OnBackendGreeting(AsBytes("* OK hi\r\n"), true);
    conv.OnClientBytes(AsBytes("a1 LOGIN alice secret\r\n"));
    CHECK(conv.login() == Conversation::Login::kNone);
    conv.OnBackendBytes(AsBytes("a0 OK not this one\r\n"));
    CHECK(conv.login() == Conversation::Login::kNone);
    conv.OnBackendBytes(AsBytes(answer));
    CHECK(conv.login() ==
          (answer[3] == 'O' ? Conversation::Login::kOk : Conversation::Login::kFailed));
  }
  // An untagged LOGIN (a broken client) is matched by no answer, not even
  // by a line whose first word is empty too.
  RecordingSink sink;
  Conversation conv({}, &sink);
  conv.OnBackendGreeting(AsBytes("* OK hi\r\n"), true);
  conv.OnClientBytes(AsBytes(" LOGIN alice secret\r\n"));
  conv.OnBackendBytes(AsBytes(" NO Unknown command\r\n"));
  CHECK(conv.login() == Conversation::Login::kNone);
}

TEST_CASE("conversation: login names from LOGIN and AUTHENTICATE PLAIN, never the password") {
  for (const std::string& login :
       {std::string("a LOGIN alice secret\r\n"), std::string("a LOGIN \"alice\" secret\r\n")}) {
    RecordingSink sink;
    Conversation conv({}, &sink);
    conv.OnBackendGreeting(AsBytes("* OK hi\r\n"), true);
    conv.OnClientBytes(AsBytes(login));
    CHECK(conv.user() == "alice");
  }
  {
    RecordingSink sink;
    Conversation conv({}, &sink);
    conv.OnBackendGreeting(AsBytes("* OK hi\r\n"), true);
    conv.OnClientBytes(AsBytes("a1 LOGIN {5}\r\n"));
    conv.OnBackendBytes(AsBytes("+ go\r\n"));
    conv.OnClientBytes(AsBytes("alice secret\r\n"));
    CHECK(conv.user() == "alice");
  }
  // The user of an AUTHENTICATE PLAIN is decoded with the base64 the owner
  // gives (BoringSSL's in the binary); without one it stays unknown.
  for (Base64Decoder decode : {&tls::DecodeBase64, static_cast<Base64Decoder>(nullptr)}) {
    RecordingSink sink;
    Conversation conv({.decode_base64 = decode}, &sink);
    conv.OnBackendGreeting(AsBytes("* OK hi\r\n"), true);
    conv.OnClientBytes(AsBytes("a AUTHENTICATE PLAIN AGJvYgBzZWNyZXQ=\r\n"));  // \0bob\0secret
    CHECK(conv.user() == (decode ? "bob" : ""));
  }
}

TEST_CASE("conversation: a line too long and a literal too big mid-command end the session") {
  {
    RecordingSink sink;
    Conversation conv({.max_line_bytes = 16}, &sink);
    conv.OnBackendGreeting(AsBytes("* OK hi\r\n"), true);
    conv.OnClientBytes(AsBytes("a1 SELECT a-very-long-mailbox-name\r\n"));
    CHECK(sink.failed);
    CHECK(sink.backend.empty());
  }
  {
    RecordingSink sink;
    Conversation conv({.max_literal_bytes = 4}, &sink);
    conv.OnBackendGreeting(AsBytes("* OK hi\r\n"), true);
    conv.OnClientBytes(AsBytes("a1 APPEND INBOX {2+}\r\nab {9+}\r\n"));
    CHECK(sink.failed);
    CHECK(sink.backend == "a1 APPEND INBOX {2+}\r\nab");
    // Nothing more happens once failed.
    conv.OnClientBytes(AsBytes("a2 NOOP\r\n"));
    CHECK(sink.backend == "a1 APPEND INBOX {2+}\r\nab");
  }
}

TEST_CASE("conversation: an own tag never equals a tag the client awaits an answer for") {
  RecordingSink sink;
  Conversation conv({}, &sink);
  conv.OnBackendGreeting(AsBytes("* OK hi\r\n"), true);
  sink.client.clear();
  conv.OnClientBytes(AsBytes("imapfront1 SELECT INBOX\r\n"));
  int completed = 0;
  CHECK(conv.Send("NOOP", std::make_unique<CountingCommand>(&completed)));
  CHECK(sink.backend == "imapfront1 SELECT INBOX\r\nimapfront2 NOOP\r\n");
  conv.OnBackendBytes(AsBytes("imapfront1 NO no such mailbox\r\nimapfront2 OK done\r\n"));
  CHECK(sink.client == "imapfront1 NO no such mailbox\r\n");
  CHECK(completed == 1);
}

TEST_CASE("conversation: an own command's answer longer than the hold limit is dropped whole") {
  RecordingSink sink;
  Conversation conv({.max_line_bytes = 40}, &sink);
  conv.OnBackendGreeting(AsBytes("* OK hi\r\n"), true);
  sink.client.clear();
  int completed = 0;
  conv.Send("NOOP", std::make_unique<CountingCommand>(&completed));
  const std::string answer =
      "imapfront1 OK NOOP completed, and a long text follows here and goes on\r\n";
  for (size_t i = 0; i < answer.size(); ++i) conv.OnBackendBytes(AsBytes(answer.substr(i, 1)));
  CHECK(sink.client.empty());
  CHECK(completed == 1);
  // A client's own long answer still streams through.
  conv.OnClientBytes(AsBytes("a1 NOOP\r\n"));
  const std::string client_answer = "a1 OK " + std::string(60, 'x') + "\r\n";
  conv.OnBackendBytes(AsBytes(client_answer));
  CHECK(sink.client == client_answer);
}

TEST_CASE("conversation: no own commands after LOGOUT or once the client has ended") {
  for (bool logout : {true, false}) {
    CAPTURE(logout);
    RecordingSink sink;
    Conversation conv({}, &sink);
    conv.OnBackendGreeting(AsBytes("* OK hi\r\n"), true);
    if (logout) {
      conv.OnClientBytes(AsBytes("a1 LOGOUT\r\n"));
    } else {
      conv.OnClientEnded();
    }
    int completed = 0;
    conv.Send("NOOP", std::make_unique<CountingCommand>(&completed));
    CHECK(sink.own_sent == 0);
    CHECK(conv.own_queued() == 0);
  }
}

TEST_CASE("conversation: the queue of own commands is bounded; a handler is required") {
  RecordingSink sink;
  Conversation conv({}, &sink);  // not greeted: everything queues
  int completed = 0;
  CHECK_FALSE(conv.Send("NOOP", nullptr));
  for (size_t i = 0; i < Conversation::kMaxOwnQueued; ++i) {
    CHECK(conv.Send("NOOP", std::make_unique<CountingCommand>(&completed)));
  }
  CHECK_FALSE(conv.Send("NOOP", std::make_unique<CountingCommand>(&completed)));
  CHECK(conv.own_queued() == Conversation::kMaxOwnQueued);
}

}  // namespace
}  // namespace imapfront::imap

namespace imapfront::imap {
namespace {

using namespace testing;

// A backend stream: a status line, a FETCH with a literal holding a CRLF and
// a line that looks tagged, a continuation, a tagged answer, an overlong
// untagged line, and a BYE at the end.
const std::vector<std::string> kResponses = {
    "* 3 EXISTS\r\n", "* 1 FETCH (BODY[] {12}\r\na1 OK x\r\nyz)\r\n", "+ go on\r\n",
    "a1 OK done\r\n", "* OK " + std::string(300, 'x') + "\r\n",       "* BYE going away\r\n",
};

TEST_CASE(
    "conversation: the backend's end gets a BYE exactly between responses, and none after "
    "its own BYE") {
  std::string stream;
  std::vector<size_t> boundaries = {0};
  for (const std::string& r : kResponses) boundaries.push_back(stream.append(r).size());
  const size_t bye_at = boundaries[boundaries.size() - 2];  // where "* BYE" begins
  // The backend dies after every prefix of the stream, fed whole and byte by
  // byte.
  for (bool bytewise : {false, true}) {
    for (size_t cut = 0; cut <= stream.size(); ++cut) {
      CAPTURE(cut);
      CAPTURE(bytewise);
      RecordingSink sink;
      Conversation conv({.max_line_bytes = 100}, &sink);
      CHECK(conv.ByeForBackendEnd() == nullptr);  // not greeted: nothing to say yet
      conv.OnBackendGreeting(AsBytes("* OK hi\r\n"), true);
      const std::string prefix = stream.substr(0, cut);
      if (bytewise) {
        for (char c : prefix) conv.OnBackendBytes(AsBytes(std::string_view(&c, 1)));
      } else {
        conv.OnBackendBytes(AsBytes(prefix));
      }
      const bool between = Contains(boundaries, cut);
      const bool after_bye = cut > bye_at;
      // Every byte the backend sent reaches the client, a partial last line too.
      conv.OnBackendEnded();
      CHECK(sink.client == "* OK hi\r\n" + prefix);
      const char* bye = conv.ByeForBackendEnd();
      if (between && !after_bye) {
        REQUIRE(bye != nullptr);
        CHECK(std::string(bye) == "[UNAVAILABLE] Server closed the connection");
      } else {
        CHECK(bye == nullptr);
      }
    }
  }
}

TEST_CASE("conversation: no BYE for the backend's end when the client ended first") {
  RecordingSink sink;
  Conversation conv({}, &sink);
  conv.OnBackendGreeting(AsBytes("* OK hi\r\n"), true);
  CHECK(conv.ByeForBackendEnd() != nullptr);
  conv.OnClientEnded();
  conv.OnBackendEnded();
  CHECK(conv.ByeForBackendEnd() == nullptr);
}

TEST_CASE(
    "conversation: SendBeforeClient goes first, the client waits for its answer, which "
    "is swallowed whatever it is, at every cut of that answer") {
  const std::string greeting = "* OK [CAPABILITY IMAP4rev1] hi\r\n";
  const std::string answer =
      "* ID (\"name\" \"Dovecot\" \"x-note\" {5}\r\nhello)\r\n* OK noted\r\n"
      "imapfront1 BAD we do not know ID\r\n* 3 EXISTS\r\na1 OK done\r\n";
  const std::string client = "a1 NOOP\r\n";
  for (size_t cut = 0; cut <= answer.size(); ++cut) {
    CAPTURE(cut);
    RecordingSink sink;
    Conversation conv({}, &sink);
    conv.SendBeforeClient("ID (\"x-originating-ip\" \"192.0.2.1\")");
    // Client bytes before the greeting and before the answer wait.
    CHECK(conv.OnClientBytes(AsBytes(client)) == 0);
    CHECK(sink.backend.empty());
    conv.OnBackendGreeting(AsBytes(greeting), true);
    CHECK(sink.backend == "imapfront1 ID (\"x-originating-ip\" \"192.0.2.1\")\r\n");
    CHECK(sink.client == greeting);
    CHECK(conv.OnClientBytes(AsBytes(client)) == 0);
    conv.OnBackendBytes(AsBytes(std::string_view(answer).substr(0, cut)));
    if (conv.TakeResume()) CHECK(conv.OnClientBytes(AsBytes(client)) == client.size());
    conv.OnBackendBytes(AsBytes(std::string_view(answer).substr(cut)));
    if (conv.TakeResume() && sink.backend.find("a1") == std::string::npos) {
      CHECK(conv.OnClientBytes(AsBytes(client)) == client.size());
    }
    CHECK(sink.backend == "imapfront1 ID (\"x-originating-ip\" \"192.0.2.1\")\r\n" + client);
    // Nothing of the ID's answer reached the client; what followed it did.
    CHECK(sink.client == greeting + "* 3 EXISTS\r\na1 OK done\r\n");
  }
}

TEST_CASE(
    "conversation: SendBeforeClient goes ahead of a compat probe and of a half-closed "
    "client's last command") {
  RecordingSink sink;
  imap::CompatOptions compat;
  compat.emulate_unselect = true;
  Conversation conv({.compat = &compat}, &sink);
  conv.SendBeforeClient("ID NIL");
  CHECK(conv.OnClientBytes(AsBytes("a1 LOGOUT\r\n")) == 0);
  conv.OnClientEnded();
  conv.OnBackendGreeting(AsBytes("* OK hi\r\n"), true);
  CHECK(sink.backend.starts_with("imapfront1 ID NIL\r\n"));
  conv.OnBackendBytes(AsBytes("* BYE not today\r\n"));
  // A BYE is not swallowed: the client must learn the backend is going.
  CHECK(sink.client.find("* BYE not today") != std::string::npos);
}

}  // namespace
}  // namespace imapfront::imap
