#include "imap/backend_login.h"

#include <algorithm>
#include <cstring>

#include "imap/bytes.h"
#include "imap/capabilities.h"
#include "imap/emulation/auth_plain.h"
#include "imap/literal.h"

namespace imapfront::imap {
namespace {

void Zero(std::string& s) {
  std::fill(s.begin(), s.end(), '\0');
  s.clear();
}

std::string_view Token(std::string_view* rest) {
  const size_t end = rest->find(' ');
  const std::string_view token = rest->substr(0, end);
  rest->remove_prefix(end == std::string_view::npos ? rest->size() : end + 1);
  return token;
}

}  // namespace

BackendLogin::BackendLogin(std::string_view tag, std::string_view user, std::string_view password,
                           size_t max_line_bytes, std::string_view first)
    : max_line_bytes_(max_line_bytes), tag_(tag), pieces_(LoginCommand(tag, user, password)) {
  if (!first.empty()) {
    first_tag_ = tag_ == "imapfront1" ? "imapfront2" : "imapfront1";
    output_ = first_tag_ + " " + std::string(first) + "\r\n";
    return;
  }
  output_ = pieces_[next_piece_];
  Zero(pieces_[next_piece_++]);
}

BackendLogin::~BackendLogin() {
  Wipe();
}

void BackendLogin::Wipe() {
  for (std::string& piece : pieces_) Zero(piece);
  Zero(output_);
}

void BackendLogin::OutputSent() {
  Zero(output_);
}

size_t BackendLogin::Feed(std::span<const uint8_t> bytes) {
  size_t used = 0;
  while (used < bytes.size() && state_ == State::kWaiting) {
    const std::span<const uint8_t> rest = bytes.subspan(used);
    const void* lf = std::memchr(rest.data(), '\n', rest.size());
    const size_t take =
        lf ? static_cast<size_t>(static_cast<const uint8_t*>(lf) - rest.data()) + 1 : rest.size();
    used += take;
    line_.append(AsText(rest.first(take)));
    if (line_.size() > max_line_bytes_ + 2) {
      state_ = State::kBroken;
      break;
    }
    if (!lf) break;
    std::string line = std::move(line_);
    line_ = std::string();
    OnLine(line);
  }
  if (state_ != State::kWaiting) Wipe();
  return used;
}

void BackendLogin::OnLine(std::string_view line) {
  const std::string_view content = StripLineEnding(line);
  if (content.starts_with('+')) {
    // The "+" for the next LOGIN piece (a literal's data).
    if (first_tag_.empty() && probe_tag_.empty() && next_piece_ < pieces_.size() &&
        next_piece_ > 0) {
      output_ += pieces_[next_piece_];
      Zero(pieces_[next_piece_++]);
    } else {
      state_ = State::kBroken;
    }
    return;
  }
  std::string_view rest = content;
  const std::string_view tag = Token(&rest);
  const std::string_view word = Token(&rest);
  if (tag == "*") {
    // Untagged lines are imapfront's alone here: a capability list is
    // kept; a literal cannot be followed (no server sends one before login).
    if (ParseLiteralHeader(content)) {
      state_ = State::kBroken;
    } else if (EqualsIgnoreCase(word, "CAPABILITY")) {
      if (auto names = CapabilityList(line, true)) {
        capabilities_ = std::move(*names);
        have_capabilities_ = true;
      }
    }
    return;
  }
  Tagged(tag, word, line);
}

void BackendLogin::Tagged(std::string_view tag, std::string_view status, std::string_view line) {
  if (!first_tag_.empty()) {
    // The first command's answer, whatever it is; now the LOGIN.
    if (tag != first_tag_) {
      state_ = State::kBroken;
      return;
    }
    first_tag_.clear();
    output_ += pieces_[next_piece_];
    Zero(pieces_[next_piece_++]);
    return;
  }
  if (!probe_tag_.empty()) {
    // The answer to imapfront's CAPABILITY: whatever it is, the login stands.
    if (tag != probe_tag_) {
      state_ = State::kBroken;
      return;
    }
    LoggedIn();
    return;
  }
  if (tag != tag_) {
    state_ = State::kBroken;
    return;
  }
  if (EqualsIgnoreCase(status, "NO") || EqualsIgnoreCase(status, "BAD")) {
    state_ = State::kRefused;
    return;
  }
  if (!EqualsIgnoreCase(status, "OK")) {
    state_ = State::kBroken;
    return;
  }
  ok_line_.assign(line);
  if (auto names = CapabilityList(line, false)) {
    capabilities_ = std::move(*names);
    state_ = State::kLoggedIn;
    return;
  }
  if (have_capabilities_) {
    LoggedIn();
    return;
  }
  probe_tag_ = tag_ == "imapfront1" ? "imapfront2" : "imapfront1";
  output_ += probe_tag_ + " CAPABILITY\r\n";
}

// The OK, given the list as its code.
void BackendLogin::LoggedIn() {
  std::string list;
  for (const std::string& name : capabilities_) {
    if (!list.empty()) list += ' ';
    list += name;
  }
  if (list.empty()) {
    list = "IMAP4rev1";  // every IMAP server is one
    capabilities_.assign(1, list);
  }
  if (auto coded = WithCapabilityCode(ok_line_, list)) {
    ok_line_ = std::move(*coded);
  } else {
    // The OK has another code ([ALERT] ...): imapfront's own words then.
    ok_line_ = tag_ + " OK [CAPABILITY " + list + "] Logged in\r\n";
  }
  state_ = State::kLoggedIn;
}

}  // namespace imapfront::imap
