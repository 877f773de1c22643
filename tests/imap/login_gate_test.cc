// The not-authenticated state at the proxy: the same answers and login
// attempts for every cut of the client's bytes; nothing but a LOGIN or an
// AUTHENTICATE PLAIN becomes an attempt.
#include "imap/login_gate.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "imap/bytes.h"
#include "tls/base64.h"

namespace imapfront::imap {
namespace {

struct Played {
  std::string answers;  // attempts shown as "<ATTEMPT tag|user|password>"
  LoginGate::Outcome outcome = LoginGate::Outcome::kMore;
  uint64_t commands = 0;
  uint64_t refused_attempts = 0;
  const char* bye = nullptr;
};

// Feeds |input| in pieces cut at |cuts|; every attempt is ended at once, as
// after a failure, and the rest goes on.
Played Play(const std::string& input, std::vector<size_t> cuts, size_t max_line = 1024) {
  LoginGate gate(
      {.max_line_bytes = max_line, .version = "1.0", .decode_base64 = &tls::DecodeBase64});
  Played p;
  cuts.push_back(input.size());
  size_t from = 0;
  for (size_t cut : cuts) {
    std::string_view part = std::string_view(input).substr(from, cut - from);
    from = cut;
    while (p.outcome == LoginGate::Outcome::kMore) {
      LoginGate::Result r = gate.Feed(AsBytes(part));
      p.answers += r.answers;
      p.commands += r.commands;
      p.refused_attempts += r.refused_attempts;
      part.remove_prefix(r.consumed);
      if (r.outcome == LoginGate::Outcome::kAttempt) {
        const LoginAttempt& a = gate.attempt();
        p.answers += "<ATTEMPT " + a.tag + "|" + a.user + "|" + a.password + ">";
        gate.EndAttempt();
        continue;
      }
      p.outcome = r.outcome;
      p.bye = r.bye;
      if (part.empty() || r.consumed == 0) break;
    }
  }
  return p;
}

// The same result at every single cut and with every byte on its own.
Played PlayEveryCut(const std::string& input) {
  const Played whole = Play(input, {});
  for (size_t cut = 0; cut <= input.size(); ++cut) {
    CAPTURE(cut);
    const Played p = Play(input, {cut});
    CHECK(p.answers == whole.answers);
    CHECK(p.outcome == whole.outcome);
    CHECK(p.commands == whole.commands);
  }
  std::vector<size_t> bytes;
  for (size_t i = 1; i < input.size(); ++i) bytes.push_back(i);
  CHECK(Play(input, bytes).answers == whole.answers);
  return whole;
}

TEST_CASE("login gate: the greeting and CAPABILITY name the login capabilities") {
  CHECK(LoginGate::Greeting() ==
        "* OK [CAPABILITY IMAP4rev1 SASL-IR ID LITERAL+ AUTH=PLAIN] imapfront ready\r\n");
  const Played p = PlayEveryCut("a CAPABILITY\r\nb noop\r\nc ID NIL\r\nd LOGOUT\r\ne NOOP\r\n");
  CHECK(p.answers ==
        "* CAPABILITY IMAP4rev1 SASL-IR ID LITERAL+ AUTH=PLAIN\r\na OK CAPABILITY completed\r\n"
        "b OK NOOP completed\r\n"
        "* ID (\"name\" \"imapfront\" \"version\" \"1.0\")\r\nc OK ID completed\r\n"
        "* BYE Logging out\r\nd OK LOGOUT completed\r\n");
  CHECK(p.outcome == LoginGate::Outcome::kLogout);
  CHECK(p.commands == 4);
}

TEST_CASE("login gate: everything else is BAD, literals of refused commands are not invited") {
  const Played p = PlayEveryCut(
      "a SELECT INBOX\r\n"
      "b APPEND INBOX {3}\r\n"
      "c APPEND INBOX {3+}\r\nabc\r\n"
      "d STARTTLS\r\n"
      "e COMPRESS DEFLATE\r\n"
      "f AUTHENTICATE CRAM-MD5\r\n"
      "g AUTHENTICATE\r\n"
      "\r\n"
      "h) NOOP\r\n"
      "i NOOP\r\n");
  CHECK(p.answers ==
        "a BAD Log in first\r\n"
        "b BAD Log in first\r\n"
        "c BAD Log in first\r\n"
        "d BAD STARTTLS is not available here\r\n"
        "e BAD COMPRESS is not available here\r\n"
        "f NO Unsupported authentication mechanism\r\n"
        "g BAD Invalid AUTHENTICATE arguments\r\n"
        "* BAD Invalid tag\r\n"
        "* BAD Invalid tag\r\n"
        "i OK NOOP completed\r\n");
  CHECK(p.refused_attempts == 2);
  CHECK(p.outcome == LoginGate::Outcome::kMore);
}

TEST_CASE("login gate: LOGIN with atoms, quoted strings and literals, at every cut") {
  const Played p = PlayEveryCut(
      "a1 LOGIN alice secret\r\n"
      "a2 login \"bob smith\" \"pa ss\\\"wo\\\\rd\"\r\n"
      "a3 LOGIN {5}\r\ncarol {8}\r\np\"\\ {}\r\n\r\n"
      "a4 LOGIN {4+}\r\ndave {3+}\r\n\x01\x02\x03\r\n"
      "a5 LOGIN ] x\r\n");
  CHECK(p.answers ==
        "<ATTEMPT a1|alice|secret>"
        "<ATTEMPT a2|bob smith|pa ss\"wo\\rd>"
        "+ Ready for literal data\r\n+ Ready for literal data\r\n"
        "<ATTEMPT a3|carol|p\"\\ {}\r\n>"
        "<ATTEMPT a4|dave|\x01\x02\x03>"
        "<ATTEMPT a5|]|x>");
  CHECK(p.commands == 5);
}

TEST_CASE("login gate: the bytes after an attempt are left for after it") {
  LoginGate gate({.max_line_bytes = 1024});
  const std::string input = "a LOGIN u p\r\nb SELECT INBOX\r\n";
  LoginGate::Result r = gate.Feed(AsBytes(input));
  CHECK(r.outcome == LoginGate::Outcome::kAttempt);
  CHECK(r.consumed == 13);
  CHECK(gate.attempt().password == "p");
  gate.EndAttempt();
  CHECK(gate.attempt().password.empty());
}

TEST_CASE("login gate: malformed LOGINs are refused here and count as attempts") {
  const Played p = PlayEveryCut(
      "a LOGIN\r\n"
      "b LOGIN onlyuser\r\n"
      "c LOGIN u p extra\r\n"
      "d LOGIN \"unterminated p\r\n"
      "e LOGIN u\"x p\r\n"
      "f LOGIN (u) p\r\n"
      "g LOGIN {1}\r\nu{1}\r\np\r\n"
      "h LOGIN ~{1}\r\nu p\r\n"
      "i LOGIN u \"p\\x\"\r\n"
      "j NOOP\r\n");
  CHECK(p.answers ==
        "a BAD Invalid LOGIN arguments\r\n"
        "b BAD Invalid LOGIN arguments\r\n"
        "c BAD Invalid LOGIN arguments\r\n"
        "d BAD Invalid LOGIN arguments\r\n"
        "e BAD Invalid LOGIN arguments\r\n"
        "f BAD Invalid LOGIN arguments\r\n"
        "+ Ready for literal data\r\n+ Ready for literal data\r\n"
        "g BAD Invalid LOGIN arguments\r\n"
        "+ Ready for literal data\r\n"
        "h BAD Invalid LOGIN arguments\r\n"
        "i BAD Invalid LOGIN arguments\r\n"
        "j OK NOOP completed\r\n");
  CHECK(p.refused_attempts == 9);
}

TEST_CASE("login gate: a credential literal over the limit is refused; a long line ends") {
  Played p = Play(
      "a LOGIN {9000}\r\nb LOGIN u {9000+}\r\n" + std::string(9000, 'x') + "\r\nc NOOP\r\n", {});
  CHECK(p.answers ==
        "a NO [TOOBIG] Literal too large\r\n"
        "b BAD [TOOBIG] Literal too large\r\n"
        "c OK NOOP completed\r\n");
  p = Play("a NOOP\r\nb " + std::string(100, 'x') + "\r\n", {}, 32);
  CHECK(p.answers == "a OK NOOP completed\r\n");
  CHECK(p.outcome == LoginGate::Outcome::kEnd);
  CHECK(std::string(p.bye) == "Line too long");
}

TEST_CASE("login gate: AUTHENTICATE PLAIN with and without an initial response") {
  // "\0alice\0secret", "alice\0alice\0pw", "\0bob\0x y"
  const Played p = PlayEveryCut(
      "a AUTHENTICATE PLAIN AGFsaWNlAHNlY3JldA==\r\n"
      "b authenticate plain\r\nYWxpY2UAYWxpY2UAcHc=\r\n"
      "c AUTHENTICATE PLAIN\r\n*\r\n"
      "d AUTHENTICATE PLAIN !!!\r\n"
      "e AUTHENTICATE PLAIN =\r\n"
      "f AUTHENTICATE PLAIN Ym9iAGFsaWNlAHB3\r\n"
      "g AUTHENTICATE PLAIN AGJvYgB4IHk=\r\n");
  CHECK(p.answers ==
        "<ATTEMPT a|alice|secret>"
        "+ \r\n<ATTEMPT b|alice|pw>"
        "+ \r\nc BAD AUTHENTICATE cancelled\r\n"
        "d BAD Invalid base64 in AUTHENTICATE response\r\n"
        "e BAD Malformed PLAIN message\r\n"
        "f NO [AUTHORIZATIONFAILED] Authorization identity must be the user\r\n"
        "<ATTEMPT g|bob|x y>");
  CHECK(p.refused_attempts == 4);
}

}  // namespace
}  // namespace imapfront::imap
