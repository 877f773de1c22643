// The backend's side of a login at the proxy (SPEC "Logging in through
// imapfront"): after the backend's greeting, imapfront sends "TAG LOGIN user
// password" with the client's tag (each argument a quoted string or a
// synchronizing literal, waiting for each "+"), reads the tagged answer and,
// when an OK carries no capability list, asks for one with a CAPABILITY of
// its own. Nothing the backend says here reaches the client as it is: the
// owner tells the client only the outcome.
//
// A pure state machine over spans: feed it any cut of the backend's stream.
// It stops right after the last line of the exchange; what follows belongs
// to the relay.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace imapfront::imap {

class BackendLogin {
 public:
  // |password| is copied into the LOGIN pieces, which are zeroed once sent.
  // |first|, if not empty, is a command of imapfront's (forward_client
  // "id": the ID) sent before the LOGIN with a tag of its own; its answer,
  // whatever it is, is swallowed, and then the LOGIN goes.
  BackendLogin(std::string_view tag, std::string_view user, std::string_view password,
               size_t max_line_bytes, std::string_view first = {});
  ~BackendLogin();
  BackendLogin(const BackendLogin&) = delete;
  BackendLogin& operator=(const BackendLogin&) = delete;

  enum class State {
    kWaiting,   // the exchange goes on
    kLoggedIn,  // ok_line() and capabilities() are the result
    kRefused,   // the backend answered NO or BAD: wrong credentials
    kBroken,    // the backend said something that is not IMAP, or too long a line
  };
  State state() const { return state_; }

  // Backend bytes. Returns how many were taken: all, unless the exchange
  // ended inside |bytes| (the rest is the relay's).
  size_t Feed(std::span<const uint8_t> bytes);

  // Bytes to send the backend now (the first LOGIN piece is there from the
  // start). The owner writes them and then calls OutputSent(), which zeroes
  // them (they may hold the password).
  const std::string& output() const { return output_; }
  void OutputSent();

  // kLoggedIn: the backend's tagged OK with its capability list as a
  // "[CAPABILITY ...]" code (CRLF included), and that list.
  const std::string& ok_line() const { return ok_line_; }
  const std::vector<std::string>& capabilities() const { return capabilities_; }

 private:
  void OnLine(std::string_view line);
  void Tagged(std::string_view tag, std::string_view status, std::string_view line);
  void LoggedIn();
  void Wipe();

  size_t max_line_bytes_;
  State state_ = State::kWaiting;
  std::string tag_;
  std::string first_tag_;  // the first command's, until it is answered
  std::string probe_tag_;  // set once the CAPABILITY of imapfront's is sent
  std::vector<std::string> pieces_;
  size_t next_piece_ = 0;
  std::string output_;
  std::string line_;  // a line straddling feeds
  std::string ok_line_;
  std::vector<std::string> capabilities_;
  bool have_capabilities_ = false;  // from an untagged CAPABILITY during the exchange
};

}  // namespace imapfront::imap
