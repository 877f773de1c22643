#include "imap/login_gate.h"

#include <algorithm>
#include <utility>

#include "imap/bytes.h"
#include "imap/emulation/auth_plain.h"
#include "imap/emulation/compat.h"
#include "imap/literal.h"
#include "imap/syntax.h"
#include "imap/verb.h"

namespace imapfront::imap {
namespace {

// What follows "tag NAME" on a command's first line.
std::string_view AfterName(std::string_view content) {
  const size_t tag_end = content.find(' ');
  if (tag_end == std::string_view::npos) return {};
  const size_t name_end = content.find(' ', tag_end + 1);
  return name_end == std::string_view::npos ? std::string_view() : content.substr(name_end);
}

void Zero(std::string& s) {
  std::fill(s.begin(), s.end(), '\0');
  s.clear();
}

}  // namespace

std::string LoginGate::Greeting() {
  return "* OK [CAPABILITY " + std::string(kCapabilities) + "] imapfront ready\r\n";
}

LoginGate::LoginGate(LoginGateOptions options) : options_(options) {
  arguments_.reserve(2);  // never reallocated: no copy of a password is left behind
  Reset();
}

LoginGate::~LoginGate() {
  Wipe();
}

// Every command is answered here (or handed over as an attempt), so each
// one starts with a fresh framer: nothing of an earlier one lingers.
void LoginGate::Reset() {
  commands_.emplace(CommandFramerOptions{.max_line_bytes = options_.max_line_bytes,
                                         .max_literal_bytes = kMaxCredentialBytes});
  for (std::string& argument : arguments_) Zero(argument);
  arguments_.clear();
  arguments_bad_ = false;
  in_literal_ = false;
  awaiting_sasl_ = false;
}

void LoginGate::Wipe() {
  for (std::string& argument : arguments_) Zero(argument);
  arguments_.clear();
  Zero(attempt_.password);
}

void LoginGate::EndAttempt() {
  attempting_ = false;
  Zero(attempt_.password);
  attempt_.user.clear();
  attempt_.tag.clear();
  Reset();
}

LoginGate::Result LoginGate::Feed(std::span<const uint8_t> bytes) {
  Result result;
  while (result.consumed < bytes.size() && result.outcome == Outcome::kMore && !attempting_) {
    CommandStep step = commands_->Next(bytes.subspan(result.consumed));
    result.consumed += step.consumed;
    switch (step.kind) {
      case CommandStep::Kind::kNeedInput:
        break;
      case CommandStep::Kind::kBlocked:
        // Cannot happen: every wait for a server is ended here at once.
        result.outcome = Outcome::kEnd;
        result.bye = "Internal error";
        return result;
      case CommandStep::Kind::kLineTooLong:
        result.outcome = Outcome::kEnd;
        result.bye = "Line too long";
        return result;
      case CommandStep::Kind::kLiteralData:
        if (!step.discard) LiteralData(step.bytes);
        break;
      case CommandStep::Kind::kLine:
        Line(step, result);
        break;
    }
  }
  return result;
}

void LoginGate::LiteralData(std::span<const uint8_t> bytes) {
  if (in_literal_ && !arguments_.empty()) arguments_.back().append(AsText(bytes));
}

// The current command's tagged answer (a LOGIN or AUTHENTICATE ending
// here is a refused attempt); the next command starts afresh.
void LoginGate::Complete(Result& result, std::string_view text) {
  const Verb verb = commands_->verb();
  if (verb == Verb::kLogin || verb == Verb::kAuthenticate) ++result.refused_attempts;
  result.answers += commands_->tag();
  result.answers += ' ';
  result.answers += text;
  result.answers += "\r\n";
  Reset();
}

void LoginGate::Line(const CommandStep& step, Result& result) {
  const std::string_view content = StripLineEnding(AsText(step.bytes));
  if (step.continuation) {
    if (awaiting_sasl_) {
      awaiting_sasl_ = false;
      SaslResponse(content, result);
    }
    return;
  }
  const Verb verb = commands_->verb();
  if (step.command_start) ++result.commands;
  const bool sync_literal = step.literal && !step.literal->non_sync;
  if (!IsValidTag(commands_->tag())) {
    // Nothing can be answered to such a command but "* BAD" (RFC 9051 7.1).
    if (step.command_end || sync_literal) {
      if (verb == Verb::kLogin || verb == Verb::kAuthenticate) ++result.refused_attempts;
      result.answers += "* BAD Invalid tag\r\n";
      Reset();
    }
    return;
  }
  switch (step.disposition) {
    case LineDisposition::kForward:
    case LineDisposition::kForwardAsSync:
      break;
    case LineDisposition::kDrop:
      return;  // inside a command being read and discarded
    case LineDisposition::kRefuseTooBigSync:
      Complete(result, "NO [TOOBIG] Literal too large");
      return;
    case LineDisposition::kRefuseTooBigNonSync:
      Complete(result, "BAD [TOOBIG] Literal too large");
      return;
    case LineDisposition::kTooBigMidCommand:
      result.outcome = Outcome::kEnd;
      result.bye = "[TOOBIG] Literal too large";
      return;
  }
  if (verb == Verb::kLogin || verb == Verb::kId) {
    if (verb == Verb::kLogin) {
      std::string_view text = step.command_start ? AfterName(content) : content;
      if (step.literal) text.remove_suffix(std::min(text.size(), step.literal->header_length));
      if (!ParseArguments(text, step.literal)) arguments_bad_ = true;
    }
    if (sync_literal) {
      // imapfront is the server here: it invites the literal itself.
      commands_->OnServerContinuation();
      result.answers += "+ Ready for literal data\r\n";
    }
    if (!step.command_end) return;
    if (verb == Verb::kId) {
      result.answers += IdResponse(options_.version);
      Complete(result, "OK ID completed");
      return;
    }
    if (arguments_bad_ || arguments_.size() != 2) {
      Complete(result, "BAD Invalid LOGIN arguments");
      return;
    }
    Attempt(arguments_[0], arguments_[1], result);
    return;
  }
  // A command with a {n+} literal is read to its end before it is answered;
  // one waiting for a "+" is answered now (it sends nothing more).
  if (!step.command_end && !sync_literal) return;
  if (step.literal || !step.command_end) {
    Complete(result, verb == Verb::kAuthenticate ? "BAD Invalid AUTHENTICATE arguments"
                                                 : "BAD Log in first");
    return;
  }
  const std::string tag(commands_->tag());
  switch (verb) {
    case Verb::kCapability:
      result.answers += "* CAPABILITY ";
      result.answers += kCapabilities;
      result.answers += "\r\n";
      Complete(result, "OK CAPABILITY completed");
      return;
    case Verb::kNoop:
      Complete(result, "OK NOOP completed");
      return;
    case Verb::kLogout:
      result.answers += "* BYE Logging out\r\n" + tag + " OK LOGOUT completed\r\n";
      result.outcome = Outcome::kLogout;
      Reset();
      return;
    case Verb::kStartTls:
    case Verb::kCompress:
      Complete(result, "BAD " + std::string(commands_->name()) + " is not available here");
      return;
    case Verb::kAuthenticate:
      Authenticate(AfterName(content), result);
      return;
    default:
      Complete(result, "BAD Log in first");
      return;
  }
}

// LOGIN's two arguments, as they come: |text| is one line's part of the
// command (the literal header at its end removed), literal data in between.
bool LoginGate::ParseArguments(std::string_view text, std::optional<LiteralHeader> literal) {
  const bool after_literal = in_literal_;
  in_literal_ = false;
  if (after_literal && !text.empty() && text.front() != ' ') return false;
  size_t i = 0;
  while (i < text.size()) {
    if (text[i] == ' ') {
      ++i;
      continue;
    }
    if (arguments_.size() >= 2) return false;
    std::string& argument = arguments_.emplace_back();
    if (text[i] == '"') {
      bool closed = false;
      for (++i; i < text.size() && !closed;) {
        const char c = text[i++];
        if (c == '\\') {
          if (i == text.size() || (text[i] != '"' && text[i] != '\\')) return false;
          argument += text[i++];
        } else if (c == '"') {
          closed = true;
        } else if (c == '\0' || c == '\r' || c == '\n') {
          return false;
        } else {
          argument += c;
        }
      }
      if (!closed || (i < text.size() && text[i] != ' ')) return false;
    } else {
      for (; i < text.size() && text[i] != ' '; ++i) {
        if (!IsAstringChar(text[i])) return false;
        argument += text[i];
      }
    }
  }
  if (literal) {
    // A literal is an argument of its own, after a space.
    if (literal->binary || arguments_.size() >= 2) return false;
    if (text.empty() ? after_literal : text.back() != ' ') return false;
    arguments_.emplace_back();
    in_literal_ = true;
  }
  return true;
}

// "AUTHENTICATE PLAIN [initial-response]" (RFC 9051 6.2.2, RFC 4959).
void LoginGate::Authenticate(std::string_view arguments, Result& result) {
  while (arguments.starts_with(' ')) arguments.remove_prefix(1);
  const size_t space = arguments.find(' ');
  const std::string_view mechanism = arguments.substr(0, space);
  if (mechanism.empty()) {
    Complete(result, "BAD Invalid AUTHENTICATE arguments");
    return;
  }
  if (!EqualsIgnoreCase(mechanism, "PLAIN")) {
    Complete(result, "NO Unsupported authentication mechanism");
    return;
  }
  if (space != std::string_view::npos) {
    SaslResponse(arguments.substr(space + 1), result);
    return;
  }
  awaiting_sasl_ = true;
  commands_->OnServerContinuation();  // the client's next line is its response
  result.answers += "+ \r\n";
}

void LoginGate::SaslResponse(std::string_view response, Result& result) {
  if (response == "*") {
    Complete(result, "BAD AUTHENTICATE cancelled");
    return;
  }
  std::string message;
  // "=" is an empty initial response (RFC 4959), which PLAIN cannot be.
  if (response != "=" && (!options_.decode_base64 || !options_.decode_base64(response, &message))) {
    Zero(message);
    Complete(result, "BAD Invalid base64 in AUTHENTICATE response");
    return;
  }
  std::optional<PlainCredentials> plain = ParsePlainMessage(message);
  Zero(message);
  if (!plain) {
    Complete(result, "BAD Malformed PLAIN message");
    return;
  }
  if (!plain->authzid.empty() && plain->authzid != plain->user) {
    Zero(plain->password);
    Complete(result, "NO [AUTHORIZATIONFAILED] Authorization identity must be the user");
    return;
  }
  Attempt(plain->user, plain->password, result);
}

// |password| is zeroed: the attempt holds the only copy.
void LoginGate::Attempt(std::string_view user, std::string& password, Result& result) {
  attempting_ = true;
  attempt_.tag = commands_->tag();
  attempt_.user.assign(user);
  Zero(attempt_.password);
  attempt_.password.reserve(password.size());
  attempt_.password.assign(password);
  Zero(password);
  result.outcome = Outcome::kAttempt;
}

}  // namespace imapfront::imap
