#include "imap/conversation.h"

#include <algorithm>
#include <utility>

#include "imap/bytes.h"
#include "imap/conversation_compat.h"
#include "imap/literal.h"
#include "imap/login.h"

namespace imapfront::imap {
namespace {

using Sink = ConversationSink;

// Longest login name kept for the access log.
constexpr size_t kMaxUser = 256;

}  // namespace

Conversation::Conversation(ConversationOptions options, ConversationSink* sink)
    : sink_(sink),
      commands_(CommandFramerOptions{.max_line_bytes = options.max_line_bytes,
                                     .max_literal_bytes = options.max_literal_bytes,
                                     .emulate_literal_plus = options.emulate_literal_plus}),
      responses_(options.max_line_bytes),
      decode_base64_(options.decode_base64),
      emulate_literal_plus_(options.emulate_literal_plus) {
  if (options.compat && options.compat->Any()) InitCompat(options);
}

// ---- the client's side -------------------------------------------------------

size_t Conversation::OnClientBytes(std::span<const uint8_t> bytes) {
  if (own_ && own_->client_waits) return 0;  // a SendBeforeClient command goes first
  size_t used = 0;
  while (used < bytes.size() && !halted_) {
    if (compat_ && ClientMustWait()) break;
    CommandStep step = commands_.Next(bytes.subspan(used));
    used += step.consumed;
    switch (step.kind) {
      case CommandStep::Kind::kNeedInput:
        break;
      case CommandStep::Kind::kBlocked:
        SendOwnCommands();
        return used;
      case CommandStep::Kind::kLineTooLong:
        halted_ = true;
        sink_->Fail(Sink::Failure::kLineTooLong);
        return bytes.size();
      case CommandStep::Kind::kLiteralData:
        if (user_next_ == UserSource::kLoginLiteral && user_.size() < kMaxUser) {
          user_.append(
              AsText(step.bytes.first(std::min(step.bytes.size(), kMaxUser - user_.size()))));
        }
        if (!step.discard) sink_->ToBackend(step.bytes, Sink::ToBackendKind::kLiteral);
        break;
      case CommandStep::Kind::kLine:
        ClientLine(step);
        break;
    }
  }
  SendOwnCommands();
  return used;
}

void Conversation::ClientLine(const CommandStep& step) {
  if (step.command_start) {
    const Verb verb = commands_.verb();
    sink_->CommandBegan(verb);
    if (verb == Verb::kLogout) logout_seen_ = true;
    if (step.command_end && (verb == Verb::kStartTls || verb == Verb::kCompress)) {
      // TLS is already up, and compression would hide the stream from the
      // framers: both belong between the client and imapfront, which offers
      // neither here. The backend never sees them.
      commands_.AnsweredLocally();
      AnswerClient(std::string(commands_.tag()) + " BAD " + std::string(commands_.name()) +
                   " is not available here\r\n");
      return;
    }
  }
  if (compat_ &&
      (step.command_start ? CompatCommand(step) : step.continuation && CompatContinuation(step))) {
    return;
  }
  NoteUser(step);
  switch (step.disposition) {
    case LineDisposition::kForward:
      sink_->ToBackend(step.bytes, Sink::ToBackendKind::kCommand);
      return;
    case LineDisposition::kForwardAsSync: {
      const std::string sync = ToSyncLiteral(AsText(step.bytes));
      sink_->ToBackend(AsBytes(sync), Sink::ToBackendKind::kCommand);
      return;
    }
    case LineDisposition::kDrop:
      return;
    case LineDisposition::kRefuseTooBigSync:
      AnswerClient(std::string(commands_.tag()) + " NO [TOOBIG] Literal too large\r\n");
      return;
    case LineDisposition::kRefuseTooBigNonSync:
      AnswerClient(std::string(commands_.tag()) + " BAD [TOOBIG] Literal too large\r\n");
      return;
    case LineDisposition::kTooBigMidCommand:
      halted_ = true;
      sink_->Fail(Sink::Failure::kLiteralTooBig);
      return;
  }
}

// Remembers who logs in; never the password, which is never kept.
void Conversation::NoteUser(const CommandStep& step) {
  const std::string_view line = StripLineEnding(AsText(step.bytes));
  if (user_next_ == UserSource::kLoginLiteral) user_next_ = UserSource::kNone;  // it has ended
  if (step.continuation) {
    if (user_next_ == UserSource::kPlainResponse) {
      if (auto user = PlainAuthcid(line, decode_base64_)) user_ = *user;
      user_next_ = UserSource::kNone;
    }
    return;
  }
  if (!step.command_start) return;
  user_next_ = UserSource::kNone;  // a refused AUTHENTICATE leaves nothing pending
  const Verb verb = commands_.verb();
  if (verb == Verb::kLogin || verb == Verb::kAuthenticate) {
    // An untagged one is answered by nothing that could be matched to it.
    login_tag_ = commands_.tag().empty() ? nullptr : std::make_unique<std::string>(commands_.tag());
  }
  switch (verb) {
    case Verb::kLogin:
      if (auto login = ParseLoginUser(line)) {
        user_ = login->user;
        if (login->in_literal) user_next_ = UserSource::kLoginLiteral;
      }
      break;
    case Verb::kAuthenticate:
      if (auto plain = ParseAuthenticatePlain(line, decode_base64_)) {
        if (!plain->user.empty()) user_ = plain->user;
        if (plain->response_follows) user_next_ = UserSource::kPlainResponse;
      }
      break;
    default:
      break;
  }
}

void Conversation::AnswerClient(std::string line) {
  local_answers_ += line;
  if (greeted_ && !responses_.mid_response()) OnResponseEnd();
}

// ---- imapfront's own commands --------------------------------------------------

bool Conversation::Send(std::string_view command, std::unique_ptr<OwnCommand> handler) {
  if (!handler || own_queued() >= kMaxOwnQueued) return false;
  if (!own_) own_ = std::make_unique<OwnCommands>();
  own_->queued.push_back({std::string(command), std::move(handler)});
  SendOwnCommands();
  return true;
}

// Its answer is swallowed (Completed) and so are untagged responses until
// then (SwallowingAll).
class Conversation::Swallowed final : public OwnCommand {
 public:
  bool TakeUntagged(const ResponseLine& line) override { return line.status != "BYE"; }
  void Completed(const ResponseLine& /*line*/) override {}
};

void Conversation::SendBeforeClient(std::string_view command) {
  if (!own_) own_ = std::make_unique<OwnCommands>();
  own_->client_waits = true;
  own_->queued.insert(own_->queued.begin(),
                      Queued{std::string(command), std::make_unique<Swallowed>(), true});
  SendOwnCommands();
}

void Conversation::SendOwnCommands() {
  if (!own_ || !greeted_ || halted_) return;
  // The client's bytes wait for a SendBeforeClient command: it goes even if
  // the client has half-closed since.
  if ((client_ended_ || logout_seen_) && !compat_ && !own_->client_waits) {
    own_->queued.clear();  // nobody is left to serve
    return;
  }
  while (!own_->queued.empty() && commands_.AtCommandBoundary() && OwnCommandsMayGo()) {
    Queued next = std::move(own_->queued.front());
    own_->queued.erase(own_->queued.begin());
    // Unlike any tag the client awaits an answer for, so answers cannot be
    // mixed up (one the client uses later is answered after ours).
    std::string tag;
    do {
      tag = "imapfront" + std::to_string(own_->next_tag++);
    } while (commands_.TagInFlight(tag) || IsOwnTag(tag));
    const std::string line = tag + " " + next.command + "\r\n";
    own_->in_flight.push_back({std::move(tag), std::move(next.handler), next.before_client});
    sink_->ToBackend(AsBytes(line), Sink::ToBackendKind::kOwnCommand);
  }
}

bool Conversation::IsOwnTag(std::string_view tag) const {
  if (!own_) return false;
  return std::any_of(own_->in_flight.begin(), own_->in_flight.end(),
                     [&](const InFlight& c) { return c.tag == tag; });
}

bool Conversation::DropOverlongLine(ResponseLine::Kind kind, std::string_view tag) {
  // An answer to imapfront's own command never reaches the client, however
  // long it is.
  if (kind == ResponseLine::Kind::kTagged) return IsOwnTag(tag);
  if (SwallowingAll()) return true;
  // Nor does an untagged line that comes while imapfront's capability probe
  // holds the greeting back (the probe's CAPABILITY, too long to read).
  return compat_ && compat_->discovering && own_in_flight() > 0;
}

bool Conversation::OwnTagged(const ResponseLine& line) {
  if (!own_) return false;
  auto it = std::find_if(own_->in_flight.begin(), own_->in_flight.end(),
                         [&](const InFlight& c) { return c.tag == line.tag; });
  if (it == own_->in_flight.end()) return false;
  std::unique_ptr<OwnCommand> handler = std::move(it->handler);
  if (it->before_client) {
    own_->client_waits = false;
    resume_ = true;  // the client's held bytes go on now
  }
  own_->in_flight.erase(it);
  handler->Completed(line);
  return true;
}

// ---- the backend's side --------------------------------------------------------

void Conversation::OnBackendGreeting(std::span<const uint8_t> line, bool relay) {
  if (halted_) return;
  greeted_ = true;
  if (compat_) {
    StartDiscovery(line, relay);
  } else if (relay) {
    RelayLine(line, false);
  }
  OnResponseEnd();  // answers imapfront gave before the greeting go after it
  SendOwnCommands();
}

void Conversation::OnBackendLoggedIn(std::span<const uint8_t> ok_line,
                                     const std::vector<std::string>& capabilities,
                                     std::string_view user) {
  if (halted_) return;
  greeted_ = true;
  user_.assign(user.substr(0, kMaxUser));
  login_ = Login::kOk;
  if (compat_ && compat_->discovering) EndDiscovery(capabilities);
  RelayLine(ok_line, false);
  SendOwnCommands();
}

void Conversation::OnBackendBytes(std::span<const uint8_t> bytes) {
  if (halted_ || bytes.empty()) return;
  responses_.Feed(bytes, *this);
}

void Conversation::RelayLine(std::span<const uint8_t> line, bool capability_response) {
  if (compat_) ReleaseGreeting();
  // A route without compat only drops the transport's names (and adds
  // LITERAL+ it emulates); compat's edit has its own lists.
  const CapabilityEdit plain{.add_literal_plus = emulate_literal_plus_};
  auto rewritten =
      RewriteCapabilities(AsText(line), capability_response, compat_ ? compat_->edit : plain);
  sink_->ToClient(rewritten ? AsBytes(*rewritten) : line, Sink::ToClientKind::kRelayed);
}

void Conversation::OnResponseBytes(std::span<const uint8_t> bytes) {
  if (halted_ || SwallowingAll()) return;
  if (compat_) ReleaseGreeting();
  sink_->ToClient(bytes, Sink::ToClientKind::kRelayed);
}

void Conversation::OnResponseLine(const ResponseLine& line) {
  if (halted_) return;
  if (compat_ && CompatServerLine(line)) return;
  bool pass = true;
  switch (line.kind) {
    case ResponseLine::Kind::kContinuation:
      pass = commands_.OnServerContinuation();
      break;
    case ResponseLine::Kind::kTagged:
      if (OwnTagged(line)) {
        resume_ = resume_ || !commands_.blocked();
        if (compat_) ServeDeferred();
        SendOwnCommands();
        return;
      }
      if (login_tag_ && line.tag == *login_tag_) {
        login_ = line.status == "OK" ? Login::kOk : Login::kFailed;
        login_tag_.reset();
      }
      commands_.OnServerTagged(line.tag);
      break;
    case ResponseLine::Kind::kList:  // held only for compat, which takes it
    case ResponseLine::Kind::kStatus:
    case ResponseLine::Kind::kCapability:
      bye_seen_ = bye_seen_ || line.status == "BYE";
      if (compat_ && line.status == "BAD") CompatUntaggedBad();
      if (own_in_flight() > 0 && !line.passed_on &&
          own_->in_flight.front().handler->TakeUntagged(line)) {
        return;
      }
      break;
  }
  resume_ = resume_ || !commands_.blocked();
  if (pass && !line.passed_on) {
    RelayLine(line.bytes, line.kind == ResponseLine::Kind::kCapability);
  }
  if (compat_ && line.kind != ResponseLine::Kind::kContinuation) ServeDeferred();
  SendOwnCommands();
}

void Conversation::OnResponseEnd() {
  if (local_answers_.empty() || !greeted_ || halted_) return;
  if (compat_) ReleaseGreeting();
  std::string answers = std::move(local_answers_);
  local_answers_ = std::string();
  sink_->ToClient(AsBytes(answers), Sink::ToClientKind::kLocalAnswer);
}

}  // namespace imapfront::imap
