// A session's backend: connect the route's backends in order, each within
// backend_connect_timeout (name lookup, connect and greeting), fail over on
// a name that does not resolve, refusal, timeout, a missing greeting or a
// BYE greeting; then hand the greeting and the stream to the Conversation.
#include "proxy/log.h"
#include "proxy/session.h"

namespace imapfront {

void Session::ConnectNextBackend() {
  // Down backends are skipped while another of the route is up.
  const RouteBackends states = runtime_->BackendsOf(route_);
  while (backend_index_ < route_->backends.size() && states.Skip(backend_index_)) {
    LogEvent(LogLevel::kDebug, "backend_skipped", id_, client_address())
        .Add("route", route_->name)
        .Add("backend", route_->backends[backend_index_].text)
        .Add("why", "down");
    ++backend_index_;
  }
  if (backend_index_ >= route_->backends.size()) {
    if (login_proxy()) {
      AttemptUnavailable("NO [UNAVAILABLE] Backend unavailable", "no backend answered");
      return;
    }
    Close(CloseReason::kBackendUnavailable, "[UNAVAILABLE] Backend unavailable");
    return;
  }
  const BackendAddress& address = route_->backends[backend_index_];
  backend_.tcp = {};
  uv_tcp_init(host_->loop(), &backend_.tcp);
  handles_.Add(&backend_.tcp);
  backend_.state = Side::State::kConnecting;
  backend_.reading = false;
  backend_.out.Clear();  // a failed attempt's PROXY header
  backend_.in_flight = 0;
  EndConnecting();
  connecting_ = std::make_unique<Connecting>(limits().max_line_bytes);
  ArmTimer(limits().backend_connect_timeout);
  if (address.numeric) {
    StartConnect(address.numeric->sa());
    return;
  }
  ResolveWait* wait = &connecting_->resolve_wait;
  wait->done = &Session::OnResolved;
  wait->data = this;
  wait->port = address.port;
  ResolveResult cached;
  if (host_->resolver().Lookup(address.host, wait, &cached)) Resolved(cached);
}

void Session::EndConnecting() {
  if (!connecting_) return;
  host_->resolver().Cancel(&connecting_->resolve_wait);
  connecting_.reset();
}

void Session::OnResolved(ResolveWait* wait, const ResolveResult& result) {
  auto* self = static_cast<Session*>(wait->data);
  self->Resolved(result);
  self->Pump();
}

void Session::Resolved(const ResolveResult& result) {
  if (phase_ != Phase::kConnecting || backend_.state != Side::State::kConnecting) return;
  if (!result.ok()) {
    BackendConnectFailed(result.error.c_str());
    return;
  }
  StartConnect(result.sa());
}

void Session::StartConnect(const sockaddr* address) {
  connect_req_ = std::make_unique<uv_connect_t>();
  connect_req_->data = this;
  const int r = uv_tcp_connect(connect_req_.get(), &backend_.tcp, address, &Session::OnConnect);
  if (r < 0) {
    connect_req_.reset();
    BackendConnectFailed(uv_strerror(r));
  }
}

void Session::OnConnect(uv_connect_t* req, int status) {
  auto* self = static_cast<Session*>(req->data);
  self->connect_req_.reset();  // |req|: libuv is done with it
  if (status == UV_ECANCELED) return;
  if (self->phase_ != Phase::kConnecting || self->backend_.state != Side::State::kConnecting) {
    return;
  }
  if (status < 0) {
    self->BackendConnectFailed(uv_strerror(status));
  } else {
    uv_tcp_nodelay(&self->backend_.tcp, 1);
    self->backend_.state = Side::State::kOpen;
    self->BackendConnected();
  }
  self->Pump();
}

void Session::BackendConnectFailed(const char* why) {
  if (!backend_.open()) return;  // this attempt is already being abandoned
  if (connecting_) host_->resolver().Cancel(&connecting_->resolve_wait);
  if (BackendState* state = runtime_->BackendsOf(route_).at(backend_index_)) {
    state->connect_failures.fetch_add(1, std::memory_order_relaxed);
  }
  LogEvent(LogLevel::kWarn, "backend_failed", id_, client_address())
      .Add("listener", listener_->name)
      .Add("route", route_->name)
      .Add("backend", route_->backends[backend_index_].text)
      .Add("error", why);
  ++backend_index_;
  host_->deadlines().Cancel(&deadline_);
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
    // In relay, activity is what reaches the client (Session::ToClient).
    if (self->phase_ != Phase::kRelay) self->last_activity_ms_ = uv_now(self->host_->loop());
    self->BackendBytes({reinterpret_cast<const uint8_t*>(buf->base), static_cast<size_t>(nread)});
  } else if (nread < 0) {
    if (self->phase_ == Phase::kConnecting) {
      self->BackendConnectFailed(nread == UV_EOF ? "closed before greeting"
                                                 : uv_strerror(static_cast<int>(nread)));
    } else {
      if (nread == UV_EOF) {
        self->backend_.EndInput();
      } else {
        self->backend_.Fail();
      }
      if (self->phase_ == Phase::kRelay) self->conversation_->OnBackendEnded();
      // kLoggingIn: the pump answers the attempt.
    }
  }
  self->Pump();
}

