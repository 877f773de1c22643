// routes[].compat in the Conversation (SPEC "Legacy backends"): capability
// discovery, the commands imapfront serves for a backend that lacks them, and
// the gate of pipelining: false. The rules themselves (what a PLAIN message
// is, how LOGIN is spelled, where a LIST response's attributes are) live in
// imap/emulation/; this file decides when they apply and keeps their order
// in the two streams.
#include <algorithm>
#include <optional>
#include <utility>

#include "imap/bytes.h"
#include "imap/conversation.h"
#include "imap/conversation_compat.h"
#include "imap/emulation/auth_plain.h"
#include "imap/emulation/special_use.h"
#include "imap/literal.h"
#include "imap/syntax.h"

namespace imapfront::imap {
namespace {

using Sink = ConversationSink;

// A mailbox name no server has: a failed SELECT leaves no mailbox selected
// and expunges nothing (RFC 3501 6.3.1), which is UNSELECT without CLOSE.
constexpr std::string_view kUnselectCommand = "SELECT \"imapfront/unselect/no-such-mailbox\"";
constexpr size_t kMaxUser = 256;

// What follows "TAG STATUS " in a tagged response, CRLF included.
std::string_view StatusText(const ResponseLine& line) {
  std::string_view text = AsText(line.bytes);
  const size_t skip = line.tag.size() + 1 + line.status.size() + 1;
  return text.size() > skip ? text.substr(skip) : std::string_view("\r\n");
}

}  // namespace

// ---- own commands ----------------------------------------------------------------

class Conversation::CapabilityProbe : public OwnCommand {
 public:
  explicit CapabilityProbe(Conversation* c) : c_(c) {}
  bool TakeUntagged(const ResponseLine& line) override {
    if (line.kind == ResponseLine::Kind::kCapability) {
      if (auto names = CapabilityList(AsText(line.bytes), true)) c_->compat_->probed = *names;
      return true;
    }
    // Before the greeting nothing else may reach the client; a BYE goes on
    // (after the greeting).
    return line.status != "BYE";
  }
  void Completed(const ResponseLine&) override {
    c_->EndDiscovery(c_->compat_->probed);
    c_->ReleaseGreeting();
  }

 private:
  Conversation* c_;
};

// An emulated IDLE's NOOP: its untagged responses go to the client.
class Conversation::IdlePoll : public OwnCommand {
 public:
  explicit IdlePoll(Conversation* c) : c_(c) {}
  void Completed(const ResponseLine&) override {
    c_->compat_->poll_outstanding = false;
    if (c_->compat_->done_pending) c_->FinishIdle();
  }

 private:
  Conversation* c_;
};

// An emulated UNSELECT's failing SELECT.
class Conversation::UnselectSelect : public OwnCommand {
 public:
  UnselectSelect(Conversation* c, std::string tag) : c_(c), tag_(std::move(tag)) {}
  // The refusal's untagged status ("* NO ...", "* OK [CLOSED]") is the
  // SELECT's, not the client's; a BYE is for everyone.
  bool TakeUntagged(const ResponseLine& line) override { return line.status != "BYE"; }
  void Completed(const ResponseLine& line) override {
    --c_->compat_->local_tags;
    if (line.status == "NO") {
      c_->AnswerEarlier(tag_, "OK UNSELECT completed");
    } else {
      std::string_view text = StripLineEnding(StatusText(line));
      c_->AnswerEarlier(tag_, "NO " + std::string(text.empty() ? "UNSELECT failed" : text));
    }
  }

