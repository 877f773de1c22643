// The two byte paths of a session once its route is known. Client
// plaintext goes through the Conversation, which decides what reaches the
// backend and what imapfront answers; backend bytes go through it on the
// way back (backend_connect.cc feeds them). This file carries out what the
// Conversation asks for.
#include <cmath>

#include "proxy/log.h"
#include "proxy/session.h"

namespace imapfront {
namespace {

uv_stream_t* Stream(uv_tcp_t* tcp) {
  return reinterpret_cast<uv_stream_t*>(tcp);
}

}  // namespace

void Session::ClientPlaintext(std::span<const uint8_t> plaintext) {
  if (!conversation_) {
    // Not logged in yet (login "proxy"): the gate reads what it can.
    client_hold_.Append(plaintext);
    FeedLoginGate();
    return;
  }
  if (!client_hold_.empty() || phase_ == Phase::kConnecting) {
    // Behind bytes already waiting, or until the backend greeted: nothing
    // of the client's may precede what imapfront sends a new backend first.
    client_hold_.Append(plaintext);
    return;
  }
  size_t used = conversation_->OnClientBytes(plaintext);
  if (used < plaintext.size() && phase_ != Phase::kClosing) {
    client_hold_.Append(plaintext.subspan(used));
  }
}

// The server answered what the client waited for: offer what was held.
void Session::ResumeClient() {
  std::span<const uint8_t> first[1];
  while (!client_hold_.empty() && phase_ != Phase::kClosing && !conversation_->client_blocked()) {
    client_hold_.Gather(first);
    size_t used = conversation_->OnClientBytes(first[0]);
    client_hold_.Consume(used);
    if (used < first[0].size()) break;
  }
}

void Session::CommandBegan(imap::Verb verb) {
  host_->stats().Add(Counter::kImapCommands);
  ++commands_count_;
  if (verb == imap::Verb::kAppend) {
    host_->stats().Add(Counter::kImapAppends);
    ++appends_count_;
  }
}

void Session::Fail(Failure failure) {
  switch (failure) {
    case Failure::kLineTooLong:
      LogEvent(LogLevel::kInfo, "line_too_long", id_, client_address())
          .Add("route", route_->name)
          .Add("max_line_bytes", limits().max_line_bytes);
      Close(CloseReason::kProtocolError, "Line too long");
      return;
    case Failure::kLiteralTooBig:
      Close(CloseReason::kProtocolError, "[TOOBIG] Literal too large");
      return;
  }
}

void Session::CountEmulated(Emulated kind) {
  static constexpr Counter kCounters[] = {Counter::kEmulatedIdle, Counter::kEmulatedUnselect,
                                          Counter::kEmulatedId, Counter::kEmulatedAuthPlain,
                                          Counter::kCapabilityProbes};
  host_->stats().Add(kCounters[static_cast<size_t>(kind)]);
}

// An emulated IDLE's polls share the relay timer; they are not activity.
void Session::SetPollTimer(double seconds) {
  poll_deadline_ms_ =
      seconds > 0 ? uv_now(host_->loop()) + static_cast<uint64_t>(std::ceil(seconds * 1000)) : 0;
  if (phase_ == Phase::kRelay) ArmRelayTimer();
}

void Session::ToBackend(std::span<const uint8_t> bytes, ToBackendKind kind) {
  if (kind == ToBackendKind::kLiteral) host_->stats().Add(Counter::kImapLiteralBytes, bytes.size());
  if (kind != ToBackendKind::kOwnCommand) {
    host_->stats().Add(Counter::kBytesClientToBackend, bytes.size());
    bytes_in_ += bytes.size();
  }
  if (phase_ == Phase::kRelay && backend_.drained() && !backend_.failed()) {
    // Fast path: straight from the worker's buffer to the socket.
    uv_buf_t buf = uv_buf_init(const_cast<char*>(reinterpret_cast<const char*>(bytes.data())),
                               static_cast<unsigned>(bytes.size()));
    int n = uv_try_write(Stream(&backend_.tcp), &buf, 1);
    if (n > 0) {
      bytes = bytes.subspan(static_cast<size_t>(n));
    } else if (n != UV_EAGAIN) {
      backend_.Fail();
      return;
    }
  }
  // Held: until the backend has greeted, or while it is slower than the client.
  backend_.out.Append(bytes);
}

void Session::ToClient(std::span<const uint8_t> bytes, ToClientKind kind) {
  if (kind == ToClientKind::kRelayed) {
    host_->stats().Add(Counter::kBytesBackendToClient, bytes.size());
    // Backend bytes are activity when they reach the client: the answers to
    // imapfront's own commands (an emulated IDLE's polls) are not.
    last_activity_ms_ = uv_now(host_->loop());
  }
  bytes_out_ += bytes.size();
  if (!tls_->Write(bytes)) {
    LogEvent(LogLevel::kInfo, "tls_error", id_, client_address())
        .Add("listener", listener_->name)
        .Add("error", tls_->error());
    Close(CloseReason::kTlsError);
  }
}

}  // namespace imapfront
