// Frames the server's byte stream into IMAP responses.
//
// Data responses ("* 12 FETCH ...", "* LIST ...") stream through untouched,
// with the literals inside them ({n} or ~{n} at a line's end) counted, never
// copied or parsed: a FETCH body may hold any bytes, including CRLF and text
// that looks like a tagged response. Status responses (tagged, and untagged
// OK/NO/BAD/BYE/PREAUTH), continuation requests ("+") and CAPABILITY
// responses are short and carry no literals; they are held until complete
// and handed over whole, so the owner can act on them (a tagged completion,
// a "+") and rewrite capability lists.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "imap/held_bytes.h"

namespace imapfront::imap {

struct ResponseLine {
  // kList: an untagged LIST or LSUB response, held only when the owner asks
  // (set_hold_lists); its bytes are the whole response, literals included.
  enum class Kind : uint8_t { kContinuation, kTagged, kStatus, kCapability, kList };
  Kind kind = Kind::kStatus;
  std::span<const uint8_t> bytes;  // the whole line, CRLF included
  // The line was longer than the hold limit: its bytes have already gone
  // through OnResponseBytes and |bytes| is empty.
  bool passed_on = false;
  std::string_view tag;  // kTagged
  // kTagged, kStatus: "OK", "NO", "BAD", "BYE", "PREAUTH" (upper case);
  // a tagged line's other word as sent; empty for a tagged line passed on.
  std::string_view status;
};

class ResponseVisitor {
 public:
  // Bytes to pass on as they are.
  virtual void OnResponseBytes(std::span<const uint8_t> bytes) = 0;
  // A complete held line.
  virtual void OnResponseLine(const ResponseLine& line) = 0;
  // A response has ended: the stream is between responses.
  virtual void OnResponseEnd() {}
  // A held line grew past the hold limit and would be passed on as it
  // streams (|tag|: a tagged line's tag). Return true to drop its bytes
  // instead; OnResponseLine still tells its end, with passed_on set.
  virtual bool DropOverlongLine(ResponseLine::Kind /*kind*/, std::string_view /*tag*/) {
    return false;
  }

 protected:
  ~ResponseVisitor() = default;
};

class ResponseFramer {
 public:
  explicit ResponseFramer(size_t max_held_line) : max_held_line_(max_held_line) {}

  // Hold LIST and LSUB responses too (for SPECIAL-USE emulation), literals
  // included, up to the hold limit; a longer one streams as any data
  // response. Takes effect from the next response on.
  void set_hold_lists(bool hold) { hold_lists_ = hold; }

  // Frames |input|, the stream's next bytes, calling |visitor| in stream
  // order. All of |input| is consumed.
  void Feed(std::span<const uint8_t> input, ResponseVisitor& visitor);

  // The stream has ended. Hands on the bytes of a line still held (the
  // server's last, partial line), so that nothing it sent is lost; the owner
  // may drop them, as for an overlong line. mid_response() stays true.
  void Finish(ResponseVisitor& visitor);

  // Inside a response (a partial line or a literal).
  bool mid_response() const { return state_ != State::kLineStart || !held_.empty(); }

 private:
  enum class State : uint8_t { kLineStart, kHeld, kHeldLiteral, kStream, kLiteral };
  enum class Class { kUndecided, kHeld, kData };

  size_t FeedLineStart(std::span<const uint8_t> input, ResponseVisitor& visitor);
  size_t FeedHeld(std::span<const uint8_t> input, ResponseVisitor& visitor);
  size_t FeedHeldList(std::span<const uint8_t> input, ResponseVisitor& visitor);
  void StreamHeldList(ResponseVisitor& visitor);
  size_t FeedStream(std::span<const uint8_t> input, ResponseVisitor& visitor);
  Class Classify();
  void EmitHeld(ResponseVisitor& visitor);
  void RememberTail(std::string_view bytes);
  void EndStreamedLine(ResponseVisitor& visitor);
  // A held tagged line's tag: the first bytes of held_, which keeps them
  // when the line overflows.
  std::string_view tag() const {
    return kind_ == ResponseLine::Kind::kTagged ? held_.view().substr(0, tag_size_)
                                                : std::string_view();
  }

  // An idle framer (between responses) owns no memory: 96 bytes.
  size_t max_held_line_;
  size_t list_line_ = 0;  // a held LIST response: where its current line starts in held_
  size_t tag_size_ = 0;
  uint64_t literal_left_ = 0;
  HeldBytes held_;
  std::array<char, 32> tail_{};  // a streamed line's last bytes, for its literal header
  uint8_t tail_size_ = 0;
  State state_ = State::kLineStart;
  ResponseLine::Kind kind_ = ResponseLine::Kind::kStatus;
  uint8_t status_ = 0;  // kStatus: 1 + its word's index in the status words
  bool hold_lists_ = false;
  bool overflowed_ = false;  // a held line passed the limit and is streaming
  bool dropping_ = false;    // ... and its owner drops it
};

}  // namespace imapfront::imap