void Session::OnShutdownDone(uv_shutdown_t* req, int status) {
  auto* self = static_cast<Session*>(req->data);
  self->backend_shutdown_req_.reset();  // |req|: libuv is done with it
  if (status == UV_ECANCELED) return;
  if (status < 0) self->backend_.Fail();
  self->Pump();
}

void Session::BackendBytes(std::span<const uint8_t> bytes) {
  if (phase_ == Phase::kLoggingIn) {
    LoginBackendBytes(bytes);
    return;
  }
  if (phase_ == Phase::kConnecting) {
    Connecting& c = *connecting_;
    size_t n = c.greeting.Feed(bytes);
    c.greeting_line.append(reinterpret_cast<const char*>(bytes.data()), n);
    bytes = bytes.subspan(n);
    if (!c.greeting.done()) return;
    switch (c.greeting.kind()) {
      case imap::GreetingScanner::Kind::kInvalid:
        BackendConnectFailed("sent no IMAP greeting");
        return;
      case imap::GreetingScanner::Kind::kBye:
        // A backend at its own connection limit; another may have room.
        BackendConnectFailed(
            ("refused: " + c.greeting_line.substr(0, c.greeting_line.find_last_not_of("\r\n") + 1))
                .c_str());
        return;
      default:
        break;
    }
    if (login_proxy()) {
      LoginBackendGreeted(bytes);
      return;
    }
    BackendGreeted();
    // What the client sent before the greeting goes on now, in order.
    if (phase_ == Phase::kRelay) ResumeClient();
  }
  if (phase_ == Phase::kRelay) conversation_->OnBackendBytes(bytes);
  if (phase_ == Phase::kRelay && conversation_->TakeResume()) ResumeClient();
}

void Session::BackendGreeted() {
  phase_ = Phase::kRelay;
  host_->stats().Observe(Histogram::kBackendConnect,
                         static_cast<double>(uv_hrtime() - connecting_->start_ns) / 1e9);
  std::string line = std::move(connecting_->greeting_line);
  EndConnecting();
  backend_used_ = &route_->backends[backend_index_];
  if (BackendState* state = runtime_->BackendsOf(route_).at(backend_index_)) {
    state->sessions.fetch_add(1, std::memory_order_relaxed);
  }
  LogSessionStart();
  ArmRelayTimer();
  // After STARTTLS the client has had imapfront's greeting already.
  conversation_->OnBackendGreeting({reinterpret_cast<const uint8_t*>(line.data()), line.size()},
                                   listener_->mode != ListenerMode::kStartTls);
}

// The session relays from now on (after the greeting, or a login at the proxy).
void Session::LogSessionStart() const {
  LogEvent(LogLevel::kInfo, "session_start", id_, client_address())
      .Add("listener", listener_->name)
      .Add("sni", tls_->server_name())
      .Add("route", route_->name)
      .Add("backend", backend_used_->text)
      .Add("tls", tls_->version())
      .Add("cipher", tls_->cipher());
}

}  // namespace imapfront
