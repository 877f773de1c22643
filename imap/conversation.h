// The IMAP conversation between a client and its backend, as imapfront takes
// part in it: a sans-I/O state machine between the two framers.
//
// The owner (proxy/session) feeds it events: decrypted client bytes, backend
// bytes, the backend's greeting. It answers with actions on a
// ConversationSink: bytes for the backend, bytes for the client, "a command
// began", "the session cannot go on". It decides everything that is IMAP:
// which client bytes go on and in what form, what imapfront answers itself
// and when (never inside a backend response), which backend response belongs
// to the client and which to imapfront, who logged in, and when the client
// may send again after the server answered.
//
// imapfront's own commands (Send) carry tags of their own. They reach the
// backend only where the client's stream is at a command boundary (never
// inside a line, a literal, an AUTHENTICATE exchange or an IDLE) and after
// the greeting; their tagged answers never reach the client, and untagged
// responses that come while one is in flight go to the client unless the
// command's handler takes them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "imap/capabilities.h"
#include "imap/command_framer.h"
#include "imap/emulation/compat.h"
#include "imap/login.h"
#include "imap/response_framer.h"
#include "imap/verb.h"

namespace imapfront::imap {

struct ConversationOptions {
  size_t max_line_bytes = 65536;
  uint64_t max_literal_bytes = 67108864;
  bool emulate_literal_plus = false;
  // routes[].compat; null or nothing set: a plain relay (no probe, no
  // per-command work). Must outlive the conversation.
  const CompatOptions* compat = nullptr;
  std::string_view version = {};  // for the local ID answer
  // For emulated AUTHENTICATE PLAIN, and the user name of a relayed one.
  Base64Decoder decode_base64 = nullptr;
};

// What the owner does for the conversation.
class ConversationSink {
 public:
  enum class ToBackendKind { kCommand, kLiteral, kOwnCommand };
  enum class ToClientKind { kRelayed, kLocalAnswer };
  enum class Failure {
    kLineTooLong,   // "* BYE Line too long"
    kLiteralTooBig  // "* BYE [TOOBIG] Literal too large": half a command went on
  };
  // What compat served (SPEC imap.emulated).
  enum class Emulated { kIdle, kUnselect, kId, kAuthPlain, kCapabilityProbe };

  // Bytes for the backend, in order. kLiteral: literal data of the client.
  virtual void ToBackend(std::span<const uint8_t> bytes, ToBackendKind kind) = 0;
  // Bytes for the client, in order.
  virtual void ToClient(std::span<const uint8_t> bytes, ToClientKind kind) = 0;
  // The client began a command (every command counts, refused ones too).
  virtual void CommandBegan(Verb verb) = 0;
  // The stream cannot be framed or relayed further: end the session. The
  // conversation does nothing more after this.
  virtual void Fail(Failure failure) = 0;
  // A command served by emulation, or a capability probe sent.
  virtual void CountEmulated(Emulated kind) = 0;
  // Call OnPollTimer() |seconds| from now (replacing an earlier request);
  // 0: not at all. Only an emulated IDLE asks.
  virtual void SetPollTimer(double seconds) = 0;

 protected:
  ~ConversationSink() = default;
};

// A command imapfront sends to the backend by itself.
class OwnCommand {
 public:
  virtual ~OwnCommand() = default;
  // An untagged status or CAPABILITY response (a held line) that arrives
  // while this is the oldest own command in flight. Return true to keep it
  // from the client. Data responses (FETCH, EXISTS, LIST, ...) always go on
  // to the client, who must accept them at any time (RFC 9051 7).
  virtual bool TakeUntagged(const ResponseLine& /*line*/) { return false; }
  // Its tagged completion; never shown to the client.
  virtual void Completed(const ResponseLine& line) = 0;
};

class Conversation final : private ResponseVisitor {
 public:
  Conversation(ConversationOptions options, ConversationSink* sink);
  ~Conversation();
  Conversation(const Conversation&) = delete;
  Conversation& operator=(const Conversation&) = delete;

  // ---- events ---------------------------------------------------------------

