#include "imap/command_framer.h"

#include <algorithm>
#include <cstring>
#include <functional>

#include "imap/bytes.h"

namespace imapfront::imap {
namespace {

uint64_t TagHash(std::string_view tag) {
  return std::hash<std::string_view>{}(tag);
}

// A quoted string cannot hold CR or LF: a line that ends inside one is
// invalid, and a "{n}" at its end is not a literal header.
bool EndsInsideQuote(std::string_view content) {
  bool quoted = false;
  for (size_t i = 0; i < content.size(); ++i) {
    if (content[i] == '"') {
      quoted = !quoted;
    } else if (quoted && content[i] == '\\') {
      ++i;
    }
  }
  return quoted;
}

std::string_view NextToken(std::string_view* rest) {
  size_t end = rest->find(' ');
  std::string_view token = rest->substr(0, end);
  rest->remove_prefix(end == std::string_view::npos ? rest->size() : end + 1);
  return token;
}

}  // namespace

CommandStep CommandFramer::Next(std::span<const uint8_t> input) {
  if (clear_line_) {
    line_.clear();  // frees it: an idle session holds no line
    clear_line_ = false;
  }
  CommandStep step;
  switch (state_) {
    case State::kBlocked:
      step.kind = CommandStep::Kind::kBlocked;
      return step;
    case State::kLiteral: {
      if (input.empty()) return step;
      const size_t n = static_cast<size_t>(std::min<uint64_t>(literal_left_, input.size()));
      literal_left_ -= n;
      step.kind = CommandStep::Kind::kLiteralData;
      step.consumed = n;
      step.bytes = input.first(n);
      step.discard = discard_ != Discard::kNo;
      if (literal_left_ == 0) state_ = State::kLine;
      return step;
    }
    case State::kLine:
      break;
  }
  const void* lf = std::memchr(input.data(), '\n', input.size());
  const size_t take =
      lf ? static_cast<size_t>(static_cast<const uint8_t*>(lf) - input.data()) + 1 : input.size();
  // The limit is on the line's content; its CRLF does not count. Without the
  // LF yet, the last byte may be the CR.
  size_t length = line_.size() + take;
  if (lf) {
    const bool cr = take >= 2 ? input[take - 2] == '\r' : !line_.empty() && line_.back() == '\r';
    length -= cr ? 2 : 1;
  }
  if (length > options_.max_line_bytes + (lf ? 0 : 1)) {
    step.kind = CommandStep::Kind::kLineTooLong;
    return step;
  }
  if (!lf) {
    line_.append(input);
    step.consumed = input.size();
    return step;
  }
  if (line_.empty()) return FinishLine(input.first(take), take);
  line_.append(input.first(take));
  return FinishLine(line_.bytes(), take);
}

CommandStep CommandFramer::FinishLine(std::span<const uint8_t> line, size_t consumed) {
  clear_line_ = true;
  CommandStep step;
  step.kind = CommandStep::Kind::kLine;
  step.consumed = consumed;
  step.bytes = line;
  switch (line_mode_) {
    case LineMode::kSaslResponse:
      // One response per "+"; then the server says what comes next.
      step.continuation = true;
      state_ = State::kBlocked;
      await_ = Await::kAuthenticate;
      return step;
    case LineMode::kIdleDone:
      step.continuation = true;
      idling_ = false;
      local_idle_ = false;
      line_mode_ = LineMode::kCommandStart;
      return step;
    case LineMode::kCommandStart:
      step.command_start = true;
      StartCommand(StripLineEnding(AsText(line)));
      break;
    case LineMode::kCommandContinue:
      break;
  }
  FinishSegment(step);
  return step;
}

void CommandFramer::StartCommand(std::string_view content) {
  const std::string_view tag = NextToken(&content);
  std::string_view name = NextToken(&content);
  name = name.substr(0, std::min<size_t>(name.size(), 32));
  command_.assign(tag);
  command_.push_back(' ');
  for (char c : name) command_.push_back(AsciiUpper(c));
  tag_size_ = tag.size();
  verb_ = VerbOf(this->name());
  if (!tag.empty()) {
    if (in_flight_.size() == kMaxInFlight) in_flight_.erase(in_flight_.begin());
    in_flight_.push_back(TagHash(tag));
  }
  sent_part_ = false;
  discard_ = Discard::kNo;
}

void CommandFramer::FinishSegment(CommandStep& step) {
  const std::string_view content = StripLineEnding(AsText(step.bytes));
  step.literal = ParseLiteralHeader(content);
  if (step.literal && EndsInsideQuote(content)) step.literal.reset();
  if (!step.literal) {
    step.command_end = true;
    line_mode_ = LineMode::kCommandStart;
    switch (discard_) {
      case Discard::kTooBig:
        step.disposition = LineDisposition::kRefuseTooBigNonSync;
        PopTag(tag());
        return;
      case Discard::kRefusedByServer:
        step.disposition = LineDisposition::kDrop;
        return;
      case Discard::kNo:
        break;
    }
    // Without a tag no tagged answer can come: the server answers "* BAD"
    // and the client does not wait either.
    if (!tag().empty() && (verb_ == Verb::kAuthenticate || verb_ == Verb::kIdle)) {
      state_ = State::kBlocked;
      await_ = verb_ == Verb::kIdle ? Await::kIdle : Await::kAuthenticate;
    }
    return;
  }
  const LiteralHeader& literal = *step.literal;
  line_mode_ = LineMode::kCommandContinue;
  if (discard_ != Discard::kNo) {
    if (!literal.non_sync) {
      // The client waits for a "+" that will not come: for it the command
      // ends here.
      step.command_end = true;
      line_mode_ = LineMode::kCommandStart;
      step.disposition = discard_ == Discard::kTooBig ? LineDisposition::kRefuseTooBigNonSync
                                                      : LineDisposition::kDrop;
      if (discard_ == Discard::kTooBig) PopTag(tag());
      return;
    }
    step.disposition = LineDisposition::kDrop;
    StartLiteral(literal.size);
    return;
  }
  if (literal.size > options_.max_literal_bytes) {
    if (sent_part_) {
      step.disposition = LineDisposition::kTooBigMidCommand;
      state_ = State::kBlocked;  // for good: the owner ends the session
      await_ = Await::kNothing;
      return;
    }
    if (!literal.non_sync) {
      // The client waits for "+", which never comes: no data follows.
      step.disposition = LineDisposition::kRefuseTooBigSync;
      step.command_end = true;
      line_mode_ = LineMode::kCommandStart;
      PopTag(tag());
      return;
    }
    step.disposition = LineDisposition::kDrop;
    discard_ = Discard::kTooBig;
    StartLiteral(literal.size);
    return;
  }
  sent_part_ = true;
  literal_left_ = literal.size;
  if (literal.non_sync && !options_.emulate_literal_plus) {
    StartLiteral(literal.size);
    return;
  }
  step.disposition = literal.non_sync ? LineDisposition::kForwardAsSync : LineDisposition::kForward;
  if (tag().empty() && !literal.non_sync) {
    // An untagged command gets "* BAD", never a "+": no data will follow.
    step.command_end = true;
    line_mode_ = LineMode::kCommandStart;
    return;
  }
  state_ = State::kBlocked;
  await_ = literal.non_sync ? Await::kEmulatedLiteral : Await::kSyncLiteral;
}

void CommandFramer::StartLiteral(uint64_t size) {
  literal_left_ = size;
  state_ = size > 0 ? State::kLiteral : State::kLine;
}

bool CommandFramer::OnServerContinuation() {
  if (state_ != State::kBlocked) return true;
  switch (await_) {
    case Await::kSyncLiteral:
    case Await::kEmulatedLiteral: {
      const bool emulated = await_ == Await::kEmulatedLiteral;
      await_ = Await::kNothing;
      StartLiteral(literal_left_);
      return !emulated;
    }
    case Await::kAuthenticate:
      await_ = Await::kNothing;
      state_ = State::kLine;
      line_mode_ = LineMode::kSaslResponse;
      return true;
    case Await::kIdle:
      await_ = Await::kNothing;
      state_ = State::kLine;
      line_mode_ = LineMode::kIdleDone;
      idling_ = true;
      return true;
    case Await::kNothing:
      return true;
  }
  return true;
}

void CommandFramer::OnServerTagged(std::string_view tag) {
  // An earlier command with the same tag does not end the current one.
  if (!PopTag(tag) || tag != this->tag()) return;
  if (idling_ || line_mode_ == LineMode::kSaslResponse) {
    // The server ended the IDLE or the authentication exchange itself.
    idling_ = false;
    local_idle_ = false;
    line_mode_ = LineMode::kCommandStart;
  }
  if (state_ != State::kBlocked) return;
  switch (await_) {
    case Await::kEmulatedLiteral:
      // The client sends the data regardless: read it and the rest of the
      // command, and drop them. The server's answer is the client's answer.
      await_ = Await::kNothing;
      discard_ = Discard::kRefusedByServer;
      StartLiteral(literal_left_);
      return;
    case Await::kSyncLiteral:
    case Await::kAuthenticate:
    case Await::kIdle:
      await_ = Await::kNothing;
      state_ = State::kLine;
      line_mode_ = LineMode::kCommandStart;
      return;
    case Await::kNothing:
      return;  // blocked for good
  }
}

void CommandFramer::AnsweredLocally() {
  if (line_mode_ == LineMode::kCommandContinue) discard_ = Discard::kRefusedByServer;
  OnServerTagged(tag());
}

void CommandFramer::OnServerUntaggedBad() {
  if (in_flight_.empty()) return;
  if (in_flight_.size() == 1 && in_flight_.front() == TagHash(tag())) {
    OnServerTagged(tag());
    return;
  }
  in_flight_.erase(in_flight_.begin());  // the oldest: an earlier command's
}

void CommandFramer::AcceptIdleLocally() {
  if (state_ == State::kBlocked && await_ == Await::kIdle) {
    OnServerContinuation();
    local_idle_ = true;
  }
}

bool CommandFramer::PopTag(std::string_view tag) {
  const uint64_t hash = TagHash(tag);
  auto it = std::find(in_flight_.begin(), in_flight_.end(), hash);
  if (it == in_flight_.end()) return false;
  in_flight_.erase(it);
  return std::find(in_flight_.begin(), in_flight_.end(), hash) == in_flight_.end();
}

bool CommandFramer::TagInFlight(std::string_view tag) const {
  return std::find(in_flight_.begin(), in_flight_.end(), TagHash(tag)) != in_flight_.end();
}

bool CommandFramer::AtCommandBoundary() const {
  // A command being discarded sent nothing, or was ended by the server's
  // refusal.
  if (discard_ != Discard::kNo) return true;
  if (idling_) return local_idle_;
  if (line_mode_ != LineMode::kCommandStart) return false;
  if (state_ == State::kLiteral) return false;
  return state_ != State::kBlocked;
}

bool CommandFramer::CommandInProgress() const {
  const bool partial_line = !line_.empty() && !clear_line_;
  if (state_ != State::kLine || partial_line || line_mode_ == LineMode::kCommandContinue ||
      line_mode_ == LineMode::kSaslResponse) {
    return true;
  }
  const size_t idle = idling_ ? 1 : 0;
  return in_flight_.size() > idle;
}

}  // namespace imapfront::imap
