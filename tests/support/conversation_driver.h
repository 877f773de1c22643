// A Conversation between a scripted client stream and a fake backend, with
// no sockets: shared by the conversation unit tests and its fuzz target.
//
// The fake backend parses what it receives with a CommandFramer of its own
// (so it sees the stream as a real server would: a line sent in the middle
// of a literal is literal data to it) and answers at once: "+" where a
// client waits for one, a tagged OK at each command's end, and for
// imapfront's own commands an untagged status line and a tagged answer the
// client must never see.
#pragma once

#include <algorithm>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "imap/bytes.h"
#include "imap/command_framer.h"
#include "imap/conversation.h"

namespace imapfront::imap::testing {

constexpr std::string_view kOwnPrefix = "imapfront";
constexpr std::string_view kOwnUntagged = "* OK own-poll\r\n";
constexpr std::string_view kOwnDone = "own-noop-done";

class FakeBackend {
 public:
  // The backend receives |bytes|; returns its answers.
  std::string Receive(std::string_view bytes) {
    std::string out;
    std::string_view rest = bytes;
    for (;;) {
      if (rest.empty()) break;
      CommandStep step = framer_.Next(AsBytes(rest));
      rest.remove_prefix(step.consumed);
      switch (step.kind) {
        case CommandStep::Kind::kNeedInput:
        case CommandStep::Kind::kLiteralData:
          break;
        case CommandStep::Kind::kBlocked:
        case CommandStep::Kind::kLineTooLong:
          return out;  // cannot happen with these limits
        case CommandStep::Kind::kLine:
          Line(step, out);
          break;
      }
    }
    return out;
  }

  // Lines that began a command with imapfront's tag prefix, as seen here.
  const std::vector<std::string>& own_commands() const { return own_commands_; }
  // Commands begun, imapfront's and the client's.
  size_t commands() const { return commands_; }

 private:
  // tag = 1*<any ASTRING-CHAR except "+">
  static bool ValidTag(std::string_view tag) {
    for (char c : tag) {
      if (c <= 0x20 || c >= 0x7f ||
          std::string_view("(){%*\"\\+").find(c) != std::string_view::npos) {
        return false;
      }
    }
    return true;
  }

  void Line(const CommandStep& step, std::string& out) {
    const std::string tag(framer_.tag());
    const bool own = tag.starts_with(kOwnPrefix);
    if (step.command_start) {
      ++commands_;
      if (own) own_commands_.emplace_back(AsText(step.bytes));
    }
    if (step.continuation) {
      // A SASL response (the backend accepts it) or IDLE's DONE.
      out += tag + " OK exchange done\r\n";
      framer_.OnServerTagged(tag);
      return;
    }
    if (framer_.blocked()) {
      // A synchronizing literal, AUTHENTICATE or IDLE waits for "+".
      out += "+ go ahead\r\n";
      framer_.OnServerContinuation();
      return;
    }
    if (!step.command_end || tag.empty()) return;
    if (!ValidTag(tag)) {
      // Not a tag (RFC 9051 9): a real server cannot answer it tagged.
      out += "* BAD invalid tag\r\n";
      framer_.OnServerTagged(tag);
      return;
    }
    if (own) {
      out += std::string(kOwnUntagged) + tag + " OK " + std::string(kOwnDone) + "\r\n";
    } else if (framer_.verb() == Verb::kSelect) {
      out += "* 3 EXISTS\r\n* 1 FETCH (BODY[] {9}\r\nfake\r\nx y)\r\n" + tag + " OK selected\r\n";
    } else {
      out += tag + " OK done\r\n";
    }
    framer_.OnServerTagged(tag);
  }

  CommandFramer framer_{{.max_line_bytes = 1 << 20, .max_literal_bytes = uint64_t{1} << 40}};
  std::vector<std::string> own_commands_;
  size_t commands_ = 0;
};

// |text|'s lines (each with its LF), sorted: the same answers in any order.
inline std::vector<std::string> SortedLines(const std::string& text) {
  std::vector<std::string> lines;
  size_t start = 0;
  for (size_t at; (at = text.find('\n', start)) != std::string::npos; start = at + 1) {
    lines.push_back(text.substr(start, at + 1 - start));
  }
  lines.push_back(text.substr(start));
  std::sort(lines.begin(), lines.end());
  return lines;
}

// Records what the Conversation asks for.
class RecordingSink : public ConversationSink {
 public:
  void ToBackend(std::span<const uint8_t> bytes, ToBackendKind kind) override {
    backend.append(AsText(bytes));
    if (kind == ToBackendKind::kOwnCommand) ++own_sent;
  }
  void ToClient(std::span<const uint8_t> bytes, ToClientKind) override {
    client.append(AsText(bytes));
  }
  void CommandBegan(Verb) override { ++commands; }
  void Fail(Failure) override { failed = true; }
  void CountEmulated(Emulated kind) override { ++emulated[static_cast<size_t>(kind)]; }
  void SetPollTimer(double seconds) override { poll_timer = seconds; }

  std::string backend;
  std::string client;
  size_t own_sent = 0;
  size_t commands = 0;
  bool failed = false;
  size_t emulated[5] = {};  // by ConversationSink::Emulated
  double poll_timer = 0;    // as last asked for
};

// An own command whose answers are all imapfront's.
class CountingCommand : public OwnCommand {
 public:
  explicit CountingCommand(int* completed) : completed_(completed) {}
  bool TakeUntagged(const ResponseLine&) override { return true; }
  void Completed(const ResponseLine&) override { ++*completed_; }

 private:
  int* completed_;
};

// Plays the client's |parts| through a Conversation and the fake backend;
// before part i (and after the last, for i == parts.size()) imapfront sends
// the own commands listed in |own_before|.
struct Played {
  RecordingSink sink;
  FakeBackend backend;
  int completed = 0;
  std::string held;  // client bytes the conversation never took
};

inline std::unique_ptr<Played> Play(const std::vector<std::string>& parts,
                                    const std::vector<size_t>& own_before,
                                    ConversationOptions options = {}) {
  auto p = std::make_unique<Played>();
  Conversation conv(options, &p->sink);
  size_t seen = 0;
  auto settle = [&] {
    for (;;) {
      std::string answers = p->backend.Receive(std::string_view(p->sink.backend).substr(seen));
      seen = p->sink.backend.size();
      if (answers.empty()) return;
      conv.OnBackendBytes(AsBytes(answers));
      if (conv.TakeResume() && !p->held.empty()) {
        p->held.erase(0, conv.OnClientBytes(AsBytes(p->held)));
      }
    }
  };
  const std::string greeting = "* OK [CAPABILITY IMAP4rev1 STARTTLS] fake ready\r\n";
  conv.OnBackendGreeting(AsBytes(greeting), true);
  auto own = [&](size_t at) {
    for (size_t i : own_before) {
      if (i == at) conv.Send("NOOP", std::make_unique<CountingCommand>(&p->completed));
    }
  };
  for (size_t i = 0; i < parts.size(); ++i) {
    own(i);
    settle();
    if (p->held.empty()) {
      const size_t n = conv.OnClientBytes(AsBytes(parts[i]));
      p->held = parts[i].substr(n);
    } else {
      p->held += parts[i];
    }
    settle();
  }
  own(parts.size());
  settle();
  return p;
}

}  // namespace imapfront::imap::testing