  // Decrypted client bytes. Returns how many were taken; fewer when the
  // client must wait for the server (the owner holds the rest and offers
  // them again once ResumeClient() says so).
  size_t OnClientBytes(std::span<const uint8_t> bytes);
  // The backend greeted with |line| (CRLF included), already checked by the
  // owner's GreetingScanner. |relay|: show it to the client (false after
  // STARTTLS, where imapfront greeted itself).
  void OnBackendGreeting(std::span<const uint8_t> line, bool relay);
  // On a login: "proxy" listener: imapfront logged |user| in at the backend
  // itself (imap::BackendLogin), and this conversation begins there, in the
  // authenticated state. |ok_line| is the backend's tagged OK with the
  // backend's |capabilities| as its code: the client sees it with the list
  // clients see (compat decides from |capabilities|, which is its discovery).
  void OnBackendLoggedIn(std::span<const uint8_t> ok_line,
                         const std::vector<std::string>& capabilities, std::string_view user);
  // Backend bytes after the greeting.
  void OnBackendBytes(std::span<const uint8_t> bytes);
  // The client will send no more (it half-closed): imapfront sends no new
  // commands of its own either, so the backend's side can be closed.
  void OnClientEnded() { client_ended_ = true; }
  // The backend's stream has ended (it closed or failed): its last partial
  // line, if any, goes on to the client. Then see ByeForBackendEnd().
  void OnBackendEnded() {
    if (greeted_ && !halted_) responses_.Finish(*this);
  }
  // The owner is ending the session: do nothing more.
  void Halt() { halted_ = true; }
  // The time SetPollTimer asked for has come.
  void OnPollTimer();

  // ---- imapfront's own commands --------------------------------------------

  // Sends "TAG |command|\r\n" (|command| without tag and CRLF, one line, no
  // literal) at the next command boundary after the greeting, with a tag no
  // client command in flight uses; |handler| (not null) gets its responses.
  // None is sent once the client has ended or logged out. Returns false,
  // sending nothing, when kMaxOwnQueued commands are waiting already.
  bool Send(std::string_view command, std::unique_ptr<OwnCommand> handler);
  static constexpr size_t kMaxOwnQueued = 64;
  // Before any client byte: |command| (as for Send) goes to the backend
  // right after the greeting, ahead of everything the client sends, and the
  // client's bytes wait (OnClientBytes takes none) until its tagged answer.
  // That answer, and every untagged response until it (a BYE excepted), is
  // swallowed whatever it is: routes[].forward_client "id".
  void SendBeforeClient(std::string_view command);
  size_t own_in_flight() const { return own_ ? own_->in_flight.size() : 0; }
  size_t own_queued() const { return own_ ? own_->queued.size() : 0; }

  // ---- state for the owner -------------------------------------------------

  // The server has answered what the client waited for: offer held client
  // bytes again. Reading clears it.
  bool TakeResume() {
    const bool r = resume_;
    resume_ = false;
    return r;
  }
  bool client_blocked() const { return commands_.blocked(); }
  // A client command is in progress (SPEC: an accepted IDLE is not).
  bool CommandInProgress() const { return commands_.CommandInProgress(); }
  // The backend is inside a response: nothing may be inserted for the client.
  bool mid_response() const { return greeted_ && responses_.mid_response(); }
  // A moment to end the session at (max_lifetime, shutdown): no client
  // command in progress (an IDLE, emulated or not, does not count), the
  // backend between responses, no command of imapfront's own outstanding.
  bool Quiet() const {
    return !CommandInProgress() && !mid_response() && own_in_flight() == 0 && own_queued() == 0;
  }
  // Bytes of imapfront's own answers not yet given to the client.
  size_t pending_answer_bytes() const { return local_answers_.size(); }
  bool logout_seen() const { return logout_seen_; }
  // The backend's stream has ended (it closed or failed). What imapfront
  // tells the client (the text after "* BYE "), or null where nothing is to
  // be said: inside a response, after the backend's own BYE, or when the
  // client ended the session first (the backend only followed it).
  const char* ByeForBackendEnd() const {
    return greeted_ && !bye_seen_ && !client_ended_ && !mid_response() ? kBackendClosedBye
                                                                       : nullptr;
  }
  static constexpr const char* kBackendClosedBye = "[UNAVAILABLE] Server closed the connection";
  // The login name from LOGIN or AUTHENTICATE PLAIN; never a password.
  const std::string& user() const { return user_; }
  // How the last LOGIN or AUTHENTICATE the backend answered went.
  enum class Login : uint8_t { kNone, kOk, kFailed };
  Login login() const { return login_; }

