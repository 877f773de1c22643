// Frames the client's byte stream into IMAP command lines and literals.
//
// An incremental state machine over spans: feed any cut of the stream and
// get the same steps. Literal data is never copied, only counted; a line is
// copied only when it straddles two feeds (bounded by max_line_bytes). The
// framer also models the rules that need the server's side (RFC 9051,
// RFC 7888): after a synchronizing literal's header the client waits for the
// server's "+", and a tagged answer instead cancels the literal; after
// AUTHENTICATE the client's lines are SASL responses, and after IDLE's "+"
// its next line is "DONE". While it waits for the server the framer is
// blocked and consumes nothing; the owner holds the bytes and calls
// OnServerContinuation()/OnServerTagged() as the server answers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "imap/held_bytes.h"
#include "imap/literal.h"
#include "imap/verb.h"

namespace imapfront::imap {

struct CommandFramerOptions {
  size_t max_line_bytes = 65536;
  uint64_t max_literal_bytes = 67108864;
  // Serve a backend without LITERAL+: client {n+} literals are sent on as
  // {n}, and the framer waits for the backend's "+" before their data.
  bool emulate_literal_plus = false;
};

// What the owner does with a complete line.
enum class LineDisposition {
  kForward,              // send it to the server as it is
  kForwardAsSync,        // send it with the trailing "{n+}" made "{n}" (emulated LITERAL+)
  kDrop,                 // part of a command that is being discarded: send nothing
  kRefuseTooBigSync,     // {n} over the limit: answer "TAG NO [TOOBIG]" and send nothing
  kRefuseTooBigNonSync,  // end of a command whose {n+} was over the limit: answer
                         // "TAG BAD [TOOBIG]"; nothing of it was sent
  kTooBigMidCommand,     // a literal over the limit after part of its command went to
                         // the server, which cannot be taken back: end the session
};

struct CommandStep {
  enum class Kind {
    kNeedInput,    // all input consumed (a partial line is kept inside)
    kBlocked,      // waiting for the server; nothing consumed
    kLine,         // |bytes| is a complete line, its CRLF included
    kLiteralData,  // |bytes| is literal data
    kLineTooLong,  // a line passed max_line_bytes; the stream cannot be framed further
  };
  Kind kind = Kind::kNeedInput;
  size_t consumed = 0;  // input bytes this step used
  std::span<const uint8_t> bytes;

  // kLine
  LineDisposition disposition = LineDisposition::kForward;
  bool command_start = false;  // first line of a command: tag() and name() are new
  bool command_end = false;    // no literal follows; the command is complete
  bool continuation = false;   // a SASL response or IDLE's DONE, not command syntax
  std::optional<LiteralHeader> literal;

  // kLiteralData
  bool discard = false;  // part of a discarded command: do not send
};

class CommandFramer {
 public:
  explicit CommandFramer(CommandFramerOptions options) : options_(options) {}

  // The next step for |input|, the stream's next bytes. Call again with the
  // unconsumed rest; spans in a step stay valid until the next call.
  CommandStep Next(std::span<const uint8_t> input);

  // The server sent a continuation request ("+ ..."). Returns false if the
  // owner must not pass it on to the client (the framer asked for it on the
  // client's behalf, emulating LITERAL+).
  bool OnServerContinuation();
  // The server sent a tagged response with |tag|.
  void OnServerTagged(std::string_view tag);
  // The server answered the oldest command awaiting an answer with an
  // untagged "* BAD" (a server that cannot parse a command, a line too long
  // for it, answers so). The owner decides when that is the case.
  void OnServerUntaggedBad();
  // imapfront answered the current command itself (it never reaches the
  // server, so no tagged answer will come from there); what the client still
  // sends of it (literals) is dropped.
  void AnsweredLocally();
  // The same for an earlier command with |tag|, whose lines have all been
  // read (an emulated IDLE after its DONE).
  void AnsweredLocally(std::string_view tag) { OnServerTagged(tag); }
  // imapfront accepted the current IDLE itself (an emulated IDLE): the next
  // line is DONE, and since the server has no part in it, the stream to the
  // server stays at a command boundary.
  void AcceptIdleLocally();

  bool blocked() const { return state_ == State::kBlocked; }
  // A client command with |tag| awaits its tagged answer.
  bool TagInFlight(std::string_view tag) const;
  // Everything the owner has sent the server so far ends with a whole
  // command: no line or literal of a command is half sent, no AUTHENTICATE
  // exchange or IDLE is open. A partial line the framer still holds has not
  // been sent, so it does not count. Bytes of another origin (imapfront's
  // own commands) may go to the server exactly here.
  bool AtCommandBoundary() const;
  // A command has begun and its tagged answer has not come yet. An IDLE the
  // server has accepted does not count until the client ends it.
  bool CommandInProgress() const;
  // The next line the client sends begins a new command.
  bool AtCommandStart() const {
    return state_ == State::kLine && line_mode_ == LineMode::kCommandStart;
  }
  // Client commands awaiting their tagged answer.
  size_t tags_in_flight() const { return in_flight_.size(); }
  // The current (or last) command's tag and upper-cased name.
  std::string_view tag() const { return std::string_view(command_).substr(0, tag_size_); }
  std::string_view name() const {
    return command_.size() > tag_size_ ? std::string_view(command_).substr(tag_size_ + 1)
                                       : std::string_view();
  }
  Verb verb() const { return verb_; }

 private:
  enum class State : uint8_t { kLine, kLiteral, kBlocked };
  enum class LineMode : uint8_t { kCommandStart, kCommandContinue, kSaslResponse, kIdleDone };
  enum class Await : uint8_t { kNothing, kSyncLiteral, kEmulatedLiteral, kAuthenticate, kIdle };
  enum class Discard : uint8_t { kNo, kTooBig, kRefusedByServer };

  CommandStep FinishLine(std::span<const uint8_t> line, size_t consumed);
  void FinishSegment(CommandStep& step);
  void StartCommand(std::string_view content);
  void StartLiteral(uint64_t size);
  // Removes one copy of |tag| from the tags in flight; true if it was the
  // last one (so the answer belongs to the newest command with that tag).
  bool PopTag(std::string_view tag);

  CommandFramerOptions options_;
  uint64_t literal_left_ = 0;
  HeldBytes line_;  // a line straddling feeds
  // The current command's tag, a space and its upper-cased name (at most
  // 32 bytes): one string, short enough for most commands to need no heap.
  std::string command_;
  size_t tag_size_ = 0;
  State state_ = State::kLine;
  LineMode line_mode_ = LineMode::kCommandStart;
  Await await_ = Await::kNothing;
  Discard discard_ = Discard::kNo;
  Verb verb_ = Verb::kOther;
  bool sent_part_ = false;  // part of the current command went to the server
  bool idling_ = false;
  bool local_idle_ = false;  // ... and imapfront, not the server, accepted it
  bool clear_line_ = false;
  // Hashes of the tags awaiting their tagged answer, oldest first; bounded,
  // since a server may answer some (invalid) tags untagged.
  std::vector<uint64_t> in_flight_;
  static constexpr size_t kMaxInFlight = 1024;
};

}  // namespace imapfront::imap
