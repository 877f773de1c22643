#include "imap/response_framer.h"

#include <algorithm>
#include <cstring>

#include "imap/bytes.h"
#include "imap/literal.h"

namespace imapfront::imap {
namespace {

// The token starting at |from|, up to a space or the line's end; sets
// *complete when its end has been seen.
std::string_view TokenAt(std::string_view text, size_t from, bool* complete) {
  size_t end = text.find_first_of(" \r\n", from);
  *complete = end != std::string_view::npos;
  if (!*complete) end = text.size();
  return text.substr(from, end - from);
}

// A tagged response's tag, split as the command framer splits a client's
// tag (so that the two agree on which answer is whose): at the first space,
// or at the line's end ("\r\n" or "\n"); a CR inside the line is part of
// it. Sets *complete when its end has been seen.
std::string_view TagAt(std::string_view text, bool* complete) {
  const size_t end = text.find_first_of(" \n");
  *complete = end != std::string_view::npos;
  if (!*complete) return text;
  std::string_view tag = text.substr(0, end);
  if (text[end] == '\n' && tag.ends_with('\r')) tag.remove_suffix(1);
  return tag;
}

constexpr std::string_view kStatusWords[] = {"OK", "NO", "BAD", "BYE", "PREAUTH"};

// 1 + the index of |word| in kStatusWords, compared case-insensitively; 0
// for any other word.
uint8_t StatusCode(std::string_view word) {
  for (size_t i = 0; i < std::size(kStatusWords); ++i) {
    if (EqualsIgnoreCase(word, kStatusWords[i])) return static_cast<uint8_t>(i + 1);
  }
  return 0;
}

}  // namespace

void ResponseFramer::Feed(std::span<const uint8_t> input, ResponseVisitor& visitor) {
  while (!input.empty()) {
    size_t n = 0;
    switch (state_) {
      case State::kLineStart:
        n = FeedLineStart(input, visitor);
        break;
      case State::kHeld:
        n = kind_ == ResponseLine::Kind::kList ? FeedHeldList(input, visitor)
                                               : FeedHeld(input, visitor);
        break;
      case State::kHeldLiteral:
        n = static_cast<size_t>(std::min<uint64_t>(literal_left_, input.size()));
        held_.append(input.first(n));
        literal_left_ -= n;
        if (literal_left_ == 0) {
          state_ = State::kHeld;
          list_line_ = held_.size();  // the response's next line starts here
        }
        break;
      case State::kStream:
        n = FeedStream(input, visitor);
        break;
      case State::kLiteral:
        n = static_cast<size_t>(std::min<uint64_t>(literal_left_, input.size()));
        visitor.OnResponseBytes(input.first(n));
        literal_left_ -= n;
        if (literal_left_ == 0) state_ = State::kStream;  // the response goes on after it
        break;
    }
    input = input.subspan(n);
  }
}

void ResponseFramer::Finish(ResponseVisitor& visitor) {
  // An overflowed line's bytes have gone on already (held_ keeps its tag).
  if (overflowed_ || held_.empty()) return;
  const bool drop = dropping_ || (state_ == State::kHeld && visitor.DropOverlongLine(kind_, tag()));
  if (!drop) visitor.OnResponseBytes(held_.bytes());
  held_.clear();
  list_line_ = 0;
  if (state_ == State::kLineStart) state_ = State::kStream;  // still inside that line
}

ResponseFramer::Class ResponseFramer::Classify() {
  bool complete = false;
  const std::string_view held = held_.view();
  std::string_view first = TokenAt(held, 0, &complete);
  if (!complete) return held_.size() > max_held_line_ ? Class::kData : Class::kUndecided;
  if (first == "+") {
    kind_ = ResponseLine::Kind::kContinuation;
    return Class::kHeld;
  }
  if (first != "*") {
    const std::string_view tag = TagAt(held, &complete);
    if (!complete) return held_.size() > max_held_line_ ? Class::kData : Class::kUndecided;
    kind_ = ResponseLine::Kind::kTagged;
    tag_size_ = tag.size();
    return Class::kHeld;
  }
  if (held.size() <= first.size() || held[first.size()] != ' ') return Class::kData;
  std::string_view word = TokenAt(held, first.size() + 1, &complete);
  if (!complete) return held.size() > max_held_line_ ? Class::kData : Class::kUndecided;
  if ((status_ = StatusCode(word)) != 0) {
    kind_ = ResponseLine::Kind::kStatus;
    return Class::kHeld;
  }
  if (EqualsIgnoreCase(word, "CAPABILITY")) {
    kind_ = ResponseLine::Kind::kCapability;
    return Class::kHeld;
  }
  if (hold_lists_ && (EqualsIgnoreCase(word, "LIST") || EqualsIgnoreCase(word, "LSUB"))) {
    kind_ = ResponseLine::Kind::kList;
    return Class::kHeld;
  }
  return Class::kData;
}

size_t ResponseFramer::FeedLineStart(std::span<const uint8_t> input, ResponseVisitor& visitor) {
  for (size_t i = 0; i < input.size(); ++i) {
    const char c = static_cast<char>(input[i]);
    held_.push_back(c);
    // A line that has not shown what it is within the hold limit is data.
    if (c != ' ' && c != '\n' && held_.size() <= max_held_line_) continue;
    switch (Classify()) {
      case Class::kUndecided:
        continue;
      case Class::kHeld:
        state_ = State::kHeld;
        if (c == '\n') EmitHeld(visitor);
        return i + 1;
      case Class::kData:
        visitor.OnResponseBytes(held_.bytes());
        RememberTail(held_.view());
        held_.clear();
        state_ = State::kStream;
        if (c == '\n') EndStreamedLine(visitor);
        return i + 1;
    }
  }
  return input.size();
}

size_t ResponseFramer::FeedHeld(std::span<const uint8_t> input, ResponseVisitor& visitor) {
  const void* lf = std::memchr(input.data(), '\n', input.size());
  const size_t take =
      lf ? static_cast<size_t>(static_cast<const uint8_t*>(lf) - input.data()) + 1 : input.size();
  if (!overflowed_ && held_.size() + take > max_held_line_) {
    // Too long to hold: pass it on as it is (or drop it, if the owner
    // says so); the owner still learns its end.
    dropping_ = visitor.DropOverlongLine(kind_, tag());
    if (!dropping_) visitor.OnResponseBytes(held_.bytes());
    held_.truncate(tag().size());  // the tag is still needed at the line's end
    overflowed_ = true;
  }
  if (overflowed_) {
    if (!dropping_) visitor.OnResponseBytes(input.first(take));
  } else {
    held_.append(input.first(take));
  }
  if (lf) EmitHeld(visitor);
  return take;
}

// A held LIST/LSUB response: its lines and literals are held until a line
// ends without a literal header.
size_t ResponseFramer::FeedHeldList(std::span<const uint8_t> input, ResponseVisitor& visitor) {
  const void* lf = std::memchr(input.data(), '\n', input.size());
  const size_t take =
      lf ? static_cast<size_t>(static_cast<const uint8_t*>(lf) - input.data()) + 1 : input.size();
  if (held_.size() + take > max_held_line_) {
    StreamHeldList(visitor);
    return 0;  // the rest streams
  }
  held_.append(input.first(take));
  if (!lf) return take;
  // Only this line's own text: a literal before it may end in "{12}" too.
  auto literal = ParseLiteralHeader(StripLineEnding(held_.view().substr(list_line_)));
  if (!literal) {
    EmitHeld(visitor);
  } else if (held_.size() + literal->size > max_held_line_) {
    StreamHeldList(visitor);
    tail_size_ = 0;  // that line has ended
    literal_left_ = literal->size;
    state_ = literal_left_ > 0 ? State::kLiteral : State::kStream;
  } else if (literal->size > 0) {
    literal_left_ = literal->size;
    state_ = State::kHeldLiteral;
  } else {
    list_line_ = held_.size();
  }
  return take;
}

// Too long to hold: what was held goes on, and the rest of the response
// streams as any data response does.
void ResponseFramer::StreamHeldList(ResponseVisitor& visitor) {
  visitor.OnResponseBytes(held_.bytes());
  RememberTail(held_.view().substr(list_line_));
  held_.clear();
  list_line_ = 0;
  state_ = State::kStream;
}

void ResponseFramer::EmitHeld(ResponseVisitor& visitor) {
  ResponseLine line;
  line.kind = kind_;
  line.passed_on = overflowed_;
  if (!overflowed_) line.bytes = held_.bytes();
  if (kind_ == ResponseLine::Kind::kTagged) {
    line.tag = tag();
    if (!overflowed_) {
      // The word after the tag: a status word in upper case, any other
      // word as sent (a server that answers with one is broken).
      bool complete = false;
      const std::string_view word = TokenAt(held_.view(), tag_size_ + 1, &complete);
      const uint8_t code = StatusCode(word);
      line.status = code != 0 ? kStatusWords[code - 1] : word;
    }
  } else if (kind_ == ResponseLine::Kind::kStatus) {
    line.status = kStatusWords[status_ - 1];
  }
  visitor.OnResponseLine(line);
  visitor.OnResponseEnd();
  held_.clear();
  list_line_ = 0;
  overflowed_ = false;
  dropping_ = false;
  state_ = State::kLineStart;
}

size_t ResponseFramer::FeedStream(std::span<const uint8_t> input, ResponseVisitor& visitor) {
  const void* lf = std::memchr(input.data(), '\n', input.size());
  const size_t take =
      lf ? static_cast<size_t>(static_cast<const uint8_t*>(lf) - input.data()) + 1 : input.size();
  visitor.OnResponseBytes(input.first(take));
  RememberTail({reinterpret_cast<const char*>(input.data()), take});
  if (lf) EndStreamedLine(visitor);
  return take;
}

void ResponseFramer::RememberTail(std::string_view bytes) {
  if (bytes.size() >= tail_.size()) {
    std::memcpy(tail_.data(), bytes.data() + bytes.size() - tail_.size(), tail_.size());
    tail_size_ = static_cast<uint8_t>(tail_.size());
    return;
  }
  const size_t keep = std::min<size_t>(tail_size_, tail_.size() - bytes.size());
  std::memmove(tail_.data(), tail_.data() + tail_size_ - keep, keep);
  std::memcpy(tail_.data() + keep, bytes.data(), bytes.size());
  tail_size_ = static_cast<uint8_t>(keep + bytes.size());
}

void ResponseFramer::EndStreamedLine(ResponseVisitor& visitor) {
  auto literal = ParseLiteralHeader(StripLineEnding({tail_.data(), tail_size_}));
  tail_size_ = 0;
  if (!literal) {
    state_ = State::kLineStart;
    visitor.OnResponseEnd();
    return;
  }
  literal_left_ = literal->size;
  state_ = literal_left_ > 0 ? State::kLiteral : State::kStream;
}

}  // namespace imapfront::imap