 private:
  enum class UserSource : uint8_t { kNone, kLoginLiteral, kPlainResponse };
  struct Queued {
    std::string command;
    std::unique_ptr<OwnCommand> handler;
    bool before_client = false;  // SendBeforeClient
  };
  struct InFlight {
    std::string tag;
    std::unique_ptr<OwnCommand> handler;
    bool before_client = false;
  };
  class Swallowed;
  bool SwallowingAll() const {
    return own_ && !own_->in_flight.empty() && own_->in_flight.front().before_client;
  }

  void ClientLine(const CommandStep& step);
  bool ClientMustWait() const;
  void NoteUser(const CommandStep& step);
  // An answer from imapfront itself, kept in order with backend responses.
  void AnswerClient(std::string line);
  void SendOwnCommands();
  bool OwnTagged(const ResponseLine& line);
  void RelayLine(std::span<const uint8_t> line, bool capability_response);

  void OnResponseBytes(std::span<const uint8_t> bytes) override;
  void OnResponseLine(const ResponseLine& line) override;
  void OnResponseEnd() override;
  bool DropOverlongLine(ResponseLine::Kind kind, std::string_view tag) override;
  bool IsOwnTag(std::string_view tag) const;

  // ---- conversation_compat.cc: routes[].compat ----
  struct Compat;
  void InitCompat(const ConversationOptions& options);
  class CapabilityProbe;
  class IdlePoll;
  class UnselectSelect;
  void StartDiscovery(std::span<const uint8_t> greeting, bool relay);
  void EndDiscovery(const std::vector<std::string>& backend);
  void ReleaseGreeting();
  bool CompatCommand(const CommandStep& step);
  bool Emulates(std::string_view line) const;
  bool BackendBusyBefore() const;
  void ServeCommand(std::string_view line, bool command_end);
  void ServeDeferred();
  bool CompatContinuation(const CommandStep& step);
  bool CompatServerLine(const ResponseLine& line);
  void CompatUntaggedBad();
  void AnswerCurrent(std::string_view text);
  void AnswerEarlier(const std::string& tag, std::string_view text);
  void StartIdle(const std::string& tag);
  void Poll();
  void FinishIdle();
  void PlainResponse(const std::string& tag, std::string_view response);
  void SendLoginPiece();
  bool OwnCommandsMayGo() const;

  ConversationSink* sink_;
  CommandFramer commands_;
  ResponseFramer responses_;
  std::string local_answers_;
  std::string user_;
  // The LOGIN or AUTHENTICATE awaiting its answer; made for it, so a
  // session pays a pointer between logins.
  std::unique_ptr<std::string> login_tag_;
  Base64Decoder decode_base64_ = nullptr;
  bool emulate_literal_plus_ = false;
  bool greeted_ = false;
  bool halted_ = false;
  bool resume_ = false;
  bool logout_seen_ = false;
  bool bye_seen_ = false;  // the backend sent an untagged BYE
  bool client_ended_ = false;
  UserSource user_next_ = UserSource::kNone;
  Login login_ = Login::kNone;
  // imapfront's own commands, made on the first Send: a session that never
  // sends one (every session today) pays one pointer. Vectors, not deques
  // (an empty std::deque allocates); they hold a few entries at most.
  struct OwnCommands {
    uint64_t next_tag = 1;
    bool client_waits = false;  // a SendBeforeClient command is not answered yet
    std::vector<Queued> queued;
    std::vector<InFlight> in_flight;
  };
  std::unique_ptr<OwnCommands> own_;
  // routes[].compat state, made only for a route that has compat.
  std::unique_ptr<Compat> compat_;
};

}  // namespace imapfront::imap