 private:
  Conversation* c_;
  std::string tag_;
};

// ---- discovery ----------------------------------------------------------------------

Conversation::~Conversation() = default;

void Conversation::InitCompat(const ConversationOptions& options) {
  compat_ = std::make_unique<Compat>();
  compat_->options = options.compat;
  compat_->version.assign(options.version);
  compat_->decode_base64 = options.decode_base64;
  compat_->emulate_literal_plus = options.emulate_literal_plus;
  compat_->edit.add_literal_plus = options.emulate_literal_plus;
  compat_->discovering = options.compat->Discovers();
  if (!compat_->discovering) EndDiscovery({});
}

void Conversation::StartDiscovery(std::span<const uint8_t> greeting, bool relay) {
  if (!compat_->discovering) {
    if (relay) RelayLine(greeting, false);
    return;
  }
  if (auto names = CapabilityList(AsText(greeting), false)) {
    EndDiscovery(*names);
    if (relay) RelayLine(greeting, false);
    return;
  }
  if (relay) compat_->held_greeting.emplace(AsText(greeting));
  sink_->CountEmulated(Sink::Emulated::kCapabilityProbe);
  Send("CAPABILITY", std::make_unique<CapabilityProbe>(this));
}

void Conversation::EndDiscovery(const std::vector<std::string>& backend) {
  const CompatOptions& options = *compat_->options;
  compat_->on = compat_->discovering ? Decide(options, backend) : Emulations{};
  compat_->edit = ClientCapabilityEdit(options, compat_->on, compat_->emulate_literal_plus);
  responses_.set_hold_lists(compat_->on.special_use);
  compat_->discovering = false;
  resume_ = true;
}

// The backend's greeting, held during the probe, with the list clients see.
void Conversation::ReleaseGreeting() {
  if (halted_ || !compat_->held_greeting) return;
  std::string greeting = std::move(*compat_->held_greeting);
  compat_->held_greeting.reset();
  std::string list;
  for (const std::string& name : compat_->probed) {
    if (!list.empty()) list += ' ';
    list += name;
  }
  // Every IMAP server is IMAP4rev1; the emulated names are added to it.
  if (list.empty()) list = "IMAP4rev1";
  // Something came before the probe's answer: the greeting goes first, as it was.
  if (compat_->discovering) list.clear();
  if (auto coded = list.empty() ? std::nullopt : WithCapabilityCode(greeting, list)) {
    greeting = std::move(*coded);
  }
  RelayLine(AsBytes(greeting), false);
}

// ---- the client's commands ----------------------------------------------------------

// Client bytes wait while the backend's capabilities are unknown, and with
// pipelining: false while the backend has a command: the next command
// begins only after the previous one's tagged answer.
bool Conversation::ClientMustWait() const {
  if (compat_->discovering || compat_->deferred) return true;
  if (compat_->options->pipelining || !commands_.AtCommandStart()) return false;
  return commands_.tags_in_flight() > compat_->local_tags || own_in_flight() > 0 ||
         own_queued() > 0;
}

bool Conversation::OwnCommandsMayGo() const {
  if (!compat_ || compat_->options->pipelining) return true;
  return commands_.tags_in_flight() <= compat_->local_tags && own_in_flight() == 0;
}

// imapfront's tagged answer to the client's current command: the framer
// drops what the client still sends of it.
void Conversation::AnswerCurrent(std::string_view text) {
  std::string line(commands_.tag());
  commands_.AnsweredLocally();
  line += ' ';
  line += text;
  line += "\r\n";
  AnswerClient(std::move(line));
}

// ... to an earlier command (an emulated IDLE or UNSELECT), whose tag a
// later command may use again.
void Conversation::AnswerEarlier(const std::string& tag, std::string_view text) {
  commands_.AnsweredLocally(tag);
  std::string line = tag;
  line += ' ';
  line += text;
  line += "\r\n";
  AnswerClient(std::move(line));
}

namespace {

// The command line has nothing after its name.
bool NoArgumentsIn(std::string_view line, bool command_end) {
  line = StripLineEnding(line);
  size_t tag_end = line.find(' ');
  size_t name_end = tag_end == std::string_view::npos ? tag_end : line.find(' ', tag_end + 1);
  return command_end && (name_end == std::string_view::npos ||
                         line.find_first_not_of(' ', name_end) == std::string_view::npos);
}

// "TAG AUTHENTICATE mechanism [initial-response]": what follows the name.
std::string_view AuthenticateArguments(std::string_view line, size_t tag_size) {
  line = StripLineEnding(line);
  constexpr size_t kName = sizeof("AUTHENTICATE ") - 1;
  return line.size() > tag_size + 1 + kName ? line.substr(tag_size + 1 + kName)
                                            : std::string_view();
}

}  // namespace

// A command line imapfront serves itself for this backend. A line without a
// valid tag is one: a server can only answer it untagged, which no one can
// match to a command, and an old one may do worse.
bool Conversation::Emulates(std::string_view line) const {
  const Emulations& on = compat_->on;
  // A line without a valid tag or command name is refused here too, so
  // that a lenient server cannot read "a  IDLE" as IDLE.
  if (!IsValidTag(commands_.tag()) || !IsValidTag(commands_.name())) return true;
  switch (commands_.verb()) {
    case Verb::kIdle:
      return on.idle;
    case Verb::kUnselect:
      return on.unselect;
    case Verb::kId:
      return on.id;
    case Verb::kAuthenticate: {
      std::string_view rest = AuthenticateArguments(line, commands_.tag().size());
      const std::string_view mechanism = rest.substr(0, rest.find(' '));
      return on.auth_plain && (EqualsIgnoreCase(mechanism, "PLAIN") || !IsValidTag(mechanism));
    }
    default:
      return false;
  }
}

bool Conversation::CompatCommand(const CommandStep& step) {
  // A command the framer refused (a literal over the limit) is answered so.
  if (step.disposition != LineDisposition::kForward &&
      step.disposition != LineDisposition::kForwardAsSync) {
    return false;
  }
  const std::string_view line = AsText(step.bytes);
  if (!Emulates(line)) return false;
  if (BackendBusyBefore()) {
    compat_->deferred.emplace(line);
    compat_->deferred_end = step.command_end;
  } else {
    ServeCommand(line, step.command_end);
  }
  return true;
}

// Commands before the current one are still at the backend (the tag count
// includes the current command's own, when it has one).
bool Conversation::BackendBusyBefore() const {
  const size_t current = commands_.tag().empty() ? 0 : 1;
  return commands_.tags_in_flight() > compat_->local_tags + current || own_in_flight() > 0 ||
         own_queued() > 0;
}

void Conversation::ServeDeferred() {
  if (halted_ || !compat_->deferred || BackendBusyBefore()) return;
  const std::string line = std::move(*compat_->deferred);
  compat_->deferred.reset();
  ServeCommand(line, compat_->deferred_end);
  resume_ = true;
}

void Conversation::ServeCommand(std::string_view line, bool command_end) {
  const std::string tag(commands_.tag());
  if (!IsValidTag(tag)) {
    commands_.AnsweredLocally();
    AnswerClient("* BAD Invalid tag\r\n");
    return;
  }
  if (!IsValidTag(commands_.name())) {
    AnswerCurrent("BAD Invalid command name");
    return;
  }
  const bool bare = NoArgumentsIn(line, command_end);
  switch (commands_.verb()) {
    case Verb::kIdle:
      if (bare) {
        StartIdle(tag);
      } else {
        AnswerCurrent("BAD IDLE takes no arguments");
      }
      return;
    case Verb::kUnselect:
      if (!bare) {
        AnswerCurrent("BAD UNSELECT takes no arguments");
        return;
      }
      sink_->CountEmulated(Sink::Emulated::kUnselect);
      ++compat_->local_tags;
      if (!Send(kUnselectCommand, std::make_unique<UnselectSelect>(this, tag))) {
        --compat_->local_tags;
        AnswerCurrent("NO [UNAVAILABLE] Too many commands in progress");
      }
      return;
    case Verb::kId: {
      sink_->CountEmulated(Sink::Emulated::kId);
      AnswerClient(IdResponse(compat_->version));
      AnswerCurrent("OK ID completed");
      return;
    }
    case Verb::kAuthenticate: {
      sink_->CountEmulated(Sink::Emulated::kAuthPlain);
      const std::string_view rest = AuthenticateArguments(line, tag.size());
      const size_t mechanism = std::min(rest.find(' '), rest.size());
      if (!command_end || !IsValidTag(rest.substr(0, mechanism))) {
        AnswerCurrent("BAD Invalid AUTHENTICATE arguments");
      } else if (mechanism < rest.size()) {
        PlainResponse(tag, rest.substr(mechanism + 1));  // SASL-IR
      } else {
        compat_->auth_tag = tag;
        compat_->awaiting_response = true;
        commands_.OnServerContinuation();  // the client's next line is its response
        AnswerClient("+ \r\n");
      }
      return;
    }
    default:
      return;
  }
}

// IDLE's DONE or a SASL response, for a command imapfront serves.
bool Conversation::CompatContinuation(const CommandStep& step) {
  const std::string_view line = StripLineEnding(AsText(step.bytes));
  if (compat_->idling) {
    compat_->idling = false;
    compat_->done_bad = !EqualsIgnoreCase(line, "DONE");
    sink_->SetPollTimer(0);
    if (compat_->poll_outstanding) {
      compat_->done_pending = true;
    } else {
      FinishIdle();
    }
    return true;
  }
  if (compat_->awaiting_response) {
    compat_->awaiting_response = false;
    PlainResponse(compat_->auth_tag, line);
    return true;
  }
  return false;
}

// ---- emulated IDLE ------------------------------------------------------------------

void Conversation::StartIdle(const std::string& tag) {
  sink_->CountEmulated(Sink::Emulated::kIdle);
  commands_.AcceptIdleLocally();
  compat_->idle_tag = tag;
  compat_->idling = true;
  compat_->done_pending = false;
  ++compat_->local_tags;
  AnswerClient("+ idling\r\n");
  Poll();
  sink_->SetPollTimer(compat_->options->idle_poll_interval);
}

void Conversation::OnPollTimer() {
  if (!compat_ || !compat_->idling || halted_ || client_ended_) return;
  Poll();
  sink_->SetPollTimer(compat_->options->idle_poll_interval);
}

// One NOOP at a time: a slow backend is not sent a pile of them.
void Conversation::Poll() {
  if (compat_->poll_outstanding) return;
  compat_->poll_outstanding = Send("NOOP", std::make_unique<IdlePoll>(this));
}

void Conversation::FinishIdle() {
  compat_->done_pending = false;
  --compat_->local_tags;
  AnswerEarlier(compat_->idle_tag, compat_->done_bad ? "BAD Expected DONE" : "OK IDLE terminated");
}

// ---- emulated AUTHENTICATE PLAIN ----------------------------------------------------

void Conversation::PlainResponse(const std::string& tag, std::string_view response) {
  if (response == "*") {
    AnswerCurrent("BAD AUTHENTICATE cancelled");
    return;
  }
  std::string message;
  // "=" is an empty initial response (RFC 4959).
  if (response != "=" && (!compat_->decode_base64 || !compat_->decode_base64(response, &message))) {
    AnswerCurrent("BAD Invalid base64 in AUTHENTICATE response");
    return;
  }
  std::optional<PlainCredentials> plain = ParsePlainMessage(message);
  std::fill(message.begin(), message.end(), '\0');
  if (!plain) {
    AnswerCurrent("BAD Malformed PLAIN message");
    return;
  }
  user_ = plain->user.substr(0, kMaxUser);
  if (!plain->authzid.empty() && plain->authzid != plain->user) {
    std::fill(plain->password.begin(), plain->password.end(), '\0');
    AnswerCurrent("NO [AUTHORIZATIONFAILED] Authorization identity must be the user");
    return;
  }
  compat_->auth_tag = tag;
  compat_->login = LoginCommand(tag, plain->user, plain->password);
  std::fill(plain->password.begin(), plain->password.end(), '\0');
  compat_->login_next = 0;
  SendLoginPiece();
}

void Conversation::SendLoginPiece() {
  std::string& piece = compat_->login[compat_->login_next++];
  sink_->ToBackend(AsBytes(piece), Sink::ToBackendKind::kCommand);
  std::fill(piece.begin(), piece.end(), '\0');
  if (compat_->login_next == compat_->login.size()) {
    compat_->login.clear();
    compat_->login_next = 0;
  }
}

// ---- the backend's responses ----------------------------------------------------------

// A server that cannot parse a command (too long for it, say) answers it
// "* BAD" without a tag, in that command's place among its answers: it is
// the answer to the oldest client command at the backend. Without this,
// pipelining: false and the ordering of emulated commands would wait for a
// tagged answer that never comes. Not while imapfront has a command of its
// own or an IDLE/UNSELECT of the client's in hand (the BAD may be theirs).
void Conversation::CompatUntaggedBad() {
  // An emulated command waiting its turn has its tag in flight, but is not
  // at the backend.
  const size_t waiting = compat_->deferred && !commands_.tag().empty() ? 1 : 0;
  if (compat_->local_tags == 0 && own_in_flight() == 0 && compat_->login.empty() &&
      commands_.tags_in_flight() > waiting) {
    commands_.OnServerUntaggedBad();
  }
}

// Backend lines that compat takes: the "+" for an emulated LOGIN's literals
// (the client never sees it), and LIST/LSUB responses for SPECIAL-USE.
bool Conversation::CompatServerLine(const ResponseLine& line) {
  switch (line.kind) {
    case ResponseLine::Kind::kContinuation:
      if (compat_->login.empty()) return false;
      SendLoginPiece();
      return true;
    case ResponseLine::Kind::kTagged:
      // A refused literal ends the LOGIN early; its answer is the client's.
      if (!compat_->login.empty() && line.tag == compat_->auth_tag) {
        for (std::string& piece : compat_->login) std::fill(piece.begin(), piece.end(), '\0');
        compat_->login.clear();
      }
      return false;
    case ResponseLine::Kind::kList: {
      auto rewritten = AddSpecialUse(AsText(line.bytes), compat_->options->special_use);
      sink_->ToClient(rewritten ? AsBytes(*rewritten) : line.bytes, Sink::ToClientKind::kRelayed);
      return true;
    }
    default:
      return false;
  }
}

}  // namespace imapfront::imap
