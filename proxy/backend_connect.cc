// A session's backend: connect the route's backends in order, each within
// backend_connect_timeout (connect and greeting), fail over on refusal,
// timeout, a missing greeting or a BYE greeting; then hand the greeting and
// the stream to the Conversation.
#include "proxy/log.h"
#include "proxy/session.h"

namespace imapfront {

void Session::ConnectNextBackend() {
  if (backend_index_ >= route_->backends.size()) {
    Close(CloseReason::kBackendUnavailable, "[UNAVAILABLE] Backend unavailable");
    return;
  }
  const SocketAddress& address = route_->backends[backend_index_];
  backend_.tcp = {};
  uv_tcp_init(host_->loop(), &backend_.tcp);
  handles_.Add(&backend_.tcp);
  backend_.state = Side::State::kConnecting;
  backend_.reading = false;
  greeting_.emplace(limits().max_line_bytes);
  greeting_line_.clear();
  connect_req_.data = this;
  int r = uv_tcp_connect(&connect_req_, &backend_.tcp, address.sa(), &Session::OnConnect);
  if (r < 0) {
    BackendConnectFailed(uv_strerror(r));
    return;
  }
  ArmTimer(limits().backend_connect_timeout);
}

void Session::OnConnect(uv_connect_t* req, int status) {
  if (status == UV_ECANCELED) return;
  auto* self = static_cast<Session*>(req->data);
  if (self->phase_ != Phase::kConnecting || self->backend_.state != Side::State::kConnecting) {
    return;
  }
  if (status < 0) {
    self->BackendConnectFailed(uv_strerror(status));
  } else {
    uv_tcp_nodelay(&self->backend_.tcp, 1);
    self->backend_.state = Side::State::kOpen;
  }
  self->Pump();
}

void Session::BackendConnectFailed(const char* why) {
  if (!backend_.open()) return;  // this attempt is already being abandoned
  LogSession(LogLevel::kWarn, id_, client_address_, "route=%s backend=%s failed: %s",
             route_->name.c_str(), route_->backends[backend_index_].text.c_str(), why);
  ++backend_index_;
  uv_timer_stop(&timer_);
  backend_.state = Side::State::kClosed;
  backend_.reading = false;
  // The next attempt starts once the handle is free again.
  handles_.Close(&backend_.tcp, &Session::OnFailedAttemptClosed);
}

void Session::OnFailedAttemptClosed(uv_handle_t* handle) {
  auto* self = static_cast<Session*>(handle->data);
  if (!self->reason_) {
    self->ConnectNextBackend();
    self->Pump();
  }
  self->handles_.Closed();  // last: it may free the session
}

void Session::OnBackendRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
  auto* self = static_cast<Session*>(stream->data);
  if (nread > 0) {
    self->last_activity_ms_ = uv_now(self->host_->loop());
    self->BackendBytes({reinterpret_cast<const uint8_t*>(buf->base), static_cast<size_t>(nread)});
  } else if (nread < 0) {
    if (self->phase_ == Phase::kConnecting) {
      self->BackendConnectFailed(nread == UV_EOF ? "closed before greeting"
                                                 : uv_strerror(static_cast<int>(nread)));
    } else if (nread == UV_EOF) {
      self->backend_.EndInput();
    } else {
      self->backend_.Fail();
    }
  }
  self->Pump();
}

void Session::OnShutdownDone(uv_shutdown_t* req, int status) {
  if (status == UV_ECANCELED) return;
  auto* self = static_cast<Session*>(req->data);
  if (status < 0) self->backend_.Fail();
  self->Pump();
}

void Session::BackendBytes(std::span<const uint8_t> bytes) {
  if (phase_ == Phase::kConnecting) {
    size_t n = greeting_->Feed(bytes);
    greeting_line_.append(reinterpret_cast<const char*>(bytes.data()), n);
    bytes = bytes.subspan(n);
    if (!greeting_->done()) return;
    switch (greeting_->kind()) {
      case imap::GreetingScanner::Kind::kInvalid:
        BackendConnectFailed("sent no IMAP greeting");
        return;
      case imap::GreetingScanner::Kind::kBye:
        // A backend at its own connection limit; another may have room.
        BackendConnectFailed(("refused: " + Sanitize(greeting_line_)).c_str());
        return;
      default:
        break;
    }
    BackendGreeted();
  }
  if (phase_ == Phase::kRelay) conversation_->OnBackendBytes(bytes);
  if (phase_ == Phase::kRelay && conversation_->TakeResume()) ResumeClient();
}

void Session::BackendGreeted() {
  phase_ = Phase::kRelay;
  greeting_.reset();
  std::string line = std::move(greeting_line_);
  greeting_line_ = std::string();
  LogSession(LogLevel::kInfo, id_, client_address_,
             "listener=%s sni=%s route=%s backend=%s tls=%s %s", listener_->name.c_str(),
             Sanitize(tls_->server_name()).c_str(), route_->name.c_str(),
             route_->backends[backend_index_].text.c_str(), tls_->version(), tls_->cipher());
  ArmRelayTimer();
  // After STARTTLS the client has had imapfront's greeting already.
  conversation_->OnBackendGreeting({reinterpret_cast<const uint8_t*>(line.data()), line.size()},
                                   listener_->mode != ListenerMode::kStartTls);
}

}  // namespace imapfront
