// The command framer: one transcript with every construct, fed whole, cut at
// every position, one byte at a time and in seeded random cuts; the events
// must not change.
#include <doctest/doctest.h>

#include <random>
#include <string>
#include <vector>

#include "imap/command_framer.h"
#include "imap/literal.h"
#include "tests/support/framer_driver.h"

namespace imapfront::imap {
namespace {

using namespace testing;

const std::string kLiteral1 =
    "Subject: x\r\n\r\na9 LOGOUT\r\n* OK fake\r\n";  // looks like commands
const std::string kClientTranscript =
    "a1 LOGIN user \"pass {5}\"\r\n"  // quoted, not a literal
    "a2 APPEND INBOX (\\Seen) {" +
    std::to_string(kLiteral1.size()) + "}\r\n" + kLiteral1 +
    "\r\n"
    "a3 APPEND INBOX {5+}\r\nabcde\r\n"  // non-synchronizing
    "a4 APPEND INBOX ~{4}\r\n" +
    std::string("\0\r\n\xff", 4) +
    "\r\n"                                                // binary, NUL and CRLF
    "a5 APPEND INBOX {3+}\r\nxyz (\\Seen) {2}\r\nqq\r\n"  // multi-append
    "a6 AUTHENTICATE PLAIN\r\n"
    "AHVzZXIAcGFzcw==\r\n"  // SASL response
    "a7 idle\r\n"
    "DONE\r\n"
    "a8 APPEND INBOX {7}\r\n"    // refused by the server
    "a9 APPEND INBOX {500}\r\n"  // sync, too big
    "a10 APPEND INBOX {300+}\r\n" +
    std::string(300, 'z') +
    " {1+}\r\nq\r\n"  // non-sync, too big
    "a11 NOOP\r\n"
    "a12 LOGIN {4}\r\nuser {4}\r\npass\r\n"
    "\r\n";
// The server: '+' for a2, a4, a5's {2}, a6; tagged a6 after the SASL line;
// '+' for a7; tagged (refusal) for a8; '+' twice for a12.
const std::string kServerScript = "++++T+T++";

TEST_CASE("command framer: the transcript's events") {
  CommandRun run = RunCommands({kClientTranscript},
                               {.max_line_bytes = 1024, .max_literal_bytes = 200}, kServerScript);
  const std::vector<std::string> expected = {
      "line fwd start(a1 LOGIN) end: a1 LOGIN user \"pass {5}\"\r\n",
      "line fwd start(a2 APPEND) literal(" + std::to_string(kLiteral1.size()) +
          "): a2 APPEND INBOX (\\Seen) {" + std::to_string(kLiteral1.size()) + "}\r\n",
      "server:+",
      "data:" + kLiteral1,
      "line fwd end: \r\n",
      "line fwd start(a3 APPEND) literal(5+): a3 APPEND INBOX {5+}\r\n",
      "data:abcde",
      "line fwd end: \r\n",
      "line fwd start(a4 APPEND) literal(4 bin): a4 APPEND INBOX ~{4}\r\n",
      "server:+",
      "data:" + std::string("\0\r\n\xff", 4),
      "line fwd end: \r\n",
      "line fwd start(a5 APPEND) literal(3+): a5 APPEND INBOX {3+}\r\n",
      "data:xyz",
      "line fwd literal(2):  (\\Seen) {2}\r\n",
      "server:+",
      "data:qq",
      "line fwd end: \r\n",
      "line fwd start(a6 AUTHENTICATE) end: a6 AUTHENTICATE PLAIN\r\n",
      "server:+",
      "line fwd cont: AHVzZXIAcGFzcw==\r\n",
      "server:tagged a6",
      "line fwd start(a7 IDLE) end: a7 idle\r\n",
      "server:+",
      "line fwd cont: DONE\r\n",
      "line fwd start(a8 APPEND) literal(7): a8 APPEND INBOX {7}\r\n",
      "server:tagged a8",
      "line no-toobig start(a9 APPEND) end literal(500): a9 APPEND INBOX {500}\r\n",
      "line drop start(a10 APPEND) literal(300+): a10 APPEND INBOX {300+}\r\n",
      "data:" + std::string(300, 'z'),
      "line drop literal(1+):  {1+}\r\n",
      "data:q",
      "line bad-toobig end: \r\n",
      "line fwd start(a11 NOOP) end: a11 NOOP\r\n",
      "line fwd start(a12 LOGIN) literal(4): a12 LOGIN {4}\r\n",
      "server:+",
      "data:user",
      "line fwd literal(4):  {4}\r\n",
      "server:+",
      "data:pass",
      "line fwd end: \r\n",
      "line fwd start( ) end: \r\n",
  };
  CHECK(run.events == expected);
}

TEST_CASE("command framer: every cut gives the same events") {
  const CommandFramerOptions options{.max_line_bytes = 1024, .max_literal_bytes = 200};
  const CommandRun reference = RunCommands({kClientTranscript}, options, kServerScript);
  for (const auto& cuts : CutSets(kClientTranscript.size())) {
    CommandRun run = RunCommands(Split(kClientTranscript, cuts), options, kServerScript);
    REQUIRE(run.events == reference.events);
    REQUIRE(run.forwarded == reference.forwarded);
  }
}

TEST_CASE("command framer: emulated LITERAL+") {
  const std::string transcript =
      "a1 APPEND INBOX {5+}\r\nhello\r\n"
      "a2 APPEND INBOX {3+}\r\nabc {2+}\r\nde\r\n"
      "a3 NOOP\r\n";
  // a1: '+' (eaten); a2: the server refuses the first literal.
  const CommandFramerOptions options{.emulate_literal_plus = true};
  const std::vector<std::string> expected = {
      "line fwd-sync start(a1 APPEND) literal(5+): a1 APPEND INBOX {5+}\r\n",
      "server:+(eaten)",
      "data:hello",
      "line fwd end: \r\n",
      "line fwd-sync start(a2 APPEND) literal(3+): a2 APPEND INBOX {3+}\r\n",
      "server:tagged a2",
      "data:abc",
      "line drop literal(2+):  {2+}\r\n",
      "data:de",
      "line drop end: \r\n",
      "line fwd start(a3 NOOP) end: a3 NOOP\r\n",
  };
  for (const auto& cuts : CutSets(transcript.size())) {
    CommandRun run = RunCommands(Split(transcript, cuts), options, "+T");
    REQUIRE(run.events == expected);
  }
}

TEST_CASE("command framer: limits and progress") {
  SUBCASE("a line over max_line_bytes") {
    CommandRun run =
        RunCommands({"a1 NOOP " + std::string(2000, 'x') + "\r\n"}, {.max_line_bytes = 1024}, "");
    CHECK(run.too_long);
    run = RunCommands({"a1 NOOP " + std::string(2000, 'x')}, {.max_line_bytes = 1024}, "");
    CHECK(run.too_long);  // without waiting for the line's end
    run = RunCommands({"a1 " + std::string(1021, 'x') + "\r\n"}, {.max_line_bytes = 1024}, "");
    CHECK_FALSE(run.too_long);  // 1024 bytes of content is still fine
    // The same verdict at every cut, also when the CR and LF come apart.
    const std::string at_limit = "a1 " + std::string(61, 'x') + "\r\n";
    const std::string over_limit = "a1 " + std::string(62, 'x') + "\r\n";
    for (const auto& cuts : CutSets(at_limit.size())) {
      REQUIRE_FALSE(RunCommands(Split(at_limit, cuts), {.max_line_bytes = 64}, "").too_long);
    }
    for (const auto& cuts : CutSets(over_limit.size())) {
      REQUIRE(RunCommands(Split(over_limit, cuts), {.max_line_bytes = 64}, "").too_long);
    }
  }
  SUBCASE("a literal over the limit after part of its command was sent") {
    CommandRun run =
        RunCommands({"a1 APPEND INBOX {3+}\r\nabc {900+}\r\n"}, {.max_literal_bytes = 100}, "");
    CHECK(run.events.back() == "line toobig-mid literal(900+):  {900+}\r\n");
  }
  SUBCASE("commands in progress") {
    CommandFramer f({});
    CHECK_FALSE(f.CommandInProgress());
    std::string partial = "a1 NOO";
    f.Next(Bytes(partial));
    CHECK(f.CommandInProgress());
    std::string rest = "P\r\na2 IDLE\r\n";
    auto step = f.Next(Bytes(rest));
    CHECK(f.CommandInProgress());  // a1 is waiting for its tagged answer
    f.OnServerTagged("a1");
    f.Next(Bytes(rest).subspan(step.consumed));
    CHECK(f.blocked());
    CHECK(f.CommandInProgress());  // IDLE not yet accepted
    CHECK(f.OnServerContinuation());
    CHECK_FALSE(f.CommandInProgress());  // idling counts as not in progress
    std::string done = "DONE\r\n";
    f.Next(Bytes(done));
    CHECK(f.CommandInProgress());  // until the tagged answer to IDLE
    f.OnServerTagged("a2");
    CHECK_FALSE(f.CommandInProgress());
  }
}

TEST_CASE("command framer: edge cases found in review") {
  SUBCASE("the server ends AUTHENTICATE after its '+': the next line is a command") {
    CommandFramer f({});
    const std::string auth = "a1 AUTHENTICATE PLAIN\r\n";
    f.Next(Bytes(auth));
    CHECK(f.OnServerContinuation());
    f.OnServerTagged("a1");  // e.g. "a1 NO authentication timed out"
    const std::string next = "b1 NOOP\r\n";
    CommandStep step = f.Next(Bytes(next));
    CHECK(step.command_start);
    CHECK_FALSE(step.continuation);
    CHECK(f.tag() == "b1");
  }
  SUBCASE("a reused tag's earlier answer does not cancel the pending literal") {
    CommandFramer f({});
    const std::string in = ". NOOP\r\n. APPEND box {7}\r\n";
    auto span = Bytes(in);
    span = span.subspan(f.Next(span).consumed);
    f.Next(span);
    REQUIRE(f.blocked());
    f.OnServerTagged(".");  // NOOP's answer
    CHECK(f.blocked());
    CHECK(f.OnServerContinuation());
    const std::string data = "hi {99}\r\n";
    CommandStep step = f.Next(Bytes(data));
    CHECK(step.kind == CommandStep::Kind::kLiteralData);
    CHECK(step.consumed == 7);
  }
  SUBCASE("a synchronizing literal inside a discarded command ends it") {
    CommandRun run =
        RunCommands({"a APPEND box {20+}\r\n" + std::string(20, 'z') + " {5}\r\nb NOOP\r\n"},
                    {.max_literal_bytes = 16}, "");
    CHECK(run.events ==
          std::vector<std::string>{"line drop start(a APPEND) literal(20+): a APPEND box {20+}\r\n",
                                   "data:" + std::string(20, 'z'),
                                   "line bad-toobig end literal(5):  {5}\r\n",
                                   "line fwd start(b NOOP) end: b NOOP\r\n"});
    run = RunCommands({"a APPEND box {5+}\r\nhello {3}\r\nb NOOP\r\n"},
                      {.emulate_literal_plus = true}, "T");
    CHECK(run.events == std::vector<std::string>{
                            "line fwd-sync start(a APPEND) literal(5+): a APPEND box {5+}\r\n",
                            "server:tagged a", "data:hello", "line drop end literal(3):  {3}\r\n",
                            "line fwd start(b NOOP) end: b NOOP\r\n"});
  }
  SUBCASE("a command without a tag waits for nothing") {
    CommandRun run =
        RunCommands({" IDLE\r\n AUTHENTICATE PLAIN\r\n APPEND x {3}\r\nb NOOP\r\n"}, {}, "");
    CHECK(run.events ==
          std::vector<std::string>{"line fwd start( IDLE) end:  IDLE\r\n",
                                   "line fwd start( AUTHENTICATE) end:  AUTHENTICATE PLAIN\r\n",
                                   "line fwd start( APPEND) end literal(3):  APPEND x {3}\r\n",
                                   "line fwd start(b NOOP) end: b NOOP\r\n"});
  }
  SUBCASE("a line ending inside a quoted string has no literal") {
    CommandRun run = RunCommands({"a SELECT \"{22+}\r\nb APPEND x {999999+}\r\n"},
                                 {.max_literal_bytes = 100}, "");
    REQUIRE(run.events.size() == 2);
    CHECK(run.events[0] == "line fwd start(a SELECT) end: a SELECT \"{22+}\r\n");
    CHECK(run.events[1].starts_with("line drop start(b APPEND) literal(999999+)"));
    run = RunCommands({"a LOGIN \"x\\\"\" {3}\r\n"}, {}, "");
    CHECK(run.events[0].find("literal(3)") != std::string::npos);  // escaped quote inside
  }
}

}  // namespace
}  // namespace imapfront::imap
