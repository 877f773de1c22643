// The response framer: one server transcript, every cut, every byte passed
// exactly once.
#include <doctest/doctest.h>

#include <random>
#include <string>
#include <utility>
#include <vector>

#include "imap/command_framer.h"
#include "imap/response_framer.h"
#include "tests/support/framer_driver.h"

namespace imapfront::imap {
namespace {

using namespace testing;

const std::string kBody = "Subject: x\r\n\r\na2 OK fake\r\n* BYE fake\r\n+ fake\r\n{5}\r\n";
const std::string kServerTranscript =
    "* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED COMPRESS=DEFLATE LITERAL+] ready\r\n"
    "* CAPABILITY IMAP4rev1 STARTTLS AUTH=PLAIN\r\n"
    "a1 OK [CAPABILITY IMAP4rev1 IDLE] Logged in\r\n"
    "* 1 FETCH (BODY[] {" +
    std::to_string(kBody.size()) + "}\r\n" + kBody +
    " UID 7)\r\n"
    "* 2 FETCH (BINARY[] ~{5}\r\n" +
    std::string("\0\r\n\x01\x02", 5) +
    ")\r\n"
    "+ Ready for literal\r\n"
    "* LIST () \"/\" \"x}\"\r\n"
    "* 3 FETCH (BODY[] {0}\r\n)\r\n"
    "a2 NO [TRYCREATE] no such mailbox\r\n"
    "* BYE bye\r\n";

TEST_CASE("response framer: the transcript's events") {
  std::string passed;
  auto events = RunResponses({kServerTranscript}, 1024, &passed);
  CHECK(passed == kServerTranscript);  // nothing lost, nothing added
  const std::vector<std::string> expected = {
      "line status  OK: * OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED COMPRESS=DEFLATE "
      "LITERAL+] ready\r\n",
      "end",
      "line capability  : * CAPABILITY IMAP4rev1 STARTTLS AUTH=PLAIN\r\n",
      "end",
      "line tagged a1 OK: a1 OK [CAPABILITY IMAP4rev1 IDLE] Logged in\r\n",
      "end",
      "bytes:* 1 FETCH (BODY[] {" + std::to_string(kBody.size()) + "}\r\n" + kBody + " UID 7)\r\n",
      "end",
      "bytes:* 2 FETCH (BINARY[] ~{5}\r\n" + std::string("\0\r\n\x01\x02", 5) + ")\r\n",
      "end",
      "line cont  : + Ready for literal\r\n",
      "end",
      "bytes:* LIST () \"/\" \"x}\"\r\n",
      "end",
      "bytes:* 3 FETCH (BODY[] {0}\r\n)\r\n",
      "end",
      "line tagged a2 NO: a2 NO [TRYCREATE] no such mailbox\r\n",
      "end",
      "line status  BYE: * BYE bye\r\n",
      "end",
  };
  CHECK(events == expected);
}

TEST_CASE("response framer: every cut gives the same events") {
  const auto reference = RunResponses({kServerTranscript}, 1024, nullptr);
  for (const auto& cuts : CutSets(kServerTranscript.size())) {
    std::string passed;
    REQUIRE(RunResponses(Split(kServerTranscript, cuts), 1024, &passed) == reference);
    REQUIRE(passed == kServerTranscript);
  }
}

TEST_CASE("response framer: LIST and LSUB held whole for SPECIAL-USE, literals included, any cut") {
  const std::string lists =
      "* LIST (\\HasNoChildren) \"/\" \"Sent Items\"\r\n"
      "* LSUB () \"/\" {13}\r\nDeleted Items\r\n"
      "* LIST () \"/\" {6}\r\nx\"{12}\r\n"  // a name that looks like a literal header
      "* LIST () NIL {3}\r\n{1} (\"CHILDINFO\" (\"SUBSCRIBED\"))\r\n"
      "* 1 FETCH (BODY[] {3}\r\nabc)\r\n"
      "* LIST () \"/\" {80}\r\n" +
      std::string(80, 'x') +
      "\r\n"  // over the limit: streamed
      "a1 OK done\r\n";
  const std::vector<std::string> expected = {
      "line list  : * LIST (\\HasNoChildren) \"/\" \"Sent Items\"\r\n",
      "end",
      "line list  : * LSUB () \"/\" {13}\r\nDeleted Items\r\n",
      "end",
      "line list  : * LIST () \"/\" {6}\r\nx\"{12}\r\n",
      "end",
      "line list  : * LIST () NIL {3}\r\n{1} (\"CHILDINFO\" (\"SUBSCRIBED\"))\r\n",
      "end",
      "bytes:* 1 FETCH (BODY[] {3}\r\nabc)\r\n",
      "end",
      "bytes:* LIST () \"/\" {80}\r\n" + std::string(80, 'x') + "\r\n",
      "end",
      "line tagged a1 OK: a1 OK done\r\n",
      "end",
  };
  for (const auto& cuts : CutSets(lists.size())) {
    std::string passed;
    REQUIRE(RunResponses(Split(lists, cuts), 64, &passed, false, true) == expected);
    REQUIRE(passed == lists);
  }
  // Not asked for: LIST streams as data.
  CHECK(RunResponses({lists}, 64, nullptr)[0].starts_with("bytes:* LIST"));
}

TEST_CASE("response framer: a long tag is still a tagged response") {
  const std::string tag(300, 't');
  const std::string line = tag + " NO [OVERQUOTA] full\r\n";
  for (const auto& cuts : CutSets(line.size())) {
    auto events = RunResponses(Split(line, cuts), 1024, nullptr);
    REQUIRE(events.size() == 2);
    REQUIRE(events[0] == "line tagged " + tag + " NO: " + line);
  }
}

TEST_CASE("response framer: a status line over the hold limit is passed on, its end still told") {
  const std::string line = "a1 OK " + std::string(200, 'x') + "\r\n";
  for (const auto& cuts : CutSets(line.size())) {
    std::string passed;
    auto events = RunResponses(Split(line, cuts), 64, &passed);
    REQUIRE(passed == line);
    REQUIRE(events.size() == 3);
    CHECK(events[1] == "line tagged a1  passed-on: ");
  }
}

TEST_CASE("response framer: a tagged line cut off after it overflowed passes each byte once") {
  // The framer keeps an overflowed line's tag for its end; the stream's end
  // must not hand those bytes on a second time.
  const std::string line = "a1 OK " + std::string(200, 'x');  // no CRLF: the server closed
  for (const auto& cuts : CutSets(line.size())) {
    std::string passed;
    RunResponses(Split(line, cuts), 64, &passed, /*finish=*/true);
    REQUIRE(passed == line);
  }
}

TEST_CASE("response framer: a tag is split as the command framer splits it, a bare CR in it") {
  // "a3\rp IDLE" is the client's command with the tag "a3\rp": its answer
  // must not read as an answer to a command tagged "a3".
  auto events = RunResponses({"a3\rp OK done\r\na4\r\na5\r\r\n"}, 1024, nullptr);
  REQUIRE(events.size() == 6);
  CHECK(events[0] == "line tagged a3\rp OK: a3\rp OK done\r\n");
  CHECK(events[2] == "line tagged a4 : a4\r\n");
  CHECK(events[4] == "line tagged a5\r : a5\r\r\n");
  // The command framer's tags for the same lines from a client.
  for (const auto& [line, tag] : {std::pair<std::string, std::string>{"a3\rp NOOP\r\n", "a3\rp"},
                                  {"a4\r\n", "a4"},
                                  {"a5\r\r\n", "a5\r"}}) {
    CommandFramer commands({});
    REQUIRE(commands.Next(Bytes(line)).kind == CommandStep::Kind::kLine);
    CHECK(commands.tag() == tag);
  }
}

TEST_CASE("response framer: status words in any case come upper case, another word as sent") {
  auto events = RunResponses({"a1 ok done\r\n* bye later\r\na2 Fine odd\r\n"}, 1024, nullptr);
  REQUIRE(events.size() == 6);
  CHECK(events[0] == "line tagged a1 OK: a1 ok done\r\n");
  CHECK(events[2] == "line status  BYE: * bye later\r\n");
  CHECK(events[4] == "line tagged a2 Fine: a2 Fine odd\r\n");
}

}  // namespace
}  // namespace imapfront::imap
