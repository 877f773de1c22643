#include "imap/pre_auth.h"

#include "imap/verb.h"

namespace imapfront::imap {

std::string StartTlsGate::Greeting() {
  return "* OK [CAPABILITY " + std::string(kCapabilities) + "] imapfront ready\r\n";
}

StartTlsGate::StartTlsGate(size_t max_line_bytes) : max_line_bytes_(max_line_bytes) {
  Reset();
}

// Literals are refused before TLS: no "+" is ever sent, and {n+} data is
// read and dropped. Every command is answered here, so each line starts
// afresh.
void StartTlsGate::Reset() {
  commands_.emplace(
      CommandFramerOptions{.max_line_bytes = max_line_bytes_, .max_literal_bytes = 0});
}

StartTlsGate::Result StartTlsGate::Feed(std::span<const uint8_t> bytes) {
  Result result;
  while (!bytes.empty() && result.outcome == Outcome::kMore) {
    CommandStep step = commands_->Next(bytes);
    bytes = bytes.subspan(step.consumed);
    switch (step.kind) {
      case CommandStep::Kind::kNeedInput:
      case CommandStep::Kind::kLiteralData:  // refused {n+} data: dropped
        break;
      case CommandStep::Kind::kBlocked:
        return result;  // cannot happen: every command is answered (and unblocked) here
      case CommandStep::Kind::kLineTooLong:
        result.outcome = Outcome::kLineTooLong;
        return result;
      case CommandStep::Kind::kLine:
        // A command ends here, or a synchronizing literal (even {0}) waits
        // for a "+" that imapfront will not send: answer it now.
        if (step.command_end || (step.literal && !step.literal->non_sync)) Answer(step, result);
        break;
    }
  }
  return result;
}

void StartTlsGate::Answer(const CommandStep& step, Result& result) {
  const std::string tag(commands_->tag().empty() ? std::string_view("*") : commands_->tag());
  const Verb verb = commands_->verb();
  const bool literal = step.literal || step.disposition != LineDisposition::kForward;
  ++result.commands;
  Reset();
  std::string& out = result.answers;
  if (literal) {
    out += tag + " BAD Literals are not accepted before STARTTLS\r\n";
    return;
  }
  switch (verb) {
    case Verb::kCapability:
      out += "* CAPABILITY " + std::string(kCapabilities) + "\r\n" + tag +
             " OK CAPABILITY completed\r\n";
      return;
    case Verb::kNoop:
      out += tag + " OK NOOP completed\r\n";
      return;
    case Verb::kLogout:
      out += "* BYE Logging out\r\n" + tag + " OK LOGOUT completed\r\n";
      result.outcome = Outcome::kLogout;
      return;
    case Verb::kStartTls:
      out += tag + " OK Begin TLS negotiation now\r\n";
      result.outcome = Outcome::kStartTls;
      return;
    case Verb::kLogin:
    case Verb::kAuthenticate:
      out += tag + " NO [PRIVACYREQUIRED] Use STARTTLS first\r\n";
      return;
    default:
      out += tag + " BAD Only CAPABILITY, NOOP, LOGOUT and STARTTLS before STARTTLS\r\n";
      return;
  }
}

}  // namespace imapfront::imap
