// routes[].compat in the Conversation: a client transcript using every
// emulated command, played against a legacy backend that answers BAD to
// anything it did not advertise, cut at every byte, with the poll timer
// firing at every cut. The client must see the same bytes whatever the cut;
// the backend must receive the same bytes (imapfront's polls aside, each at a
// command boundary) and never a command it did not advertise.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "imap/conversation.h"
#include "tests/support/compat_driver.h"

namespace imapfront::imap {
namespace {

using namespace testing;

const std::string kBareGreeting = "* OK Microsoft Exchange Server 2003 IMAP4rev1 server ready\r\n";
const std::string kCodedGreeting =
    "* OK [CAPABILITY IMAP4 IMAP4rev1 LITERAL+ UIDPLUS CHILDREN] Exchange ready\r\n";

CompatOptions AllOn() {
  CompatOptions c;
  c.emulate_idle = true;
  c.emulate_unselect = true;
  c.local_id = true;
  c.emulate_auth_plain = true;
  c.special_use = {{"Sent Items", "\\Sent"},
                   {"Deleted Items", "\\Trash"},
                   {"Drafts", "\\Drafts"},
                   {"inbox", "\\Important"}};
  c.remove = {"UIDPLUS"};
  c.add = {"X-TEST"};
  return c;
}

// base64("\0user\0pass"), base64("bob\0bob\0\xc3\xa9t\xc3\xa9").
const std::vector<std::string> kCommands = {
    "a1 ID (\"name\" \"client\")\r\n",
    "a2 AUTHENTICATE PLAIN\r\nAHVzZXIAcGFzcw==\r\n",
    "a3 AUTHENTICATE PLAIN Ym9iAGJvYgDDqXTDqQ==\r\n",
    "a4 SELECT INBOX\r\n",
    "a5 IDLE\r\nDONE\r\n",
    "a6 UNSELECT\r\n",
    "a7 LIST \"\" *\r\n",
    "a8 APPEND INBOX {5+}\r\nhel\r\n\r\n",
    "a9 CAPABILITY\r\n",
    "b1 NOOP\r\n",
};

std::string Transcript() {
  std::string all;
  for (const std::string& c : kCommands) all += c;
  return all;
}

// The backend's stream without imapfront's own commands.
std::string WithoutOwn(const std::string& stream) {
  std::string out;
  size_t pos = 0;
  while (pos < stream.size()) {
    size_t end = stream.find("\r\n", pos);
    end = end == std::string::npos ? stream.size() : end + 2;
    std::string_view line(stream.data() + pos, end - pos);
    if (!line.starts_with(kOwnPrefix)) out.append(line);
    pos = end;
  }
  return out;
}

TEST_CASE("compat: the emulated commands, as the client sees them and as the backend does") {
  const CompatOptions compat = AllOn();
  auto r = PlayCompat({Transcript()}, compat, kBareGreeting);
  const std::string& client = r->sink.client;
  CAPTURE(client);
  CHECK(r->backend.violations.empty());
  CHECK(r->held.empty());
  // The greeting waited for the probe and carries the list clients see.
  CHECK(
      client.starts_with("* OK [CAPABILITY IMAP4 IMAP4rev1 LITERAL+ CHILDREN IDLE UNSELECT ID "
                         "AUTH=PLAIN SASL-IR SPECIAL-USE X-TEST] Microsoft Exchange Server 2003 "
                         "IMAP4rev1 server ready\r\n"));
  CHECK(r->backend.lines.front().starts_with("imapfront1 CAPABILITY"));
  CHECK(client.find("* CAPABILITY IMAP4 IMAP4rev1 LITERAL+ CHILDREN IDLE UNSELECT ID AUTH=PLAIN "
                    "SASL-IR SPECIAL-USE X-TEST\r\na9 OK CAPABILITY completed\r\n") !=
        std::string::npos);
  // ID: answered here.
  CHECK(
      client.find("* ID (\"name\" \"imapfront\" \"version\" \"test\")\r\na1 OK ID completed\r\n") !=
      std::string::npos);
  // AUTHENTICATE PLAIN became LOGIN: quoted, then a literal for non-ASCII.
  CHECK(client.find("+ \r\na2 OK LOGIN completed\r\n") != std::string::npos);
  CHECK(r->backend_seen.find("a2 LOGIN \"user\" \"pass\"\r\n") != std::string::npos);
  CHECK(r->backend_seen.find("a3 LOGIN \"bob\" {5}\r\n\xc3\xa9t\xc3\xa9\r\n") != std::string::npos);
  CHECK(client.find("go ahead") == std::string::npos);  // the LOGIN's "+" stayed here
  CHECK(r->user == "bob");                              // the last login, for the access log
  // IDLE: "+ idling" at once, a NOOP at once, OK after DONE.
  CHECK(client.find("+ idling\r\na5 OK IDLE terminated\r\n") != std::string::npos);
  // UNSELECT: a failing SELECT, its NO made OK, its untagged NO/OK kept here.
  CHECK(r->backend_seen.find("SELECT \"imapfront/unselect/no-such-mailbox\"\r\n") !=
        std::string::npos);
  CHECK(client.find("a6 OK UNSELECT completed\r\n") != std::string::npos);
  CHECK(client.find("[CLOSED]") == std::string::npos);
  // SPECIAL-USE: quoted, literal, atom (INBOX in any case); present ones once.
  CHECK(client.find("* LIST (\\HasNoChildren \\Sent) \"/\" \"Sent Items\"\r\n") !=
        std::string::npos);
  CHECK(client.find("* LIST (\\Trash) \"/\" {13}\r\nDeleted Items\r\n") != std::string::npos);
  CHECK(client.find("* LIST (\\HasNoChildren \\Important) \"/\" INBOX\r\n") != std::string::npos);
  CHECK(client.find("* LIST (\\Drafts) \"/\" Drafts\r\n") != std::string::npos);
  // Nothing of imapfront's own reached the client.
  CHECK(client.find("imapfront1") == std::string::npos);
  CHECK(client.find("NOOP completed\r\nb1") == std::string::npos);
  CHECK(client.ends_with("b1 OK NOOP completed\r\n"));
  CHECK(r->sink.emulated[static_cast<size_t>(ConversationSink::Emulated::kId)] == 1);
  CHECK(r->sink.emulated[static_cast<size_t>(ConversationSink::Emulated::kAuthPlain)] == 2);
  CHECK(r->sink.emulated[static_cast<size_t>(ConversationSink::Emulated::kIdle)] == 1);
  CHECK(r->sink.emulated[static_cast<size_t>(ConversationSink::Emulated::kUnselect)] == 1);
  CHECK(r->sink.emulated[static_cast<size_t>(ConversationSink::Emulated::kCapabilityProbe)] == 1);
}

TEST_CASE("compat: a greeting with a CAPABILITY code needs no probe") {
  const CompatOptions compat = AllOn();
  auto r = PlayCompat({"a1 NOOP\r\n"}, compat, kCodedGreeting);
  CHECK(
      r->sink.client.starts_with("* OK [CAPABILITY IMAP4 IMAP4rev1 LITERAL+ CHILDREN IDLE UNSELECT "
                                 "ID AUTH=PLAIN SASL-IR SPECIAL-USE X-TEST] Exchange ready\r\n"));
  CHECK(r->backend_seen == "a1 NOOP\r\n");
  CHECK(r->sink.emulated[static_cast<size_t>(ConversationSink::Emulated::kCapabilityProbe)] == 0);
}

TEST_CASE("compat: what the backend has is passed through, not emulated") {
  const CompatOptions compat = AllOn();
  const std::string modern =
      "* OK [CAPABILITY IMAP4rev1 IDLE UNSELECT ID AUTH=PLAIN SPECIAL-USE] ready\r\n";
  auto r = PlayCompat({"a1 ID NIL\r\na2 UNSELECT\r\n"}, compat, modern);
  CHECK(r->sink.client.starts_with(
      "* OK [CAPABILITY IMAP4rev1 IDLE UNSELECT ID AUTH=PLAIN SPECIAL-USE X-TEST] ready\r\n"));
  CHECK(r->backend_seen == "a1 ID NIL\r\na2 UNSELECT\r\n");  // the legacy fake says BAD: fine here
}

TEST_CASE("compat: every cut of the client stream, with polls at every cut, looks the same") {
  const std::string all = Transcript();
  for (bool coded : {false, true}) {
    for (bool pipelining : {true, false}) {
      CompatOptions compat = AllOn();
      compat.pipelining = pipelining;
      const std::string& greeting = coded ? kCodedGreeting : kBareGreeting;
      const auto baseline = PlayCompat({all}, compat, greeting);
      REQUIRE(baseline->backend.violations.empty());
      if (!pipelining) CHECK(baseline->backend.pipelined == 0);
      for (size_t cut = 0; cut <= all.size(); ++cut) {
        CAPTURE(coded);
        CAPTURE(pipelining);
        CAPTURE(cut);
        for (bool polls : {false, true}) {
          auto r = PlayCompat({all.substr(0, cut), all.substr(cut)}, compat, greeting, polls);
          CHECK(r->sink.client == baseline->sink.client);
          CHECK(WithoutOwn(r->backend_seen) == WithoutOwn(baseline->backend_seen));
          CHECK(r->backend.violations.empty());
          CHECK(r->held.empty());
          if (!pipelining) CHECK(r->backend.pipelined == 0);
        }
      }
      // One byte at a time, polls between every two.
      std::vector<std::string> bytes;
      for (char c : all) bytes.emplace_back(1, c);
      auto r = PlayCompat(bytes, compat, greeting, true);
      CHECK(r->sink.client == baseline->sink.client);
      CHECK(WithoutOwn(r->backend_seen) == WithoutOwn(baseline->backend_seen));
      CHECK(r->backend.violations.empty());
      if (!pipelining) CHECK(r->backend.pipelined == 0);
    }
  }
}

TEST_CASE("compat: an emulated IDLE relays what the polls bring, answers DONE after the poll") {
  CompatOptions compat = AllOn();
  compat.idle_poll_interval = 7;
  auto r = PlayCompat({"a1 IDLE\r\n", "", "DONE\r\n"}, compat, kCodedGreeting, true, "",
                      "* 4 EXISTS\r\n");
  CHECK(r->sink.poll_timer == 0);  // stopped at DONE
  CHECK(r->sink.client.find("+ idling\r\n* 4 EXISTS\r\n") != std::string::npos);
  CHECK(r->sink.client.ends_with("* 4 EXISTS\r\na1 OK IDLE terminated\r\n"));
  CHECK(r->backend.violations.empty());
  size_t polls = 0;
  for (const std::string& line : r->backend.lines) polls += line.find(" NOOP") != std::string::npos;
  CHECK(polls >= 2);  // at once, and on the timer
}

TEST_CASE("compat: AUTHENTICATE PLAIN refusals never reach the backend") {
  const CompatOptions compat = AllOn();
  struct Case {
    std::string client;
    std::string answer;
  };
  const std::vector<Case> cases = {
      {"a1 AUTHENTICATE PLAIN\r\n*\r\n", "a1 BAD AUTHENTICATE cancelled\r\n"},
      {"a1 AUTHENTICATE PLAIN AHVzZXIAcGFzcw\r\n", "a1 BAD Invalid base64"},
      {"a1 AUTHENTICATE PLAIN dXNlcnBhc3M=\r\n", "a1 BAD Malformed PLAIN message\r\n"},
      {"a1 AUTHENTICATE PLAIN =\r\n", "a1 BAD Malformed PLAIN message\r\n"},
      {"a1 AUTHENTICATE PLAIN YWRtaW4AdXNlcgBwYXNz\r\n", "a1 NO [AUTHORIZATIONFAILED]"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.client);
    auto r = PlayCompat({c.client + "a2 NOOP\r\n"}, compat, kCodedGreeting);
    CHECK(r->sink.client.find(c.answer) != std::string::npos);
    CHECK(r->backend_seen == "a2 NOOP\r\n");
    CHECK(r->backend.violations.empty());
  }
  // authzid equal to the user is fine: "user\0user\0pass".
  auto ok = PlayCompat({"a1 AUTHENTICATE PLAIN dXNlcgB1c2VyAHBhc3M=\r\n"}, compat, kCodedGreeting);
  CHECK(ok->backend_seen == "a1 LOGIN \"user\" \"pass\"\r\n");
}

TEST_CASE("compat: emulated commands with arguments or literals are refused here") {
  const CompatOptions compat = AllOn();
  auto r = PlayCompat({"a1 IDLE now\r\na2 UNSELECT x\r\na3 ID ({3+}\r\nabc)\r\na4 NOOP\r\n"},
                      compat, kCodedGreeting);
  CHECK(r->sink.client.find("a1 BAD IDLE takes no arguments\r\n") != std::string::npos);
  CHECK(r->sink.client.find("a2 BAD UNSELECT takes no arguments\r\n") != std::string::npos);
  CHECK(r->sink.client.find("a3 OK ID completed\r\n") != std::string::npos);
  CHECK(r->backend_seen == "a4 NOOP\r\n");
}

TEST_CASE("compat: a line without a valid tag is answered * BAD here, after earlier answers") {
  const CompatOptions compat = AllOn();
  auto r =
      PlayCompat({"a1 NOOP\r\n NOOP\r\n\r\na{b NOOP\r\nc\r1 APPEND x {3+}\r\nabc\r\na2 NOOP\r\n"},
                 compat, kCodedGreeting);
  CHECK(r->backend_seen == "a1 NOOP\r\na2 NOOP\r\n");
  CHECK(r->sink.client.ends_with(
      "a1 OK NOOP completed\r\n* BAD Invalid tag\r\n* BAD Invalid tag\r\n"
      "* BAD Invalid tag\r\n* BAD Invalid tag\r\na2 OK NOOP completed\r\n"));
}

TEST_CASE("compat: a malformed command name or mechanism is refused here, never guessed at") {
  const CompatOptions compat = AllOn();
  auto r = PlayCompat({"a1  IDLE\r\na2 AUTHENTICATE  PLAIN AHVzZXIAcGFzcw==\r\n"
                       "a3 AUTHENTICATE PLAIN\tAHVzZXIAcGFzcw==\r\na4 NOOP\r\n"},
                      compat, kCodedGreeting);
  CHECK(r->backend_seen == "a4 NOOP\r\n");
  CHECK(r->sink.client.find("a1 BAD Invalid command name\r\n") != std::string::npos);
  CHECK(r->sink.client.find("a2 BAD Invalid AUTHENTICATE arguments\r\n") != std::string::npos);
  CHECK(r->sink.client.find("a3 BAD Invalid AUTHENTICATE arguments\r\n") != std::string::npos);
}

TEST_CASE("compat: an untagged BAD answers the one command the backend has") {
  CompatOptions compat = AllOn();
  compat.pipelining = false;
  // a2 ID waits for a1's answer (emulated commands are served in order).
  auto r = PlayCompat({"a1 TOOLONG xxxx\r\na2 ID NIL\r\na4 NOOP\r\na3 ID NIL\r\n"}, compat,
                      kCodedGreeting);
  CHECK(r->held.empty());
  CHECK(r->backend_seen == "a1 TOOLONG xxxx\r\na4 NOOP\r\n");
  const std::string id = "* ID (\"name\" \"imapfront\" \"version\" \"test\")\r\n";
  CHECK(r->sink.client.ends_with("* BAD Command line too long\r\n" + id +
                                 "a2 OK ID completed\r\na4 OK NOOP completed\r\n" + id +
                                 "a3 OK ID completed\r\n"));
  CHECK(r->backend.pipelined == 0);
}

TEST_CASE("compat: an untagged BAD answers the oldest command, also with others pipelined") {
  const CompatOptions compat = AllOn();
  auto r = PlayCompat({"a TOOLONG\r\na5 NOOP\r\na5 ID NIL\r\n"}, compat, kCodedGreeting);
  CHECK(r->held.empty());
  CHECK(r->sink.client.ends_with(
      "* BAD Command line too long\r\na5 OK NOOP completed\r\n"
      "* ID (\"name\" \"imapfront\" \"version\" \"test\")\r\na5 OK ID completed\r\n"));
}

TEST_CASE("compat: without compat nothing changes and nothing is probed") {
  const CompatOptions none;
  auto r = PlayCompat({"a1 ID NIL\r\n"}, none, kBareGreeting);
  CHECK(r->sink.client.starts_with(kBareGreeting));
  CHECK(r->backend_seen == "a1 ID NIL\r\n");
}

}  // namespace
}  // namespace imapfront::imap
