// The not-authenticated state on a login: "proxy" listener (SPEC "Logging
// in through imapfront"), after TLS: imapfront conducts it alone and no
// backend is involved. It answers CAPABILITY, NOOP, ID and LOGOUT, refuses
// everything else with "TAG BAD Log in first", and reads LOGIN (atom,
// quoted string or literal arguments, sending the "+" for a synchronizing
// literal itself) and AUTHENTICATE PLAIN (with an initial response or after
// its own "+ ") into a LoginAttempt for the owner to carry out.
//
// A pure state machine over spans, like the framers: feed it any cut of the
// client's stream and it gives the same answers. It stops after an attempt:
// the bytes after it (commands the client pipelined) are not consumed, so
// that they go to the backend once the login succeeded, or back here if it
// failed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "imap/command_framer.h"
#include "imap/conversation.h"

namespace imapfront::imap {

struct LoginAttempt {
  std::string tag;       // the client's, which the backend's LOGIN carries too
  std::string user;      // as the client sent it (never empty for AUTHENTICATE)
  std::string password;  // zeroed by LoginGate::EndAttempt()
};

struct LoginGateOptions {
  size_t max_line_bytes = 65536;
  std::string_view version = {};          // for the ID answer
  Base64Decoder decode_base64 = nullptr;  // for AUTHENTICATE PLAIN
};

class LoginGate {
 public:
  // What clients are told before they log in: the greeting's code and the
  // CAPABILITY answer.
  static constexpr std::string_view kCapabilities = "IMAP4rev1 SASL-IR ID LITERAL+ AUTH=PLAIN";
  static std::string Greeting();
  // A credential literal larger than this is refused ([TOOBIG]).
  static constexpr uint64_t kMaxCredentialBytes = 8192;

  explicit LoginGate(LoginGateOptions options);
  ~LoginGate();
  LoginGate(const LoginGate&) = delete;
  LoginGate& operator=(const LoginGate&) = delete;

  enum class Outcome {
    kMore,     // all input taken
    kAttempt,  // attempt() holds a login to try; the rest of the input was not taken
    kLogout,   // the client logged out: end the session (reason logout)
    kEnd,      // "* BYE |bye|", then end (protocol_error)
  };
  struct Result {
    Outcome outcome = Outcome::kMore;
    size_t consumed = 0;
    std::string answers;    // for the client, in order
    uint64_t commands = 0;  // commands the client began
    // LOGIN and AUTHENTICATE commands refused here (malformed, cancelled,
    // another mechanism): they count as login attempts too.
    uint64_t refused_attempts = 0;
    const char* bye = nullptr;  // kEnd
  };

  Result Feed(std::span<const uint8_t> bytes);

  // After kAttempt: the login to carry out. Feed() must not be called until
  // EndAttempt().
  const LoginAttempt& attempt() const { return attempt_; }
  // The attempt is over (the owner answered it): its password is zeroed and
  // the next command may come.
  void EndAttempt();

 private:
  void Line(const CommandStep& step, Result& result);
  void LiteralData(std::span<const uint8_t> bytes);
  bool ParseArguments(std::string_view text, std::optional<LiteralHeader> literal);
  void Complete(Result& result, std::string_view text);
  void Authenticate(std::string_view arguments, Result& result);
  void SaslResponse(std::string_view response, Result& result);
  void Attempt(std::string_view user, std::string& password, Result& result);
  void Reset();
  void Wipe();

  LoginGateOptions options_;
  std::optional<CommandFramer> commands_;
  // The current command's arguments so far (LOGIN and ID), literals included.
  std::vector<std::string> arguments_;
  bool arguments_bad_ = false;
  bool in_literal_ = false;  // literal data goes to arguments_.back()
  bool awaiting_sasl_ = false;
  bool attempting_ = false;
  LoginAttempt attempt_;
};

}  // namespace imapfront::imap
