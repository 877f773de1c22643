// A scripted IMAP server for the login-at-the-proxy tests: it checks the
// LOGIN it receives (quoted strings or synchronizing literals, as imapfront
// sends them) against its accounts, answers like MiniImap afterwards, and,
// like every scripted backend, records each byte and counts its accepts.
#pragma once

#include <map>
#include <string>

#include "tests/support/harness.h"

namespace imapfront::testing {

struct LoginScript {
  std::map<std::string, std::string> accounts = {{"alice", "secret"}};
  std::string greeting = "* OK IMAP4rev1 login backend ready\r\n";
  // The tagged OK's text after "OK " ("" for a bare OK without code).
  std::string ok_text = "[CAPABILITY IMAP4rev1 IDLE STARTTLS UIDPLUS] Logged in";
  // Its answer to a CAPABILITY command (imapfront's probe).
  std::string capability = "* CAPABILITY IMAP4rev1 UIDPLUS\r\n";
  // A name for the transcripts ("* OK [name] ..." answers every command).
  std::string name = "backend";
};

ScriptedBackend::Script LoginImap(LoginScript script = {});

}  // namespace imapfront::testing
