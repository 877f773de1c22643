// routes[].compat without sockets: a legacy backend that advertises only
// what it is told, answers BAD to anything else (and records it), and a
// driver that plays a client transcript, cut as a test says, through a
// Conversation with compat options. Shared by the compat unit tests and the
// conversation fuzz target.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "imap/bytes.h"
#include "imap/command_framer.h"
#include "imap/conversation.h"
#include "tests/support/conversation_driver.h"
#include "tls/base64.h"

namespace imapfront::imap::testing {

// An Exchange-2003-like server: IMAP4rev1 commands, LITERAL+, nothing else.
class LegacyBackend {
 public:
  explicit LegacyBackend(std::string capabilities = "IMAP4 IMAP4rev1 LITERAL+ UIDPLUS CHILDREN")
      : capabilities_(std::move(capabilities)) {}

  std::string Receive(std::string_view bytes) {
    std::string out;
    std::string_view rest = bytes;
    size_t begun_here = 0;
    while (!rest.empty()) {
      CommandStep step = framer_.Next(AsBytes(rest));
      rest.remove_prefix(step.consumed);
      if (step.kind == CommandStep::Kind::kBlocked) {
        // Bytes after a literal header before this server's "+".
        violations.push_back("data before +");
        return out;
      }
      if (step.kind != CommandStep::Kind::kLine) continue;
      if (step.command_start) {
        if (unanswered_ > 0) ++pipelined;
        ++begun_here;
        ++unanswered_;
        lines.emplace_back(AsText(step.bytes));
      }
      Line(step, out);
    }
    return out;
  }

  // Commands this server did not advertise, as received (their last line);
  // "data before +".
  std::vector<std::string> violations;
  // The names of those commands.
  std::vector<std::string> violation_names;
  // First lines of every command, in order.
  std::vector<std::string> lines;
  // Commands that began while an earlier one had no tagged answer yet.
  size_t pipelined = 0;
  // Answer imapfront's NOOP polls with this untagged response first.
  std::string poll_untagged;

 private:
  void Answer(std::string& out, const std::string& text) {
    out += text;
    --unanswered_;
    framer_.OnServerTagged(framer_.tag());
  }

  void Line(const CommandStep& step, std::string& out) {
    const std::string tag(framer_.tag());
    if (step.continuation) {
      violations.push_back("continuation " + std::string(AsText(step.bytes)));
      return;
    }
    if (framer_.blocked()) {
      out += "+ go ahead\r\n";
      framer_.OnServerContinuation();
      return;
    }
    if (!step.command_end) return;
    const std::string name(framer_.name());
    const std::string line(StripLineEnding(AsText(step.bytes)));
    static const std::vector<std::string> kIllegal = {"IDLE",         "UNSELECT", "ID",
                                                      "AUTHENTICATE", "CLOSE",    "DONE"};
    for (const std::string& bad : kIllegal) {
      if (name == bad) {
        violations.push_back(line);
        violation_names.push_back(name);
        Answer(out, tag + " BAD Unknown command\r\n");
        return;
      }
    }
    if (name == "TOOLONG") {  // what an old server says to a line it cannot read
      Answer(out, "* BAD Command line too long\r\n");
      return;
    }
    if (name == "CAPABILITY") {
      Answer(out, "* CAPABILITY " + capabilities_ + "\r\n" + tag + " OK CAPABILITY completed\r\n");
    } else if (name == "NOOP") {
      const bool own = tag.starts_with(kOwnPrefix);
      Answer(out, (own ? poll_untagged : std::string()) + tag + " OK NOOP completed\r\n");
    } else if (name == "SELECT" && line.find("imapfront/unselect") != std::string::npos) {
      Answer(out,
             "* OK [CLOSED] Previous mailbox closed\r\n" + tag + " NO Mailbox does not exist\r\n");
    } else if (name == "SELECT") {
      Answer(out,
             "* 3 EXISTS\r\n* FLAGS (\\Seen)\r\n" + tag + " OK [READ-WRITE] SELECT completed\r\n");
    } else if (name == "LIST") {
      Answer(out,
             "* LIST (\\HasNoChildren) \"/\" \"Sent Items\"\r\n"
             "* LIST () \"/\" {13}\r\nDeleted Items\r\n"
             "* LIST (\\HasNoChildren) \"/\" INBOX\r\n"
             "* LIST (\\Drafts) \"/\" Drafts\r\n" +
                 tag + " OK LIST completed\r\n");
    } else if (name == "LOGIN") {
      Answer(out, tag + " OK LOGIN completed\r\n");
    } else {
      Answer(out, tag + " OK " + name + " completed\r\n");
    }
  }

  std::string capabilities_;
  CommandFramer framer_{{.max_line_bytes = 1 << 20, .max_literal_bytes = uint64_t{1} << 40}};
  size_t unanswered_ = 0;
};

struct CompatRun {
  RecordingSink sink;
  LegacyBackend backend;
  std::string held;
  std::string backend_seen;  // everything the backend received
  std::string user;          // Conversation::user() at the end
};

// Plays |parts| as the client's stream; before each part (and after the
// last) with |polls|, the poll timer fires.
inline std::unique_ptr<CompatRun> PlayCompat(const std::vector<std::string>& parts,
                                             const CompatOptions& compat,
                                             const std::string& greeting, bool polls = false,
                                             std::string capabilities = "",
                                             std::string poll_untagged = "") {
  auto r = std::make_unique<CompatRun>();
  if (!capabilities.empty()) r->backend = LegacyBackend(capabilities);
  r->backend.poll_untagged = poll_untagged;
  ConversationOptions options{
      .compat = &compat, .version = "test", .decode_base64 = &tls::DecodeBase64};
  Conversation conv(options, &r->sink);
  size_t seen = 0;
  auto settle = [&] {
    for (int rounds = 0; rounds < 1000; ++rounds) {
      std::string answers = r->backend.Receive(std::string_view(r->sink.backend).substr(seen));
      seen = r->sink.backend.size();
      if (!answers.empty()) conv.OnBackendBytes(AsBytes(answers));
      if (conv.TakeResume() && !r->held.empty()) {
        r->held.erase(0, conv.OnClientBytes(AsBytes(r->held)));
        continue;
      }
      if (answers.empty()) return;
    }
  };
  conv.OnBackendGreeting(AsBytes(greeting), true);
  for (size_t i = 0; i <= parts.size(); ++i) {
    if (polls) conv.OnPollTimer();
    settle();
    if (i == parts.size()) break;
    if (r->held.empty()) {
      const size_t n = conv.OnClientBytes(AsBytes(parts[i]));
      r->held = parts[i].substr(n);
    } else {
      r->held += parts[i];
    }
    settle();
  }
  r->backend_seen = r->sink.backend;
  r->user = conv.user();
  return r;
}

}  // namespace imapfront::imap::testing
